package secrets

import (
	"fmt"
	"strings"
	"testing"
)

func TestRedactTextAWSSecretNearKeyID(t *testing.T) {
	const (
		id1  = "AKIAIOSFODNN7EXAMPLE"
		id2  = "AKIAZ5QWERTY2345ABCD"
		key1 = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
		key2 = "PtYgjmUhBel31iEl2hpChYgCfrL1spNxnyVmihA/"
		sha  = "1f0e5d3c2b4a69788796a5b4c3d2e1f0a9b8c7d6" // hex, 40
	)
	r := newTestRedactor(t, Config{})
	fp := r.Fingerprint
	tests := []struct {
		name, text, want string
		pairs            [][2]string // {key ID, secret} of each aws_secret_access_key finding
	}{
		{"after", id1 + " / " + key1, id1 + " / " + fp(key1), [][2]string{{id1, key1}}},
		{"before", key1 + " goes with " + id1, fp(key1) + " goes with " + id1, [][2]string{{id1, key1}}},
		{"100 bytes after", id1 + strings.Repeat(" ", 100) + key1, id1 + strings.Repeat(" ", 100) + fp(key1), [][2]string{{id1, key1}}},
		{"101 bytes after", id1 + strings.Repeat(" ", 101) + key1, id1 + strings.Repeat(" ", 101) + key1, nil},
		{"100 bytes before", key1 + strings.Repeat(" ", 100) + id1, fp(key1) + strings.Repeat(" ", 100) + id1, [][2]string{{id1, key1}}},
		{"101 bytes before", key1 + strings.Repeat(" ", 101) + id1, key1 + strings.Repeat(" ", 101) + id1, nil},
		{
			"CSV rows pair each key with its own ID",
			"Access key ID,Secret access key\n" + id1 + "," + key1 + "\n" + id2 + "," + key2 + "\n",
			"Access key ID,Secret access key\n" + id1 + "," + fp(key1) + "\n" + id2 + "," + fp(key2) + "\n",
			[][2]string{{id1, key1}, {id2, key2}},
		},
		{
			"both sides",
			key1 + " " + id1 + " " + key2,
			fp(key1) + " " + id1 + " " + fp(key2),
			[][2]string{{id1, key1}, {id1, key2}},
		},
		{
			"key word wins",
			"aws_access_key_id = " + id1 + "\naws_secret_access_key = " + key1,
			"aws_access_key_id = " + id1 + "\naws_secret_access_key = " + fp(key1),
			nil, // found by its key word, Rule aws_secret_access_key
		},
		{"git SHA next to an ID", "commit " + sha + " by " + id1, "commit " + sha + " by " + id1, nil},
		{"no digit", id1 + " " + strings.Repeat("AbCdEfGhIj", 4), id1 + " " + strings.Repeat("AbCdEfGhIj", 4), nil},
		{"one case", id1 + " " + strings.ToUpper(key1), id1 + " " + strings.ToUpper(key1), nil},
		{"41 characters", id1 + " " + key1 + "Z", id1 + " " + key1 + "Z", nil},
		{"39 characters", id1 + " " + key1[1:], id1 + " " + key1[1:], nil},
		{"padded", id1 + " " + key1 + "=", id1 + " " + key1 + "=", nil},
		{"inside a longer token", id1 + " x" + key1, id1 + " x" + key1, nil},
		{"glued to a name", id1 + " " + key1 + "-Cookie: x", id1 + " " + key1 + "-Cookie: x", nil},
		{"sentence end", "use " + id1 + " with " + key1 + ".", "use " + id1 + " with " + fp(key1) + ".", [][2]string{{id1, key1}}},
		{"after a URL escape", id1 + "%2C" + key1, id1 + "%2C" + fp(key1), [][2]string{{id1, key1}}},
		{"after a JSON escape", `"` + id1 + `\n` + key1 + `"`, `"` + id1 + `\n` + fp(key1) + `"`, [][2]string{{id1, key1}}},
		{"no key ID", "etag " + key1, "etag " + key1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, findings, changed := r.RedactText(tt.text)
			if got != tt.want || changed != (got != tt.text) {
				t.Errorf("RedactText(%q) = %q, %v, want %q", tt.text, got, changed, tt.want)
			}
			var pairs [][2]string
			for _, f := range findings {
				if f.Kind == KindAWSSecretAccessKey && f.Rule == RuleNearAccessKeyID {
					var secret string
					for _, k := range []string{key1, key2} {
						if fp(k) == f.Fingerprint {
							secret = k
						}
					}
					pairs = append(pairs, [2]string{f.CredentialID, secret})
				}
			}
			if fmt.Sprint(pairs) != fmt.Sprint(tt.pairs) {
				t.Errorf("RedactText(%q) pairs = %v, want %v", tt.text, pairs, tt.pairs)
			}
			if again, _, changed := r.RedactText(got); changed || again != got {
				t.Errorf("RedactText(%q) = %q, want it unchanged", got, again)
			}
		})
	}
}

// TestRedactTextAWSManyKeyIDs pairs more key IDs than the scanner keeps without
// allocating.
func TestRedactTextAWSManyKeyIDs(t *testing.T) {
	r := newTestRedactor(t, Config{})
	var in, want strings.Builder
	in.WriteString("Access key ID,Secret access key\n")
	want.WriteString("Access key ID,Secret access key\n")
	for i := range 9 {
		id := fmt.Sprintf("AKIAZ5QWERTY2345AB%c%c", 'A'+i, 'B'+i)
		key := fmt.Sprintf("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEK%02d", i)
		fmt.Fprintf(&in, "%s,%s\n", id, key)
		fmt.Fprintf(&want, "%s,%s\n", id, r.Fingerprint(key))
	}
	got, findings, _ := r.RedactText(in.String())
	if got != want.String() {
		t.Errorf("RedactText(%q) = %q, want %q", in.String(), got, want.String())
	}
	if len(findings) != 18 {
		t.Errorf("RedactText findings = %d, want 18", len(findings))
	}
}

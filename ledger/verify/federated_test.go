package verify

import (
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestParseTrust(t *testing.T) {
	_, a, err := note.GenerateKey(rand.Reader, "a.example/log")
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := note.GenerateKey(rand.Reader, "b.example/log")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, file, err string
		want            []string
	}{
		{"two logs", "# shards\n" + a + "\n\n  " + b + "  \n", "", []string{"a.example/log", "b.example/log"}},
		{"twice", a + "\n" + a + "\n", `line 2: log "a.example/log" is given twice`, nil},
		{"not a key", a + "\nshard-b https://b\n", "line 2: not a verifier key", nil},
		{"empty", "# nothing\n", "no verifier keys", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := ParseTrust([]byte(tt.file))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseTrust = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tr) != len(tt.want) {
				t.Fatalf("ParseTrust = %v, want the logs %v", tr, tt.want)
			}
			for _, o := range tt.want {
				if !strings.HasPrefix(tr[o], o+"+") {
					t.Errorf("ParseTrust()[%s] = %q, want its key", o, tr[o])
				}
			}
		})
	}
}

package secrets

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRedactText checks that redaction never panics, keeps valid UTF-8 valid, is
// idempotent, and removes a known secret wherever it is put between separators.
func FuzzRedactText(f *testing.F) {
	fixtures := loadFixtures(f)
	for i, fx := range fixtures {
		f.Add(fx.before, fx.after, uint8(i))
	}
	for _, line := range loadLines(f, "testdata/clean.txt") {
		f.Add(line, line, uint8(0))
	}
	f.Add("Bearer", "", uint8(4))
	f.Add("-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----", uint8(7))
	f.Add(`{"SecretAccessKey": "`, `\n"}`, uint8(9))
	r := newTestRedactor(f, Config{})
	f.Fuzz(func(t *testing.T, before, after string, which uint8) {
		fx := fixtures[int(which)%len(fixtures)]
		for _, in := range []string{before, before + "\n" + fx.before + fx.secret + fx.after + " " + after} {
			got, _, _ := r.RedactText(in)
			if utf8.ValidString(in) && !utf8.ValidString(got) {
				t.Fatalf("RedactText(%q) = %q, not valid UTF-8", in, got)
			}
			again, findings, changed := r.RedactText(got)
			if changed || again != got {
				t.Fatalf("RedactText(RedactText(%q)) = %q, want %q", in, again, got)
			}
			for _, f := range findings {
				if f.Kind != KindAWSAccessKeyID {
					t.Fatalf("RedactText(%q) finds %+v in the redacted text %q", in, f, got)
				}
			}
		}
		in := before + "\n" + fx.before + fx.secret + fx.after + " " + after
		if got, _, _ := r.RedactText(in); strings.Contains(got, fx.secret) {
			t.Fatalf("RedactText(%q) = %q, still holds the secret %q", in, got, fx.secret)
		}
	})
}

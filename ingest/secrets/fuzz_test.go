package secrets

import (
	"math/rand/v2"
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
	f.Add(`{"password": "`, `", "token": "x"}`, uint8(50))
	f.Add("--password", "--token=", uint8(60))
	f.Add("AKIAIOSFODNN7EXAMPLE,", ",AKIAZ5QWERTY2345ABCD", uint8(45))
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

// TestRedactTextIdempotentMixes checks, on random mixes of the pieces that the key=value
// and access-key-pair rules look at, what FuzzRedactText checks: redacting twice changes
// nothing, and the second pass finds no secret.
func TestRedactTextIdempotentMixes(t *testing.T) {
	r := newTestRedactor(t, Config{})
	pieces := []string{
		"password", "token", "api_key", "Authorization", "secret_access_key", "max_tokens", "x",
		"=", ":", ": ", " = ", "=>", ":=", "==", " ", "  ", ",", ";", "&", "?", ".", "(", "[", "{", "}",
		`"`, "'", `\"`, `\n`, "\n", "--", "-", "$", "%2F", "Bearer ", "Basic ", "token ",
		"hunter2hunter2", "abc", "supersecret", "os.environ", "https://h/p?q=", "/run/secrets/x",
		"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "PtYgjmUhBel31iEl2hpChYgCfrL1spNxnyVmihA/",
		"1f0e5d3c2b4a69788796a5b4c3d2e1f0a9b8c7d6", r.Fingerprint("x"), "ghp_0123456789abcdefghijABCDEFGHIJklmnop",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlMDEyMzQ1Njc4OQ", "ZGVwbG95LWJvdDpkRzZBOHdnOENwTEY3OE1YQW5MOQ==",
		"-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----", "é", strings.Repeat(" ", 60),
		"--password ", "--token=", "aws_secret_access_key=", "secret", "_", "api", "pi_key", "c", "ookie",
		"Cookie: ", `\"`, "%", "Secret Access Key [None]: ", "\u0022", "sk-ant-api03-0123456789abcdefghij",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 30000 {
		var b strings.Builder
		for range 1 + rng.IntN(14) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		in := b.String()
		got, _, _ := r.RedactText(in)
		if !utf8.ValidString(got) {
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
}

package secrets

import (
	"os"
	"strings"
	"testing"
)

// benchText returns about 1 KB of agent reasoning without secrets, and the same text
// with a JWT and a GitHub token in it. testdata/messages.json is about 1 KB of chat
// messages and tool calls in JSON, also without secrets.
func benchText(b *testing.B) (clean, twoSecrets string) {
	b.Helper()
	raw, err := os.ReadFile("testdata/reasoning.txt")
	if err != nil {
		b.Fatal(err)
	}
	clean = string(raw)
	jwt := makeJWT(b, map[string]any{"alg": "RS256", "kid": "k1"}, map[string]any{"sub": "agent:exporter", "jti": "j-1", "exp": 1767225600})
	twoSecrets = strings.Replace(clean, "the audit log", "the audit log (auth: Bearer "+jwt+")", 1)
	twoSecrets = strings.Replace(twoSecrets, "ticket SEC-2291", "ticket SEC-2291; token ghp_0123456789abcdefghijABCDEFGHIJklmnop", 1)
	return clean, twoSecrets
}

func BenchmarkRedactText(b *testing.B) {
	r := newTestRedactor(b, Config{})
	clean, twoSecrets := benchText(b)
	raw, err := os.ReadFile("testdata/messages.json")
	if err != nil {
		b.Fatal(err)
	}
	cleanJSON := string(raw)
	for _, bc := range []struct{ name, text string }{{"clean", clean}, {"two_secrets", twoSecrets}, {"clean_json", cleanJSON}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.text)))
			b.ReportAllocs()
			for b.Loop() {
				r.RedactText(bc.text)
			}
		})
	}
}

func BenchmarkRedactAttr(b *testing.B) {
	r := newTestRedactor(b, Config{})
	attrs := [][2]string{
		{"gen_ai.usage.input_tokens", "18204"},
		{"http.request.method", "POST"},
		{"url.full", "https://storage.example.com/v2/buckets/reports/objects?part=41"},
		{"gen_ai.request.model", "claude-sonnet-4-5"},
		{"credential.id", "AKIAIOSFODNN7EXAMPLE"},
		{"http.request.header.authorization", "Bearer q1w2e3r4t5y6u7i8o9p0"},
	}
	var n int64
	for _, a := range attrs {
		n += int64(len(a[0]) + len(a[1]))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, a := range attrs {
			r.RedactAttr(a[0], a[1])
		}
	}
}

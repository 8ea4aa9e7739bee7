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

// benchCorpus returns ordinary agent text (testdata/agent_corpus.txt: code, logs,
// prose, UUIDs, hashes, base64 images) as values of about 4 KB, and the same values
// with a secret from testdata/secrets.txt after every eighth line.
func benchCorpus(tb testing.TB) (clean, withSecrets []string, cleanBytes, secretBytes int64) {
	tb.Helper()
	raw, err := os.ReadFile("testdata/agent_corpus.txt")
	if err != nil {
		tb.Fatal(err)
	}
	var fixtures []string
	for _, fx := range loadFixtures(tb) {
		fixtures = append(fixtures, fx.text)
	}
	var c, s strings.Builder
	for n, line := range strings.Split(string(raw), "\n") {
		c.WriteString(line + "\n")
		s.WriteString(line + "\n")
		if n%8 == 7 {
			s.WriteString(fixtures[(n/8)%len(fixtures)] + "\n")
		}
		if c.Len() >= 4096 {
			clean, cleanBytes = append(clean, c.String()), cleanBytes+int64(c.Len())
			c.Reset()
		}
		if s.Len() >= 4096 {
			withSecrets, secretBytes = append(withSecrets, s.String()), secretBytes+int64(s.Len())
			s.Reset()
		}
	}
	return clean, withSecrets, cleanBytes, secretBytes
}

// BenchmarkCorpus scans the corpus of benchCorpus beside two baselines of the same run:
// copying the bytes, and reading each byte's class once, the least a one-pass scanner
// does. gitleaks' DetectString on the same corpus is in
// internal/gitleakscheck (BenchmarkGitleaksCorpus).
func BenchmarkCorpus(b *testing.B) {
	r := newTestRedactor(b, Config{})
	clean, withSecrets, cleanBytes, secretBytes := benchCorpus(b)
	buf := make([]byte, 8192)
	b.Run("baseline_copy", func(b *testing.B) {
		b.SetBytes(cleanBytes)
		for b.Loop() {
			for _, v := range clean {
				copy(buf, v)
			}
		}
	})
	b.Run("baseline_byteclass", func(b *testing.B) {
		b.SetBytes(cleanBytes)
		var acc uint16
		for b.Loop() {
			for _, v := range clean {
				for i := 0; i < len(v); i++ {
					acc |= byteClass[v[i]]
				}
			}
		}
		sink = acc
	})
	b.Run("clean", func(b *testing.B) {
		b.SetBytes(cleanBytes)
		b.ReportAllocs()
		for b.Loop() {
			for _, v := range clean {
				r.RedactText(v)
			}
		}
	})
	b.Run("with_secrets", func(b *testing.B) {
		b.SetBytes(secretBytes)
		b.ReportAllocs()
		for b.Loop() {
			for _, v := range withSecrets {
				r.RedactText(v)
			}
		}
	})
}

// sink keeps the baseline's result alive.
var sink uint16

package gitleakscheck

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/zricethezav/gitleaks/v8/detect"
)

// benchCorpus is ingest/secrets' benchCorpus (bench_test.go there): the agent corpus as
// values of about 4 KB, and the same with a secret of testdata/secrets.txt after every
// eighth line.
func benchCorpus(tb testing.TB) (clean, withSecrets []string, cleanBytes, secretBytes int64) {
	tb.Helper()
	raw, err := os.ReadFile("../../testdata/agent_corpus.txt")
	if err != nil {
		tb.Fatal(err)
	}
	fx, err := os.ReadFile("../../testdata/secrets.txt")
	if err != nil {
		tb.Fatal(err)
	}
	var fixtures []string
	for line := range strings.SplitSeq(string(fx), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " ", 3)
		text, err := strconv.Unquote(f[2])
		if err != nil {
			tb.Fatal(err)
		}
		fixtures = append(fixtures, strings.NewReplacer("[[", "", "]]", "").Replace(text))
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

// BenchmarkGitleaksCorpus runs gitleaks' DetectString and ingest's RedactText on the
// same corpus in the same run.
func BenchmarkGitleaksCorpus(b *testing.B) {
	d, err := detect.NewDetectorDefaultConfig()
	if err != nil {
		b.Fatal(err)
	}
	r, err := secrets.NewRedactor(testKey, secrets.Config{})
	if err != nil {
		b.Fatal(err)
	}
	clean, withSecrets, cleanBytes, secretBytes := benchCorpus(b)
	for _, c := range []struct {
		name  string
		vals  []string
		bytes int64
	}{{"clean", clean, cleanBytes}, {"with_secrets", withSecrets, secretBytes}} {
		b.Run("gitleaks_"+c.name, func(b *testing.B) {
			b.SetBytes(c.bytes)
			for b.Loop() {
				for _, v := range c.vals {
					d.DetectString(v)
				}
			}
		})
		b.Run("ingest_"+c.name, func(b *testing.B) {
			b.SetBytes(c.bytes)
			for b.Loop() {
				for _, v := range c.vals {
					r.RedactText(v)
				}
			}
		})
	}
}

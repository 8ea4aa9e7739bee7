package main

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/agentledger/agentledger/internal/pgtest"
)

// TestServeRefusesSecondKey: two data directories (two signer keys) on one
// database. The first serve records its key; the second, with another key,
// is refused at start with an error that names both keys, and so is an
// import with it; the first starts again.
func TestServeRefusesSecondKey(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	first, second := t.TempDir(), t.TempDir()
	s := startServer(t, first, "--database", dsn)
	firstKey := s.verifierKey(t)
	sendSpans(t, s.otlpHTTP, 3)
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit: %v", err)
	}

	out, err := exec.Command(binary, "serve", "--data-dir", second, "--database", dsn,
		"--http-addr", freeAddr(t), "--otlp-http-addr", freeAddr(t), "--otlp-grpc-addr", freeAddr(t)).CombinedOutput()
	if err == nil {
		t.Fatalf("serve with a second key started on the log's database:\n%s", out)
	}
	secondKey := wantBothKeys(t, string(out), firstKey)

	out, err = exec.Command(binary, "import", "--data-dir", second, "--database", dsn,
		"--format", "cloudtrail", evidenceFixture("scenario/cloudtrail.json")).CombinedOutput()
	if err == nil {
		t.Fatalf("import with a second key wrote to the log's database:\n%s", out)
	}
	if got := wantBothKeys(t, string(out), firstKey); got != secondKey {
		t.Errorf("import names key %s, serve named %s", got, secondKey)
	}

	out, err = exec.Command(binary, "serve", "--data-dir", t.TempDir(), "--database", dsn, "--log-name", "other.example/log",
		"--http-addr", freeAddr(t), "--otlp-http-addr", freeAddr(t), "--otlp-grpc-addr", freeAddr(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), firstKey) || !strings.Contains(string(out), "other.example/log+") {
		t.Fatalf("serve for another log on the log's database: %v\n%s", err, out)
	}

	s = startServer(t, first, "--database", dsn)
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve with the log's key after the refusal: %v", err)
	}
}

// wantBothKeys checks that a refusal names the log's key firstKey and
// another verifier key of the same log, and returns the other.
func wantBothKeys(t *testing.T, out, firstKey string) string {
	t.Helper()
	if !strings.Contains(out, firstKey) {
		t.Fatalf("refusal does not name the log's key %s:\n%s", firstKey, out)
	}
	origin, _, _ := strings.Cut(firstKey, "+")
	for _, w := range strings.Fields(out) {
		if strings.HasPrefix(w, origin+"+") && w != firstKey {
			return w
		}
	}
	t.Fatalf("refusal does not name the signer's own key:\n%s", out)
	return ""
}

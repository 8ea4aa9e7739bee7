package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/internal/servetest"
)

// TestServeRefusesSecondKey: two data directories (two signer keys) on one
// database. The first serve records its key; the second, with another key,
// is refused at start with an error that names both keys, and so is an
// import with it; the first starts again.
func TestServeRefusesSecondKey(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	first, second := t.TempDir(), t.TempDir()
	s := startServer(t, first, "--database", dsn)
	firstKey := s.VerifierKey(t)
	sendSpans(t, s.OTLPHTTPAddr, 3)
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit: %v", err)
	}

	out, err := exec.Command(binary, "serve", "--data-dir", second, "--database", dsn,
		"--http-addr", servetest.FreeAddr(t), "--otlp-http-addr", servetest.FreeAddr(t), "--otlp-grpc-addr", servetest.FreeAddr(t)).CombinedOutput()
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
		"--http-addr", servetest.FreeAddr(t), "--otlp-http-addr", servetest.FreeAddr(t), "--otlp-grpc-addr", servetest.FreeAddr(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), firstKey) || !strings.Contains(string(out), "other.example/log+") {
		t.Fatalf("serve for another log on the log's database: %v\n%s", err, out)
	}

	s = startServer(t, first, "--database", dsn)
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
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

// TestRotateKey: rotate-key appends the old key's statement introducing
// the new key and records the new key; serve then starts with the new key
// and not the old; verify accepts a new-key checkpoint only with the
// rotation bundle beside the old pinned key, and refuses a forged bundle.
func TestRotateKey(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	oldKey := s.VerifierKey(t)
	sendSpans(t, s.OTLPHTTPAddr, 3)
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit: %v", err)
	}
	oldSkey, err := os.ReadFile(filepath.Join(dir, signerKeyFile))
	if err != nil {
		t.Fatal(err)
	}

	work := t.TempDir()
	newKeyFile, bundle := filepath.Join(work, "new.key"), filepath.Join(work, "rotation.json")
	out, err := exec.Command(binary, "keygen", "--out", newKeyFile).CombinedOutput()
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	newKey := strings.TrimSpace(string(out))
	out, err = exec.Command(binary, "rotate-key", "--data-dir", dir, "--new-key", newKeyFile, "--out", bundle).CombinedOutput()
	if err != nil {
		t.Fatalf("rotate-key: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "verifier key: "+newKey) {
		t.Fatalf("rotate-key output does not name the new key %s:\n%s", newKey, out)
	}

	s = startServer(t, dir)
	if got := s.VerifierKey(t); got != newKey {
		t.Fatalf("serve after the rotation signs with %s, want %s", got, newKey)
	}
	sendSpans(t, s.OTLPHTTPAddr, 2)
	cp := fetchCheckpoint(t, s, newKey)
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit: %v", err)
	}
	cpFile := writeFile(t, work, "cp.txt", cp)

	if out, err := exec.Command(binary, "verify", "--key", oldKey, "--checkpoint", cpFile).CombinedOutput(); err == nil {
		t.Fatalf("verify accepted a new-key checkpoint with only the old key pinned:\n%s", out)
	}
	if out, err := exec.Command(binary, "verify", "--key", oldKey, "--rotation", bundle, "--checkpoint", cpFile).CombinedOutput(); err != nil {
		t.Fatalf("verify with the rotation bundle: %v\n%s", err, out)
	}
	// A bundle made by whoever holds only the new key: its statement is not
	// signed by the old key.
	forged, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	forgedFile := writeFile(t, work, "forged.json", []byte(strings.Replace(string(forged), `"index": `, `"index": 1`, 1)))
	if out, err := exec.Command(binary, "verify", "--key", oldKey, "--rotation", forgedFile, "--checkpoint", cpFile).CombinedOutput(); err == nil {
		t.Fatalf("verify accepted a tampered rotation bundle:\n%s", out)
	}

	// The old key is refused now, in a data directory of its own.
	stale := t.TempDir()
	if err := os.WriteFile(filepath.Join(stale, signerKeyFile), oldSkey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, sqliteFile), filepath.Join(stale, sqliteFile)); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(binary, "serve", "--data-dir", stale,
		"--http-addr", servetest.FreeAddr(t), "--otlp-http-addr", servetest.FreeAddr(t), "--otlp-grpc-addr", servetest.FreeAddr(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), newKey) || !strings.Contains(string(out), oldKey) {
		t.Fatalf("serve with the rotated-out key: %v\n%s", err, out)
	}
}

// fetchCheckpoint returns the server's latest checkpoint, waiting until it
// verifies with vkey.
func fetchCheckpoint(t *testing.T, s *servetest.Server, vkey string) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + s.HTTPAddr + "/checkpoint")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if _, err := ledger.OpenCheckpoint(b, vkey); err == nil {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint signed by %s within 10s", vkey)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestServeWithSignerProcess: serve signs with a signer process over a
// Unix socket; the key never enters its data directory, the checkpoints
// verify with the signer's key, and the signer keeps the last size signed.
func TestServeWithSignerProcess(t *testing.T) {
	sdir, err := os.MkdirTemp("", "sig")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sdir) })
	keyFile, sock, state := filepath.Join(sdir, "signer.key"), filepath.Join(sdir, "s.sock"), filepath.Join(sdir, "state")
	out, err := exec.Command(binary, "keygen", "--out", keyFile).CombinedOutput()
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	vkey := strings.TrimSpace(string(out))

	sig := exec.Command(binary, "signer", "--key", keyFile, "--socket", sock, "--state", state)
	sig.Stderr = os.Stderr
	stdout, err := sig.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sig.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sig.Process.Signal(syscall.SIGTERM)
		sig.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "listening on") {
	}
	go func() {
		for sc.Scan() {
		}
	}()

	dir := t.TempDir()
	s := startServer(t, dir, "--signer", "unix:"+sock)
	if got := s.VerifierKey(t); got != vkey {
		t.Fatalf("serve prints verifier key %s, want the signer's %s", got, vkey)
	}
	sendSpans(t, s.OTLPHTTPAddr, 5)
	fetchCheckpoint(t, s, vkey)
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, signerKeyFile)); err == nil {
		t.Error("serve with --signer wrote a signer key into its data directory")
	}
	st, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("signer state: %v", err)
	}
	// The final checkpoint covers the 5 spans sent.
	if size, err := strconv.ParseUint(strings.SplitN(string(st), "\n", 2)[0], 10, 64); err != nil || size < 5 {
		t.Errorf("signer state %q: want the size of the final checkpoint, at least 5", st)
	}
	// serve with the signer's key file in its data directory is the same log.
	if err := os.WriteFile(filepath.Join(dir, signerKeyFile), mustRead(t, keyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, dir)
	if got := s.VerifierKey(t); got != vkey {
		t.Errorf("serve with the key file signs with %s, want %s", got, vkey)
	}
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve with the key file: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

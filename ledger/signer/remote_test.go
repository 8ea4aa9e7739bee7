package signer_test

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/signer"
)

// shortDir returns a directory whose paths fit a Unix socket address.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sig")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// startServer runs a signer Server for skey on a socket in dir.
func startServer(t *testing.T, dir, skey, vkey string) string {
	t.Helper()
	srv, err := signer.NewServer(skey, vkey, filepath.Join(dir, "state"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return sock
}

func TestRemoteSigner(t *testing.T) {
	dir := shortDir(t)
	skey, vkey, err := ledger.GenerateKey("example.com/log")
	if err != nil {
		t.Fatal(err)
	}
	sock := startServer(t, dir, skey, vkey)
	r, err := signer.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	if r.VerifierKey() != vkey {
		t.Fatalf("remote verifier key %s, want %s", r.VerifierKey(), vkey)
	}
	s, err := ledger.NewSignerFrom(r, r.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	root := [ledger.HashSize]byte{1}
	msg, err := s.Sign(10, root)
	if err != nil {
		t.Fatalf("sign checkpoint 10: %v", err)
	}
	cp, err := ledger.OpenCheckpoint(msg, vkey)
	if err != nil || cp.Size != 10 || cp.Root != root {
		t.Fatalf("OpenCheckpoint = %+v, %v", cp, err)
	}
	if _, err := s.Sign(10, root); err != nil {
		t.Errorf("sign the same checkpoint again: %v", err)
	}
	if _, err := index.SignNote(s, 10, root, index.EmptyMapRoot()); err != nil {
		t.Errorf("sign an index note: %v", err)
	}
	for name, sign := range map[string]func() error{
		"an older checkpoint":             func() error { _, err := s.Sign(9, root); return err },
		"another root at the same size":   func() error { _, err := s.Sign(10, [ledger.HashSize]byte{2}); return err },
		"a note that is not a checkpoint": func() error { _, err := s.SignNote("something else\n"); return err },
	} {
		if err := sign(); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v, want the signer to refuse", name, err)
		}
	}
	if _, err := s.Sign(12, [ledger.HashSize]byte{3}); err != nil {
		t.Fatalf("sign checkpoint 12: %v", err)
	}

	// A new signer process on the same state still refuses to go back.
	dir2 := shortDir(t)
	b, err := os.ReadFile(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, "state"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	r2, err := signer.Dial(startServer(t, dir2, skey, vkey))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := ledger.NewSignerFrom(r2, r2.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Sign(11, root); err == nil {
		t.Error("a restarted signer signed a checkpoint older than its state")
	}

	other, _, _ := ledger.GenerateKey("example.com/log")
	otherSigner, _ := ledger.NewSigner(other)
	if _, err := ledger.NewSignerFrom(r, otherSigner.VerifierKey()); err == nil {
		t.Error("NewSignerFrom accepted a verifier key that is not the signer's")
	}
}

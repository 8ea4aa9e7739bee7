//go:build cgo

package signer_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/signer"
)

const softHSM = "/usr/lib/softhsm/libsofthsm2.so"

// TestPKCS11SoftHSM: an Ed25519 key generated inside SoftHSM signs
// checkpoints through CKM_EDDSA; they verify with sumdb/note.
func TestPKCS11SoftHSM(t *testing.T) {
	if _, err := os.Stat(softHSM); err != nil {
		t.Skipf("SKIPPED, NOT PASSED: SoftHSM is not installed (%v): apt-get install softhsm2", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	if out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "agentledger",
		"--pin", "1234", "--so-pin", "5678").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	cfg := signer.PKCS11Config{Module: softHSM, Token: "agentledger", Object: "ledger", PIN: "1234", Origin: "example.com/log"}
	if err := signer.GeneratePKCS11Key(cfg); err != nil {
		t.Fatal(err)
	}
	p, err := signer.OpenPKCS11(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := ledger.NewSignerFrom(p, p.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	root := [ledger.HashSize]byte{9}
	msg, err := s.Sign(3, root)
	if err != nil {
		t.Fatalf("sign through PKCS#11: %v", err)
	}
	v, err := note.NewVerifier(p.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Fatalf("sumdb/note does not verify the PKCS#11 checkpoint: %v\n%s", err, msg)
	}
	if cp, err := ledger.OpenCheckpoint(msg, p.VerifierKey()); err != nil || cp.Size != 3 || cp.Root != root {
		t.Fatalf("OpenCheckpoint = %+v, %v", cp, err)
	}
	wrong := cfg
	wrong.PIN = "0000"
	if _, err := signer.OpenPKCS11(wrong); err == nil {
		t.Error("OpenPKCS11 with a wrong PIN succeeded")
	}
}

//go:build cgo

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/agentledger/agentledger/ledger/signer"
)

const softHSM = "/usr/lib/softhsm/libsofthsm2.so"

// TestServeWithPKCS11: serve signs checkpoints with an Ed25519 key that
// stays in SoftHSM, given as a PKCS#11 URI, the PIN in the environment.
func TestServeWithPKCS11(t *testing.T) {
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
	t.Setenv(pkcs11PINEnv, "1234")
	if out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "ledger-token",
		"--pin", "1234", "--so-pin", "5678").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	cfg := signer.PKCS11Config{Module: softHSM, Token: "ledger-token", Object: "checkpoint-key", PIN: "1234", Origin: defaultLogName}
	if err := signer.GeneratePKCS11Key(cfg); err != nil {
		t.Fatal(err)
	}
	p, err := signer.OpenPKCS11(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vkey := p.VerifierKey()
	p.Close()

	data := t.TempDir()
	s := startServer(t, data, "--signer", "pkcs11:token=ledger-token;object=checkpoint-key?module-path="+softHSM)
	if got := s.verifierKey(t); got != vkey {
		t.Fatalf("serve prints verifier key %s, want the token's %s", got, vkey)
	}
	sendSpans(t, s.otlpHTTP, 4)
	fetchCheckpoint(t, s, vkey)
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, signerKeyFile)); err == nil {
		t.Error("serve with a PKCS#11 signer wrote a signer key into its data directory")
	}
}

//go:build cgo

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/agentledger/agentledger/ledger/signer"
	"github.com/agentledger/agentledger/ledger/signer/signertest"
)

// TestServeWithPKCS11: serve signs checkpoints with an Ed25519 key that
// stays in SoftHSM, given as a PKCS#11 URI, the PIN in the environment.
func TestServeWithPKCS11(t *testing.T) {
	module := signertest.SoftHSMToken(t, "ledger-token", "1234")
	t.Setenv(pkcs11PINEnv, "1234")
	cfg := signer.PKCS11Config{Module: module, Token: "ledger-token", Object: "checkpoint-key", PIN: "1234", Origin: defaultLogName}
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
	s := startServer(t, data, "--signer", "pkcs11:token=ledger-token;object=checkpoint-key?module-path="+module)
	if got := s.VerifierKey(t); got != vkey {
		t.Fatalf("serve prints verifier key %s, want the token's %s", got, vkey)
	}
	sendSpans(t, s.OTLPHTTPAddr, 4)
	fetchCheckpoint(t, s, vkey)
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, signerKeyFile)); err == nil {
		t.Error("serve with a PKCS#11 signer wrote a signer key into its data directory")
	}
}

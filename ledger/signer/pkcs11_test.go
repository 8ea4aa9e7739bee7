//go:build cgo

package signer_test

import (
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/signer"
	"github.com/agentledger/agentledger/ledger/signer/signertest"
)

// TestPKCS11SoftHSM: an Ed25519 key generated inside SoftHSM signs
// checkpoints through CKM_EDDSA; they verify with sumdb/note.
func TestPKCS11SoftHSM(t *testing.T) {
	module := signertest.SoftHSMToken(t, "agentledger", "1234")
	cfg := signer.PKCS11Config{Module: module, Token: "agentledger", Object: "ledger", PIN: "1234", Origin: "example.com/log"}
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

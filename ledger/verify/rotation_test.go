package verify_test

import (
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/verify"
)

// TestCheckAdvanceAcrossRotation: a monitor whose state was signed by the
// log's key before a rotation accepts the new key's checkpoint of the same
// tree only when it is given the old key.
func TestCheckAdvanceAcrossRotation(t *testing.T) {
	sign := func() (*ledger.Signer, []byte) {
		skey, _, err := ledger.GenerateKey("example.com/log")
		if err != nil {
			t.Fatal(err)
		}
		s, err := ledger.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := s.Sign(5, [ledger.HashSize]byte{7})
		if err != nil {
			t.Fatal(err)
		}
		return s, msg
	}
	oldKey, oldNote := sign()
	newKey, newNote := sign()
	if _, err := verify.CheckAdvance(oldNote, newNote, newKey.VerifierKey(), nil); err == nil {
		t.Fatal("a state signed by another key was accepted without the old key")
	}
	if _, err := verify.CheckAdvance(oldNote, newNote, newKey.VerifierKey(), nil, oldKey.VerifierKey()); err != nil {
		t.Fatalf("CheckAdvance across the rotation: %v", err)
	}
}

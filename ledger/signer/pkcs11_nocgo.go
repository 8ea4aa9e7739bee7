//go:build !cgo

package signer

import "errors"

// PKCS11 is unavailable: this binary was built without cgo, which the
// PKCS#11 binding needs.
type PKCS11 struct{}

var errNoCgo = errors.New("pkcs11: this agentledger was built without cgo (CGO_ENABLED=0); build it with cgo for PKCS#11")

// OpenPKCS11 fails: built without cgo.
func OpenPKCS11(PKCS11Config) (*PKCS11, error) { return nil, errNoCgo }

// VerifierKey implements the PKCS#11 signer's method; unreachable.
func (*PKCS11) VerifierKey() string { return "" }

// Name implements note.Signer; unreachable.
func (*PKCS11) Name() string { return "" }

// KeyHash implements note.Signer; unreachable.
func (*PKCS11) KeyHash() uint32 { return 0 }

// Sign implements note.Signer; it fails.
func (*PKCS11) Sign([]byte) ([]byte, error) { return nil, errNoCgo }

// Close does nothing.
func (*PKCS11) Close() error { return nil }

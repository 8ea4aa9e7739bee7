//go:build cgo

package signer

import (
	"crypto/ed25519"
	"encoding/asn1"
	"errors"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
	"golang.org/x/mod/sumdb/note"
)

// PKCS#11 v3.0 EdDSA constants, which miekg/pkcs11 does not define.
const (
	ckmEdDSA     = 0x1057 // CKM_EDDSA
	ckmEdDSAGen  = 0x1055 // CKM_EC_EDWARDS_KEY_PAIR_GEN
	ckkECEdwards = 0x40   // CKK_EC_EDWARDS
)

// PKCS11 is a note.Signer whose Ed25519 key stays in a PKCS#11 token
// (an HSM, or SoftHSM 2.6 and later), signing with CKM_EDDSA.
type PKCS11 struct {
	ctx  *pkcs11.Ctx
	sess pkcs11.SessionHandle
	priv pkcs11.ObjectHandle
	name string
	hash uint32
	vkey string
	mu   sync.Mutex
}

// OpenPKCS11 loads the module, logs in to the token and finds the key.
func OpenPKCS11(cfg PKCS11Config) (_ *PKCS11, err error) {
	ctx := pkcs11.New(cfg.Module)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11: cannot load module %s", cfg.Module)
	}
	if err := ctx.Initialize(); err != nil {
		return nil, fmt.Errorf("pkcs11: initialize: %w", err)
	}
	defer func() {
		if err != nil {
			ctx.Finalize()
			ctx.Destroy()
		}
	}()
	slot, err := findToken(ctx, cfg.Token)
	if err != nil {
		return nil, err
	}
	sess, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: open session: %w", err)
	}
	if err := ctx.Login(sess, pkcs11.CKU_USER, cfg.PIN); err != nil {
		return nil, fmt.Errorf("pkcs11: log in to token %q: %w", cfg.Token, err)
	}
	priv, err := findObject(ctx, sess, pkcs11.CKO_PRIVATE_KEY, cfg.Object)
	if err != nil {
		return nil, err
	}
	pubObj, err := findObject(ctx, sess, pkcs11.CKO_PUBLIC_KEY, cfg.Object)
	if err != nil {
		return nil, err
	}
	attrs, err := ctx.GetAttributeValue(sess, pubObj, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: read public key %q: %w", cfg.Object, err)
	}
	pub, err := edwardsPoint(attrs[1].Value)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: key %q: %w (only Ed25519 keys, CKK_EC_EDWARDS, are supported)", cfg.Object, err)
	}
	vkey, err := note.NewEd25519VerifierKey(cfg.Origin, pub)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: verifier key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: verifier key: %w", err)
	}
	return &PKCS11{ctx: ctx, sess: sess, priv: priv, name: cfg.Origin, hash: v.KeyHash(), vkey: vkey}, nil
}

// edwardsPoint decodes CKA_EC_POINT: a DER OCTET STRING holding the 32-byte
// Ed25519 public key (or, from some tokens, the raw 32 bytes).
func edwardsPoint(b []byte) (ed25519.PublicKey, error) {
	if len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	var raw []byte
	if rest, err := asn1.Unmarshal(b, &raw); err != nil || len(rest) != 0 || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("public key is not a 32-byte Ed25519 point")
	}
	return ed25519.PublicKey(raw), nil
}

func findToken(ctx *pkcs11.Ctx, label string) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: list slots: %w", err)
	}
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err == nil && ti.Label == label {
			return s, nil
		}
	}
	return 0, fmt.Errorf("pkcs11: no token labelled %q", label)
}

func findObject(ctx *pkcs11.Ctx, sess pkcs11.SessionHandle, class uint, label string) (pkcs11.ObjectHandle, error) {
	if err := ctx.FindObjectsInit(sess, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)}); err != nil {
		return 0, fmt.Errorf("pkcs11: find %q: %w", label, err)
	}
	defer ctx.FindObjectsFinal(sess)
	objs, _, err := ctx.FindObjects(sess, 2)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: find %q: %w", label, err)
	}
	if len(objs) != 1 {
		return 0, fmt.Errorf("pkcs11: %d objects of class %d labelled %q, want 1", len(objs), class, label)
	}
	return objs[0], nil
}

// VerifierKey returns the key's verifier key.
func (p *PKCS11) VerifierKey() string { return p.vkey }

// Name implements note.Signer.
func (p *PKCS11) Name() string { return p.name }

// KeyHash implements note.Signer.
func (p *PKCS11) KeyHash() uint32 { return p.hash }

// Sign implements note.Signer with CKM_EDDSA (pure Ed25519).
func (p *PKCS11) Sign(msg []byte) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.ctx.SignInit(p.sess, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, p.priv); err != nil {
		return nil, fmt.Errorf("pkcs11: sign: %w", err)
	}
	sig, err := p.ctx.Sign(p.sess, msg)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: sign: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("pkcs11: signature of %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	return sig, nil
}

// Close logs out and unloads the module.
func (p *PKCS11) Close() error {
	p.ctx.Logout(p.sess)
	p.ctx.CloseSession(p.sess)
	err := p.ctx.Finalize()
	p.ctx.Destroy()
	return err
}

// GeneratePKCS11Key generates an Ed25519 key pair labelled label in the
// token cfg names (for tests and setup; an HSM's own tools do the same).
func GeneratePKCS11Key(cfg PKCS11Config) error {
	ctx := pkcs11.New(cfg.Module)
	if ctx == nil {
		return fmt.Errorf("pkcs11: cannot load module %s", cfg.Module)
	}
	defer ctx.Destroy()
	if err := ctx.Initialize(); err != nil {
		return fmt.Errorf("pkcs11: initialize: %w", err)
	}
	defer ctx.Finalize()
	slot, err := findToken(ctx, cfg.Token)
	if err != nil {
		return err
	}
	sess, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("pkcs11: open session: %w", err)
	}
	defer ctx.CloseSession(sess)
	if err := ctx.Login(sess, pkcs11.CKU_USER, cfg.PIN); err != nil {
		return fmt.Errorf("pkcs11: log in: %w", err)
	}
	defer ctx.Logout(sess)
	ed25519OID := []byte{0x06, 0x03, 0x2b, 0x65, 0x70} // 1.3.101.112
	_, _, err = ctx.GenerateKeyPair(sess, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSAGen, nil)},
		[]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, ed25519OID),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, cfg.Object),
		},
		[]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, cfg.Object),
		})
	if err != nil {
		return fmt.Errorf("pkcs11: generate Ed25519 key pair: %w", err)
	}
	return nil
}

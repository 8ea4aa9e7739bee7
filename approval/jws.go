package approval

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxJWKSBytes bounds a JWKS document, from a file or a URL.
const MaxJWKSBytes = 1 << 20

// JWSAlgorithms are the signature algorithms an approval's JWS may use:
// ES256 (ECDSA P-256) and EdDSA (Ed25519). Anything else (none, the HS*
// MACs, RSA) is refused.
var JWSAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA}

// JWKS is a set of approvers' public keys (RFC 7517 JSON Web Key Set).
// A key is allowed for the approver its kid names: the kid is the
// approver ("alice@example.com") or the approver, "#" and a label
// ("alice@example.com#2026"), so that an approver may have several keys.
type JWKS struct {
	keys map[string]jose.JSONWebKey // by kid
}

// ParseJWKS reads a JWKS document. Every key must be public, have a kid
// (unique in the set), and be an EC P-256 or Ed25519 key; a key whose
// "alg" is set must name ES256 or EdDSA accordingly.
func ParseJWKS(r io.Reader) (*JWKS, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if len(data) > MaxJWKSBytes {
		return nil, fmt.Errorf("jwks: over %d bytes", MaxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := &JWKS{keys: make(map[string]jose.JSONWebKey, len(set.Keys))}
	for i, k := range set.Keys {
		if k.KeyID == "" {
			return nil, fmt.Errorf("jwks key %d: no kid", i)
		}
		if _, dup := out.keys[k.KeyID]; dup {
			return nil, fmt.Errorf("jwks key %q: kid used twice", k.KeyID)
		}
		if !k.IsPublic() {
			return nil, fmt.Errorf("jwks key %q: a private key; give the public key only", k.KeyID)
		}
		alg, err := keyAlgorithm(k)
		if err != nil {
			return nil, fmt.Errorf("jwks key %q: %w", k.KeyID, err)
		}
		if k.Algorithm != "" && k.Algorithm != string(alg) {
			return nil, fmt.Errorf("jwks key %q: alg %q, want %s for its key type", k.KeyID, k.Algorithm, alg)
		}
		out.keys[k.KeyID] = k
	}
	return out, nil
}

// keyAlgorithm returns the one algorithm a key may sign approvals with.
func keyAlgorithm(k jose.JSONWebKey) (jose.SignatureAlgorithm, error) {
	switch pub := k.Key.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return "", errors.New("an EC key not on P-256")
		}
		return jose.ES256, nil
	case ed25519.PublicKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("key type %T, want EC P-256 or Ed25519", k.Key)
}

// Len returns the number of keys.
func (s *JWKS) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// IsJWS reports whether sig looks like a JWS in compact serialization
// (three base64url parts) rather than an armored SSH signature.
func IsJWS(sig string) bool {
	s := strings.TrimSpace(sig)
	return strings.Count(s, ".") == 2 && !strings.HasPrefix(s, "-----") && !strings.ContainsAny(s, " \t\r\n")
}

// VerifyJWS verifies a compact JWS whose payload is st's bytes, signed by
// the key its kid header names, and that the key is allowed for
// st.Approver. A verified statement that expired before used (zero: not
// checked) is StatusExpired. Result.Key is the key's RFC 7638 thumbprint
// as an RFC 9278 URI.
func (s *JWKS) VerifyJWS(st Statement, compact string, used time.Time) Result {
	if strings.TrimSpace(compact) == "" {
		return Result{Status: StatusUnsigned}
	}
	msg, err := st.Bytes()
	if err != nil {
		return Result{Status: StatusMalformed, Err: err}
	}
	if len(compact) > MaxSignatureBytes {
		return Result{Status: StatusMalformed, Err: fmt.Errorf("signature over %d bytes", MaxSignatureBytes)}
	}
	obj, err := jose.ParseSignedCompact(strings.TrimSpace(compact), JWSAlgorithms)
	if err != nil {
		return Result{Status: StatusMalformed, Err: fmt.Errorf("jws: %w", err)}
	}
	if len(obj.Signatures) != 1 {
		return Result{Status: StatusMalformed, Err: errors.New("jws: want one signature")}
	}
	h := obj.Signatures[0].Protected
	if h.KeyID == "" {
		return Result{Status: StatusMalformed, Err: errors.New("jws: no kid in the protected header")}
	}
	if s == nil {
		return Result{Status: StatusUnknownKey, Err: errors.New("jws: no JWKS configured")}
	}
	key, ok := s.keys[h.KeyID]
	if !ok {
		return Result{Status: StatusUnknownKey, Err: fmt.Errorf("jws: kid %q is in no JWKS key", h.KeyID)}
	}
	res := Result{Key: thumbprint(key)}
	if alg, _ := keyAlgorithm(key); string(alg) != h.Algorithm {
		res.Status, res.Err = StatusBadSignature, fmt.Errorf("jws: alg %s for a key of %s", h.Algorithm, alg)
		return res
	}
	payload, err := obj.Verify(key.Key)
	if err != nil {
		res.Status, res.Err = StatusBadSignature, fmt.Errorf("jws: %w", err)
		return res
	}
	if !bytes.Equal(payload, msg) {
		res.Status, res.Err = StatusBadSignature, errors.New("jws: the payload is not the approval's statement")
		return res
	}
	if principal, _, _ := strings.Cut(h.KeyID, "#"); principal != st.Approver {
		res.Status, res.Err = StatusWrongSigner, fmt.Errorf("jws: key %q is not allowed for %q", h.KeyID, st.Approver)
		return res
	}
	res.Signer = st.Approver
	res.Status = StatusVerified
	if !used.IsZero() && used.After(st.Expires) {
		res.Status = StatusExpired
	}
	return res
}

// thumbprint returns k's RFC 7638 SHA-256 thumbprint as an RFC 9278 URI.
func thumbprint(k jose.JSONWebKey) string {
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return ""
	}
	return "urn:ietf:params:oauth:jwk-thumbprint:sha-256:" + base64.RawURLEncoding.EncodeToString(tp)
}

// StatementJWS returns the payload of sig when it is a compact JWS, with
// an allowed algorithm, whose payload is an approval statement (it starts
// with the statement's header line), unverified. Ingest uses it to tell an
// approval's JWS, which is no secret and must reach the verifier intact,
// from a JWT credential, whose payload is JSON claims.
func StatementJWS(sig string) ([]byte, bool) {
	if !IsJWS(sig) || len(sig) > MaxSignatureBytes {
		return nil, false
	}
	obj, err := jose.ParseSignedCompact(strings.TrimSpace(sig), JWSAlgorithms)
	if err != nil || len(obj.Signatures) != 1 {
		return nil, false
	}
	payload := obj.UnsafePayloadWithoutVerification()
	if !bytes.HasPrefix(payload, []byte(statementHeader+"\n")) {
		return nil, false
	}
	return payload, true
}

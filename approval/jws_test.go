package approval

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// jwsSign signs payload with key as alg, with kid in the protected header.
func jwsSign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, payload []byte) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jwksOf returns the JWKS document of the public keys, by kid.
func jwksOf(t *testing.T, keys map[string]any) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for kid, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: kid})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type jwsKeys struct {
	ec, otherEC *ecdsa.PrivateKey
	ed, bobEd   ed25519.PrivateKey
	jwks        []byte
}

func newJWSKeys(t *testing.T) jwsKeys {
	t.Helper()
	var k jwsKeys
	var err error
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if k.otherEC, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, k.bobEd, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	k.jwks = jwksOf(t, map[string]any{
		"alice@example.com":        &k.ec.PublicKey,
		"alice@example.com#laptop": k.ed.Public(),
		"bob@example.com":          k.bobEd.Public(),
	})
	return k
}

func TestVerifyJWS(t *testing.T) {
	k := newJWSKeys(t)
	set, err := ParseJWKS(strings.NewReader(string(k.jwks)))
	if err != nil {
		t.Fatalf("ParseJWKS: %v", err)
	}
	at := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	st := Statement{Approver: "alice@example.com", Action: "POST /v1/payments", Target: "api.bank.example",
		Credential: "AKIAIOSFODNN7EXAMPLE", Expires: at.Add(10 * time.Minute), Run: "0102030405060708090a0b0c0d0e0f10"}
	msg, err := st.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	other := st
	other.Target = "api.evil.example"
	otherMsg, _ := other.Bytes()
	es := jwsSign(t, jose.ES256, k.ec, "alice@example.com", msg)
	parts := strings.Split(es, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 0x01
	forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	b64 := base64.RawURLEncoding.EncodeToString
	none := b64([]byte(`{"alg":"none","kid":"alice@example.com"}`)) + "." + b64(msg) + "."
	hs := jwsSign(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), "alice@example.com", msg)
	for _, c := range []struct {
		name   string
		sig    string
		used   time.Time
		status string
	}{
		{"valid ES256", es, at.Add(time.Minute), StatusVerified},
		{"valid EdDSA, a second key of the approver", jwsSign(t, jose.EdDSA, k.ed, "alice@example.com#laptop", msg), at, StatusVerified},
		{"forged signature", forged, at, StatusBadSignature},
		{"signed by another key under alice's kid", jwsSign(t, jose.ES256, k.otherEC, "alice@example.com", msg), at, StatusBadSignature},
		{"another statement: other target", jwsSign(t, jose.ES256, k.ec, "alice@example.com", otherMsg), at, StatusBadSignature},
		{"bob's key for alice's approval", jwsSign(t, jose.EdDSA, k.bobEd, "bob@example.com", msg), at, StatusWrongSigner},
		{"expired when used", es, st.Expires.Add(time.Second), StatusExpired},
		{"alg none refused", none, at, StatusMalformed},
		{"HS256 refused", hs, at, StatusMalformed},
		{"EdDSA signature under an ES256 key's kid", jwsSign(t, jose.EdDSA, k.ed, "alice@example.com", msg), at, StatusBadSignature},
		{"unknown kid", jwsSign(t, jose.ES256, k.otherEC, "carol@example.com", msg), at, StatusUnknownKey},
		{"no kid", jwsSign(t, jose.ES256, k.ec, "", msg), at, StatusMalformed},
		{"not a JWS", "a.b.c", at, StatusMalformed},
		{"unsigned", "", at, StatusUnsigned},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := set.VerifyJWS(st, c.sig, c.used)
			if res.Status != c.status {
				t.Fatalf("VerifyJWS = %s (%v), want %s", res.Status, res.Err, c.status)
			}
			if res.Verified() != (c.status == StatusVerified) {
				t.Errorf("Verified() = %v", res.Verified())
			}
			if c.status == StatusVerified && (res.Signer != st.Approver || !strings.HasPrefix(res.Key, "urn:ietf:params:oauth:jwk-thumbprint:sha-256:")) {
				t.Errorf("signer %q, key %q", res.Signer, res.Key)
			}
		})
	}
	// Ingest passes a statement's JWS unredacted, never a JWT of claims.
	if p, ok := StatementJWS(es); !ok || string(p) != string(msg) {
		t.Errorf("StatementJWS(approval) = %q, %v", p, ok)
	}
	for name, sig := range map[string]string{
		"a JWT of claims": jwsSign(t, jose.ES256, k.ec, "alice@example.com", []byte(`{"sub":"agent","exp":1893456000}`)),
		"HS256":           hs,
		"alg none":        none,
	} {
		if _, ok := StatementJWS(sig); ok {
			t.Errorf("StatementJWS(%s) = true", name)
		}
	}
	// The verifier chooses the format by the signature's form.
	v := &Verifier{}
	if res := v.Verify(st, es, at, time.Time{}); res.Status != StatusUnknownKey {
		t.Errorf("Verify without a JWKS = %s, want %s", res.Status, StatusUnknownKey)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(p, k.jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	if v.JWKS, err = NewJWKSSource(t.Context(), p, JWKSOptions{}); err != nil {
		t.Fatalf("NewJWKSSource(file): %v", err)
	}
	if res := v.Verify(st, es, at, time.Time{}); res.Status != StatusVerified {
		t.Errorf("Verify with the JWKS file = %s (%v)", res.Status, res.Err)
	}
	if res := v.Verify(st, "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----", at, time.Time{}); res.Status != StatusUnknownKey {
		t.Errorf("an SSH signature without allowed signers = %s", res.Status)
	}
}

func TestParseJWKSInvalid(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	one := func(k jose.JSONWebKey) string {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for name, doc := range map[string]string{
		"not JSON":       "keys",
		"a private key":  one(jose.JSONWebKey{Key: ec, KeyID: "a"}),
		"no kid":         one(jose.JSONWebKey{Key: &ec.PublicKey}),
		"P-384":          one(jose.JSONWebKey{Key: &p384.PublicKey, KeyID: "a"}),
		"RSA":            one(jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "a"}),
		"alg of another": one(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "a", Algorithm: "EdDSA"}),
		"kid used twice": `{"keys":[` + strings.TrimSuffix(strings.TrimPrefix(one(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "a"}), `{"keys":[`), "]}") + "," + strings.TrimSuffix(strings.TrimPrefix(one(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "a"}), `{"keys":[`), "]}") + "]}",
		"over the size":  `{"keys":[],"x":"` + strings.Repeat("x", MaxJWKSBytes) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := ParseJWKS(strings.NewReader(doc)); err == nil {
				t.Errorf("ParseJWKS = %d keys, want an error", s.Len())
			}
		})
	}
}

// TestJWKSURL: a JWKS fetched over HTTPS, refreshed when the approvers'
// keys change; plain http, a failing server and an oversized set are
// refused.
func TestJWKSURL(t *testing.T) {
	k := newJWSKeys(t)
	var (
		mu    sync.Mutex
		doc   = k.jwks
		fails bool
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://"+r.Host+"/jwks.json", http.StatusFound)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if fails {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(doc)
	}))
	defer srv.Close()
	if _, err := NewJWKSSource(t.Context(), strings.Replace(srv.URL, "https:", "http:", 1), JWKSOptions{}); err == nil {
		t.Error("an http:// JWKS URL was accepted")
	}
	if _, err := NewJWKSSource(t.Context(), srv.URL, JWKSOptions{}); err == nil {
		t.Error("a JWKS server whose certificate is not trusted was accepted")
	}
	if _, err := NewJWKSSource(t.Context(), srv.URL+"/redirect", JWKSOptions{Client: srv.Client()}); err == nil || !strings.Contains(err.Error(), "want https") {
		t.Errorf("a redirect to http was followed: %v", err)
	}
	src, err := NewJWKSSource(t.Context(), srv.URL, JWKSOptions{Client: srv.Client(), Refresh: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewJWKSSource(url): %v", err)
	}
	if n := src.Keys().Len(); n != 3 {
		t.Fatalf("fetched %d keys, want 3", n)
	}
	// carol's key is added; the refresher picks it up.
	_, carol, _ := ed25519.GenerateKey(rand.Reader)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(k.jwks, &set); err != nil {
		t.Fatal(err)
	}
	set.Keys = append(set.Keys, jose.JSONWebKey{Key: carol.Public(), KeyID: "carol@example.com"})
	mu.Lock()
	doc, _ = json.Marshal(set)
	mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { src.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for src.Keys().Len() != 4 {
		if time.Now().After(deadline) {
			t.Fatal("the refresher did not fetch the new key")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The server fails, then serves an oversized set: the last good set stays.
	mu.Lock()
	fails = true
	mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	fails, doc = false, []byte(`{"keys":[],"x":"`+strings.Repeat("x", MaxJWKSBytes)+`"}`)
	mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if n := src.Keys().Len(); n != 4 {
		t.Errorf("after failed refreshes %d keys, want the last good 4", n)
	}
	cancel()
	<-done
}

package secrets

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/maphash"
	"strings"
	"sync"
)

// MinKeySize is the least number of bytes a [Redactor]'s fingerprint key may have.
const MinKeySize = 32

// fingerprintPrefix starts every fingerprint.
const fingerprintPrefix = "hmac-sha256:"

// Kinds of [Finding].
const (
	// KindSecretAttribute is the value of an attribute, or of a key=value pair in text,
	// whose name marks it as secret (Authorization, *token*, …) and that no more specific
	// kind matched. Its Rule is the name pattern that matched.
	KindSecretAttribute = "secret_attribute"
	// KindJWT is a compact JWS or JWE. Its Rule is "jws" or "jwe".
	KindJWT = "jwt"
	// KindBearer is the credential after an HTTP authentication scheme in free text. Its
	// Rule is "bearer" or "basic".
	KindBearer = "bearer"
	// KindPrefixedToken is a token recognised by its vendor prefix. Its Rule names the
	// family: "github_pat", "slack", "openai", "private_key", ….
	KindPrefixedToken = "prefixed_token"
	// KindAWSSecretAccessKey is a 40-character AWS secret access key found after its key
	// word (Rule "aws_secret_access_key"), or next to an access key ID (Rule
	// [RuleNearAccessKeyID], with the ID in CredentialID).
	KindAWSSecretAccessKey = "aws_secret_access_key"
	// KindAWSAccessKeyID is an AWS access key ID. It is a credential identifier, not a
	// secret: it is reported, with the ID in CredentialID, but left in place.
	KindAWSAccessKeyID = "aws_access_key_id"
)

// Fingerprint is HMAC-SHA256(key, value), rendered as "hmac-sha256:" + lowercase hex.
func Fingerprint(key []byte, value string) string {
	return newMAC(key).fingerprint(value)
}

// mac is a keyed HMAC-SHA256 with buffers that let it fingerprint without allocating
// more than the result.
type mac struct {
	h   hash.Hash
	in  [512]byte
	sum []byte
}

func newMAC(key []byte) *mac {
	return &mac{h: hmac.New(sha256.New, key), sum: make([]byte, 0, sha256.Size)}
}

// fingerprint renders the fingerprint of value and resets m.
func (m *mac) fingerprint(value string) string {
	for len(value) > 0 {
		n := copy(m.in[:], value)
		m.h.Write(m.in[:n])
		value = value[n:]
	}
	var buf [len(fingerprintPrefix) + 2*sha256.Size]byte
	copy(buf[:], fingerprintPrefix)
	hex.Encode(buf[len(fingerprintPrefix):], m.h.Sum(m.sum[:0]))
	m.h.Reset()
	return string(buf[:])
}

// isFingerprint reports whether v is a rendered fingerprint, so that redacting twice
// changes nothing.
func isFingerprint(v string) bool {
	if len(v) != len(fingerprintPrefix)+2*sha256.Size || !strings.HasPrefix(v, fingerprintPrefix) {
		return false
	}
	for i := len(fingerprintPrefix); i < len(v); i++ {
		if c := v[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Config configures a [Redactor].
type Config struct {
	// ExtraSecretKeys are attribute-name patterns whose values are always secret, in
	// addition to the built-in ones. A pattern is matched like the built-in ones: case
	// insensitive, '.', '-' and '_' alike, against the whole name and its last
	// '.'-separated part; '*' matches any run of characters. An extra pattern wins over
	// every built-in exception.
	ExtraSecretKeys []string `mapstructure:"extra_secret_keys"`
}

// Validate reports whether every extra pattern is usable: not empty, with a character
// other than '*', and without spaces or control characters.
func (c *Config) Validate() error {
	for i, p := range c.ExtraSecretKeys {
		if strings.Trim(p, "*") == "" {
			return fmt.Errorf("extra_secret_keys[%d] %q: pattern must contain a character other than '*'", i, p)
		}
		for _, r := range p {
			if r <= ' ' || r == 0x7f {
				return fmt.Errorf("extra_secret_keys[%d] %q: pattern must not contain spaces or control characters", i, p)
			}
		}
	}
	return nil
}

// Finding records one secret that was found in a value. Every kind but
// [KindAWSAccessKeyID] was replaced by its fingerprint.
type Finding struct {
	// Kind is one of the Kind constants.
	Kind string
	// Rule says more precisely what matched; see the Kind constants.
	Rule string
	// Fingerprint is the fingerprint that replaced the secret; empty for
	// KindAWSAccessKeyID, which is not replaced.
	Fingerprint string
	// CredentialID is the secret's non-secret credential identifier when it has one: the
	// access key ID of a KindAWSAccessKeyID or of a KindAWSSecretAccessKey found next to
	// it, the jti claim of a JWT.
	CredentialID string
	// Claims are the non-secret claims of a JWS whose payload is a JSON object.
	Claims *JWTClaims
}

// JWTClaims are the non-secret claims kept from a JWT.
type JWTClaims struct {
	// JTI is the token's ID (jti).
	JTI string
	// Issuer is the iss claim.
	Issuer string
	// Subject is the sub claim.
	Subject string
	// Audience is the aud claim; a single string becomes a one-element slice.
	Audience []string
	// ExpiresAt is the exp claim in seconds since the Unix epoch, or 0.
	ExpiresAt int64
	// Actor is act.sub, the acting party of a delegated (RFC 8693) token.
	Actor string
}

// Redactor replaces secrets in attribute values with fingerprints. It is safe for
// concurrent use.
type Redactor struct {
	key   []byte
	macs  sync.Pool // of *mac, keyed with key
	names nameRules
	// verdicts remembers names' verdicts for RedactAttr and RedactName:
	// attribute names repeat from span to span.
	verdicts nameCache
}

// NewRedactor returns a Redactor that fingerprints with key, which must be at least
// [MinKeySize] bytes, and recognises secret attribute names with cfg.
func NewRedactor(key []byte, cfg Config) (*Redactor, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("secrets: fingerprint key is %d bytes, want at least %d", len(key), MinKeySize)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("secrets: invalid config: %w", err)
	}
	r := &Redactor{key: append([]byte(nil), key...), names: newNameRules(cfg.ExtraSecretKeys)}
	r.verdicts.seed = maphash.MakeSeed()
	r.macs.New = func() any { return newMAC(r.key) }
	return r, nil
}

// Fingerprint is [Fingerprint] with the Redactor's key.
func (r *Redactor) Fingerprint(value string) string {
	m := r.macs.Get().(*mac)
	fp := m.fingerprint(value)
	r.macs.Put(m)
	return fp
}

// RedactAttr decides for one attribute whether it holds secrets and returns the value to
// store, the findings, and whether the value changed.
//
// The whole value of an attribute with a secret name becomes the fingerprint of its
// token: the part after a "Bearer ", "Basic " or "token " scheme, or else the whole value.
// Every other value is scanned as by [Redactor.RedactText]. The findings may include
// access key IDs ([KindAWSAccessKeyID]), which are left in place, so a value can have
// findings and yet be unchanged.
func (r *Redactor) RedactAttr(name, value string) (string, []Finding, bool) {
	rule, secret := r.matchName(name)
	if !secret {
		return r.RedactText(value)
	}
	token := stripScheme(strings.TrimSpace(value))
	if token == "" || isFingerprint(token) {
		return value, nil, false
	}
	if !shapeOK(rule, token) {
		return r.RedactText(value)
	}
	f := Finding{Kind: KindSecretAttribute, Rule: rule}
	if j, ok := parseJWT(token, 0); ok && j.end == len(token) {
		f.Kind, f.Rule, f.Claims = KindJWT, j.rule, j.claims
		if j.claims != nil {
			f.CredentialID = j.claims.JTI
		}
	} else if p, ok := matchPrefix(token, 0); ok && p.end == len(token) && p.kind == KindPrefixedToken {
		f.Kind, f.Rule = p.kind, p.rule
	}
	f.Fingerprint = r.Fingerprint(token)
	return f.Fingerprint, []Finding{f}, true
}

// SecretName reports whether RedactAttr treats the values of the attribute
// (or JSON member) name as secret, under the built-in patterns and the
// Redactor's [Config.ExtraSecretKeys]. A value whose name is not secret is
// only scanned as [Redactor.RedactText] scans it, so a caller that already
// scanned it, inside a larger text, need not scan it again.
func (r *Redactor) SecretName(name string) bool {
	_, secret := r.matchName(name)
	return secret
}

// RedactName is [Redactor.RedactText] for an attribute or member name.
// Names repeat from span to span: a name in which RedactText finds nothing
// is remembered, and returned as it is the next time without a scan.
func (r *Redactor) RedactName(name string) (string, []Finding, bool) {
	if r.remembered(name) != nil {
		return name, nil, false
	}
	return r.RedactText(name)
}

// RedactText is RedactAttr for free text with no attribute name (message content,
// reasoning, tool arguments): every secret found inside value is replaced in place by its
// fingerprint and the rest of the text is kept. A value without secrets is returned as it
// is, without allocating.
func (r *Redactor) RedactText(value string) (string, []Finding, bool) {
	sc := scanner{r: r, s: value}
	sc.scan()
	out := value
	if sc.changed {
		sc.out.WriteString(value[sc.last:])
		out = sc.out.String()
	}
	if sc.nKeyIDs > 0 {
		out = sc.pairSecretKeys(out)
	}
	return out, sc.findings, sc.changed
}

// RuleURLPassword is the Rule of a [KindSecretAttribute] finding that is the password
// of a URL's user:password@ or of curl's -u user:password.
const RuleURLPassword = "url_password"

// authSchemes are the HTTP authentication schemes, in lower case, whose credential
// follows them after a space in an Authorization-style value.
var authSchemes = [...]string{"bearer", "basic", "token", "api-token", "apikey", "sso-key"}

// stripScheme returns the credential of an Authorization-style value: what follows a
// "Bearer", "Basic" or "token" scheme and spaces, or v itself.
func stripScheme(v string) string {
	for _, scheme := range authSchemes {
		if len(v) > len(scheme) && hasPrefixFold(v, scheme) && (v[len(scheme)] == ' ' || v[len(scheme)] == '\t') {
			if t := strings.TrimLeft(v[len(scheme):], " \t"); t != "" {
				return t
			}
		}
	}
	return v
}

// hasPrefixFold reports whether s starts with prefix, which must be lowercase ASCII
// letters, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if s[i]|0x20 != prefix[i] {
			return false
		}
	}
	return true
}

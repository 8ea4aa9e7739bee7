// Package auth holds the bearer tokens of the query server: their roles,
// how a token is made and hashed, and the Store interface a database
// implements to keep them. Only SHA-256(token) is stored; the token itself
// is shown once, when it is created.
//
// The package depends on nothing but the standard library and ledger's
// sentinel errors, so that the stores (ledger/postgres, ledger/sqlite) can
// implement Store without importing the query server.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// Role is what a token may do. Roles are ordered: each allows everything
// the one before it allows.
type Role string

// The roles, weakest first.
const (
	// RoleAuditor reads checkpoints, tiles, proofs and entries without
	// their content.
	RoleAuditor Role = "auditor"
	// RoleResponder also reads the linked views (credentials, runs,
	// agents, search) and content.
	RoleResponder Role = "responder"
	// RoleAdmin also erases content and manages tokens.
	RoleAdmin Role = "admin"
)

// Roles lists the roles of the query API, weakest first.
var Roles = []Role{RoleAuditor, RoleResponder, RoleAdmin}

// RoleIngest is the role of an OTLP sender's token: it may submit
// telemetry to the receiver, which records the token's name as the
// entries' submitter, and nothing else. It is outside the order of Roles:
// it allows nothing of the query API, and no query API role allows ingest.
const RoleIngest Role = "ingest"

func (r Role) rank() int {
	for i, v := range Roles {
		if r == v {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether r is one of Roles or RoleIngest.
func (r Role) Valid() bool { return r.rank() > 0 || r == RoleIngest }

// Allows reports whether a token of role r may do what needs role need.
// An invalid role allows nothing; RoleIngest allows only itself.
func (r Role) Allows(need Role) bool {
	if r == RoleIngest || need == RoleIngest {
		return r == need
	}
	return r.Valid() && need.Valid() && r.rank() >= need.rank()
}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("%w: role %q: want auditor, responder, admin or ingest", ledger.ErrInvalid, s)
	}
	return r, nil
}

// Prefix starts every token, so that secret scanners and people recognise
// one.
const Prefix = "alt_"

// secretSize is the number of random bytes in a token.
const secretSize = 32

// MaxTokenLength bounds a presented token; anything longer is rejected
// without a lookup.
const MaxTokenLength = 256

// MaxNameLength bounds a token's name.
const MaxNameLength = 64

// Token is a stored token: its name and role, the SHA-256 of the token,
// and when it was created and revoked.
type Token struct {
	Name    string
	Role    Role
	Hash    [sha256.Size]byte
	Created time.Time
	// Revoked is when the token was revoked; zero while it is active.
	Revoked time.Time
}

// Active reports whether t has not been revoked.
func (t *Token) Active() bool { return t.Revoked.IsZero() }

// Store keeps tokens. Postgres and SQLite stores implement it; the suite in
// authtest checks an implementation.
type Store interface {
	// CreateToken stores t. It fails with ledger.ErrConflict if an active
	// token has t's name or any token has t's hash.
	CreateToken(ctx context.Context, t Token) error
	// LookupToken returns the token whose hash is hash, active or revoked,
	// or ledger.ErrNotFound.
	LookupToken(ctx context.Context, hash [sha256.Size]byte) (Token, error)
	// ListTokens returns every token, active and revoked, oldest first.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks the active token named name revoked at the given
	// time and returns it, or fails with ledger.ErrNotFound if no active
	// token has that name.
	RevokeToken(ctx context.Context, name string, at time.Time) (Token, error)
}

// Hash returns the SHA-256 of a presented token, the key a token is
// stored and looked up by.
func Hash(token string) [sha256.Size]byte {
	return sha256.Sum256([]byte(token))
}

// Generate returns a new random token: Prefix followed by 32 random bytes,
// base64url without padding.
func Generate() string {
	b := make([]byte, secretSize)
	rand.Read(b)
	return Prefix + base64.RawURLEncoding.EncodeToString(b)
}

// ValidName checks a token name: 1 to MaxNameLength letters, digits and
// the characters . _ - @ :.
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLength {
		return fmt.Errorf("%w: token name of %d bytes: want 1 to %d", ledger.ErrInvalid, len(name), MaxNameLength)
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-', c == '@', c == ':':
		default:
			return fmt.Errorf("%w: token name %q: want only letters, digits and the characters .:@_-", ledger.ErrInvalid, name)
		}
	}
	return nil
}

// Create makes a token of role named name, stores its hash in s and
// returns the token, which is not stored anywhere and cannot be shown
// again.
func Create(ctx context.Context, s Store, name string, role Role) (string, Token, error) {
	if err := ValidName(name); err != nil {
		return "", Token{}, err
	}
	if !role.Valid() {
		return "", Token{}, fmt.Errorf("%w: role %q", ledger.ErrInvalid, role)
	}
	secret := Generate()
	t := Token{Name: name, Role: role, Hash: Hash(secret), Created: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.CreateToken(ctx, t); err != nil {
		return "", Token{}, fmt.Errorf("create token %q: %w", name, err)
	}
	return secret, t, nil
}

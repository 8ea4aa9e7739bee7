package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ledger"
)

var _ auth.Store = (*Store)(nil)

const selectTokens = `SELECT hash, name, role, created_at, revoked_at FROM tokens `

// CreateToken implements auth.Store.
func (s *Store) CreateToken(ctx context.Context, t auth.Token) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO tokens (hash, name, role, created_at) VALUES (?, ?, ?, ?)`,
		t.Hash[:], t.Name, string(t.Role), t.Created.UnixNano())
	return wrap("create token", err)
}

// LookupToken implements auth.Store.
func (s *Store) LookupToken(ctx context.Context, hash [sha256.Size]byte) (auth.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, selectTokens+`WHERE hash = ?`, hash[:]))
	if err != nil {
		return auth.Token{}, fmt.Errorf("sqlite: look up token: %w", err)
	}
	return t, nil
}

// ListTokens implements auth.Store.
func (s *Store) ListTokens(ctx context.Context) ([]auth.Token, error) {
	rows, err := s.r.QueryContext(ctx, selectTokens+`ORDER BY created_at, name, hash`)
	if err != nil {
		return nil, wrap("list tokens", err)
	}
	defer rows.Close()
	var ts []auth.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list tokens: %w", err)
		}
		ts = append(ts, t)
	}
	return ts, wrap("list tokens", rows.Err())
}

// RevokeToken implements auth.Store.
func (s *Store) RevokeToken(ctx context.Context, name string, at time.Time) (auth.Token, error) {
	t, err := scanToken(s.w.QueryRowContext(ctx, `UPDATE tokens SET revoked_at = ?
		WHERE name = ? AND revoked_at IS NULL
		RETURNING hash, name, role, created_at, revoked_at`, at.UnixNano(), name))
	if err != nil {
		return auth.Token{}, fmt.Errorf("sqlite: revoke token %q: %w", name, err)
	}
	return t, nil
}

// scanToken reads a token row as selectTokens selects it. No row wraps
// ledger.ErrNotFound.
func scanToken(row interface{ Scan(...any) error }) (auth.Token, error) {
	var (
		t       auth.Token
		hash    []byte
		role    string
		created int64
		revoked sql.NullInt64
	)
	err := row.Scan(&hash, &t.Name, &role, &created, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Token{}, ledger.ErrNotFound
	}
	if err != nil {
		return auth.Token{}, translate(err)
	}
	if len(hash) != sha256.Size {
		return auth.Token{}, fmt.Errorf("%w: token %q: hash of %d bytes", ledger.ErrCorrupt, t.Name, len(hash))
	}
	copy(t.Hash[:], hash)
	t.Role = auth.Role(role)
	t.Created = time.Unix(0, created).UTC()
	t.Revoked = fromNanos(revoked)
	return t, nil
}

package postgres

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ledger"
)

var _ auth.Store = (*Store)(nil)

const selectTokens = `SELECT hash, name, role, created_at, revoked_at FROM tokens `

// CreateToken implements auth.Store.
func (s *Store) CreateToken(ctx context.Context, t auth.Token) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO tokens (hash, name, role, created_at) VALUES ($1, $2, $3, $4)`,
		t.Hash[:], t.Name, string(t.Role), t.Created)
	if err != nil {
		return fmt.Errorf("postgres: create token: %w", translate(err))
	}
	return nil
}

// LookupToken implements auth.Store.
func (s *Store) LookupToken(ctx context.Context, hash [sha256.Size]byte) (auth.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, selectTokens+`WHERE hash = $1`, hash[:]))
	if err != nil {
		return auth.Token{}, fmt.Errorf("postgres: look up token: %w", err)
	}
	return t, nil
}

// ListTokens implements auth.Store.
func (s *Store) ListTokens(ctx context.Context) ([]auth.Token, error) {
	rows, _ := s.pool.Query(ctx, selectTokens+`ORDER BY created_at, name, hash`)
	ts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.Token, error) { return scanToken(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list tokens: %w", translate(err))
	}
	return ts, nil
}

// RevokeToken implements auth.Store.
func (s *Store) RevokeToken(ctx context.Context, name string, at time.Time) (auth.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `UPDATE tokens SET revoked_at = $2
		WHERE name = $1 AND revoked_at IS NULL
		RETURNING hash, name, role, created_at, revoked_at`, name, at))
	if err != nil {
		return auth.Token{}, fmt.Errorf("postgres: revoke token %q: %w", name, err)
	}
	return t, nil
}

// scanToken reads a token row as selectTokens selects it, translating the
// error.
func scanToken(row pgx.Row) (auth.Token, error) {
	var (
		t       auth.Token
		hash    []byte
		role    string
		revoked *time.Time
	)
	if err := row.Scan(&hash, &t.Name, &role, &t.Created, &revoked); err != nil {
		return auth.Token{}, translate(err)
	}
	if len(hash) != sha256.Size {
		return auth.Token{}, fmt.Errorf("%w: token %q: hash of %d bytes", ledger.ErrCorrupt, t.Name, len(hash))
	}
	copy(t.Hash[:], hash)
	t.Role = auth.Role(role)
	t.Created = t.Created.UTC()
	if revoked != nil {
		t.Revoked = revoked.UTC()
	}
	return t, nil
}

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/ledger"
)

var _ ledger.KeyStore = (*Store)(nil)

// LogKeys implements ledger.KeyStore.
func (s *Store) LogKeys(ctx context.Context) ([]ledger.LogKey, error) {
	rows, _ := s.pool.Query(ctx, `SELECT seq, origin, verifier_key, created_at FROM log_keys ORDER BY seq`)
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.LogKey, error) {
		var k ledger.LogKey
		err := row.Scan(&k.Seq, &k.Origin, &k.VerifierKey, &k.Time)
		k.Time = k.Time.UTC()
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: log keys: %w", translate(err))
	}
	return keys, nil
}

// AddLogKey implements ledger.KeyStore.
func (s *Store) AddLogKey(ctx context.Context, k ledger.LogKey) error {
	h, err := ledger.KeyHash(k.VerifierKey)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO log_keys (seq, origin, verifier_key, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		k.Seq, k.Origin, k.VerifierKey, h, k.Time)
	if err != nil {
		return fmt.Errorf("postgres: add log key %d: %w", k.Seq, translate(err))
	}
	return nil
}

package sqlite

import (
	"context"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

var _ ledger.KeyStore = (*Store)(nil)

// LogKeys implements ledger.KeyStore.
func (s *Store) LogKeys(ctx context.Context) ([]ledger.LogKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, origin, verifier_key, created_at FROM log_keys ORDER BY seq`)
	if err != nil {
		return nil, wrap("log keys", err)
	}
	defer rows.Close()
	var keys []ledger.LogKey
	for rows.Next() {
		var (
			k       ledger.LogKey
			created int64
		)
		if err := rows.Scan(&k.Seq, &k.Origin, &k.VerifierKey, &created); err != nil {
			return nil, wrap("log keys", err)
		}
		k.Time = time.Unix(0, created).UTC()
		keys = append(keys, k)
	}
	return keys, wrap("log keys", rows.Err())
}

// AddLogKey implements ledger.KeyStore.
func (s *Store) AddLogKey(ctx context.Context, k ledger.LogKey) error {
	h, err := ledger.KeyHash(k.VerifierKey)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO log_keys (seq, origin, verifier_key, key_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		k.Seq, k.Origin, k.VerifierKey, h, k.Time.UnixNano())
	return wrap("add log key", err)
}

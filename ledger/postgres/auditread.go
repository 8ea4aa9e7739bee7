package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

var _ index.Scanner = (*Store)(nil)

// indexRefNames are the names of the references that are index keys.
var indexRefNames = []string{ledger.RefTrace, ledger.RefCredential, ledger.RefCredentialParent, ledger.RefFingerprint, ledger.RefAgent, ledger.RefTarget}

// ScanIndexKeys implements index.Scanner: one sequential scan, read in
// binary.
func (s *Store) ScanIndexKeys(ctx context.Context, fn func(index.KeyState) error) error {
	return s.scanRaw(ctx, "scan index keys", 3, `SELECT label, size, range FROM index_keys`, func(v [][]byte) error {
		if len(v[0]) != ledger.HashSize || len(v[1]) != 8 || v[2] == nil {
			return fmt.Errorf("%w: malformed index key row", ledger.ErrCorrupt)
		}
		return fn(index.KeyState{Label: [ledger.HashSize]byte(v[0]), Size: binary.BigEndian.Uint64(v[1]), Range: append([]byte(nil), v[2]...)})
	})
}

// ScanIndexNodes implements index.Scanner: one sequential scan, read in
// binary.
func (s *Store) ScanIndexNodes(ctx context.Context, fn func(index.Node) error) error {
	return s.scanRaw(ctx, "scan index nodes", 3, `SELECT id, hash, children FROM index_nodes`, func(v [][]byte) error {
		n, err := index.DecodeNode(v[0], v[1], v[2])
		if err != nil {
			return err
		}
		return fn(n)
	})
}

// ScanIndexRefs implements index.Scanner: one sequential scan of
// entry_refs, read in binary without a copy of each row.
func (s *Store) ScanIndexRefs(ctx context.Context, size uint64, fn func(key, value []byte, idx uint64) error) error {
	size = min(size, math.MaxInt64)
	return s.scanRaw(ctx, "scan index refs", 3, `SELECT key, value, idx FROM entry_refs WHERE key = ANY($1) AND idx < $2`, func(v [][]byte) error {
		if len(v[2]) != 8 {
			return fmt.Errorf("%w: malformed entry_refs row", ledger.ErrCorrupt)
		}
		return fn(v[0], v[1], binary.BigEndian.Uint64(v[2]))
	}, indexRefNames, int64(size))
}

// scanRaw runs one query whose rows have cols columns, in binary, and
// calls fn with each row's raw values, valid only until fn returns. An
// error of fn is returned as it is.
func (s *Store) scanRaw(ctx context.Context, op string, cols int, sql string, fn func([][]byte) error, args ...any) error {
	rows, _ := s.pool.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}, args...)...)
	defer rows.Close()
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != cols {
			return fmt.Errorf("postgres: %s: %w: row of %d columns", op, ledger.ErrCorrupt, len(v))
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, translate(err))
	}
	return nil
}

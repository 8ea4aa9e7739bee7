package sqlite

import (
	"context"
	"math"
	"strings"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

var _ index.Scanner = (*Store)(nil)

// indexKeyIn is the condition that a row of entry_refs is an index key:
// "key IN (?, …)", a parameter for each of ledger.IndexKeyNames, which
// indexKeyArgs returns.
var indexKeyIn = "key IN (?" + strings.Repeat(", ?", len(ledger.IndexKeyNames())-1) + ")"

// indexKeyArgs returns the arguments of indexKeyIn.
func indexKeyArgs() []any {
	names := ledger.IndexKeyNames()
	args := make([]any, len(names), len(names)+1)
	for i, n := range names {
		args[i] = n
	}
	return args
}

// ScanIndexKeys implements index.Scanner: one scan of the table.
func (s *Store) ScanIndexKeys(ctx context.Context, fn func(index.KeyState) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT label, size, "range" FROM index_keys`)
	if err != nil {
		return wrap("scan index keys", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k     index.KeyState
			label []byte
			size  int64
		)
		if err := rows.Scan(&label, &size, &k.Range); err != nil {
			return wrap("scan index keys", err)
		}
		if k.Label, err = hash(label, "index key label"); err != nil {
			return err
		}
		k.Size = uint64(size)
		if err := fn(k); err != nil {
			return err
		}
	}
	return wrap("scan index keys", rows.Err())
}

// ScanIndexNodes implements index.Scanner: one scan of the table.
func (s *Store) ScanIndexNodes(ctx context.Context, fn func(index.Node) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT id, hash, children FROM index_nodes`)
	if err != nil {
		return wrap("scan index nodes", err)
	}
	defer rows.Close()
	var id, h, children []byte
	for rows.Next() {
		if err := rows.Scan(&id, &h, &children); err != nil {
			return wrap("scan index nodes", err)
		}
		n, err := index.DecodeNode(id, h, children)
		if err != nil {
			return err
		}
		if err := fn(n); err != nil {
			return err
		}
	}
	return wrap("scan index nodes", rows.Err())
}

// ScanIndexRefs implements index.Scanner: one scan of entry_refs.
func (s *Store) ScanIndexRefs(ctx context.Context, size uint64, fn func(key, value []byte, idx uint64) error) error {
	size = min(size, math.MaxInt64)
	rows, err := s.r.QueryContext(ctx, `SELECT key, value, idx FROM entry_refs WHERE `+indexKeyIn+` AND idx < ?`,
		append(indexKeyArgs(), int64(size))...)
	if err != nil {
		return wrap("scan index refs", err)
	}
	defer rows.Close()
	var (
		key, value []byte
		idx        int64
	)
	for rows.Next() {
		if err := rows.Scan(&key, &value, &idx); err != nil {
			return wrap("scan index refs", err)
		}
		if err := fn(key, value, uint64(idx)); err != nil {
			return err
		}
	}
	return wrap("scan index refs", rows.Err())
}

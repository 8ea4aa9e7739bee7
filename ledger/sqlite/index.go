package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

var _ index.Store = (*Store)(nil)

// inChunk is the most values one IN list binds.
const inChunk = 500

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

const selectIndexNotes = `SELECT size, tree_root, map_root, note, time FROM index_notes `

// LatestIndexNote implements index.Reader.
func (s *Store) LatestIndexNote(ctx context.Context) (index.Note, error) {
	ns, err := readIndexNotes(ctx, s.r, `ORDER BY size DESC LIMIT 1`)
	if err != nil {
		return index.Note{}, err
	}
	if len(ns) == 0 {
		return index.Note{}, fmt.Errorf("sqlite: latest index note: %w", ledger.ErrNotFound)
	}
	return ns[0], nil
}

// IndexNotes implements index.Reader.
func (s *Store) IndexNotes(ctx context.Context, from uint64, limit int) ([]index.Note, error) {
	if limit <= 0 || from > math.MaxInt64 {
		return nil, nil
	}
	return readIndexNotes(ctx, s.r, `WHERE size >= ? ORDER BY size LIMIT ?`, int64(from), limit)
}

func readIndexNotes(ctx context.Context, q querier, where string, args ...any) ([]index.Note, error) {
	rows, err := q.QueryContext(ctx, selectIndexNotes+where, args...)
	if err != nil {
		return nil, wrap("read index notes", err)
	}
	defer rows.Close()
	var out []index.Note
	for rows.Next() {
		var (
			n           index.Note
			size        int64
			tree, mroot []byte
			t           sql.NullInt64
		)
		if err := rows.Scan(&size, &tree, &mroot, &n.Note, &t); err != nil {
			return nil, wrap("read index notes", err)
		}
		n.Size, n.Time = uint64(size), fromNanos(t)
		if n.TreeRoot, err = hash(tree, "index note tree root"); err != nil {
			return nil, err
		}
		if n.MapRoot, err = hash(mroot, "index note map root"); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, wrap("read index notes", rows.Err())
}

// IndexKeys implements index.Reader.
func (s *Store) IndexKeys(ctx context.Context, labels [][ledger.HashSize]byte) (map[[ledger.HashSize]byte]index.KeyState, error) {
	return readIndexKeys(ctx, s.r, labels)
}

func readIndexKeys(ctx context.Context, q querier, labels [][ledger.HashSize]byte) (map[[ledger.HashSize]byte]index.KeyState, error) {
	out := make(map[[ledger.HashSize]byte]index.KeyState, len(labels))
	for start := 0; start < len(labels); start += inChunk {
		chunk := labels[start:min(start+inChunk, len(labels))]
		args := make([]any, len(chunk))
		for i := range chunk {
			args[i] = chunk[i][:]
		}
		ks, err := scanIndexKeys(ctx, q, `WHERE label IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			out[k.Label] = k
		}
	}
	return out, nil
}

// IndexKeysFrom implements index.Reader.
func (s *Store) IndexKeysFrom(ctx context.Context, from [ledger.HashSize]byte, limit int) ([]index.KeyState, error) {
	if limit <= 0 {
		return nil, nil
	}
	return scanIndexKeys(ctx, s.r, `WHERE label >= ? ORDER BY label LIMIT ?`, from[:], limit)
}

func scanIndexKeys(ctx context.Context, q querier, where string, args ...any) ([]index.KeyState, error) {
	rows, err := q.QueryContext(ctx, `SELECT label, size, "range" FROM index_keys `+where, args...)
	if err != nil {
		return nil, wrap("read index keys", err)
	}
	defer rows.Close()
	var out []index.KeyState
	for rows.Next() {
		var (
			k     index.KeyState
			label []byte
			size  int64
		)
		if err := rows.Scan(&label, &size, &k.Range); err != nil {
			return nil, wrap("read index keys", err)
		}
		if k.Label, err = hash(label, "index key label"); err != nil {
			return nil, err
		}
		k.Size = uint64(size)
		out = append(out, k)
	}
	return out, wrap("read index keys", rows.Err())
}

// IndexNodes implements index.Reader.
func (s *Store) IndexNodes(ctx context.Context, ids []index.NodeID) (map[index.NodeID]index.Node, error) {
	return readIndexNodes(ctx, s.r, ids)
}

func readIndexNodes(ctx context.Context, q querier, ids []index.NodeID) (map[index.NodeID]index.Node, error) {
	out := make(map[index.NodeID]index.Node, len(ids))
	for start := 0; start < len(ids); start += inChunk {
		chunk := ids[start:min(start+inChunk, len(ids))]
		args := make([]any, len(chunk))
		for i := range chunk {
			args[i] = chunk[i][:]
		}
		rows, err := q.QueryContext(ctx, `SELECT id, hash, children FROM index_nodes WHERE id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, wrap("read index nodes", err)
		}
		// The columns are read in the driver's memory (RawBytes), which
		// DecodeNode copies from: no allocation per column.
		var id, h, children sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&id, &h, &children); err != nil {
				rows.Close()
				return nil, wrap("read index nodes", err)
			}
			n, err := index.DecodeNode(id, h, children)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[n.ID] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, wrap("read index nodes", err)
		}
	}
	return out, nil
}

// indexTx is an index.Tx on a read snapshot of the database.
type indexTx struct{ tx *sql.Tx }

func (t indexTx) IndexKeys(ctx context.Context, labels [][ledger.HashSize]byte) (map[[ledger.HashSize]byte]index.KeyState, error) {
	return readIndexKeys(ctx, t.tx, labels)
}

func (t indexTx) IndexNodes(ctx context.Context, ids []index.NodeID) (map[index.NodeID]index.Node, error) {
	return readIndexNodes(ctx, t.tx, ids)
}

// UpdateIndex implements index.Store. fn runs in a read transaction on the
// read pool, on a snapshot of the database, while appends go on: computing
// a batch (reading key states and map nodes, hashing the map, signing the
// note) takes the writer's lock from no one. The batch is then written in a
// transaction that begins IMMEDIATE on the writer connection, as Update
// does, so index writers are serialised with every writer, if the index
// head is still the snapshot's: only index batches write the index tables,
// and each advances the head, so an unchanged head means the key states and
// nodes fn read are the latest. If another index writer committed since,
// UpdateIndex calls fn again on a newer snapshot.
func (s *Store) UpdateIndex(ctx context.Context, fn func(tx index.Tx, size uint64, indexed bool) (*index.Batch, error)) error {
	for {
		var (
			size sql.NullInt64
			b    *index.Batch
		)
		err := s.readTx(ctx, func(tx *sql.Tx) error {
			var err error
			if size, err = readIndexHead(ctx, tx); err != nil {
				return err
			}
			b, err = fn(indexTx{tx}, uint64(size.Int64), size.Valid)
			return err
		})
		if err != nil || b == nil {
			return err
		}
		if written, err := s.writeIndex(ctx, size, b); err != nil || written {
			return err
		}
	}
}

// readIndexHead returns the size the index covers, NULL before the first
// note.
func readIndexHead(ctx context.Context, q querier) (sql.NullInt64, error) {
	var size sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT size FROM index_head WHERE id = 1`).Scan(&size); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return size, fmt.Errorf("%w: sqlite: no index head row", ledger.ErrCorrupt)
		}
		return size, wrap("update index: read head", err)
	}
	return size, nil
}

// writeIndex writes b, computed on a snapshot whose index head was size, in
// a write transaction, unless the head has moved since: then it writes
// nothing and returns false.
func (s *Store) writeIndex(ctx context.Context, size sql.NullInt64, b *index.Batch) (bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, wrap("update index: begin", err)
	}
	defer tx.Rollback()
	cur, err := readIndexHead(ctx, tx)
	if err != nil {
		return false, err
	}
	if cur != size {
		return false, nil
	}
	if size.Valid && b.Note.Size <= uint64(size.Int64) || b.Note.Size > math.MaxInt64 {
		return false, fmt.Errorf("%w: sqlite: index note of size %d does not advance the index from %d", ledger.ErrInvalid, b.Note.Size, size.Int64)
	}
	if err := resetIndex(ctx, tx, b); err != nil {
		return false, err
	}
	if err := backfillRefs(ctx, tx, b.AgentRefs); err != nil {
		return false, err
	}
	keyStmt, err := tx.PrepareContext(ctx, `INSERT INTO index_keys (label, size, "range") VALUES (?, ?, ?)
		ON CONFLICT (label) DO UPDATE SET size = excluded.size, "range" = excluded."range"`)
	if err != nil {
		return false, wrap("update index: prepare", err)
	}
	defer keyStmt.Close()
	// The rows are written with ctx's values but not its end, which the
	// loops check between rows: for a context that can end, the driver
	// starts a goroutine per statement to interrupt it, which costs more
	// CPU than the row's own write (BenchmarkIndexStep).
	rowCtx := context.WithoutCancel(ctx)
	for _, k := range b.Keys {
		if err := ctx.Err(); err != nil {
			return false, wrap("update index: key", err)
		}
		if _, err := keyStmt.ExecContext(rowCtx, k.Label[:], int64(k.Size), blob(k.Range)); err != nil {
			return false, wrap("update index: key", err)
		}
	}
	nodeStmt, err := tx.PrepareContext(ctx, `INSERT INTO index_nodes (id, hash, children) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, children = excluded.children`)
	if err != nil {
		return false, wrap("update index: prepare", err)
	}
	defer nodeStmt.Close()
	for _, n := range b.Nodes {
		if err := ctx.Err(); err != nil {
			return false, wrap("update index: node", err)
		}
		h, children := index.EncodeNode(n)
		if _, err := nodeStmt.ExecContext(rowCtx, n.ID[:], h, children); err != nil {
			return false, wrap("update index: node", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO index_notes (size, tree_root, map_root, note, time) VALUES (?, ?, ?, ?, ?)`,
		int64(b.Note.Size), b.Note.TreeRoot[:], b.Note.MapRoot[:], b.Note.Note, nanos(b.Note.Time)); err != nil {
		return false, wrap("update index: note", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE index_head SET size = ? WHERE id = 1`, int64(b.Note.Size)); err != nil {
		return false, wrap("update index: head", err)
	}
	return true, wrap("update index: commit", tx.Commit())
}

// resetIndex removes the key states and map nodes of a version-1 index
// when b is the first batch of version 2 (index.Batch.Reset).
func resetIndex(ctx context.Context, tx *sql.Tx, b *index.Batch) error {
	if !b.Reset {
		return nil
	}
	ns, err := readIndexNotes(ctx, tx, `ORDER BY size DESC LIMIT 1`)
	if err != nil {
		return err
	}
	if len(ns) == 0 || !index.IsV1(ns[0]) {
		return fmt.Errorf("%w: sqlite: an index reset replaces only an index of version 1", ledger.ErrInvalid)
	}
	for _, q := range []string{`DELETE FROM index_keys`, `DELETE FROM index_nodes`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return wrap("update index: reset", err)
		}
	}
	return nil
}

// backfillRefs writes the agent references among refs that entries stored
// before migration 0008 lack (index.Batch.AgentRefs).
func backfillRefs(ctx context.Context, tx *sql.Tx, refs []index.RefAt) error {
	if len(refs) == 0 {
		return nil
	}
	var bound int64
	if err := tx.QueryRowContext(ctx, `SELECT size FROM entry_refs_backfill WHERE id = 1`).Scan(&bound); err != nil {
		return wrap("update index: read backfill bound", err)
	}
	var stmt *sql.Stmt
	for _, r := range refs {
		if r.Index >= uint64(bound) {
			continue
		}
		if r.Ref.Key != ledger.RefAgent {
			return fmt.Errorf("%w: sqlite: backfilled reference %s is not an agent's", ledger.ErrInvalid, r.Ref)
		}
		if stmt == nil {
			var err error
			if stmt, err = tx.PrepareContext(ctx, `INSERT INTO entry_refs (key, value, idx) SELECT ?1, ?2, ?3
				WHERE NOT EXISTS (SELECT 1 FROM entry_refs WHERE key = ?1 AND value = ?2 AND idx = ?3)`); err != nil {
				return wrap("update index: prepare", err)
			}
			defer stmt.Close()
		}
		if _, err := stmt.ExecContext(ctx, r.Ref.Key, r.Ref.Value, int64(r.Index)); err != nil {
			return wrap("update index: backfill reference", err)
		}
	}
	return nil
}

// ScanRefs implements index.Store.
func (s *Store) ScanRefs(ctx context.Context, fn func(ref ledger.Ref, idx uint64) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT key, value, idx FROM entry_refs WHERE `+indexKeyIn, indexKeyArgs()...)
	if err != nil {
		return wrap("scan refs", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r   ledger.Ref
			idx int64
		)
		if err := rows.Scan(&r.Key, &r.Value, &idx); err != nil {
			return wrap("scan refs", err)
		}
		if err := fn(r, uint64(idx)); err != nil {
			return err
		}
	}
	return wrap("scan refs", rows.Err())
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// querier is what the readers need of a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Head returns the current tree head.
func (s *Store) Head(ctx context.Context) (ledger.TreeHead, error) {
	return readHead(ctx, s.r)
}

// readHead reads the tree head row and checks that it is well formed.
func readHead(ctx context.Context, q querier) (ledger.TreeHead, error) {
	var (
		size           int64
		root, rng      []byte
		cpSize, cpTime sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT size, root, "range", checkpoint_size, checkpoint_time FROM tree_head WHERE id = 1`).
		Scan(&size, &root, &rng, &cpSize, &cpTime)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.TreeHead{}, fmt.Errorf("%w: sqlite: no tree head row", ledger.ErrCorrupt)
	}
	if err != nil {
		return ledger.TreeHead{}, wrap("read tree head", err)
	}
	h := ledger.TreeHead{Size: uint64(size)}
	if h.Root, err = hash(root, "tree head root"); err != nil {
		return ledger.TreeHead{}, err
	}
	if len(rng)%ledger.HashSize != 0 || len(rng)/ledger.HashSize != bits.OnesCount64(h.Size) {
		return ledger.TreeHead{}, fmt.Errorf("%w: sqlite: tree head of size %d has a compact range of %d bytes", ledger.ErrCorrupt, h.Size, len(rng))
	}
	if h.Size == 0 && h.Root != ledger.EmptyRoot() {
		return ledger.TreeHead{}, fmt.Errorf("%w: sqlite: empty tree head has root %x", ledger.ErrCorrupt, h.Root)
	}
	for len(rng) > 0 {
		h.Range = append(h.Range, rng[:ledger.HashSize:ledger.HashSize])
		rng = rng[ledger.HashSize:]
	}
	if cpSize.Valid {
		h.Checkpointed = true
		h.CheckpointSize = uint64(cpSize.Int64)
		h.CheckpointTime = fromNanos(cpTime)
	}
	return h, nil
}

// Tiles returns the stored hashes of each tile that has any: its segments
// concatenated in start order. A gap or overlap between segments wraps
// ledger.ErrCorrupt.
func (s *Store) Tiles(ctx context.Context, ids []ledger.TileID) (map[ledger.TileID][]byte, error) {
	out := make(map[ledger.TileID][]byte, len(ids))
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `SELECT start, hashes FROM tiles WHERE level = ? AND idx = ? ORDER BY start`)
		if err != nil {
			return wrap("read tiles", err)
		}
		defer st.Close()
		for _, id := range ids {
			if _, done := out[id]; done || id.Index > math.MaxInt64 {
				continue
			}
			t, err := readTile(ctx, st, id)
			if err != nil {
				return err
			}
			if len(t) > 0 {
				out[id] = t
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func readTile(ctx context.Context, st *sql.Stmt, id ledger.TileID) ([]byte, error) {
	rows, err := st.QueryContext(ctx, int64(id.Level), int64(id.Index))
	if err != nil {
		return nil, wrap("read tile", err)
	}
	defer rows.Close()
	var t []byte
	for rows.Next() {
		var start int
		var hashes []byte
		if err := rows.Scan(&start, &hashes); err != nil {
			return nil, wrap("read tile", err)
		}
		if have := len(t) / ledger.HashSize; start != have || len(hashes)%ledger.HashSize != 0 {
			return nil, fmt.Errorf("%w: sqlite: tile %d/%d: segment of %d bytes at %d follows %d hashes",
				ledger.ErrCorrupt, id.Level, id.Index, len(hashes), start, have)
		}
		t = append(t, hashes...)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("read tile", err)
	}
	if len(t) > ledger.TileWidth*ledger.HashSize {
		return nil, fmt.Errorf("%w: sqlite: tile %d/%d has %d hashes", ledger.ErrCorrupt, id.Level, id.Index, len(t)/ledger.HashSize)
	}
	return t, nil
}

const selectEntries = `SELECT idx, leaf, leaf_hash, dedup_key, kind, trace_id, time FROM entries `
const selectContent = `SELECT idx, name, salt, data FROM content `

// Records returns the entries with index in [start, end) in index order,
// with the content still present.
func (s *Store) Records(ctx context.Context, start, end uint64) ([]ledger.Record, error) {
	if start > end {
		return nil, fmt.Errorf("%w: sqlite: records [%d, %d)", ledger.ErrInvalid, start, end)
	}
	if start == end || start > math.MaxInt64 {
		return nil, nil
	}
	lo, hi := int64(start), clamp(end)
	var recs []ledger.Record
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		recs, err = readRecords(ctx, tx, `WHERE idx >= ? AND idx < ? ORDER BY idx`, lo, hi)
		if err != nil || len(recs) == 0 {
			return err
		}
		return readContent(ctx, tx, recs, `WHERE idx >= ? AND idx < ? ORDER BY idx, name`, lo, hi)
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// RecordsAt returns the entries at the given indices, in index order, with
// the content still present. Indices beyond the tree are skipped, and an
// index given twice is returned once.
func (s *Store) RecordsAt(ctx context.Context, indices []uint64) ([]ledger.Record, error) {
	idx := make([]int64, 0, len(indices))
	for _, i := range indices {
		if i <= math.MaxInt64 {
			idx = append(idx, int64(i))
		}
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	var recs []ledger.Record
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		for len(idx) > 0 {
			chunk := idx[:min(len(idx), keysPerQuery)]
			idx = idx[len(chunk):]
			args := make([]any, len(chunk))
			for i, v := range chunk {
				args[i] = v
			}
			in := `WHERE idx IN (?` + strings.Repeat(", ?", len(chunk)-1) + `) ORDER BY idx`
			rs, err := readRecords(ctx, tx, in, args...)
			if err != nil {
				return err
			}
			if len(rs) == 0 {
				continue
			}
			if err := readContent(ctx, tx, rs, in+`, name`, args...); err != nil {
				return err
			}
			recs = append(recs, rs...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// readRecords reads the entries that where selects, in index order.
func readRecords(ctx context.Context, q querier, where string, args ...any) ([]ledger.Record, error) {
	rows, err := q.QueryContext(ctx, selectEntries+where, args...)
	if err != nil {
		return nil, wrap("read entries", err)
	}
	defer rows.Close()
	var recs []ledger.Record
	for rows.Next() {
		var (
			idx             int64
			leafHash, dedup []byte
			kind            string
			traceID         sql.NullString
			t               sql.NullInt64
			r               ledger.Record
		)
		if err := rows.Scan(&idx, &r.Leaf, &leafHash, &dedup, &kind, &traceID, &t); err != nil {
			return nil, wrap("read entries", err)
		}
		r.Index, r.Kind, r.TraceID, r.Time = uint64(idx), ledger.Kind(kind), traceID.String, fromNanos(t)
		if r.LeafHash, err = hash(leafHash, fmt.Sprintf("entry %d leaf hash", idx)); err != nil {
			return nil, err
		}
		if r.DedupKey, err = hash(dedup, fmt.Sprintf("entry %d dedup key", idx)); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("read entries", err)
	}
	return recs, nil
}

// readContent reads the content that where selects, in index and name
// order, into recs, which are in index order.
func readContent(ctx context.Context, q querier, recs []ledger.Record, where string, args ...any) error {
	rows, err := q.QueryContext(ctx, selectContent+where, args...)
	if err != nil {
		return wrap("read content", err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var idx int64
		var c ledger.Content
		if err := rows.Scan(&idx, &c.Name, &c.Salt, &c.Data); err != nil {
			return wrap("read content", err)
		}
		for i < len(recs) && recs[i].Index < uint64(idx) {
			i++
		}
		if i == len(recs) || recs[i].Index != uint64(idx) {
			return fmt.Errorf("%w: sqlite: content %q of entry %d without its entry", ledger.ErrCorrupt, c.Name, idx)
		}
		if c.Data == nil {
			c.Data = []byte{}
		}
		recs[i].Content = append(recs[i].Content, c)
	}
	if err := rows.Err(); err != nil {
		return wrap("read content", err)
	}
	return nil
}

// Find returns, in ascending order, up to limit indices greater than or
// equal to from of entries that carry ref.
func (s *Store) Find(ctx context.Context, ref ledger.Ref, from uint64, limit int) ([]uint64, error) {
	if limit < 0 {
		return nil, fmt.Errorf("%w: sqlite: find: limit %d", ledger.ErrInvalid, limit)
	}
	if limit == 0 || from > math.MaxInt64 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT idx FROM entry_refs WHERE key = ? AND value = ? AND idx >= ? ORDER BY idx LIMIT ?`,
		ref.Key, ref.Value, int64(from), limit)
	if err != nil {
		return nil, wrap("find", err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var idx int64
		if err := rows.Scan(&idx); err != nil {
			return nil, wrap("find", err)
		}
		out = append(out, uint64(idx))
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("find", err)
	}
	return out, nil
}

// FindMany answers each query as Find does, in one read transaction (one
// snapshot), with the kind of each examined entry read by its primary key
// when the query names kinds.
func (s *Store) FindMany(ctx context.Context, qs []ledger.FindQuery) ([]ledger.Found, error) {
	out := make([]ledger.Found, len(qs))
	for _, q := range qs {
		if q.Limit < 0 {
			return nil, fmt.Errorf("%w: sqlite: find many: limit %d", ledger.ErrInvalid, q.Limit)
		}
	}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `SELECT r.idx, e.kind FROM
			(SELECT idx FROM entry_refs WHERE key = ? AND value = ? AND idx >= ? ORDER BY idx LIMIT ?) r
			JOIN entries e ON e.idx = r.idx ORDER BY r.idx`)
		if err != nil {
			return wrap("find many", err)
		}
		defer st.Close()
		for i, q := range qs {
			if q.Limit == 0 || q.From > math.MaxInt64 {
				continue
			}
			if out[i], err = findOne(ctx, st, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func findOne(ctx context.Context, st *sql.Stmt, q ledger.FindQuery) (ledger.Found, error) {
	var f ledger.Found
	rows, err := st.QueryContext(ctx, q.Ref.Key, q.Ref.Value, int64(q.From), q.Limit)
	if err != nil {
		return f, wrap("find many", err)
	}
	defer rows.Close()
	examined := 0
	for rows.Next() {
		var (
			idx  int64
			kind string
		)
		if err := rows.Scan(&idx, &kind); err != nil {
			return f, wrap("find many", err)
		}
		examined++
		if len(q.Kinds) == 0 || slices.Contains(q.Kinds, ledger.Kind(kind)) {
			f.Indices = append(f.Indices, uint64(idx))
		}
		f.Next = uint64(idx) + 1
	}
	if err := rows.Err(); err != nil {
		return f, wrap("find many", err)
	}
	if f.More = examined == q.Limit; !f.More {
		f.Next = 0
	}
	return f, nil
}

const selectCheckpoints = `SELECT size, root, note, created_at FROM checkpoints `

// Checkpoint returns the checkpoint of the given tree size, or an error
// wrapping ledger.ErrNotFound.
func (s *Store) Checkpoint(ctx context.Context, size uint64) (ledger.Checkpoint, error) {
	if size > math.MaxInt64 {
		return ledger.Checkpoint{}, fmt.Errorf("%w: sqlite: checkpoint of size %d", ledger.ErrNotFound, size)
	}
	cps, err := readCheckpoints(ctx, s.r, `WHERE size = ?`, int64(size))
	if err != nil {
		return ledger.Checkpoint{}, err
	}
	if len(cps) == 0 {
		return ledger.Checkpoint{}, fmt.Errorf("%w: sqlite: checkpoint of size %d", ledger.ErrNotFound, size)
	}
	return cps[0], nil
}

// LatestCheckpoint returns the checkpoint of the largest size, or an error
// wrapping ledger.ErrNotFound if none was signed.
func (s *Store) LatestCheckpoint(ctx context.Context) (ledger.Checkpoint, error) {
	cps, err := readCheckpoints(ctx, s.r, `ORDER BY size DESC LIMIT 1`)
	if err != nil {
		return ledger.Checkpoint{}, err
	}
	if len(cps) == 0 {
		return ledger.Checkpoint{}, fmt.Errorf("%w: sqlite: no checkpoint was signed", ledger.ErrNotFound)
	}
	return cps[0], nil
}

// Checkpoints returns up to limit checkpoints of size greater than or
// equal to from, in ascending size order.
func (s *Store) Checkpoints(ctx context.Context, from uint64, limit int) ([]ledger.Checkpoint, error) {
	if limit < 0 {
		return nil, fmt.Errorf("%w: sqlite: checkpoints: limit %d", ledger.ErrInvalid, limit)
	}
	if limit == 0 || from > math.MaxInt64 {
		return nil, nil
	}
	return readCheckpoints(ctx, s.r, `WHERE size >= ? ORDER BY size LIMIT ?`, int64(from), limit)
}

func readCheckpoints(ctx context.Context, q querier, where string, args ...any) ([]ledger.Checkpoint, error) {
	rows, err := q.QueryContext(ctx, selectCheckpoints+where, args...)
	if err != nil {
		return nil, wrap("read checkpoints", err)
	}
	defer rows.Close()
	var out []ledger.Checkpoint
	for rows.Next() {
		var (
			size int64
			root []byte
			t    sql.NullInt64
			cp   ledger.Checkpoint
		)
		if err := rows.Scan(&size, &root, &cp.Note, &t); err != nil {
			return nil, wrap("read checkpoints", err)
		}
		cp.Size, cp.Time = uint64(size), fromNanos(t)
		if cp.Root, err = hash(root, fmt.Sprintf("checkpoint %d root", size)); err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("read checkpoints", err)
	}
	return out, nil
}

// hash returns b as a hash, or an error wrapping ledger.ErrCorrupt if it is
// not HashSize bytes.
func hash(b []byte, what string) ([ledger.HashSize]byte, error) {
	var h [ledger.HashSize]byte
	if len(b) != ledger.HashSize {
		return h, fmt.Errorf("%w: sqlite: %s has %d bytes, want %d", ledger.ErrCorrupt, what, len(b), ledger.HashSize)
	}
	copy(h[:], b)
	return h, nil
}

// fromNanos returns the time of unix nanoseconds n, in UTC, or the zero
// time for NULL.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// clamp returns u as an int64, at most math.MaxInt64.
func clamp(u uint64) int64 {
	return int64(min(u, math.MaxInt64))
}

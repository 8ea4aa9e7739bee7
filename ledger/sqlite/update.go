package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// keysPerQuery bounds the dedup keys looked up by one statement, well under
// SQLite's limit of 32766 bound parameters.
const keysPerQuery = 500

// writeStmts are the statements of a write transaction, prepared once on the
// writer connection.
type writeStmts struct {
	entry, ref, content, tile, checkpoint *sql.Stmt
	guard, unguard, eraseAll, eraseOne    *sql.Stmt
	head                                  *sql.Stmt
}

func (st *writeStmts) prepare(ctx context.Context, w *sql.DB) error {
	for _, p := range []struct {
		s **sql.Stmt
		q string
	}{
		{&st.entry, `INSERT INTO entries (idx, leaf, leaf_hash, dedup_key, kind, trace_id, time) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&st.ref, `INSERT INTO entry_refs (key, value, idx) VALUES (?, ?, ?)`},
		{&st.content, `INSERT INTO content (idx, name, salt, data) VALUES (?, ?, ?, ?)`},
		{&st.tile, `INSERT INTO tiles (level, idx, start, hashes) VALUES (?, ?, ?, ?)`},
		{&st.checkpoint, `INSERT INTO checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)`},
		{&st.guard, `INSERT INTO erasure_guard (idx) VALUES (?)`},
		{&st.unguard, `DELETE FROM erasure_guard`},
		{&st.eraseAll, `DELETE FROM content WHERE idx = ?`},
		{&st.eraseOne, `DELETE FROM content WHERE idx = ? AND name = ?`},
		{&st.head, `UPDATE tree_head SET size = ?, root = ?, "range" = ?, checkpoint_size = ?, checkpoint_time = ? WHERE id = 1`},
	} {
		s, err := w.PrepareContext(ctx, p.q)
		if err != nil {
			return wrap("prepare", err)
		}
		*p.s = s
	}
	return nil
}

func (st *writeStmts) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{st.entry, st.ref, st.content, st.tile, st.checkpoint, st.guard, st.unguard, st.eraseAll, st.eraseOne, st.head} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// Update runs one write transaction on the writer connection. It begins
// IMMEDIATE, taking the database's write lock, reads the tree head, looks up
// which of keys are stored, calls fn, checks the batch fn returns against
// the head, writes it and commits. If fn or anything else fails, or ctx ends
// first, the transaction rolls back and nothing is written; the error then
// wraps ctx's. (If ctx ends during the commit, the batch may be written
// although Update fails: a retry finds its dedup keys.) fn must not call
// Update.
//
// While no duplicate arrives (ledger.DedupProbes), Update does not look up
// keys: fn is given none stored, and a batch that writes every key is
// written, which the entries' insert guard refuses if a key is stored; then,
// or if fn's batch does not write every key, Update runs the transaction
// again with the lookup.
func (s *Store) Update(ctx context.Context, keys [][ledger.HashSize]byte, fn ledger.UpdateFunc) (err error) {
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("sqlite: update: %w: %w", ctx.Err(), err)
		}
	}()
	probe := len(keys) == 0 || s.probes.Probe()
	for {
		err := s.update(ctx, keys, probe, fn)
		if probe || !errors.Is(err, errProbe) {
			return err
		}
		probe = true
	}
}

// errProbe is the error of a transaction that skipped the dedup key lookup
// and must run again with it.
var errProbe = errors.New("sqlite: dedup key lookup needed")

// update runs one transaction of Update, with or without the lookup of
// keys.
func (s *Store) update(ctx context.Context, keys [][ledger.HashSize]byte, probe bool, fn ledger.UpdateFunc) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("update: begin", err)
	}
	defer tx.Rollback()
	head, err := readHead(ctx, tx)
	if err != nil {
		return err
	}
	existing := map[[ledger.HashSize]byte]ledger.Existing{}
	if probe {
		if existing, err = lookupKeys(ctx, tx, keys); err != nil {
			return err
		}
		if len(keys) > 0 {
			s.probes.Probed(len(existing) > 0)
		}
	}
	b, err := fn(head, existing)
	if err != nil {
		return err
	}
	if !probe && !b.WritesKeys(keys) {
		s.probes.Conflict()
		return errProbe
	}
	if b == nil {
		return nil
	}
	if err := b.Check(head); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := s.write(ctx, tx, head, b); err != nil {
		if !probe && isDedupConflict(err) {
			s.probes.Conflict()
			return errProbe
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrap("update: commit", err)
	}
	if len(b.Erase) > 0 {
		s.flushErasure(context.WithoutCancel(ctx))
	}
	return nil
}

// flushErasure copies the write-ahead log into the database file and
// truncates it, after an erasure has committed: secure_delete zeroed the
// erased content in the pages the erasure wrote, but until a checkpoint the
// database file keeps the old pages, and the log the frames that wrote the
// content. The erasure has committed, so a failure (a reader of another
// process holding an old snapshot) is logged, not returned; the next
// checkpoint finishes the job.
func (s *Store) flushErasure(ctx context.Context) {
	var busy, logPages, done int
	err := s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done)
	if err == nil && busy != 0 {
		err = fmt.Errorf("%d of %d log pages copied, a reader holds the rest", done, logPages)
	}
	if err != nil {
		slog.Default().Warn("sqlite: erased content stays in the write-ahead log until the next checkpoint", "err", err)
	}
}

// lookupKeys returns the index and leaf of each of keys that is stored.
func lookupKeys(ctx context.Context, tx *sql.Tx, keys [][ledger.HashSize]byte) (map[[ledger.HashSize]byte]ledger.Existing, error) {
	existing := make(map[[ledger.HashSize]byte]ledger.Existing)
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), keysPerQuery)]
		keys = keys[len(chunk):]
		args := make([]any, len(chunk))
		for i := range chunk {
			args[i] = chunk[i][:]
		}
		q := `SELECT dedup_key, idx, leaf FROM entries WHERE dedup_key IN (?` + strings.Repeat(", ?", len(chunk)-1) + `)`
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, wrap("look up dedup keys", err)
		}
		for rows.Next() {
			var key, leaf []byte
			var idx int64
			if err := rows.Scan(&key, &idx, &leaf); err != nil {
				rows.Close()
				return nil, wrap("look up dedup keys", err)
			}
			k, err := hash(key, "dedup key")
			if err != nil {
				rows.Close()
				return nil, err
			}
			existing[k] = ledger.Existing{Index: uint64(idx), Leaf: leaf}
		}
		if err := rows.Close(); err != nil {
			return nil, wrap("look up dedup keys", err)
		}
		if err := rows.Err(); err != nil {
			return nil, wrap("look up dedup keys", err)
		}
	}
	return existing, nil
}

// write writes a checked batch in tx, the head last: the content delete
// trigger accepts an erasure entry only while the head does not cover it.
func (s *Store) write(ctx context.Context, tx *sql.Tx, head ledger.TreeHead, b *ledger.Batch) error {
	exec := func(what string, st *sql.Stmt, args ...any) error {
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
			return wrap("update: "+what, err)
		}
		return nil
	}
	entry, ref, content := tx.StmtContext(ctx, s.st.entry), tx.StmtContext(ctx, s.st.ref), tx.StmtContext(ctx, s.st.content)
	for i := range b.Records {
		r := &b.Records[i]
		idx := int64(r.Index)
		if _, err := entry.ExecContext(ctx, idx, r.Leaf, r.LeafHash[:], r.DedupKey[:], string(r.Kind), nullString(r.TraceID), nanos(r.Time)); err != nil {
			return wrap(fmt.Sprintf("update: entry %d", idx), err)
		}
		for j, f := range r.Refs {
			if dupRef(r.Refs[:j], f) {
				continue
			}
			if _, err := ref.ExecContext(ctx, f.Key, f.Value, idx); err != nil {
				return wrap(fmt.Sprintf("update: entry %d: ref %s", idx, f.Key), err)
			}
		}
		for _, c := range r.Content {
			if _, err := content.ExecContext(ctx, idx, c.Name, c.Salt, blob(c.Data)); err != nil {
				return wrap(fmt.Sprintf("update: entry %d: content %q", idx, c.Name), err)
			}
		}
	}
	if len(b.Tiles) > 0 {
		tile := tx.StmtContext(ctx, s.st.tile)
		for _, t := range b.Tiles {
			if _, err := tile.ExecContext(ctx, int64(t.Tile.Level), int64(t.Tile.Index), t.Start, t.Hashes); err != nil {
				return wrap(fmt.Sprintf("update: tile %d/%d at %d", t.Tile.Level, t.Tile.Index, t.Start), err)
			}
		}
	}
	if cp := b.Checkpoint; cp != nil {
		if err := exec(fmt.Sprintf("checkpoint %d", cp.Size), s.st.checkpoint, int64(cp.Size), cp.Root[:], blob(cp.Note), nanos(cp.Time)); err != nil {
			return err
		}
	}
	if len(b.Erase) > 0 {
		if err := exec("erase: guard", s.st.guard, b.ErasureIndex()); err != nil {
			return err
		}
		for _, e := range b.Erase {
			var err error
			if e.Name == "" {
				err = exec(fmt.Sprintf("erase %d", e.Index), s.st.eraseAll, int64(e.Index))
			} else {
				err = exec(fmt.Sprintf("erase %d/%s", e.Index, e.Name), s.st.eraseOne, int64(e.Index), e.Name)
			}
			if err != nil {
				return err
			}
		}
		if err := exec("erase: unguard", s.st.unguard); err != nil {
			return err
		}
	}
	h := b.Head
	var cpSize, cpTime any
	if h.Checkpointed {
		cpSize, cpTime = int64(h.CheckpointSize), nanos(h.CheckpointTime)
	}
	res, err := tx.StmtContext(ctx, s.st.head).ExecContext(ctx, int64(h.Size), h.Root[:], concat(h.Range), cpSize, cpTime)
	if err != nil {
		return wrap("update: tree head", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%w: sqlite: update: tree head: %d rows updated, want 1 (%v)", ledger.ErrCorrupt, n, err)
	}
	return nil
}

// dupRef reports whether refs holds r.
func dupRef(refs []ledger.Ref, r ledger.Ref) bool {
	for _, x := range refs {
		if x == r {
			return true
		}
	}
	return false
}

func concat(hashes [][]byte) []byte {
	out := make([]byte, 0, len(hashes)*ledger.HashSize)
	for _, h := range hashes {
		out = append(out, h...)
	}
	return out
}

// blob returns b, or an empty blob for nil, which the driver would bind
// as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nanos returns t in unix nanoseconds, or NULL for the zero time.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// nullString returns s, or NULL for the empty string.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

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

// RowsPerInsert is how many rows one INSERT of entries, references or
// content writes. Every statement costs the driver work of its own
// (database/sql's conversion of the arguments into a new slice, the
// driver's setup of the binding, its result, the reset of the statement),
// the same for one row as for many: a statement of many rows pays it once
// for all of them. 64 rows of entries bind 448 parameters, far below
// SQLite's limit of 32766. The raw-write baseline of the benchmarks
// (internal/sqlitetest) writes as many rows a statement.
const RowsPerInsert = 64

// inserter writes rows into one table through two statements prepared on
// the writer: one of RowsPerInsert rows, and one of a single row for the
// rows a batch has beyond a multiple of RowsPerInsert.
type inserter struct {
	one, many *sql.Stmt
	cols      int // parameters per row
}

// insertSQL returns the INSERT of rows rows into table's columns.
func insertSQL(table, columns string, cols, rows int) string {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return "INSERT INTO " + table + " (" + columns + ") VALUES " + row + strings.Repeat(", "+row, rows-1)
}

// insert writes the rows whose arguments args holds, cols a row, in tx.
func (in *inserter) insert(ctx context.Context, tx *sql.Tx, args []any) error {
	if n := in.cols * RowsPerInsert; len(args) >= n {
		many := tx.StmtContext(ctx, in.many)
		for ; len(args) >= n; args = args[n:] {
			if _, err := many.ExecContext(ctx, args[:n]...); err != nil {
				return err
			}
		}
	}
	if len(args) > 0 {
		one := tx.StmtContext(ctx, in.one)
		for ; len(args) > 0; args = args[in.cols:] {
			if _, err := one.ExecContext(ctx, args[:in.cols]...); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeStmts are the statements of a write transaction, prepared once on the
// writer connection.
type writeStmts struct {
	entries, refs, content             inserter
	tile, checkpoint                   *sql.Stmt
	guard, unguard, eraseAll, eraseOne *sql.Stmt
	head                               *sql.Stmt
}

// The columns of the tables an append writes a row or more per entry into,
// and how many there are.
const (
	entryColumns   = "idx, leaf, leaf_hash, dedup_key, kind, trace_id, time"
	entryCols      = 7
	refColumns     = "key, value, idx"
	refCols        = 3
	contentColumns = "idx, name, salt, data"
	contentCols    = 4
)

func (st *writeStmts) prepare(ctx context.Context, w *sql.DB) error {
	st.entries.cols, st.refs.cols, st.content.cols = entryCols, refCols, contentCols
	for _, p := range []struct {
		s **sql.Stmt
		q string
	}{
		{&st.entries.one, insertSQL("entries", entryColumns, entryCols, 1)},
		{&st.entries.many, insertSQL("entries", entryColumns, entryCols, RowsPerInsert)},
		{&st.refs.one, insertSQL("entry_refs", refColumns, refCols, 1)},
		{&st.refs.many, insertSQL("entry_refs", refColumns, refCols, RowsPerInsert)},
		{&st.content.one, insertSQL("content", contentColumns, contentCols, 1)},
		{&st.content.many, insertSQL("content", contentColumns, contentCols, RowsPerInsert)},
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
	for _, s := range []*sql.Stmt{
		st.entries.one, st.entries.many, st.refs.one, st.refs.many, st.content.one, st.content.many,
		st.tile, st.checkpoint, st.guard, st.unguard, st.eraseAll, st.eraseOne, st.head,
	} {
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
	if err := s.writeRecords(ctx, tx, b.Records); err != nil {
		return err
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

// writeRecords writes the entries of recs, then their references, then
// their content, each table in statements of many rows.
func (s *Store) writeRecords(ctx context.Context, tx *sql.Tx, recs []ledger.Record) error {
	if len(recs) == 0 {
		return nil
	}
	nrefs, ncontent := 0, 0
	for i := range recs {
		nrefs += len(recs[i].Refs)
		ncontent += len(recs[i].Content)
	}
	args := make([]any, 0, max(len(recs)*entryCols, nrefs*refCols, ncontent*contentCols))
	for i := range recs {
		r := &recs[i]
		args = append(args, int64(r.Index), r.Leaf, r.LeafHash[:], r.DedupKey[:], string(r.Kind), nullString(r.TraceID), nanos(r.Time))
	}
	if err := s.st.entries.insert(ctx, tx, args); err != nil {
		return wrap(fmt.Sprintf("update: entries %d–%d", recs[0].Index, recs[len(recs)-1].Index), err)
	}
	args = args[:0]
	for i := range recs {
		r := &recs[i]
		for j, f := range r.Refs {
			if !dupRef(r.Refs[:j], f) {
				args = append(args, f.Key, f.Value, int64(r.Index))
			}
		}
	}
	if err := s.st.refs.insert(ctx, tx, args); err != nil {
		return wrap(fmt.Sprintf("update: references of entries %d–%d", recs[0].Index, recs[len(recs)-1].Index), err)
	}
	args = args[:0]
	for i := range recs {
		r := &recs[i]
		for _, c := range r.Content {
			args = append(args, int64(r.Index), c.Name, c.Salt, blob(c.Data))
		}
	}
	if err := s.st.content.insert(ctx, tx, args); err != nil {
		return wrap(fmt.Sprintf("update: content of entries %d–%d", recs[0].Index, recs[len(recs)-1].Index), err)
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

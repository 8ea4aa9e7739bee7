// Package sqlitetest holds what benchmarks of the SQLite store share: a
// raw baseline to report their write rates against.
package sqlitetest

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// Baseline is a fresh SQLite database, opened with the ledger store's
// pragmas (WAL, synchronous FULL, foreign keys, its checkpoint size,
// secure_delete), whose entries, entry_refs and content tables have the
// ledger's columns, constraints and indexes but no triggers and no tree:
// the cost of writing the ledger's rows with bare INSERTs of many rows
// each, the baseline that write benchmarks on SQLite report against.
type Baseline struct {
	db                     *sql.DB
	entries, refs, content table
}

// NewBaseline creates the baseline database in a temporary directory of
// tb's.
func NewBaseline(tb testing.TB) *Baseline {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "baseline.db")
	db, err := sql.Open("sqlite", sqlite.WriterDSN(path))
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(tb.Context(), `
		CREATE TABLE entries (
			idx       INTEGER PRIMARY KEY CHECK (idx >= 0),
			leaf      BLOB    NOT NULL CHECK (length(leaf) > 0),
			leaf_hash BLOB    NOT NULL CHECK (length(leaf_hash) = 32),
			dedup_key BLOB    NOT NULL UNIQUE CHECK (length(dedup_key) = 32),
			kind      TEXT    NOT NULL CHECK (kind <> ''),
			trace_id  TEXT,
			time      INTEGER
		) STRICT;
		CREATE INDEX entries_trace_id ON entries (trace_id);
		CREATE TABLE entry_refs (
			key   TEXT    NOT NULL,
			value TEXT    NOT NULL,
			idx   INTEGER NOT NULL REFERENCES entries (idx),
			PRIMARY KEY (key, value, idx)
		) STRICT, WITHOUT ROWID;
		CREATE TABLE content (
			idx  INTEGER NOT NULL REFERENCES entries (idx),
			name TEXT    NOT NULL CHECK (name <> ''),
			salt BLOB    NOT NULL CHECK (length(salt) = 32),
			data BLOB    NOT NULL,
			PRIMARY KEY (idx, name)
		) STRICT;`); err != nil {
		tb.Fatal(err)
	}
	b := &Baseline{db: db}
	for _, t := range []struct {
		t             *table
		name, columns string
		cols          int
	}{
		{&b.entries, "entries", "idx, leaf, leaf_hash, dedup_key, kind, trace_id, time", 7},
		{&b.refs, "entry_refs", "key, value, idx", 3},
		{&b.content, "content", "idx, name, salt, data", 4},
	} {
		t.t.cols = t.cols
		row := "(?" + strings.Repeat(", ?", t.cols-1) + ")"
		q := "INSERT INTO " + t.name + " (" + t.columns + ") VALUES " + row
		if t.t.one, err = db.PrepareContext(tb.Context(), q); err != nil {
			tb.Fatal(err)
		}
		if t.t.many, err = db.PrepareContext(tb.Context(), q+strings.Repeat(", "+row, sqlite.RowsPerInsert-1)); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

// table is a table's INSERTs of one row and of sqlite.RowsPerInsert rows.
type table struct {
	one, many *sql.Stmt
	cols      int
}

// insert writes the rows whose arguments args holds, cols a row, in tx.
func (t *table) insert(tb testing.TB, tx *sql.Tx, args []any) {
	ctx := tb.Context()
	many, one := tx.StmtContext(ctx, t.many), tx.StmtContext(ctx, t.one)
	for n := t.cols * sqlite.RowsPerInsert; len(args) >= n; args = args[n:] {
		if _, err := many.ExecContext(ctx, args[:n]...); err != nil {
			tb.Fatal(err)
		}
	}
	for ; len(args) > 0; args = args[t.cols:] {
		if _, err := one.ExecContext(ctx, args[:t.cols]...); err != nil {
			tb.Fatal(err)
		}
	}
}

// Insert writes recs' rows with bare INSERTs of sqlite.RowsPerInsert rows (the
// rest one row at a time), prepared once, in one transaction: the entries,
// then the references, then the content, as the store writes them.
func (b *Baseline) Insert(tb testing.TB, recs []ledger.Record) {
	tb.Helper()
	tx, err := b.db.BeginTx(tb.Context(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	var args []any
	for i := range recs {
		r := &recs[i]
		var trace, at any
		if r.TraceID != "" {
			trace = r.TraceID
		}
		if !r.Time.IsZero() {
			at = r.Time.UnixNano()
		}
		args = append(args, int64(r.Index), r.Leaf, r.LeafHash[:], r.DedupKey[:], string(r.Kind), trace, at)
	}
	b.entries.insert(tb, tx, args)
	args = args[:0]
	for i := range recs {
		r := &recs[i]
		for j, f := range r.Refs {
			if !slices.Contains(r.Refs[:j], f) { // as the store skips a repeated reference
				args = append(args, f.Key, f.Value, int64(r.Index))
			}
		}
	}
	b.refs.insert(tb, tx, args)
	args = args[:0]
	for i := range recs {
		r := &recs[i]
		for _, c := range r.Content {
			data := c.Data
			if data == nil {
				data = []byte{}
			}
			args = append(args, int64(r.Index), c.Name, c.Salt, data)
		}
	}
	b.content.insert(tb, tx, args)
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

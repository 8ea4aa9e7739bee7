// Package sqlitetest holds what benchmarks of the SQLite store share: a
// raw baseline to report their write rates against.
package sqlitetest

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// Baseline is a fresh SQLite database, opened with the ledger store's
// pragmas (WAL, synchronous FULL, foreign keys, its checkpoint size,
// secure_delete), whose entries, entry_refs and content tables have the
// ledger's columns, constraints and indexes but no triggers and no tree:
// the cost of writing the ledger's rows with bare INSERTs, the baseline
// that write benchmarks on SQLite report against.
type Baseline struct {
	db                  *sql.DB
	entry, ref, content *sql.Stmt
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
	for _, p := range []struct {
		s **sql.Stmt
		q string
	}{
		{&b.entry, `INSERT INTO entries (idx, leaf, leaf_hash, dedup_key, kind, trace_id, time) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&b.ref, `INSERT INTO entry_refs (key, value, idx) VALUES (?, ?, ?)`},
		{&b.content, `INSERT INTO content (idx, name, salt, data) VALUES (?, ?, ?, ?)`},
	} {
		if *p.s, err = db.PrepareContext(tb.Context(), p.q); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

// Insert writes recs' rows with bare INSERTs, prepared once, in one
// transaction.
func (b *Baseline) Insert(tb testing.TB, recs []ledger.Record) {
	tb.Helper()
	ctx := tb.Context()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	entry, ref, content := tx.StmtContext(ctx, b.entry), tx.StmtContext(ctx, b.ref), tx.StmtContext(ctx, b.content)
	for i := range recs {
		r := &recs[i]
		idx := int64(r.Index)
		var trace, at any
		if r.TraceID != "" {
			trace = r.TraceID
		}
		if !r.Time.IsZero() {
			at = r.Time.UnixNano()
		}
		if _, err := entry.ExecContext(ctx, idx, r.Leaf, r.LeafHash[:], r.DedupKey[:], string(r.Kind), trace, at); err != nil {
			tb.Fatal(err)
		}
		for j, f := range r.Refs {
			if slices.Contains(r.Refs[:j], f) { // as the store skips a repeated reference
				continue
			}
			if _, err := ref.ExecContext(ctx, f.Key, f.Value, idx); err != nil {
				tb.Fatal(err)
			}
		}
		for _, c := range r.Content {
			data := c.Data
			if data == nil {
				data = []byte{}
			}
			if _, err := content.ExecContext(ctx, idx, c.Name, c.Salt, data); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/ledger"
)

// Baseline is a fresh schema whose entries, entry_refs and content tables
// have the ledger's columns and indexes but no triggers and no tree: the
// cost of writing the ledger's rows with bare COPY, the baseline that write
// benchmarks report against.
type Baseline struct {
	conn *pgx.Conn
}

// NewBaseline creates the baseline tables in a schema of their own.
func NewBaseline(tb testing.TB) *Baseline {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), NewSchema(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(tb.Context(), `
		CREATE TABLE entries (idx bigint PRIMARY KEY, leaf bytea NOT NULL, leaf_hash bytea NOT NULL,
			dedup_key bytea NOT NULL UNIQUE, kind text NOT NULL, trace_id text NOT NULL DEFAULT '',
			time timestamptz, created_at timestamptz NOT NULL DEFAULT now());
		CREATE INDEX ON entries (trace_id) WHERE trace_id <> '';
		CREATE TABLE entry_refs (key text, value text, idx bigint, PRIMARY KEY (key, value, idx));
		CREATE TABLE content (idx bigint, name text, salt bytea NOT NULL, data bytea NOT NULL, PRIMARY KEY (idx, name));`); err != nil {
		tb.Fatal(err)
	}
	return &Baseline{conn: conn}
}

// Copy writes recs' rows with bare COPY in one transaction.
func (b *Baseline) Copy(tb testing.TB, recs []ledger.Record) {
	tb.Helper()
	var entries, refs, content [][]any
	for _, r := range recs {
		entries = append(entries, []any{int64(r.Index), r.Leaf, r.LeafHash[:], r.DedupKey[:], string(r.Kind), r.TraceID, r.Time})
		for _, ref := range r.Refs {
			refs = append(refs, []any{ref.Key, ref.Value, int64(r.Index)})
		}
		for _, c := range r.Content {
			content = append(content, []any{int64(r.Index), c.Name, c.Salt, c.Data})
		}
	}
	tx, err := b.conn.Begin(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	for _, t := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"entries", []string{"idx", "leaf", "leaf_hash", "dedup_key", "kind", "trace_id", "time"}, entries},
		{"entry_refs", []string{"key", "value", "idx"}, refs},
		{"content", []string{"idx", "name", "salt", "data"}, content},
	} {
		if _, err := tx.CopyFrom(tb.Context(), pgx.Identifier{t.table}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(tb.Context()); err != nil {
		tb.Fatal(err)
	}
}

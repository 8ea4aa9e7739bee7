package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/index/indextest"
	"github.com/agentledger/agentledger/ledger/postgres"
	"github.com/agentledger/agentledger/ledger/storetest"
)

// pgDB is a storetest.DB on a schema of its own.
type pgDB struct{ dsn string }

func (d pgDB) Open(t *testing.T) ledger.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), d.dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (d pgDB) Exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, d.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func (d pgDB) ExecUnguarded(ctx context.Context, table, sql string) error {
	conn, err := pgx.Connect(ctx, d.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	t := pgx.Identifier{table}.Sanitize()
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, q := range []string{`ALTER TABLE ` + t + ` DISABLE TRIGGER USER`, sql, `ALTER TABLE ` + t + ` ENABLE TRIGGER USER`} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.DB {
		dsn := pgtest.NewSchema(t)
		if err := postgres.Migrate(t.Context(), dsn); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return pgDB{dsn}
	})
}

// writerDB is a pgDB whose store handles take the role
// agentledger_writer, as production's do.
type writerDB struct{ pgDB }

func (d writerDB) Open(t *testing.T) ledger.Store {
	t.Helper()
	s, err := postgres.New(t.Context(), postgres.Config{DSN: asWriter(d.dsn), NoMigrate: true})
	if err != nil {
		t.Fatalf("New as agentledger_writer: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestIndexUpgradeAsWriter upgrades a version-1 index with the
// privileges of agentledger_writer: migration 0008 grants what the first
// version-2 transaction needs, and no more than its guards allow.
func TestIndexUpgradeAsWriter(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	if err := postgres.Migrate(t.Context(), dsn); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	storetest.IndexUpgrade(t, writerDB{pgDB{dsn}})
}

// openStore returns a store on a fresh schema, and the schema's DSN.
func openStore(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	dsn := pgtest.NewSchema(t)
	return pgDB{dsn}.Open(t).(*postgres.Store), dsn
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryInt(t *testing.T, conn *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

var testTime = time.Date(2025, 1, 2, 3, 4, 5, 678000, time.UTC) // timestamptz keeps microseconds

// record returns a record for index i of the given kind, with two pieces of
// content and references, one of them twice.
func record(i uint64, kind ledger.Kind) ledger.Record {
	e := ledger.Entry{
		Kind:    kind,
		TraceID: fmt.Sprintf("%032x", i/2+1),
		SpanID:  fmt.Sprintf("%016x", i+1),
		Name:    "step",
		Start:   testTime.Add(time.Duration(i) * time.Second),
		Content: []ledger.Content{
			{Name: "output", Salt: bytes.Repeat([]byte{byte(i)}, ledger.SaltSize), Data: []byte(fmt.Sprintf("output %d", i))},
			{Name: "input", Salt: bytes.Repeat([]byte{byte(i + 1)}, ledger.SaltSize), Data: []byte(fmt.Sprintf("input %d", i))},
		},
	}
	leaf, err := ledger.EncodeLeaf(&e)
	if err != nil {
		panic(err)
	}
	return ledger.Record{
		Index:    i,
		Leaf:     leaf,
		LeafHash: ledger.LeafHash(leaf),
		DedupKey: e.DedupKey(),
		Kind:     kind,
		TraceID:  e.TraceID,
		Time:     e.Start,
		Refs: []ledger.Ref{
			{Key: "trace", Value: e.TraceID},
			{Key: "agent", Value: fmt.Sprintf("agent-%d", i%2)},
			{Key: "trace", Value: e.TraceID},
		},
		Content: e.Content,
	}
}

// records returns n records of kind span numbered from start.
func records(start uint64, n int) []ledger.Record {
	recs := make([]ledger.Record, n)
	for i := range recs {
		recs[i] = record(start+uint64(i), ledger.KindSpan)
	}
	return recs
}

// grow returns a batch appending recs to h: a stand-in head (the store does
// not check roots) and level-0 tile segments holding the leaf hashes.
func grow(h ledger.TreeHead, recs []ledger.Record) *ledger.Batch {
	next := h
	next.Size += uint64(len(recs))
	next.Root = sha256.Sum256(fmt.Appendf(nil, "root %d", next.Size))
	next.Range = nil // a range of the shape of the size: Batch.Check asks no more
	for range bits.OnesCount64(next.Size) {
		next.Range = append(next.Range, next.Root[:])
	}
	var tiles []ledger.TileSegment
	for i, r := range recs {
		tile := ledger.TileID{Index: r.Index / ledger.TileWidth}
		if i == 0 || r.Index%ledger.TileWidth == 0 {
			tiles = append(tiles, ledger.TileSegment{Tile: tile, Start: int(r.Index % ledger.TileWidth)})
		}
		t := &tiles[len(tiles)-1]
		t.Hashes = append(t.Hashes, r.LeafHash[:]...)
	}
	return &ledger.Batch{Records: recs, Tiles: tiles, Head: next}
}

// withCheckpoint adds a checkpoint of the batch's new head to b.
func withCheckpoint(b *ledger.Batch, t time.Time) *ledger.Batch {
	b.Checkpoint = &ledger.Checkpoint{Size: b.Head.Size, Root: b.Head.Root, Note: fmt.Appendf(nil, "note %d\n", b.Head.Size), Time: t}
	b.Head.Checkpointed, b.Head.CheckpointSize, b.Head.CheckpointTime = true, b.Head.Size, t
	return b
}

// update runs one Update whose batch mk makes from the locked head.
func update(t *testing.T, s ledger.Store, mk func(h ledger.TreeHead) *ledger.Batch) {
	t.Helper()
	err := s.Update(t.Context(), nil, func(h ledger.TreeHead, _ map[[ledger.HashSize]byte]ledger.Existing) (*ledger.Batch, error) {
		return mk(h), nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func appendRecords(t *testing.T, s ledger.Store, n int) {
	t.Helper()
	update(t, s, func(h ledger.TreeHead) *ledger.Batch { return grow(h, records(h.Size, n)) })
}

// seed stores three records, their tiles and a checkpoint: a row in every
// table.
func seed(t *testing.T, s ledger.Store) {
	t.Helper()
	update(t, s, func(h ledger.TreeHead) *ledger.Batch { return withCheckpoint(grow(h, records(0, 3)), testTime) })
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewSchema(t)
	for i := range 2 {
		if err := postgres.Migrate(t.Context(), dsn); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	s := pgDB{dsn}.Open(t).(*postgres.Store)
	if err := s.Ready(t.Context()); err != nil {
		t.Fatalf("Ready() = %v, want nil", err)
	}
	conn := connect(t, dsn)
	if got, want := queryInt(t, conn, `SELECT count(*) FROM schema_migrations`), queryInt(t, conn, `SELECT max(version) FROM schema_migrations`); got != want {
		t.Errorf("schema_migrations rows = %d, want one per version (%d)", got, want)
	}
	h, err := s.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := ledger.EmptyHead(); !reflect.DeepEqual(h, want) {
		t.Errorf("Head() = %+v, want %+v", h, want)
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	one := pgtest.NewSchema(t)
	dsns := []string{one, one, one, pgtest.NewSchema(t), pgtest.NewSchema(t)}
	errs := make([]error, len(dsns))
	var wg sync.WaitGroup
	for i, dsn := range dsns {
		wg.Go(func() { errs[i] = postgres.Migrate(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	conn := connect(t, one)
	if got := queryInt(t, conn, `SELECT count(*) FROM tree_head`); got != 1 {
		t.Errorf("tree_head rows = %d, want 1", got)
	}
}

func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	s, dsn := openStore(t)
	conn := connect(t, dsn)
	current := queryInt(t, conn, `SELECT max(version) FROM schema_migrations`)
	if _, err := conn.Exec(t.Context(), `INSERT INTO schema_migrations (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("database schema version 99 is newer than this binary (%d); upgrade agentledger", current)
	for _, tt := range []struct {
		name string
		f    func() error
	}{
		{"Open", func() error {
			s, err := postgres.Open(t.Context(), dsn)
			if err == nil {
				s.Close()
			}
			return err
		}},
		{"New(NoMigrate)", func() error {
			s, err := postgres.New(t.Context(), postgres.Config{DSN: dsn, NoMigrate: true})
			if err == nil {
				s.Close()
			}
			return err
		}},
		{"Migrate", func() error { return postgres.Migrate(t.Context(), dsn) }},
		{"Ready", func() error { return s.Ready(t.Context()) }},
	} {
		if err := tt.f(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s() = %v, want an error containing %q", tt.name, err, want)
		}
	}

	fresh := pgtest.NewSchema(t)
	if s, err := postgres.New(t.Context(), postgres.Config{DSN: fresh, NoMigrate: true}); err == nil {
		s.Close()
		t.Errorf("New(NoMigrate) on an empty schema succeeded, want an error")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg  postgres.Config
		want bool
	}{
		{postgres.Config{DSN: "postgres://x"}, true},
		{postgres.Config{}, false},
		{postgres.Config{DSN: "postgres://x", MaxConns: -1}, false},
	} {
		if err := tt.cfg.Validate(); (err == nil) != tt.want {
			t.Errorf("(%+v).Validate() = %v, want ok %v", tt.cfg, err, tt.want)
		}
	}
}

// TestAppendOnly checks that the database itself refuses every change to
// the ledger's history, whoever asks.
func TestAppendOnly(t *testing.T) {
	t.Parallel()
	s, dsn := openStore(t)
	seed(t, s)
	conn := connect(t, dsn)
	tests := []struct {
		sql      string
		code     string
		contains string
	}{
		{"UPDATE entries SET kind = 'llm'", "42501", "entries is append-only"},
		{"DELETE FROM entries", "42501", "entries is append-only"},
		{"TRUNCATE entries", "42501", "entries is append-only"},
		{"UPDATE entry_refs SET value = 'x'", "42501", "entry_refs is append-only"},
		{"DELETE FROM entry_refs", "42501", "entry_refs is append-only"},
		{"TRUNCATE entry_refs", "42501", "entry_refs is append-only"},
		{"UPDATE tiles SET hashes = hashes || hashes", "42501", "tiles is append-only"},
		{"DELETE FROM tiles", "42501", "tiles is append-only"},
		{"TRUNCATE tiles", "42501", "tiles is append-only"},
		{"UPDATE checkpoints SET note = ''", "42501", "checkpoints is append-only"},
		{"DELETE FROM checkpoints", "42501", "checkpoints is append-only"},
		// cosignatures reference checkpoints, so a plain TRUNCATE is refused
		// for the foreign key before the trigger runs; with CASCADE it
		// reaches the triggers.
		{"TRUNCATE checkpoints", "0A000", "referenced in a foreign key constraint"},
		{"TRUNCATE checkpoints CASCADE", "42501", "is append-only"},
		{"UPDATE content SET data = ''", "42501", "content is append-only"},
		{"DELETE FROM content", "42501", "content is deleted only by an erasure"},
		{"TRUNCATE content", "42501", "content is append-only"},
		{"DELETE FROM tree_head", "42501", "tree_head is append-only"},
		{"TRUNCATE tree_head", "42501", "tree_head is append-only"},
		{"TRUNCATE entries, content, tree_head CASCADE", "42501", "is append-only"},
		{"UPDATE tree_head SET size = 0, checkpoint_size = NULL", "42501", "tree head would shrink"},
		{"UPDATE tree_head SET checkpoint_size = NULL", "42501", "latest checkpoint would shrink"},
		{"INSERT INTO tree_head (id, size, root, range) SELECT 2, size, root, range FROM tree_head", "23514", "tree_head_id_check"},
	}
	for _, tt := range tests {
		_, err := conn.Exec(t.Context(), tt.sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != tt.code || !strings.Contains(pe.Error(), tt.contains) {
			t.Errorf("Exec(%s) = %v, want SQLSTATE %s containing %q", tt.sql, err, tt.code, tt.contains)
		}
	}
	for table, want := range map[string]int64{"entries": 3, "entry_refs": 6, "content": 6, "tiles": 1, "checkpoints": 1} {
		if got := queryInt(t, conn, "SELECT count(*) FROM "+table); got != want {
			t.Errorf("rows in %s = %d, want %d", table, got, want)
		}
	}
}

// TestContentErasure checks the content DELETE trigger: only a transaction
// that appends an erasure entry and names it may delete content.
func TestContentErasure(t *testing.T) {
	t.Parallel()
	s, dsn := openStore(t)
	seed(t, s) // entries 0–2
	// Entry 3 is an erasure committed by an earlier transaction.
	update(t, s, func(h ledger.TreeHead) *ledger.Batch {
		return grow(h, []ledger.Record{record(h.Size, ledger.KindErasure)})
	})
	conn := connect(t, dsn)
	const insert = `INSERT INTO entries (idx, leaf, leaf_hash, dedup_key, kind)
		VALUES (4, '\x01', sha256('\x01'), sha256('\x04'), '%s')`
	tests := []struct {
		name string
		sql  []string
		ok   bool
	}{
		{"not named", nil, false},
		{"named garbage", []string{`SELECT set_config('agentledger.erasure', '1; x', true)`}, false},
		{"erasure of an earlier transaction", []string{`SELECT set_config('agentledger.erasure', '3', true)`}, false},
		{"not an erasure", []string{fmt.Sprintf(insert, "span"), `SELECT set_config('agentledger.erasure', '4', true)`}, false},
		{"erasure not named", []string{fmt.Sprintf(insert, "erasure")}, false},
		{"another entry named", []string{fmt.Sprintf(insert, "erasure"), `SELECT set_config('agentledger.erasure', '3', true)`}, false},
		{"erasure of this transaction", []string{fmt.Sprintf(insert, "erasure"), `SELECT set_config('agentledger.erasure', '4', true)`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := conn.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background())
			for _, sql := range tt.sql {
				if _, err := tx.Exec(t.Context(), sql); err != nil {
					t.Fatalf("Exec(%s): %v", sql, err)
				}
			}
			tag, err := tx.Exec(t.Context(), `DELETE FROM content WHERE idx = 0`)
			if tt.ok && (err != nil || tag.RowsAffected() != 2) {
				t.Errorf("DELETE = %v, %v, want 2 rows deleted", tag, err)
			}
			if !tt.ok && err == nil {
				t.Errorf("DELETE = %v, want refused", tag)
			}
		})
	}
	// The setting is transaction-local: a later transaction may not reuse it.
	if _, err := conn.Exec(t.Context(), `DELETE FROM content WHERE idx = 0`); err == nil {
		t.Errorf("DELETE after the erasure transaction succeeded, want refused")
	}
}

// TestWriterRole checks the privileges of agentledger_writer, and that a
// store connected as that role can do all it needs to.
func TestWriterRole(t *testing.T) {
	t.Parallel()
	_, dsn := openStore(t)
	conn := connect(t, dsn)
	var login, super, createRole bool
	if err := conn.QueryRow(t.Context(), `SELECT rolcanlogin, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = 'agentledger_writer'`).
		Scan(&login, &super, &createRole); err != nil {
		t.Fatalf("role agentledger_writer: %v", err)
	}
	if login || super || createRole {
		t.Errorf("agentledger_writer login, superuser, createrole = %v, %v, %v, want false, false, false", login, super, createRole)
	}
	privs := []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}
	want := map[string][]string{
		"entries":           {"SELECT", "INSERT"},
		"entry_refs":        {"SELECT", "INSERT"},
		"tiles":             {"SELECT", "INSERT"},
		"checkpoints":       {"SELECT", "INSERT"},
		"content":           {"SELECT", "INSERT", "DELETE"},
		"tree_head":         {"SELECT", "UPDATE"},
		"schema_migrations": {"SELECT"},
		"tokens":            {"SELECT"},
		"index_head":        {"SELECT", "UPDATE"},
		"index_notes":       {"SELECT", "INSERT"},
		"index_keys":        {"SELECT", "INSERT", "UPDATE", "DELETE"},
		"index_nodes":       {"SELECT", "INSERT", "UPDATE", "DELETE"},
		// entry_refs_backfill is the bound below which the index step may
		// add agent references (migration 0008).
		"entry_refs_backfill": {"SELECT"},
	}
	for table, granted := range want {
		for _, p := range privs {
			var got bool
			if err := conn.QueryRow(t.Context(), `SELECT has_table_privilege('agentledger_writer', $1::regclass, $2)`, table, p).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if want := contains(granted, p); got != want {
				t.Errorf("has_table_privilege(agentledger_writer, %s, %s) = %v, want %v", table, p, got, want)
			}
		}
	}
	for p, want := range map[string]bool{"USAGE": true, "CREATE": false} {
		var got bool
		if err := conn.QueryRow(t.Context(), `SELECT has_schema_privilege('agentledger_writer', current_schema(), $1)`, p).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("has_schema_privilege(agentledger_writer, schema, %s) = %v, want %v", p, got, want)
		}
	}

	// A store whose connections take the role appends, checkpoints, erases
	// and reads.
	ws, err := postgres.New(t.Context(), postgres.Config{DSN: asWriter(dsn), NoMigrate: true})
	if err != nil {
		t.Fatalf("New as agentledger_writer: %v", err)
	}
	defer ws.Close()
	seed(t, ws)
	update(t, ws, func(h ledger.TreeHead) *ledger.Batch {
		b := grow(h, []ledger.Record{record(h.Size, ledger.KindErasure)})
		b.Erase = []ledger.ContentRef{{Index: 0}}
		return b
	})
	recs, err := ws.Records(t.Context(), 0, 10)
	if err != nil || len(recs) != 4 || len(recs[0].Content) != 0 {
		t.Fatalf("Records as agentledger_writer = %d records, %v, want 4 and entry 0 erased", len(recs), err)
	}
	if _, err := ws.LatestCheckpoint(t.Context()); err != nil {
		t.Fatalf("LatestCheckpoint as agentledger_writer: %v", err)
	}
	if err := ws.Ready(t.Context()); err != nil {
		t.Fatalf("Ready as agentledger_writer: %v", err)
	}
	if err := postgres.Migrate(t.Context(), asWriter(dsn)); err != nil {
		t.Fatalf("Migrate of a current schema as agentledger_writer: %v", err)
	}
}

// TestStrayRows checks that the writer role cannot commit a row the store
// would not have written, one that makes every later append collide with
// it: an entry the tree head does not count, however the transaction
// orders its constraints. Appends work on afterwards.
func TestStrayRows(t *testing.T) {
	t.Parallel()
	s, dsn := openStore(t)
	seed(t, s) // entries 0–2
	conn := connect(t, asWriter(dsn))
	const insert = `INSERT INTO entries (idx, leaf, leaf_hash, dedup_key, kind)
		VALUES (%d, '\x01', sha256('\x01'), sha256('\x%02x'), 'span')`
	tests := []struct {
		name     string
		sql      []string
		contains string
	}{
		{"just past the head", []string{fmt.Sprintf(insert, 3, 3)}, "is not counted by the tree head"},
		{"checked at once", []string{"SET CONSTRAINTS ALL IMMEDIATE", fmt.Sprintf(insert, 3, 3)}, "is not counted by the tree head"},
		{"beyond a gap", []string{fmt.Sprintf(insert, 5, 5)}, "do not follow the tree head"},
		{"head grown over nothing", []string{"UPDATE tree_head SET size = 4"}, "over entries not stored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := conn.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background())
			for _, q := range tt.sql {
				if _, err = tx.Exec(t.Context(), q); err != nil {
					break
				}
			}
			if err == nil {
				err = tx.Commit(t.Context())
			}
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42501" || !strings.Contains(pe.Message, tt.contains) {
				t.Errorf("%v = %v, want refused: %q", tt.sql, err, tt.contains)
			}
		})
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM entries`); n != 3 {
		t.Fatalf("entries after refused inserts = %d, want 3", n)
	}
	appendRecords(t, s, 2)
	if n := queryInt(t, conn, `SELECT size FROM tree_head`); n != 5 {
		t.Fatalf("size after appends = %d, want 5", n)
	}
}

// TestTokenRoles checks that token rows are written by agentledger_admin
// and not by agentledger_writer, the role of the ingest path, and that
// neither an upsert by the owner changes a token.
func TestTokenRoles(t *testing.T) {
	t.Parallel()
	_, dsn := openStore(t)
	conn := connect(t, dsn)
	var login, super bool
	if err := conn.QueryRow(t.Context(), `SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'agentledger_admin'`).
		Scan(&login, &super); err != nil {
		t.Fatalf("role agentledger_admin: %v", err)
	}
	if login || super {
		t.Errorf("agentledger_admin login, superuser = %v, %v, want false, false", login, super)
	}
	for _, p := range []struct {
		role, priv string
		want       bool
	}{
		{"agentledger_admin", "SELECT", true},
		{"agentledger_admin", "INSERT", true},
		{"agentledger_admin", "DELETE", false},
		{"agentledger_writer", "SELECT", true},
		{"agentledger_writer", "INSERT", false},
		{"agentledger_writer", "UPDATE", false},
	} {
		var got bool
		if err := conn.QueryRow(t.Context(), `SELECT has_table_privilege($1, 'tokens', $2)`, p.role, p.priv).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != p.want {
			t.Errorf("has_table_privilege(%s, tokens, %s) = %v, want %v", p.role, p.priv, got, p.want)
		}
	}

	tok := auth.Token{Hash: sha256.Sum256([]byte("secret")), Name: "minted", Role: auth.RoleAdmin, Created: testTime}
	ws, err := postgres.New(t.Context(), postgres.Config{DSN: asWriter(dsn), NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	err = ws.CreateToken(t.Context(), tok)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Fatalf("CreateToken as agentledger_writer = %v, want permission denied", err)
	}

	as, err := postgres.Open(t.Context(), asRole(dsn, "agentledger_admin"))
	if err != nil {
		t.Fatalf("Open as agentledger_admin: %v", err)
	}
	defer as.Close()
	tok.Name = "ci"
	if err := as.CreateToken(t.Context(), tok); err != nil {
		t.Fatalf("CreateToken as agentledger_admin: %v", err)
	}
	if ts, err := as.ListTokens(t.Context()); err != nil || len(ts) != 1 {
		t.Fatalf("ListTokens as agentledger_admin = %v, %v, want the token", ts, err)
	}
	if _, err := ws.RevokeToken(t.Context(), "ci", testTime); err == nil {
		t.Errorf("RevokeToken as agentledger_writer succeeded, want permission denied")
	}
	if _, err := conn.Exec(t.Context(), `INSERT INTO tokens SELECT * FROM tokens WHERE true
		ON CONFLICT (hash) DO UPDATE SET role = 'auditor'`); err == nil {
		t.Errorf("upsert of a token succeeded, want refused")
	}
	if _, err := as.RevokeToken(t.Context(), "ci", testTime.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeToken as agentledger_admin: %v", err)
	}
	if got, err := ws.LookupToken(t.Context(), tok.Hash); err != nil || got.Role != auth.RoleAdmin || got.Active() {
		t.Errorf("LookupToken as agentledger_writer = %+v, %v, want the revoked admin token", got, err)
	}
}

// asWriter returns dsn with the run-time parameter role set to
// agentledger_writer, so that its sessions run as that role.
func asWriter(dsn string) string {
	return asRole(dsn, "agentledger_writer")
}

// asRole returns dsn with the run-time parameter role set to role.
func asRole(dsn, role string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return dsn + "&role=" + role // pgtest's URLs carry search_path already
	}
	return dsn + " role=" + role
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// tableCounts returns the rows in every table, to check that a failed
// Update wrote nothing.
func tableCounts(t *testing.T, dsn string) map[string]int64 {
	t.Helper()
	conn := connect(t, dsn)
	out := make(map[string]int64)
	for _, table := range []string{"entries", "entry_refs", "content", "tiles", "checkpoints"} {
		out[table] = queryInt(t, conn, "SELECT count(*) FROM "+table)
	}
	out["size"] = queryInt(t, conn, "SELECT size FROM tree_head")
	return out
}

func TestUpdateFailureWritesNothing(t *testing.T) {
	t.Parallel()
	s, dsn := openStore(t)
	seed(t, s)
	before := tableCounts(t, dsn)
	boom := errors.New("boom")
	tests := []struct {
		name string
		fn   ledger.UpdateFunc
		want error
	}{
		{"fn fails", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			return nil, boom
		}, boom},
		{"fn fails after making a batch", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			return grow(h, records(h.Size, 2)), boom
		}, boom},
		{"database refuses a late statement", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			b := grow(h, records(h.Size, 2))
			b.Tiles = append(b.Tiles, ledger.TileSegment{Tile: ledger.TileID{}, Start: 0, Hashes: make([]byte, 32)}) // stored already
			return b, nil
		}, ledger.ErrConflict},
		{"duplicate dedup key", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			rec := record(0, ledger.KindSpan)
			rec.Index = h.Size
			return grow(h, []ledger.Record{rec}), nil
		}, ledger.ErrConflict},
		{"duplicate checkpoint", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			b := withCheckpoint(grow(h, records(h.Size, 1)), testTime)
			b.Checkpoint.Size, b.Head.CheckpointSize = 3, 3
			return b, nil
		}, ledger.ErrConflict},
		{"gap in indices", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			return grow(h, records(h.Size+1, 1)), nil
		}, ledger.ErrInvalid},
		{"head size does not count the records", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			b := grow(h, records(h.Size, 2))
			b.Head.Size--
			return b, nil
		}, ledger.ErrInvalid},
		{"short range hash", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			b := grow(h, records(h.Size, 1))
			b.Head.Range = [][]byte{{1, 2, 3}}
			return b, nil
		}, ledger.ErrInvalid},
		{"tile segment past the tile's end", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			b := grow(h, records(h.Size, 1))
			b.Tiles = append(b.Tiles, ledger.TileSegment{Tile: ledger.TileID{Level: 1}, Start: 255, Hashes: make([]byte, 64)})
			return b, nil
		}, ledger.ErrInvalid},
		{"short salt", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			b := grow(h, records(h.Size, 1))
			b.Records[0].Content = []ledger.Content{{Name: "x", Salt: []byte{1}}}
			return b, nil
		}, ledger.ErrInvalid},
		{"checkpoint the head does not record", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			b := withCheckpoint(grow(h, records(h.Size, 1)), testTime)
			b.Head.CheckpointSize = 3
			return b, nil
		}, ledger.ErrInvalid},
		{"checkpoint beyond the head", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			b := withCheckpoint(grow(h, records(h.Size, 1)), testTime)
			b.Checkpoint.Size, b.Head.CheckpointSize = 99, 99
			return b, nil
		}, ledger.ErrInvalid},
		{"head forgets the latest checkpoint", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			b := grow(h, records(h.Size, 1))
			b.Head.Checkpointed, b.Head.CheckpointSize, b.Head.CheckpointTime = false, 0, time.Time{}
			return b, nil
		}, ledger.ErrInvalid},
		{"erasure without an erasure entry", func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			b := grow(h, records(h.Size, 1))
			b.Erase = []ledger.ContentRef{{Index: 0}}
			return b, nil
		}, ledger.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Update(t.Context(), nil, tt.fn)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Update() = %v, want %v", err, tt.want)
			}
			if after := tableCounts(t, dsn); !reflect.DeepEqual(after, before) {
				t.Fatalf("rows after failed Update = %v, want %v", after, before)
			}
		})
	}
}

func TestUpdateCancelled(t *testing.T) {
	t.Parallel()
	s, dsn := openStore(t)
	seed(t, s)
	before := tableCounts(t, dsn)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := s.Update(ctx, nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		called = true
		return grow(h, records(h.Size, 1)), nil
	})
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("Update(cancelled ctx) = %v, fn called %v, want context.Canceled, false", err, called)
	}

	ctx, cancel = context.WithCancel(t.Context())
	err = s.Update(ctx, nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		cancel()
		return withCheckpoint(grow(h, records(h.Size, 5)), testTime.Add(time.Hour)), nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update(ctx cancelled in fn) = %v, want context.Canceled", err)
	}
	if after := tableCounts(t, dsn); !reflect.DeepEqual(after, before) {
		t.Fatalf("rows after cancelled Update = %v, want %v", after, before)
	}

	// Cancelled at any moment of a large write, an Update writes all or
	// nothing.
	const n = 5000
	for _, d := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(t.Context(), d)
		err := s.Update(ctx, nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			return grow(h, records(h.Size, n)), nil
		})
		cancel()
		c := tableCounts(t, dsn)
		added := c["entries"] - before["entries"]
		if err == nil && added != n || added != 0 && added != n || c["size"] != c["entries"] || c["content"] != 2*c["entries"] {
			t.Fatalf("Update(timeout %v) = %v; rows %v: want all %d entries or none, and a head that counts them", d, err, c, n)
		}
		before = c
	}
	// The store still works.
	appendRecords(t, s, 1)
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx := t.Context()

	cpTime := testTime.Add(time.Minute)
	var b1 *ledger.Batch
	update(t, s, func(h ledger.TreeHead) *ledger.Batch {
		b1 = withCheckpoint(grow(h, records(0, 3)), cpTime)
		return b1
	})
	var b2 *ledger.Batch
	update(t, s, func(h ledger.TreeHead) *ledger.Batch {
		b2 = grow(h, records(3, 2))
		return b2
	})

	h, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h, b2.Head) {
		t.Errorf("Head() = %+v, want %+v", h, b2.Head)
	}

	want := append(records(0, 3), records(3, 2)...)
	for i := range want {
		want[i].Refs = nil // written only
		c := want[i].Content
		want[i].Content = []ledger.Content{c[1], c[0]} // in name order
	}
	got, err := s.Records(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Records(0, 100) = %+v, want %+v", got, want)
	}
	for _, tt := range []struct {
		start, end uint64
		want       []ledger.Record
	}{
		{1, 3, want[1:3]},
		{4, 4, nil},
		{3, 1, nil},
		{5, 9, nil},
		{0, 1 << 63, want},
	} {
		got, err := s.Records(ctx, tt.start, tt.end)
		if err != nil || len(got) != len(tt.want) || len(got) > 0 && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Records(%d, %d) = %d records, %v, want %d", tt.start, tt.end, len(got), err, len(tt.want))
		}
	}
	got, err = s.RecordsAt(ctx, []uint64{4, 0, 99, 1 << 63, 4})
	if err != nil || !reflect.DeepEqual(got, []ledger.Record{want[0], want[4]}) {
		t.Errorf("RecordsAt(4, 0, 99, 2^63, 4) = %+v, %v, want entries 0 and 4", got, err)
	}

	for _, tt := range []struct {
		ref   ledger.Ref
		from  uint64
		limit int
		want  []uint64
	}{
		{ledger.Ref{Key: "agent", Value: "agent-0"}, 0, 10, []uint64{0, 2, 4}},
		{ledger.Ref{Key: "agent", Value: "agent-0"}, 1, 10, []uint64{2, 4}},
		{ledger.Ref{Key: "agent", Value: "agent-0"}, 0, 2, []uint64{0, 2}},
		{ledger.Ref{Key: "agent", Value: "agent-0"}, 0, 0, nil},
		{ledger.Ref{Key: "trace", Value: want[2].TraceID}, 0, 10, []uint64{2, 3}},
		{ledger.Ref{Key: "trace", Value: "nope"}, 0, 10, nil},
	} {
		got, err := s.Find(ctx, tt.ref, tt.from, tt.limit)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Find(%v, %d, %d) = %v, %v, want %v", tt.ref, tt.from, tt.limit, got, err, tt.want)
		}
	}

	var leaves []byte
	for _, r := range want {
		leaves = append(leaves, r.LeafHash[:]...)
	}
	tiles, err := s.Tiles(ctx, []ledger.TileID{{Level: 0, Index: 0}, {Level: 1, Index: 0}, {Level: 0, Index: 1 << 63}})
	if wantTiles := map[ledger.TileID][]byte{{}: leaves}; err != nil || !reflect.DeepEqual(tiles, wantTiles) {
		t.Errorf("Tiles(0/0, 1/0, 0/2^63) = %x, %v, want %x", tiles, err, wantTiles)
	}

	cp, err := s.Checkpoint(ctx, 3)
	if err != nil || !reflect.DeepEqual(cp, *b1.Checkpoint) {
		t.Errorf("Checkpoint(3) = %+v, %v, want %+v", cp, err, *b1.Checkpoint)
	}
	if _, err := s.Checkpoint(ctx, 4); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Checkpoint(4) = %v, want ErrNotFound", err)
	}
	var b3 *ledger.Batch
	update(t, s, func(h ledger.TreeHead) *ledger.Batch {
		b3 = withCheckpoint(&ledger.Batch{Head: h}, cpTime.Add(time.Minute))
		return b3
	})
	latest, err := s.LatestCheckpoint(ctx)
	if err != nil || !reflect.DeepEqual(latest, *b3.Checkpoint) {
		t.Errorf("LatestCheckpoint() = %+v, %v, want %+v", latest, err, *b3.Checkpoint)
	}
	for _, tt := range []struct {
		from  uint64
		limit int
		want  []ledger.Checkpoint
	}{
		{0, 10, []ledger.Checkpoint{*b1.Checkpoint, *b3.Checkpoint}},
		{4, 10, []ledger.Checkpoint{*b3.Checkpoint}},
		{0, 1, []ledger.Checkpoint{*b1.Checkpoint}},
		{6, 10, nil},
	} {
		got, err := s.Checkpoints(ctx, tt.from, tt.limit)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Checkpoints(%d, %d) = %+v, %v, want %+v", tt.from, tt.limit, got, err, tt.want)
		}
	}

	// Erase one piece of entry 0 and all of entry 1's content.
	update(t, s, func(h ledger.TreeHead) *ledger.Batch {
		b := grow(h, []ledger.Record{record(h.Size, ledger.KindErasure)})
		b.Erase = []ledger.ContentRef{{Index: 0, Name: "input"}, {Index: 1}}
		return b
	})
	got, err = s.RecordsAt(ctx, []uint64{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	wantErased := []ledger.Record{want[0], want[1], want[2]}
	wantErased[0].Content = want[0].Content[1:]
	wantErased[1].Content = nil
	if !reflect.DeepEqual(got, wantErased) {
		t.Errorf("RecordsAt(0, 1, 2) after erasure = %+v, want %+v", got, wantErased)
	}
}

func TestDedupProbe(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	appendRecords(t, s, 4)
	stored := records(0, 4)
	keys := [][ledger.HashSize]byte{stored[3].DedupKey, {1, 2, 3}, stored[1].DedupKey}
	var got map[[ledger.HashSize]byte]ledger.Existing
	err := s.Update(t.Context(), keys, func(h ledger.TreeHead, existing map[[ledger.HashSize]byte]ledger.Existing) (*ledger.Batch, error) {
		got = existing
		return nil, nil
	})
	want := map[[ledger.HashSize]byte]ledger.Existing{
		stored[3].DedupKey: {Index: 3, Leaf: stored[3].Leaf},
		stored[1].DedupKey: {Index: 1, Leaf: stored[1].Leaf},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Update(keys) existing = %v, %v, want %v", got, err, want)
	}
}

func TestTilesCorrupt(t *testing.T) {
	t.Parallel()
	s, dsn := openStore(t)
	conn := connect(t, dsn)
	// The owner goes around the database's checks.
	if _, err := conn.Exec(t.Context(), `ALTER TABLE tiles DISABLE TRIGGER tiles_covered`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), `INSERT INTO tiles (level, idx, start, hashes) VALUES
		(0, 5, 0, sha256('a')), (0, 5, 2, sha256('b')),
		(0, 6, 1, sha256('c')),
		(1, 0, 0, sha256('d'))`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id   ledger.TileID
		want error
	}{
		{ledger.TileID{Level: 0, Index: 5}, ledger.ErrCorrupt}, // a gap
		{ledger.TileID{Level: 0, Index: 6}, ledger.ErrCorrupt}, // no start
		{ledger.TileID{Level: 1, Index: 0}, nil},
	} {
		if _, err := s.Tiles(t.Context(), []ledger.TileID{tt.id}); !errors.Is(err, tt.want) {
			t.Errorf("Tiles(%v) = %v, want %v", tt.id, err, tt.want)
		}
	}
}

// TestErasureLeavesNoBytes checks that erased content leaves the files of
// the content table (its heap and TOAST files under the server's data
// directory) soon after Erase returns, and is not back after a clean
// shutdown, while content that was not erased is still there. It reads the
// files, so it needs the server on this machine and a data directory it
// may read.
func TestErasureLeavesNoBytes(t *testing.T) {
	t.Parallel()
	s, dsn := openStore(t)
	conn := connect(t, dsn)
	var dataDir string
	if err := conn.QueryRow(t.Context(), `SHOW data_directory`).Scan(&dataDir); err != nil {
		t.Fatalf("SHOW data_directory: %v", err)
	}
	files := func() []string {
		t.Helper()
		var heap, toast string
		if err := conn.QueryRow(t.Context(), `SELECT pg_relation_filepath(c.oid), coalesce(pg_relation_filepath(c.reltoastrelid), '')
			FROM pg_class c WHERE c.oid = 'content'::regclass`).Scan(&heap, &toast); err != nil {
			t.Fatal(err)
		}
		// Dirty pages reach the files at a checkpoint.
		if _, err := conn.Exec(t.Context(), `CHECKPOINT`); err != nil {
			t.Fatalf("CHECKPOINT: %v", err)
		}
		var paths []string
		for _, rel := range []string{heap, toast} {
			if rel != "" {
				paths = append(paths, filepath.Join(dataDir, rel))
			}
		}
		return paths
	}
	contain := func(paths []string, b []byte) bool {
		t.Helper()
		for _, p := range paths {
			segs, _ := filepath.Glob(p + ".*") // 1 GB segments, free space and visibility maps
			for _, f := range append([]string{p}, segs...) {
				data, err := os.ReadFile(f)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					t.Skipf("SKIPPED, NOT PASSED: cannot read the content table's files under the server's data directory %s: %v", dataDir, err)
				}
				if bytes.Contains(data, b) {
					t.Logf("%s holds %q", f, b)
					return true
				}
			}
		}
		return false
	}

	key, _, err := ledger.GenerateKey("example.com/erasure")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(s, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	erased, kept, big := marker("erased"), marker("kept"), marker("toasted")
	var es []ledger.Entry
	for i := range 20 {
		data := kept
		if i == 19 { // the last row written to its page: a plain VACUUM leaves its bytes
			data = erased
		}
		es = append(es, ledger.Entry{
			Kind: ledger.KindLLM, TraceID: fmt.Sprintf("%032x", 1), SpanID: fmt.Sprintf("%016x", i+1), Name: "chat",
			Content: []ledger.Content{ledger.NewContent("input.messages", data)},
		})
	}
	// Content too large for a page goes to the TOAST table; random bytes do
	// not compress, so the marker is there verbatim.
	noise := make([]byte, 16<<10)
	rand.Read(noise)
	es = append(es, ledger.Entry{
		Kind: ledger.KindLLM, TraceID: fmt.Sprintf("%032x", 1), SpanID: fmt.Sprintf("%016x", 100), Name: "chat",
		Content: []ledger.Content{ledger.NewContent("output.messages", append(append([]byte{}, big...), noise...))},
	})
	idx, err := l.Append(t.Context(), es)
	if err != nil {
		t.Fatal(err)
	}
	old := files()
	if _, err := os.Stat(old[0]); err != nil {
		t.Skipf("SKIPPED, NOT PASSED: the content table's heap file is not readable here (is the server on another machine?): %v", err)
	}
	for _, m := range [][]byte{erased, big} {
		if !contain(old, m) {
			t.Fatalf("%q is not in the content table's files before the erasure: the scan is broken", m)
		}
	}
	if _, err := l.Erase(t.Context(), []ledger.ContentRef{{Index: idx[19].Index}, {Index: idx[20].Index}}, "admin:test", "test"); err != nil {
		t.Fatal(err)
	}
	// The store rewrites the table in the background, once the
	// transactions that may still read the erased rows have ended.
	gone := func() bool {
		now := files()
		for _, m := range [][]byte{erased, big} {
			if contain(now, m) || contain(old, m) {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(2 * time.Minute)
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for !gone() {
		if time.Now().After(deadline) {
			t.Fatalf("erased content is still in the content table's files 2 minutes after Erase returned")
		}
		<-poll.C
	}
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !gone() {
		t.Errorf("erased content is in the content table's files after a clean shutdown")
	}
	if !contain(files(), kept) {
		t.Errorf("content that was not erased is not in the content table's files")
	}
}

// marker returns unique content to look for in the database's files.
func marker(what string) []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return []byte(what + " prompt " + hex.EncodeToString(b))
}

// TestIndexUpdatesInPlace checks migration 0009: index transactions
// rewrite key states and map nodes mostly in place (HOT updates, no new
// primary-key entries), as the pages' free room allows.
func TestIndexUpdatesInPlace(t *testing.T) {
	s, dsn := openStore(t)
	is := index.Store(s)
	key, _, err := ledger.GenerateKey("example.com/in-place")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(s, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	x := index.NewIndexer(is, signer)
	r := mrand.New(mrand.NewPCG(1, 1))
	for i := range 4 {
		if _, err := l.Append(t.Context(), indextest.Entries(r, i*500, 500)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Checkpoint(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Update(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// The backends report their statistics when they end.
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn := connect(t, dsn)
	for _, table := range []string{"index_nodes", "index_keys"} {
		var opts []string
		if err := conn.QueryRow(t.Context(), `SELECT reloptions FROM pg_class WHERE oid = $1::regclass`, table).Scan(&opts); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(opts, "fillfactor=50") {
			t.Errorf("%s: reloptions %v, want fillfactor=50", table, opts)
		}
		var upd, hot int64
		for deadline := time.Now().Add(20 * time.Second); upd == 0 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond) // polling the statistics, with a deadline
			upd = queryInt(t, conn, `SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = $1::regclass`, table)
			hot = queryInt(t, conn, `SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = $1::regclass`, table)
		}
		t.Logf("%s: %d of %d updates in place", table, hot, upd)
		if upd == 0 || hot*2 < upd {
			t.Errorf("%s: %d of %d updates in place, want most", table, hot, upd)
		}
	}
}

// probeCounter is a pgx tracer that counts the dedup probes a store sends.
type probeCounter struct {
	mu     sync.Mutex
	probes int
}

func (p *probeCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (p *probeCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (p *probeCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (p *probeCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	if strings.Contains(d.SQL, "dedup_key = ANY") {
		p.mu.Lock()
		p.probes++
		p.mu.Unlock()
	}
}
func (p *probeCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (p *probeCounter) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probes
}

// TestDedupWithoutProbe: while no duplicate arrives, a batch that writes
// every key is written without the dedup probe; one that holds a stored key
// is refused by the unique index and run again with the probe, which the
// next transactions keep; nothing is written twice.
func TestDedupWithoutProbe(t *testing.T) {
	t.Parallel()
	tr := &probeCounter{}
	s, err := postgres.New(t.Context(), postgres.Config{DSN: pgtest.NewSchema(t), Tracer: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// appendNew appends those of recs whose keys are not stored, as
	// ledger.Log does, and returns how often fn ran and the keys it found.
	appendNew := func(recs []ledger.Record) (calls int, found int) {
		keys := make([][ledger.HashSize]byte, len(recs))
		for i := range recs {
			keys[i] = recs[i].DedupKey
		}
		err := s.Update(t.Context(), keys, func(h ledger.TreeHead, existing map[[ledger.HashSize]byte]ledger.Existing) (*ledger.Batch, error) {
			calls++
			found = len(existing)
			var fresh []ledger.Record
			for _, r := range recs {
				if _, ok := existing[r.DedupKey]; !ok {
					r.Index = h.Size + uint64(len(fresh))
					fresh = append(fresh, r)
				}
			}
			return grow(h, fresh), nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		return calls, found
	}
	for _, step := range []struct {
		name                        string
		recs                        []ledger.Record
		wantCalls, wantFound, probe int
		wantSize                    uint64
	}{
		{"new keys", records(0, 2), 1, 0, 0, 2},
		{"a stored key", records(1, 3), 2, 1, 1, 4},
		{"new keys after a duplicate", records(4, 2), 1, 0, 1, 6},
	} {
		before := tr.count()
		calls, found := appendNew(step.recs)
		if calls != step.wantCalls || found != step.wantFound || tr.count()-before != step.probe {
			t.Errorf("%s: fn ran %d times, found %d stored keys, %d probes; want %d, %d, %d",
				step.name, calls, found, tr.count()-before, step.wantCalls, step.wantFound, step.probe)
		}
		if h, err := s.Head(t.Context()); err != nil || h.Size != step.wantSize {
			t.Errorf("%s: tree size %d (%v), want %d", step.name, h.Size, err, step.wantSize)
		}
	}
	got, err := s.Records(t.Context(), 0, 6)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if want := records(uint64(i), 1)[0]; r.DedupKey != want.DedupKey {
			t.Errorf("entry %d has dedup key %x, want record %d's %x", i, r.DedupKey, i, want.DedupKey)
		}
	}
}

package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/storetest"
)

// testDB is one database file for the conformance suite.
type testDB struct{ path string }

func (d testDB) Open(t *testing.T) ledger.Store {
	t.Helper()
	return openStore(t, t.Context(), d.path)
}

func (d testDB) Exec(ctx context.Context, q string) error {
	db, err := sql.Open("sqlite", d.path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, q)
	return err
}

func (d testDB) ExecUnguarded(ctx context.Context, table, q string) error {
	db, err := sql.Open("sqlite", d.path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?`, table)
	if err != nil {
		return err
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return err
		}
		names, defs = append(names, name), append(defs, def)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, name := range names {
		if _, err := tx.ExecContext(ctx, `DROP TRIGGER "`+name+`"`); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return err
	}
	for _, def := range defs {
		if _, err := tx.ExecContext(ctx, def); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.DB {
		path := newPath(t)
		if err := Migrate(t.Context(), path); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return testDB{path: path}
	})
}

func TestPragmas(t *testing.T) {
	s := openStore(t, t.Context(), newPath(t))
	tests := []struct {
		pool  string
		db    *sql.DB
		conns int
		want  map[string]string
	}{
		{"writer", s.w, 1, map[string]string{
			"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000", "synchronous": "2", "query_only": "0", "wal_autocheckpoint": "10000", "secure_delete": "1",
		}},
		{"readers", s.r, 4, map[string]string{
			"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000", "synchronous": "2", "query_only": "1", "wal_autocheckpoint": "10000", "secure_delete": "1",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.pool, func(t *testing.T) {
			// Hold several connections at once, so that each is a separate
			// connection of the pool.
			var conns []*sql.Conn
			for range tt.conns {
				c, err := tt.db.Conn(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conns = append(conns, c)
			}
			for i, c := range conns {
				for name, want := range tt.want {
					var got string
					if err := c.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&got); err != nil {
						t.Fatalf("PRAGMA %s: %v", name, err)
					}
					if got != want {
						t.Errorf("conn %d: PRAGMA %s = %s, want %s", i, name, got, want)
					}
				}
			}
		})
	}
}

// TestWriteLockAtBegin checks that a write transaction holds the database's
// write lock from its start (BEGIN IMMEDIATE), before it writes anything.
func TestWriteLockAtBegin(t *testing.T) {
	path := newPath(t)
	s := openStore(t, t.Context(), path)
	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var inside error
	err = s.Update(t.Context(), nil, func(ledger.TreeHead, map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		tx, err := other.BeginTx(t.Context(), nil)
		if err == nil {
			tx.Rollback()
		}
		inside = err
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside == nil || !strings.Contains(inside.Error(), "SQLITE_BUSY") {
		t.Fatalf("BEGIN IMMEDIATE elsewhere during Update: error = %v, want SQLITE_BUSY", inside)
	}
}

func TestFileMode(t *testing.T) {
	t.Run("new", func(t *testing.T) {
		path := newPath(t)
		s := openStore(t, t.Context(), path)
		appendRecords(t, t.Context(), s, 3)
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != FileMode {
				t.Errorf("mode of %s = %04o, want %04o", p, got, FileMode)
			}
		}
	})
	tests := []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o640, false},
		{0o604, false},
		{0o644, false},
		{0o666, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			path := newPath(t)
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			err := createFile(path)
			if (err == nil) != tt.ok {
				t.Fatalf("createFile(mode %04o) = %v, want ok %v", tt.mode, err, tt.ok)
			}
			if !tt.ok {
				if _, err := Open(t.Context(), path); err == nil || !strings.Contains(err.Error(), "group or others") {
					t.Errorf("Open(mode %04o) = %v, want a mode error", tt.mode, err)
				}
				if err := Migrate(t.Context(), path); err == nil {
					t.Errorf("Migrate(mode %04o) = nil, want a mode error", tt.mode)
				}
			}
		})
	}
	for _, bad := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if _, err := Open(t.Context(), bad); !errors.Is(err, ledger.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestMigrate(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	latest := ms[len(ms)-1].version
	path := newPath(t)
	for i := range 3 {
		if err := Migrate(t.Context(), path); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	db := rawDB(t, path)
	var rows, version int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) || version != latest {
		t.Fatalf("schema_migrations = %d rows, version %d, want %d rows, version %d", rows, version, len(ms), latest)
	}
	s := openStore(t, t.Context(), path)
	if err := s.Ready(t.Context()); err != nil {
		t.Fatalf("Ready() = %v, want nil", err)
	}

	// A newer binary migrated the file.
	if _, err := db.ExecContext(t.Context(), "INSERT INTO schema_migrations VALUES (?, 0)", latest+1); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("database schema version %d is newer than this binary (%d); upgrade agentledger", latest+1, latest)
	if err := Migrate(t.Context(), path); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Migrate(newer) = %v, want %q", err, want)
	}
	if _, err := Open(t.Context(), path); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Open(newer) = %v, want %q", err, want)
	}
	if err := s.Ready(t.Context()); err == nil {
		t.Errorf("Ready() on a newer schema = nil, want an error")
	}
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&rows); err != nil || rows != len(ms)+1 {
		t.Errorf("schema_migrations after refused Migrate = %d rows, %v, want %d", rows, err, len(ms)+1)
	}
}

// TestAppendOnlyTriggers checks that the database refuses UPDATE and DELETE
// of every append-only table to whoever opens the file directly.
func TestAppendOnlyTriggers(t *testing.T) {
	path := newPath(t)
	s := openStore(t, t.Context(), path)
	appendRecords(t, t.Context(), s, 300)
	err := s.Update(t.Context(), nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		return checkpointBatch(h), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	tests := []struct {
		stmt, want string
	}{
		{"UPDATE entries SET kind = 'span'", "entries is append-only"},
		{"UPDATE entries SET idx = idx + 1000 WHERE idx = 0", "entries is append-only"},
		{"DELETE FROM entries WHERE idx = 299", "entries is append-only"},
		{"UPDATE entry_refs SET value = 'x'", "entry_refs is append-only"},
		{"DELETE FROM entry_refs", "entry_refs is append-only"},
		{"UPDATE tiles SET hashes = zeroblob(32) WHERE start = 0", "tiles is append-only"},
		{"DELETE FROM tiles", "tiles is append-only"},
		{"UPDATE checkpoints SET note = X'00'", "checkpoints is append-only"},
		{"DELETE FROM checkpoints", "checkpoints is append-only"},
		{"UPDATE content SET data = X'00'", "content is append-only"},
		{"DELETE FROM content", "content is deleted only by an erasure"},
		{"DELETE FROM tree_head", "tree_head cannot be deleted"},
		{"UPDATE tree_head SET size = 1", "tree_head cannot shrink"},
		{"UPDATE tree_head SET checkpoint_size = NULL", "agentledger: tree_head c"},
		{"INSERT INTO tiles VALUES (0, 1, 10, zeroblob(32))", "tile segment does not continue its tile"},
		{"INSERT INTO tiles VALUES (0, 1, 44, zeroblob(32))", "tile segment beyond the entries written"},
	}
	for _, tt := range tests {
		_, err := db.ExecContext(t.Context(), tt.stmt)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Exec(%s) = %v, want %q", tt.stmt, err, tt.want)
		}
	}
	checkTree(t, t.Context(), s)
}

func checkpointBatch(h ledger.TreeHead) *ledger.Batch {
	next := h
	next.Checkpointed, next.CheckpointSize, next.CheckpointTime = true, h.Size, time.Unix(1_700_000_000, 123).UTC()
	return &ledger.Batch{Head: next, Checkpoint: &ledger.Checkpoint{
		Size: h.Size, Root: h.Root, Note: fmt.Appendf(nil, "note %d", h.Size), Time: next.CheckpointTime,
	}}
}

func TestErasure(t *testing.T) {
	path := newPath(t)
	s := openStore(t, t.Context(), path)
	recs := appendRecords(t, t.Context(), s, 3)
	erasure := func(t *testing.T, erase []ledger.ContentRef) error {
		t.Helper()
		return s.Update(t.Context(), nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			rec := testRecord(t, 1000+h.Size)
			rec.Kind, rec.Content = ledger.KindErasure, nil
			b, err := grow(h, []ledger.Record{rec})
			if err != nil {
				return nil, err
			}
			b.Erase = erase
			return b, nil
		})
	}
	// Without an erasure entry the store refuses, and so does the database.
	err := s.Update(t.Context(), nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		return &ledger.Batch{Head: h, Erase: []ledger.ContentRef{{Index: 0}}}, nil
	})
	if !errors.Is(err, ledger.ErrInvalid) {
		t.Fatalf("Update(erase without erasure entry) = %v, want ErrInvalid", err)
	}
	db := rawDB(t, path)
	if _, err := db.ExecContext(t.Context(), "DELETE FROM content WHERE idx = 0"); err == nil {
		t.Fatalf("DELETE FROM content without an erasure succeeded")
	}

	if err := erasure(t, []ledger.ContentRef{{Index: 0}, {Index: 1, Name: "output.messages"}, {Index: 2, Name: "absent"}}); err != nil {
		t.Fatalf("Update(erasure) = %v", err)
	}
	got, err := s.Records(t.Context(), 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{0, 0, 1} {
		if len(got[i].Content) != want {
			t.Errorf("entry %d after erasure has %d contents, want %d", i, len(got[i].Content), want)
		}
		if got[i].LeafHash != recs[i].LeafHash {
			t.Errorf("entry %d: erasure changed the leaf hash", i)
		}
	}
	var guards int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM erasure_guard").Scan(&guards); err != nil || guards != 0 {
		t.Errorf("erasure_guard rows after commit = %d, %v, want 0", guards, err)
	}
	// A committed erasure entry does not license another delete.
	h, err := s.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(t.Context(), "INSERT INTO erasure_guard VALUES (?)", h.Size-1); err == nil || !strings.Contains(err.Error(), "erasure_guard names only an erasure entry being appended") {
		t.Errorf("INSERT INTO erasure_guard naming a committed erasure = %v, want refused", err)
	}
	if _, err := tx.ExecContext(t.Context(), "DELETE FROM content WHERE idx = 2"); err == nil || !strings.Contains(err.Error(), "erasure") {
		t.Errorf("DELETE FROM content guarded by a committed erasure = %v, want refused", err)
	}
	tx.Rollback()

	// An erasure entry appended in the same transaction, beyond the head,
	// does.
	tx, err = db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range []string{
		fmt.Sprintf("INSERT INTO entries (idx, leaf, leaf_hash, dedup_key, kind) VALUES (%d, X'01', zeroblob(32), zeroblob(32), 'erasure')", h.Size),
		fmt.Sprintf("INSERT INTO erasure_guard VALUES (%d)", h.Size),
		"DELETE FROM content WHERE idx = 2",
	} {
		if _, err := tx.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v, want an erasure in the same transaction to allow it", q, err)
		}
	}
	tx.Rollback()
	checkTree(t, t.Context(), s)
}

func TestUpdateWritesNothingOnError(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		fn   func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error)
		want error
	}{
		{"callback error", func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error) {
			if _, err := grow(h, []ledger.Record{testRecord(t, 100)}); err != nil {
				t.Fatal(err)
			}
			return nil, boom
		}, boom},
		{"index gap", func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error) {
			b, err := grow(h, []ledger.Record{testRecord(t, 100)})
			b.Records[0].Index++
			return b, err
		}, ledger.ErrInvalid},
		{"head size", func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error) {
			b, err := grow(h, []ledger.Record{testRecord(t, 100)})
			b.Head.Size++
			return b, err
		}, ledger.ErrInvalid},
		{"range shape", func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error) {
			b, err := grow(h, []ledger.Record{testRecord(t, 100)})
			b.Head.Range = b.Head.Range[1:]
			return b, err
		}, ledger.ErrInvalid},
		{"root change without records", func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error) {
			h.Root[0] ^= 1
			return &ledger.Batch{Head: h}, nil
		}, ledger.ErrInvalid},
		{"checkpoint not in head", func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error) {
			b := checkpointBatch(h)
			b.Head.Checkpointed = false
			return b, nil
		}, ledger.ErrInvalid},
		{"duplicate dedup key in batch", func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error) {
			return grow(h, []ledger.Record{testRecord(t, 100), testRecord(t, 101), testRecord(t, 100)})
		}, ledger.ErrConflict},
		{"stored dedup key", func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error) {
			return grow(h, []ledger.Record{testRecord(t, 100), testRecord(t, 0)})
		}, ledger.ErrConflict},
		{"tile gap", func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error) {
			b, err := grow(h, []ledger.Record{testRecord(t, 100)})
			b.Tiles[0].Start++
			return b, err
		}, ledger.ErrInvalid},
		{"bad salt", func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error) {
			r := testRecord(t, 100)
			r.Content[0].Salt = r.Content[0].Salt[:5]
			return grow(h, []ledger.Record{r})
		}, ledger.ErrInvalid},
		{"checkpoint taken", func(t *testing.T, h ledger.TreeHead) (*ledger.Batch, error) {
			b, err := grow(h, []ledger.Record{testRecord(t, 100)})
			cp := checkpointBatch(h)
			b.Head.Checkpointed, b.Head.CheckpointSize, b.Checkpoint = true, h.Size, cp.Checkpoint
			return b, err
		}, ledger.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			s := openStore(t, t.Context(), path)
			appendRecords(t, t.Context(), s, 3)
			if err := s.Update(t.Context(), nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
				return checkpointBatch(h), nil
			}); err != nil {
				t.Fatal(err)
			}
			before := countRows(t, path)
			err := s.Update(t.Context(), nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
				return tt.fn(t, h)
			})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Update() = %v, want %v", err, tt.want)
			}
			if after := countRows(t, path); after != before {
				t.Fatalf("rows after failed Update = %s, want %s", after, before)
			}
			if h := checkTree(t, t.Context(), s); h.Size != 3 || h.CheckpointSize != 3 {
				t.Fatalf("head after failed Update = size %d checkpoint %d, want 3 and 3", h.Size, h.CheckpointSize)
			}
		})
	}
}

// countRows describes the number of rows of every table and the tree head.
func countRows(t *testing.T, path string) string {
	t.Helper()
	db := rawDB(t, path)
	var b strings.Builder
	for _, table := range []string{"entries", "entry_refs", "content", "tiles", "checkpoints", "erasure_guard"} {
		var n int
		if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%d ", table, n)
	}
	var size, cp int64
	if err := db.QueryRowContext(t.Context(), "SELECT size, coalesce(checkpoint_size, -1) FROM tree_head").Scan(&size, &cp); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "head:%d/%d", size, cp)
	return b.String()
}

func TestUpdateCancelled(t *testing.T) {
	tests := []struct {
		name   string
		cancel string // when: "before", "in callback", "during write"
	}{
		{"before", "before"},
		{"in callback", "in callback"},
		{"after callback", "after callback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			s := openStore(t, t.Context(), path)
			appendRecords(t, t.Context(), s, 3)
			before := countRows(t, path)
			ctx, cancel := context.WithCancel(t.Context())
			if tt.cancel == "before" {
				cancel()
			}
			defer cancel()
			called := false
			err := s.Update(ctx, nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
				called = true
				recs := make([]ledger.Record, 500)
				for i := range recs {
					recs[i] = testRecord(t, h.Size+uint64(i))
				}
				if tt.cancel == "in callback" {
					cancel()
				}
				b, err := grow(h, recs)
				if tt.cancel == "after callback" {
					// Cancel while the batch is being written.
					go func() {
						time.Sleep(time.Millisecond)
						cancel()
					}()
				}
				return b, err
			})
			if tt.cancel == "after callback" && err == nil {
				// The write won the race; nothing to check but the tree.
				checkTree(t, t.Context(), s)
				t.Skip("the batch committed before the cancellation")
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Update(cancelled %s) = %v, want context.Canceled", tt.cancel, err)
			}
			if tt.cancel == "before" && called {
				t.Errorf("Update(cancelled before) called its callback")
			}
			if after := countRows(t, path); after != before {
				t.Fatalf("rows after cancelled Update = %s, want %s", after, before)
			}
			checkTree(t, t.Context(), s)
			appendRecords(t, t.Context(), s, 2) // the writer connection is still usable
			checkTree(t, t.Context(), s)
		})
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, ctx, newPath(t))
	recs := appendRecords(t, ctx, s, 300)
	// A record with no trace, time, refs or content, and one with empty
	// content.
	bare := ledger.Record{Leaf: []byte{1, 2, 3}, LeafHash: ledger.LeafHash([]byte{1, 2, 3}), DedupKey: [32]byte{1}, Kind: ledger.KindAccess}
	empty := testRecord(t, 5000)
	// Content is read back in name order.
	empty.Content = append([]ledger.Content{{Name: "empty", Salt: make([]byte, 32)}}, empty.Content...)
	empty.Refs = append(empty.Refs, empty.Refs...) // duplicate refs are indexed once
	err := s.Update(ctx, nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		b, err := grow(h, []ledger.Record{bare, empty})
		if err != nil {
			return nil, err
		}
		cp := checkpointBatch(b.Head)
		b.Head, b.Checkpoint = cp.Head, cp.Checkpoint
		return b, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	bare.Index, empty.Index = 300, 301
	recs = append(recs, bare, empty)

	h := checkTree(t, ctx, s)
	if h.Size != 302 || !h.Checkpointed || h.CheckpointSize != 302 || !h.CheckpointTime.Equal(time.Unix(1_700_000_000, 123)) {
		t.Fatalf("Head() = size %d checkpoint %v/%d/%v, want 302 with a checkpoint of 302", h.Size, h.Checkpointed, h.CheckpointSize, h.CheckpointTime)
	}

	got, err := s.Records(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("Records(0, 1000) = %d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if diff := diffRecord(got[i], recs[i]); diff != "" {
			t.Fatalf("Records(0, 1000)[%d]: %s", i, diff)
		}
	}
	if _, _, err := got[0].Decode(); err != nil {
		t.Fatalf("Decode(record 0): %v", err)
	}

	at, err := s.RecordsAt(ctx, []uint64{301, 7, 1 << 40, 7, 0, 1<<64 - 1})
	if err != nil {
		t.Fatal(err)
	}
	var idx []uint64
	for _, r := range at {
		idx = append(idx, r.Index)
		if diff := diffRecord(r, recs[r.Index]); diff != "" {
			t.Fatalf("RecordsAt: record %d: %s", r.Index, diff)
		}
	}
	if fmt.Sprint(idx) != "[0 7 301]" {
		t.Fatalf("RecordsAt(301, 7, 2^40, 7, 0, 2^64-1) = %v, want [0 7 301]", idx)
	}

	ranges := []struct {
		start, end uint64
		want       int
	}{
		{0, 0, 0}, {5, 6, 1}, {250, 260, 10}, {300, 1 << 63, 2}, {1 << 63, 1<<64 - 1, 0},
	}
	for _, tt := range ranges {
		got, err := s.Records(ctx, tt.start, tt.end)
		if err != nil || len(got) != tt.want || (len(got) > 0 && got[0].Index != tt.start) {
			t.Errorf("Records(%d, %d) = %d records, %v, want %d from %d", tt.start, tt.end, len(got), err, tt.want, tt.start)
		}
	}
	if _, err := s.Records(ctx, 6, 5); !errors.Is(err, ledger.ErrInvalid) {
		t.Errorf("Records(6, 5) = %v, want ErrInvalid", err)
	}

	finds := []struct {
		ref   ledger.Ref
		from  uint64
		limit int
		want  string
	}{
		{ledger.Ref{Key: ledger.RefCredential, Value: "jti-3"}, 0, 10, "[3 100 197 294]"},
		{ledger.Ref{Key: ledger.RefCredential, Value: "jti-3"}, 4, 1, "[100]"},
		{ledger.Ref{Key: ledger.RefCredential, Value: "jti-3"}, 198, 10, "[294]"},
		{ledger.Ref{Key: ledger.RefCredential, Value: "jti-3"}, 295, 10, "[]"},
		{ledger.Ref{Key: ledger.RefCredential, Value: fmt.Sprintf("jti-%d", 5000%97)}, 300, 10, "[301]"},
		{ledger.Ref{Key: ledger.RefTrace, Value: fmt.Sprintf("%032x", 2)}, 0, 100, fmt.Sprint(seq(16, 32))},
		{ledger.Ref{Key: ledger.RefKind, Value: "access"}, 0, 10, "[]"},
		{ledger.Ref{Key: ledger.RefCredential, Value: "jti-3"}, 0, 0, "[]"},
	}
	for _, tt := range finds {
		got, err := s.Find(ctx, tt.ref, tt.from, tt.limit)
		if err != nil || fmt.Sprint(got) != tt.want {
			t.Errorf("Find(%v, %d, %d) = %v, %v, want %s", tt.ref, tt.from, tt.limit, got, err, tt.want)
		}
	}
	if _, err := s.Find(ctx, ledger.Ref{Key: "kind", Value: "llm"}, 0, -1); !errors.Is(err, ledger.ErrInvalid) {
		t.Errorf("Find(limit -1) = %v, want ErrInvalid", err)
	}

	tiles, err := s.Tiles(ctx, []ledger.TileID{{Index: 1}, {Index: 1}, {Level: 1}, {Index: 9}, {Level: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tiles) != 2 || len(tiles[ledger.TileID{Index: 1}]) != 46*32 || len(tiles[ledger.TileID{Level: 1}]) != 32 {
		t.Fatalf("Tiles() = %d tiles, want 2: 0/1 of 46 hashes and 1/0 of 1 hash", len(tiles))
	}
	if string(tiles[ledger.TileID{Index: 1}][:32]) != string(recs[256].LeafHash[:]) {
		t.Errorf("tile 0/1 hash 0 = %x, want leaf hash %x", tiles[ledger.TileID{Index: 1}][:32], recs[256].LeafHash)
	}

	// Checkpoints of sizes 302 and, after more appends, 310.
	appendRecords(t, ctx, s, 8)
	if err := s.Update(ctx, nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		return checkpointBatch(h), nil
	}); err != nil {
		t.Fatal(err)
	}
	cp, err := s.Checkpoint(ctx, 302)
	if err != nil || cp.Size != 302 || string(cp.Note) != "note 302" || cp.Root != h.Root || !cp.Time.Equal(time.Unix(1_700_000_000, 123)) {
		t.Errorf("Checkpoint(302) = %+v, %v, want size 302, note, root %x", cp, err, h.Root)
	}
	if _, err := s.Checkpoint(ctx, 303); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Checkpoint(303) = %v, want ErrNotFound", err)
	}
	if cp, err := s.LatestCheckpoint(ctx); err != nil || cp.Size != 310 {
		t.Errorf("LatestCheckpoint() = size %d, %v, want 310", cp.Size, err)
	}
	cps := []struct {
		from  uint64
		limit int
		want  string
	}{
		{0, 10, "[302 310]"}, {0, 1, "[302]"}, {303, 10, "[310]"}, {311, 10, "[]"}, {0, 0, "[]"},
	}
	for _, tt := range cps {
		got, err := s.Checkpoints(ctx, tt.from, tt.limit)
		var sizes []uint64
		for _, c := range got {
			sizes = append(sizes, c.Size)
		}
		if err != nil || fmt.Sprint(sizes) != tt.want {
			t.Errorf("Checkpoints(%d, %d) = %v, %v, want %s", tt.from, tt.limit, sizes, err, tt.want)
		}
	}
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// diffRecord describes how a record read back differs from the one
// written; refs are write-only.
func diffRecord(got, want ledger.Record) string {
	switch {
	case got.Index != want.Index:
		return fmt.Sprintf("index = %d, want %d", got.Index, want.Index)
	case string(got.Leaf) != string(want.Leaf), got.LeafHash != want.LeafHash:
		return "leaf differs"
	case got.DedupKey != want.DedupKey:
		return "dedup key differs"
	case got.Kind != want.Kind, got.TraceID != want.TraceID:
		return fmt.Sprintf("kind, trace = %s %q, want %s %q", got.Kind, got.TraceID, want.Kind, want.TraceID)
	case !got.Time.Equal(want.Time) || got.Time.IsZero() != want.Time.IsZero():
		return fmt.Sprintf("time = %v, want %v", got.Time, want.Time)
	case len(got.Content) != len(want.Content):
		return fmt.Sprintf("%d contents, want %d", len(got.Content), len(want.Content))
	}
	for i := range got.Content {
		g, w := got.Content[i], want.Content[i]
		if g.Name != w.Name || string(g.Salt) != string(w.Salt) || string(g.Data) != string(w.Data) || g.Data == nil {
			return fmt.Sprintf("content %q differs", w.Name)
		}
	}
	return ""
}

func TestTilesCorrupt(t *testing.T) {
	path := newPath(t)
	s := openStore(t, t.Context(), path)
	appendRecords(t, t.Context(), s, 10)
	db := rawDB(t, path)
	// Someone with the file bypasses the trigger and leaves a gap.
	for _, q := range []string{
		"DROP TRIGGER tiles_contiguous",
		"DROP TRIGGER tiles_covered",
		"INSERT INTO tiles VALUES (0, 0, 12, zeroblob(32))",
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_, err := s.Tiles(t.Context(), []ledger.TileID{{Index: 0}})
	if !errors.Is(err, ledger.ErrCorrupt) {
		t.Fatalf("Tiles(gap) = %v, want ErrCorrupt", err)
	}
}

func TestHeadCorrupt(t *testing.T) {
	tests := []struct {
		name, stmt string
	}{
		{"range", `UPDATE tree_head SET "range" = zeroblob(64)`},
		{"root", `UPDATE tree_head SET root = zeroblob(32)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			s := openStore(t, t.Context(), path)
			if tt.name == "range" {
				appendRecords(t, t.Context(), s, 1)
			}
			// Someone with the file bypasses the trigger.
			for _, q := range []string{"DROP TRIGGER tree_head_consistent", tt.stmt} {
				if _, err := rawDB(t, path).ExecContext(t.Context(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if _, err := s.Head(t.Context()); !errors.Is(err, ledger.ErrCorrupt) {
				t.Fatalf("Head() after %s = %v, want ErrCorrupt", tt.stmt, err)
			}
		})
	}
}

func TestLookupKeysChunked(t *testing.T) {
	s := openStore(t, t.Context(), newPath(t))
	recs := appendRecords(t, t.Context(), s, 1200)
	var keys [][32]byte
	for i := range recs {
		keys = append(keys, recs[i].DedupKey, [32]byte{byte(i), byte(i >> 8), 0xff})
	}
	var existing map[[32]byte]ledger.Existing
	err := s.Update(t.Context(), keys, func(_ ledger.TreeHead, e map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		existing = e
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(existing) != len(recs) {
		t.Fatalf("existing = %d keys, want %d", len(existing), len(recs))
	}
	for i := range recs {
		want := ledger.Existing{Index: uint64(i), Leaf: recs[i].Leaf}
		if got, ok := existing[recs[i].DedupKey]; !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("existing[key of %d] = %+v, %v, want %+v", i, got, ok, want)
		}
	}
}

func TestReady(t *testing.T) {
	s := openStore(t, t.Context(), newPath(t))
	if err := s.Ready(t.Context()); err != nil {
		t.Fatalf("Ready() = %v, want nil", err)
	}
	s2, err := Open(t.Context(), newPath(t))
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if err := s2.Ready(t.Context()); err == nil {
		t.Fatalf("Ready() after Close = nil, want an error")
	}
}

// TestReplaceRefused checks that INSERT OR REPLACE, which deletes the row
// in its way without firing a DELETE trigger, cannot change a row of any
// append-only table, nor the tree head, a token or erasure_guard.
func TestReplaceRefused(t *testing.T) {
	path := newPath(t)
	s := openStore(t, t.Context(), path)
	appendRecords(t, t.Context(), s, 3)
	err := s.Update(t.Context(), nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		return checkpointBatch(h), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := auth.Token{Hash: sha256.Sum256([]byte("ci")), Name: "ci", Role: auth.RoleAuditor, Created: time.Unix(1_700_000_000, 0).UTC()}
	if err := s.CreateToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	before := countRows(t, path)
	db := rawDB(t, path)
	for _, stmt := range []string{
		"INSERT OR REPLACE INTO entries SELECT idx, X'01', leaf_hash, dedup_key, kind, trace_id, time FROM entries WHERE idx = 1",
		"INSERT OR REPLACE INTO entries SELECT 3, leaf, leaf_hash, dedup_key, kind, trace_id, time FROM entries WHERE idx = 1",
		"REPLACE INTO entry_refs SELECT key, value, idx FROM entry_refs",
		"INSERT OR REPLACE INTO content SELECT idx, name, salt, X'00' FROM content WHERE idx = 0",
		"INSERT OR REPLACE INTO tiles SELECT level, idx, start, zeroblob(length(hashes)) FROM tiles",
		"INSERT OR REPLACE INTO checkpoints SELECT size, root, X'00', created_at FROM checkpoints",
		"INSERT OR REPLACE INTO tree_head (id, size, root, \"range\") VALUES (1, 0, zeroblob(32), X'')",
		"INSERT OR REPLACE INTO tokens SELECT hash, name, 'admin', created_at, revoked_at FROM tokens",
		"INSERT OR REPLACE INTO tokens SELECT zeroblob(32), name, 'admin', created_at, NULL FROM tokens",
		"INSERT OR REPLACE INTO erasure_guard VALUES (0)",
	} {
		if _, err := db.ExecContext(t.Context(), stmt); err == nil || !strings.Contains(err.Error(), "agentledger: ") {
			t.Errorf("%s = %v, want refused by a trigger", stmt, err)
		}
	}
	// Within an erasure, its guard row cannot be turned into another.
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO entries (idx, leaf, leaf_hash, dedup_key, kind) VALUES (3, X'01', zeroblob(32), zeroblob(32), 'erasure')",
		"INSERT INTO erasure_guard VALUES (3)",
	} {
		if _, err := tx.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := tx.ExecContext(t.Context(), "UPDATE erasure_guard SET idx = 1"); err == nil || !strings.Contains(err.Error(), "agentledger: ") {
		t.Errorf("UPDATE erasure_guard = %v, want refused by a trigger", err)
	}
	tx.Rollback()
	if after := countRows(t, path); after != before {
		t.Errorf("rows after refused replaces = %s, want %s", after, before)
	}
	got, err := s.LookupToken(t.Context(), tok.Hash)
	if err != nil || got.Role != auth.RoleAuditor {
		t.Errorf("token after refused replaces = %+v, %v, want the auditor token", got, err)
	}
	if h := checkTree(t, t.Context(), s); h.Size != 3 || h.CheckpointSize != 3 {
		t.Errorf("head after refused replaces = size %d checkpoint %d, want 3 and 3", h.Size, h.CheckpointSize)
	}
	appendRecords(t, t.Context(), s, 2)
}

// TestDedupWithoutLookup: while no duplicate arrives, a batch that writes
// every key is written without looking keys up; one that holds a stored
// key is refused by the insert guard and run again with the lookup, which
// finds it; nothing is written twice.
func TestDedupWithoutLookup(t *testing.T) {
	s := openStore(t, t.Context(), newPath(t))
	recs := make([]ledger.Record, 6)
	for i := range recs {
		recs[i] = testRecord(t, uint64(i))
	}
	// appendNew appends those of rs whose keys are not stored, as
	// ledger.Log does, and returns how often fn ran and the keys it found.
	appendNew := func(rs []ledger.Record) (calls, found int) {
		keys := make([][ledger.HashSize]byte, len(rs))
		for i := range rs {
			keys[i] = rs[i].DedupKey
		}
		err := s.Update(t.Context(), keys, func(h ledger.TreeHead, existing map[[ledger.HashSize]byte]ledger.Existing) (*ledger.Batch, error) {
			calls++
			found = len(existing)
			var fresh []ledger.Record
			for _, r := range rs {
				if _, ok := existing[r.DedupKey]; !ok {
					fresh = append(fresh, r)
				}
			}
			return grow(h, fresh)
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		return calls, found
	}
	for _, step := range []struct {
		name                 string
		recs                 []ledger.Record
		wantCalls, wantFound int
		wantSize             uint64
	}{
		{"new keys", recs[0:2], 1, 0, 2},
		{"a stored key", recs[1:4], 2, 1, 4},
		{"new keys after a duplicate", recs[4:6], 1, 0, 6},
		{"a stored key after a duplicate", recs[5:6], 1, 1, 6},
	} {
		calls, found := appendNew(slices.Clone(step.recs))
		if calls != step.wantCalls || found != step.wantFound {
			t.Errorf("%s: fn ran %d times and found %d stored keys, want %d and %d",
				step.name, calls, found, step.wantCalls, step.wantFound)
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
		if r.DedupKey != recs[i].DedupKey {
			t.Errorf("entry %d has dedup key %x, want record %d's %x", i, r.DedupKey, i, recs[i].DedupKey)
		}
	}
}

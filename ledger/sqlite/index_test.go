package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// indexBatch returns a batch of one key state and one map node, labelled
// label, whose note covers size entries.
func indexBatch(size uint64, label byte) *index.Batch {
	var l [ledger.HashSize]byte
	l[0] = label
	var id index.NodeID
	id[0] = 1
	copy(id[2:], l[:])
	return &index.Batch{
		Keys:  []index.KeyState{{Label: l, Size: 1, Range: make([]byte, index.HashSize)}},
		Nodes: []index.Node{{ID: id, Hash: l}},
		Note:  index.Note{Size: size, Note: fmt.Appendf(nil, "note %d\n", size), Time: time.Unix(int64(size), 0).UTC()},
	}
}

// TestUpdateIndexOutsideWriteLock checks that UpdateIndex computes its batch
// without the write lock, on a snapshot, and writes it only if no other
// index writer committed meanwhile: if one did, it calls fn again on a
// newer snapshot.
func TestUpdateIndexOutsideWriteLock(t *testing.T) {
	ctx := t.Context()
	path := newPath(t)
	s := openStore(t, ctx, path)
	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	type call struct {
		size    uint64
		indexed bool
		keys    int // key states of label 5 the snapshot holds
	}
	var calls []call
	err = s.UpdateIndex(ctx, func(tx index.Tx, size uint64, indexed bool) (*index.Batch, error) {
		ks, err := tx.IndexKeys(ctx, [][ledger.HashSize]byte{{5}})
		if err != nil {
			return nil, err
		}
		calls = append(calls, call{size, indexed, len(ks)})
		if len(calls) > 1 {
			return nil, nil
		}
		// The write lock is free while fn runs.
		wtx, err := other.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("BEGIN IMMEDIATE elsewhere during UpdateIndex's fn: %w", err)
		}
		wtx.Rollback()
		// Another index writer commits the note of size 5 meanwhile; fn's
		// snapshot does not see it.
		if err := s.UpdateIndex(ctx, func(index.Tx, uint64, bool) (*index.Batch, error) { return indexBatch(5, 5), nil }); err != nil {
			return nil, err
		}
		if ks, err := tx.IndexKeys(ctx, [][ledger.HashSize]byte{{5}}); err != nil || len(ks) != 0 {
			return nil, fmt.Errorf("IndexKeys in the snapshot after another writer's commit = %d states, %v; want 0, nil", len(ks), err)
		}
		return indexBatch(3, 3), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []call{{0, false, 0}, {5, true, 1}}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("UpdateIndex called fn with (size, indexed, keys) %v, want %v", calls, want)
	}
	notes, err := s.IndexNotes(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []string
	for _, n := range notes {
		sizes = append(sizes, fmt.Sprint(n.Size))
	}
	if got := strings.Join(sizes, " "); got != "5" {
		t.Fatalf("index notes of sizes %q, want \"5\": the batch computed before the other writer's commit was written", got)
	}
	if ks, err := s.IndexKeys(ctx, [][ledger.HashSize]byte{{3}}); err != nil || len(ks) != 0 {
		t.Fatalf("IndexKeys(label 3) = %d states, %v; want 0, nil", len(ks), err)
	}
}

// TestUpdateIndexCancelled checks that a context ending while UpdateIndex
// writes its batch ends the write with the context's error and leaves no
// row of the batch: the rows are written without the context's
// cancellation (writeIndex), the loops check it between rows.
func TestUpdateIndexCancelled(t *testing.T) {
	path := newPath(t)
	s := openStore(t, t.Context(), path)
	b := indexBatch(3, 3)
	for i := range 100_000 {
		var id index.NodeID
		id[0] = 1
		id[2], id[3], id[4] = byte(i>>16), byte(i>>8), byte(i)
		b.Nodes = append(b.Nodes, index.Node{ID: id, Hash: [ledger.HashSize]byte{byte(i)}})
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := s.UpdateIndex(ctx, func(index.Tx, uint64, bool) (*index.Batch, error) {
		// Cancel while the batch is being written: 100 000 rows take
		// far longer than 10 ms.
		go func() {
			time.Sleep(10 * time.Millisecond)
			cancel()
		}()
		return b, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("UpdateIndex(cancelled during write) = %v, want context.Canceled", err)
	}
	db := rawDB(t, path)
	for _, table := range []string{"index_notes", "index_keys", "index_nodes"} {
		var n int
		if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s holds %d rows after a cancelled UpdateIndex, want 0", table, n)
		}
	}
	// The writer connection is still usable.
	if err := s.UpdateIndex(t.Context(), func(index.Tx, uint64, bool) (*index.Batch, error) { return indexBatch(3, 3), nil }); err != nil {
		t.Fatal(err)
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

var ranges = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// newPath returns the path of a database file that does not exist yet.
func newPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "ledger.db")
}

// openStore opens the store at path and closes it when the test ends.
func openStore(t testing.TB, ctx context.Context, path string) *Store {
	t.Helper()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// rawDB opens the file directly with database/sql, as the owner of the file
// would, bypassing the store.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testEntry returns an entry of about 600 leaf bytes with about 1 KB of
// content, for position n of the tree.
func testEntry(n uint64) ledger.Entry {
	pad := strings.Repeat("x", 400)
	return ledger.Entry{
		Kind:    ledger.KindLLM,
		TraceID: fmt.Sprintf("%032x", n/16+1),
		SpanID:  fmt.Sprintf("%016x", n+1),
		Name:    "chat gpt-4o",
		Start:   time.Unix(1_700_000_000, int64(n)).UTC(),
		End:     time.Unix(1_700_000_001, int64(n)).UTC(),
		Attrs: []ledger.Attr{
			{Key: ledger.AttrCredentialID, Value: fmt.Sprintf("jti-%d", n%97)},
			{Key: "gen_ai.request.model", Value: "gpt-4o"},
			{Key: "gen_ai.system_instructions", Value: pad},
		},
		Content: []ledger.Content{
			ledger.NewContent("output.messages", []byte(strings.Repeat("reasoning ", 100))),
		},
	}
}

// testRecord returns the record of testEntry(n) at index n.
func testRecord(tb testing.TB, n uint64) ledger.Record {
	tb.Helper()
	e := testEntry(n)
	leaf, err := ledger.EncodeLeaf(&e)
	if err != nil {
		tb.Fatalf("EncodeLeaf: %v", err)
	}
	return ledger.Record{
		Index:    n,
		Leaf:     leaf,
		LeafHash: ledger.LeafHash(leaf),
		DedupKey: e.DedupKey(),
		Kind:     e.Kind,
		TraceID:  e.TraceID,
		Time:     e.Start,
		Refs:     ledger.RefsOf(&e),
		Content:  e.Content,
	}
}

// grow returns the batch that appends recs, numbered from head.Size, to the
// tree of head: the new head and the tile hashes the append completes, as
// the ledger computes them.
func grow(head ledger.TreeHead, recs []ledger.Record) (*ledger.Batch, error) {
	cr, err := ranges.NewRange(0, head.Size, head.Range)
	if err != nil {
		return nil, err
	}
	var segs []ledger.TileSegment
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level%ledger.TileHeight != 0 {
			return
		}
		tile := ledger.TileID{Level: uint8(id.Level / ledger.TileHeight), Index: id.Index / ledger.TileWidth}
		pos := int(id.Index % ledger.TileWidth)
		for i := len(segs) - 1; i >= 0; i-- {
			if s := &segs[i]; s.Tile == tile && s.Start+len(s.Hashes)/ledger.HashSize == pos {
				s.Hashes = append(s.Hashes, hash...)
				return
			}
		}
		segs = append(segs, ledger.TileSegment{Tile: tile, Start: pos, Hashes: append([]byte(nil), hash...)})
	}
	for i := range recs {
		recs[i].Index = head.Size + uint64(i)
		if err := cr.Append(recs[i].LeafHash[:], visit); err != nil {
			return nil, err
		}
	}
	next := head
	next.Size = cr.End()
	next.Range = cr.Hashes()
	next.Root = ledger.EmptyRoot()
	if next.Size > 0 {
		root, err := cr.GetRootHash(nil)
		if err != nil {
			return nil, err
		}
		copy(next.Root[:], root)
	}
	return &ledger.Batch{Records: recs, Tiles: segs, Head: next}, nil
}

// appendRecords appends n test records and returns them as appended.
func appendRecords(t testing.TB, ctx context.Context, s ledger.Store, n int) []ledger.Record {
	t.Helper()
	var out []ledger.Record
	err := s.Update(ctx, nil, func(head ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		recs := make([]ledger.Record, n)
		for i := range recs {
			recs[i] = testRecord(t, head.Size+uint64(i))
		}
		out = recs
		return grow(head, recs)
	})
	if err != nil {
		t.Fatalf("Update(append %d): %v", n, err)
	}
	return out
}

// checkTree checks that the stored entries are 0…size-1 of the tree head
// and that the head's root and range, and the level-0 tiles, are those of
// their leaf hashes.
func checkTree(t testing.TB, ctx context.Context, s ledger.Reader) ledger.TreeHead {
	t.Helper()
	h, err := s.Head(ctx)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	recs, err := s.Records(ctx, 0, h.Size+10)
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	if uint64(len(recs)) != h.Size {
		t.Fatalf("Records(0, %d) = %d records, want tree size %d", h.Size+10, len(recs), h.Size)
	}
	var leaves []byte
	for i := range recs {
		if recs[i].Index != uint64(i) {
			t.Fatalf("record %d has index %d", i, recs[i].Index)
		}
		leaves = append(leaves, recs[i].LeafHash[:]...)
	}
	b, err := grow(ledger.EmptyHead(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if b.Head.Root != h.Root || fmt.Sprintf("%x", b.Head.Range) != fmt.Sprintf("%x", h.Range) {
		t.Fatalf("head root %x, recomputed from the leaves %x", h.Root, b.Head.Root)
	}
	var ids []ledger.TileID
	for i := uint64(0); i*ledger.TileWidth < h.Size; i++ {
		ids = append(ids, ledger.TileID{Index: i})
	}
	tiles, err := s.Tiles(ctx, ids)
	if err != nil {
		t.Fatalf("Tiles: %v", err)
	}
	var got []byte
	for _, id := range ids {
		got = append(got, tiles[id]...)
	}
	if string(got) != string(leaves) {
		t.Fatalf("level-0 tiles hold %d hashes, not the %d leaf hashes", len(got)/32, len(leaves)/32)
	}
	return h
}

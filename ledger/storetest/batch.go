package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// grown returns h grown by the leaf hashes lhs, and the tile segments that
// growth writes.
func grown(t *testing.T, h ledger.TreeHead, lhs ...[32]byte) (ledger.TreeHead, []ledger.TileSegment) {
	t.Helper()
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	cr, err := rf.NewRange(0, h.Size, h.Range)
	if err != nil {
		t.Fatal(err)
	}
	var segs []ledger.TileSegment
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level%ledger.TileHeight != 0 {
			return
		}
		tile := ledger.TileID{Level: uint8(id.Level / ledger.TileHeight), Index: id.Index / ledger.TileWidth}
		pos := int(id.Index % ledger.TileWidth)
		for i := range segs {
			if segs[i].Tile == tile && segs[i].Start+len(segs[i].Hashes)/ledger.HashSize == pos {
				segs[i].Hashes = append(segs[i].Hashes, hash...)
				return
			}
		}
		segs = append(segs, ledger.TileSegment{Tile: tile, Start: pos, Hashes: append([]byte(nil), hash...)})
	}
	for _, lh := range lhs {
		if err := cr.Append(lh[:], visit); err != nil {
			t.Fatal(err)
		}
	}
	root, err := cr.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	next := h
	next.Size = cr.End()
	copy(next.Root[:], root)
	next.Range = cr.Hashes()
	return next, segs
}

// testInvalidBatch: Update refuses, with ErrInvalid and writing nothing,
// every batch that Batch.Check refuses.
func testInvalidBatch(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	appendN(t, l, 9, 0, 3)
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(h ledger.TreeHead, b *ledger.Batch)
	}{
		{"gap in the indices", func(h ledger.TreeHead, b *ledger.Batch) { b.Records[0].Index++ }},
		{"empty leaf", func(h ledger.TreeHead, b *ledger.Batch) { b.Records[0].Leaf = nil }},
		{"unknown kind", func(h ledger.TreeHead, b *ledger.Batch) { b.Records[0].Kind = "bogus" }},
		{"content without salt", func(h ledger.TreeHead, b *ledger.Batch) {
			b.Records[0].Content = []ledger.Content{{Name: "output", Data: []byte("x")}}
		}},
		{"head size", func(h ledger.TreeHead, b *ledger.Batch) { b.Head.Size++ }},
		{"range shape", func(h ledger.TreeHead, b *ledger.Batch) { b.Head.Range = b.Head.Range[1:] }},
		{"range hash size", func(h ledger.TreeHead, b *ledger.Batch) { b.Head.Range[0] = b.Head.Range[0][:31] }},
		{"root of the same size", func(h ledger.TreeHead, b *ledger.Batch) {
			*b = ledger.Batch{Head: h}
			b.Head.Root[0] ^= 1
		}},
		{"tile past its end", func(h ledger.TreeHead, b *ledger.Batch) { b.Tiles[0].Start = ledger.TileWidth }},
		{"empty tile segment", func(h ledger.TreeHead, b *ledger.Batch) { b.Tiles[0].Hashes = nil }},
		{"checkpoint the head does not record", func(h ledger.TreeHead, b *ledger.Batch) {
			b.Checkpoint = &ledger.Checkpoint{Size: b.Head.Size, Root: b.Head.Root, Note: []byte("note"), Time: time.Now()}
		}},
		{"checkpoint beyond the head", func(h ledger.TreeHead, b *ledger.Batch) {
			now := time.Now()
			b.Checkpoint = &ledger.Checkpoint{Size: b.Head.Size + 1, Root: b.Head.Root, Note: []byte("note"), Time: now}
			b.Head.Checkpointed, b.Head.CheckpointSize, b.Head.CheckpointTime = true, b.Head.Size+1, now
		}},
		{"head changes the checkpoint", func(h ledger.TreeHead, b *ledger.Batch) { b.Head.CheckpointSize++ }},
		{"erasure without an erasure entry", func(h ledger.TreeHead, b *ledger.Batch) {
			b.Erase = []ledger.ContentRef{{Index: 0}}
		}},
		{"erasure with two erasure entries", func(h ledger.TreeHead, b *ledger.Batch) {
			two := oneRecordBatch(t, b.Head)
			b.Records = append(b.Records, two.Records[0])
			b.Head, b.Tiles = grown(t, h, b.Records[0].LeafHash, b.Records[1].LeafHash)
			b.Records[0].Kind, b.Records[1].Kind = ledger.KindErasure, ledger.KindErasure
			b.Erase = []ledger.ContentRef{{Index: 0}}
		}},
		{"erasure beyond the head", func(h ledger.TreeHead, b *ledger.Batch) {
			b.Records[0].Kind = ledger.KindErasure
			b.Erase = []ledger.ContentRef{{Index: h.Size}}
		}},
	}
	for _, tt := range tests {
		before := head(t, s)
		err := s.Update(t.Context(), nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			b := oneRecordBatch(t, h)
			if err := b.Check(h); err != nil {
				t.Fatalf("%s: the batch before breaking it: %v", tt.name, err)
			}
			tt.mutate(h, b)
			return b, nil
		})
		if !errors.Is(err, ledger.ErrInvalid) {
			t.Errorf("Update(%s) = %v, want ErrInvalid", tt.name, err)
		}
		if after := head(t, s); after.Size != before.Size || after.Root != before.Root || after.CheckpointSize != before.CheckpointSize {
			t.Fatalf("Update(%s) changed the head: %d %x -> %d %x", tt.name, before.Size, before.Root, after.Size, after.Root)
		}
	}
}

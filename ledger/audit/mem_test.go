package audit_test

import (
	"context"
	"testing"

	"github.com/agentledger/agentledger/ledger"
)

// memReader is a ledger.Reader over records, tiles and checkpoints copied
// into memory, to measure the audit without the store.
type memReader struct {
	head  ledger.TreeHead
	recs  []ledger.Record
	tiles map[ledger.TileID][]byte
	cps   []ledger.Checkpoint
}

// loadMem copies everything the audit reads from r into memory.
func loadMem(t testing.TB, r ledger.Reader) *memReader {
	t.Helper()
	ctx := t.Context()
	m := &memReader{tiles: make(map[ledger.TileID][]byte)}
	var err error
	if m.head, err = r.Head(ctx); err != nil {
		t.Fatal(err)
	}
	if m.recs, err = r.Records(ctx, 0, m.head.Size); err != nil {
		t.Fatal(err)
	}
	var ids []ledger.TileID
	for l, n := uint8(0), m.head.Size; n > 0; l, n = l+1, n/ledger.TileWidth {
		for i := uint64(0); i < (n+ledger.TileWidth-1)/ledger.TileWidth; i++ {
			ids = append(ids, ledger.TileID{Level: l, Index: i})
		}
	}
	if m.tiles, err = r.Tiles(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if m.cps, err = r.Checkpoints(ctx, 0, 1<<30); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *memReader) Head(context.Context) (ledger.TreeHead, error) { return m.head, nil }

func (m *memReader) Tiles(_ context.Context, ids []ledger.TileID) (map[ledger.TileID][]byte, error) {
	out := make(map[ledger.TileID][]byte)
	for _, id := range ids {
		if t, ok := m.tiles[id]; ok {
			out[id] = t
		}
	}
	return out, nil
}

func (m *memReader) Records(_ context.Context, start, end uint64) ([]ledger.Record, error) {
	end = min(end, uint64(len(m.recs)))
	if start >= end {
		return nil, nil
	}
	return m.recs[start:end], nil
}

func (m *memReader) RecordsAt(context.Context, []uint64) ([]ledger.Record, error) {
	panic("not used by the audit")
}

func (m *memReader) Find(context.Context, ledger.Ref, uint64, int) ([]uint64, error) {
	panic("not used by the audit")
}

func (m *memReader) FindMany(context.Context, []ledger.FindQuery) ([]ledger.Found, error) {
	panic("not used by the audit")
}

func (m *memReader) Checkpoint(context.Context, uint64) (ledger.Checkpoint, error) {
	panic("not used by the audit")
}

func (m *memReader) LatestCheckpoint(context.Context) (ledger.Checkpoint, error) {
	panic("not used by the audit")
}

func (m *memReader) Checkpoints(_ context.Context, from uint64, limit int) ([]ledger.Checkpoint, error) {
	var out []ledger.Checkpoint
	for _, cp := range m.cps {
		if cp.Size >= from && len(out) < limit {
			out = append(out, cp)
		}
	}
	return out, nil
}

package readreplica

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
)

// newLedger returns a Postgres store and a log on it that signs
// checkpoints only when asked.
func newLedger(t *testing.T) (*postgres.Store, *ledger.Log) {
	t.Helper()
	store, err := postgres.Open(t.Context(), pgtest.NewSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	skey, _, err := ledger.GenerateKey("readreplica.test/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(store, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return store, l
}

func appendSpans(t *testing.T, l *ledger.Log, from, n int) {
	t.Helper()
	var es []ledger.Entry
	for i := from; i < from+n; i++ {
		es = append(es, ledger.Entry{Kind: ledger.KindSpan, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
			SpanID: fmt.Sprintf("%016x", i+1), Name: "step", Start: time.Unix(1700000000, 0)})
	}
	if _, err := l.Append(t.Context(), es); err != nil {
		t.Fatal(err)
	}
}

// TestReaderBoundedByCheckpoint: entries appended after the latest
// checkpoint are invisible through the Reader: the head, records, finds,
// tiles and checkpoints all stop at the checkpoint.
func TestReaderBoundedByCheckpoint(t *testing.T) {
	store, l := newLedger(t)
	appendSpans(t, l, 0, 300)
	cp, err := l.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	appendSpans(t, l, 300, 100)
	if h, err := store.Head(t.Context()); err != nil || h.Size != 400 || cp.Size != 300 {
		t.Fatalf("store head %d, checkpoint %d, %v; want 400 and 300", h.Size, cp.Size, err)
	}
	r := NewReader(store)
	ctx := t.Context()

	h, err := r.Head(ctx)
	if err != nil || h.Size != 300 || h.Root != cp.Root {
		t.Fatalf("Head = size %d, %v; want the checkpoint's size 300 and root", h.Size, err)
	}
	if got, err := r.LatestCheckpoint(ctx); err != nil || got.Size != 300 {
		t.Fatalf("LatestCheckpoint = %d, %v; want 300", got.Size, err)
	}
	recs, err := r.Records(ctx, 250, 1000)
	if err != nil || len(recs) != 50 || recs[49].Index != 299 {
		t.Fatalf("Records(250, 1000) = %d records, %v; want 250 to 299", len(recs), err)
	}
	if recs, err := r.Records(ctx, 300, 400); err != nil || len(recs) != 0 {
		t.Fatalf("Records(300, 400) = %d records, %v; want none", len(recs), err)
	}
	recs, err = r.RecordsAt(ctx, []uint64{0, 299, 300, 399})
	if err != nil || len(recs) != 2 || recs[1].Index != 299 {
		t.Fatalf("RecordsAt(0, 299, 300, 399) = %d records, %v; want 0 and 299", len(recs), err)
	}
	kind := ledger.Ref{Key: ledger.RefKind, Value: string(ledger.KindSpan)}
	idx, err := r.Find(ctx, kind, 290, 50)
	if err != nil || len(idx) != 10 || idx[9] != 299 {
		t.Fatalf("Find(kind span, from 290) = %v, %v; want 290 to 299", idx, err)
	}
	if idx, err := r.Find(ctx, kind, 300, 50); err != nil || len(idx) != 0 {
		t.Fatalf("Find(kind span, from 300) = %v, %v; want none", idx, err)
	}

	found, err := r.FindMany(ctx, []ledger.FindQuery{{Ref: kind, From: 290, Limit: 50}, {Ref: kind, From: 0, Limit: 10}, {Ref: kind, From: 350, Limit: 10}})
	if err != nil || len(found) != 3 {
		t.Fatalf("FindMany = %v, %v", found, err)
	}
	if f := found[0]; len(f.Indices) != 10 || f.Indices[9] != 299 || f.More {
		t.Errorf("FindMany from 290, limit 50 = %+v; want 290 to 299 and no more", f)
	}
	if f := found[1]; len(f.Indices) != 10 || !f.More || f.Next != 10 {
		t.Errorf("FindMany from 0, limit 10 = %+v; want 0 to 9 and more from 10", f)
	}
	if f := found[2]; len(f.Indices) != 0 || f.More {
		t.Errorf("FindMany from 350 = %+v; want nothing", f)
	}

	tiles, err := r.Tiles(ctx, []ledger.TileID{{Level: 0, Index: 0}, {Level: 0, Index: 1}, {Level: 1, Index: 0}, {Level: 0, Index: 2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id     ledger.TileID
		hashes int
	}{{ledger.TileID{Level: 0, Index: 0}, 256}, {ledger.TileID{Level: 0, Index: 1}, 44}, {ledger.TileID{Level: 1, Index: 0}, 1}, {ledger.TileID{Level: 0, Index: 2}, 0}} {
		if got := len(tiles[tc.id]) / ledger.HashSize; got != tc.hashes {
			t.Errorf("tile %d/%d has %d hashes, want %d at size 300", tc.id.Level, tc.id.Index, got, tc.hashes)
		}
	}
	if proof, err := ledger.InclusionProof(ctx, r, 299, 300); err != nil || len(proof) == 0 {
		t.Errorf("inclusion proof of 299 at 300 = %d hashes, %v", len(proof), err)
	}

	cp2, err := l.Checkpoint(ctx)
	if err != nil || cp2.Size != 400 {
		t.Fatalf("second checkpoint %d, %v; want 400", cp2.Size, err)
	}
	if h, err := r.Head(ctx); err != nil || h.Size != 400 {
		t.Fatalf("Head after the checkpoint of 400 = %d, %v; want 400", h.Size, err)
	}
}

// TestMiddlewarePinsOneCheckpoint: within one request every read sees the
// checkpoint of the request's first read, even when a newer one is signed
// meanwhile, and the answer names it; the next request sees the newer.
func TestMiddlewarePinsOneCheckpoint(t *testing.T) {
	store, l := newLedger(t)
	appendSpans(t, l, 0, 10)
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := NewReader(store)
	var sizes []uint64
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := req.Context()
		first, err := r.Head(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		appendSpans(t, l, int(first.Size), 5)
		if _, err := l.Checkpoint(ctx); err != nil {
			t.Error(err)
			return
		}
		later, err := r.Head(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		if later.Size != first.Size {
			t.Errorf("second read of one request at size %d, the first at %d", later.Size, first.Size)
		}
		if _, err := r.Checkpoint(ctx, first.Size+5); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("checkpoint beyond the request's: %v, want ErrNotFound", err)
		}
		sizes = append(sizes, first.Size)
	}))
	for _, want := range []string{"10", "15"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/log", nil))
		if got := rec.Header().Get(CheckpointHeader); got != want {
			t.Errorf("%s = %q, want %s", CheckpointHeader, got, want)
		}
	}
	if len(sizes) != 2 || sizes[0] != 10 || sizes[1] != 15 {
		t.Fatalf("requests read at sizes %v, want [10 15]", sizes)
	}
}

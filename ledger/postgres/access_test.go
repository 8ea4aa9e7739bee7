package postgres_test

import (
	"context"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
)

// TestUpdateNow writes the same batches with Update into one store and
// with UpdateNow into another, and finds the same head, entries, content,
// references, tiles and checkpoints in both: small batches (one of an entry
// without a time), one larger than UpdateNow writes with INSERT, a
// checkpoint and an erasure.
func TestUpdateNow(t *testing.T) {
	t.Parallel()
	viaUpdate, _ := openStore(t)
	viaNow, _ := openStore(t)
	noTime := record(3, ledger.KindAccess)
	noTime.Time = time.Time{}
	steps := []struct {
		name string
		mk   func(h ledger.TreeHead) *ledger.Batch
	}{
		{"three entries", func(h ledger.TreeHead) *ledger.Batch { return grow(h, records(0, 3)) }},
		{"an entry without a time", func(h ledger.TreeHead) *ledger.Batch { return grow(h, []ledger.Record{noTime}) }},
		{"a large batch", func(h ledger.TreeHead) *ledger.Batch { return grow(h, records(4, 300)) }},
		{"a checkpoint", func(h ledger.TreeHead) *ledger.Batch { return withCheckpoint(&ledger.Batch{Head: h}, testTime) }},
		{"one entry", func(h ledger.TreeHead) *ledger.Batch { return grow(h, records(304, 1)) }},
		{"an erasure", func(h ledger.TreeHead) *ledger.Batch {
			b := grow(h, []ledger.Record{record(h.Size, ledger.KindErasure)})
			b.Erase = []ledger.ContentRef{{Index: 1, Name: "input"}}
			return b
		}},
	}
	for _, st := range steps {
		fn := func(h ledger.TreeHead, _ map[[ledger.HashSize]byte]ledger.Existing) (*ledger.Batch, error) {
			return st.mk(h), nil
		}
		if err := viaUpdate.Update(t.Context(), nil, fn); err != nil {
			t.Fatalf("%s: Update: %v", st.name, err)
		}
		if err := viaNow.UpdateNow(t.Context(), nil, fn); err != nil {
			t.Fatalf("%s: UpdateNow: %v", st.name, err)
		}
	}
	ctx := t.Context()
	for _, read := range []struct {
		name string
		f    func(s *postgres.Store) (any, error)
	}{
		{"Head", func(s *postgres.Store) (any, error) { return s.Head(ctx) }},
		{"Records", func(s *postgres.Store) (any, error) { return s.Records(ctx, 0, 1000) }},
		{"Find trace", func(s *postgres.Store) (any, error) {
			return s.Find(ctx, ledger.Ref{Key: "trace", Value: record(1, ledger.KindSpan).TraceID}, 0, 10)
		}},
		{"Find agent", func(s *postgres.Store) (any, error) {
			return s.Find(ctx, ledger.Ref{Key: "agent", Value: "agent-0"}, 0, 1000)
		}},
		{"Tiles", func(s *postgres.Store) (any, error) {
			return s.Tiles(ctx, []ledger.TileID{{Index: 0}, {Index: 1}})
		}},
		{"Checkpoints", func(s *postgres.Store) (any, error) { return s.Checkpoints(ctx, 0, 10) }},
	} {
		want, err := read.f(viaUpdate)
		if err != nil {
			t.Fatalf("%s after Update: %v", read.name, err)
		}
		got, err := read.f(viaNow)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s after UpdateNow = %+v, %v; want %+v as after Update", read.name, got, err, want)
		}
	}
	recs, err := viaNow.RecordsAt(ctx, []uint64{3})
	if err != nil || len(recs) != 1 || !recs[0].Time.IsZero() {
		t.Errorf("RecordsAt(3) = %+v, %v; want one entry without a time", recs, err)
	}
}

// TestUpdateNowRoundTrips counts the statements UpdateNow sends for one
// entry with references and content: two pipelines, where Update sends a
// pipeline, a COPY for each of three tables and a pipeline.
func TestUpdateNowRoundTrips(t *testing.T) {
	t.Parallel()
	var rt statements
	s, err := postgres.New(t.Context(), postgres.Config{DSN: pgtest.NewSchema(t), Tracer: &rt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range 3 {
		before := rt.n.Load()
		err := s.UpdateNow(t.Context(), [][ledger.HashSize]byte{record(uint64(i), ledger.KindAccess).DedupKey},
			func(h ledger.TreeHead, _ map[[ledger.HashSize]byte]ledger.Existing) (*ledger.Batch, error) {
				return grow(h, []ledger.Record{record(h.Size, ledger.KindAccess)}), nil
			})
		if err != nil {
			t.Fatalf("UpdateNow %d: %v", i, err)
		}
		if n := rt.n.Load() - before; n != 2 {
			t.Errorf("UpdateNow %d sent %d statements or pipelines, want 2", i, n)
		}
	}
}

// statements counts the statements, pipelines and copies pgx sends.
type statements struct{ n atomic.Int64 }

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	s.n.Add(1)
	return ctx
}
func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (s *statements) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	s.n.Add(1)
	return ctx
}
func (s *statements) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (s *statements) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (s *statements) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	s.n.Add(1)
	return ctx
}
func (s *statements) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// BenchmarkAccessEntry times the transaction of one entry as AppendNow
// commits it, with Update (COPY) and with UpdateNow (INSERT in the
// committing pipeline), beside the durable commit floor (a transaction
// that writes one WAL record, so that its commit waits for the WAL flush,
// in one round trip), alternating one of each per iteration so that all
// see the same load, and reports the p50 and p99 of each.
func BenchmarkAccessEntry(b *testing.B) {
	dsn := pgtest.NewSchema(b)
	s, err := postgres.Open(b.Context(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	floor, err := pgxpool.New(b.Context(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(floor.Close)
	one := func(update func(context.Context, [][ledger.HashSize]byte, ledger.UpdateFunc) error) func() error {
		return func() error {
			return update(b.Context(), nil, func(h ledger.TreeHead, _ map[[ledger.HashSize]byte]ledger.Existing) (*ledger.Batch, error) {
				return grow(h, benchRecords(h.Size, 1)), nil
			})
		}
	}
	ways := []struct {
		name string
		run  func() error
	}{
		{"update", one(s.Update)},
		{"update_now", one(s.UpdateNow)},
		{"durable_commit_floor", func() error {
			var batch pgx.Batch
			batch.Queue(`BEGIN`)
			batch.Queue(`SELECT pg_logical_emit_message(true, 'agentledger-bench', '')`)
			batch.Queue(`COMMIT`)
			return floor.SendBatch(b.Context(), &batch).Close()
		}},
	}
	lat := make([][]time.Duration, len(ways))
	b.ResetTimer()
	for range b.N {
		for i, w := range ways {
			start := time.Now()
			err := w.run()
			lat[i] = append(lat[i], time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	for i, w := range ways {
		slices.Sort(lat[i])
		q := func(p float64) float64 {
			return float64(lat[i][int(p*float64(len(lat[i])-1))]) / float64(time.Millisecond)
		}
		b.ReportMetric(q(0.5), w.name+"-p50-ms")
		b.ReportMetric(q(0.99), w.name+"-p99-ms")
	}
}

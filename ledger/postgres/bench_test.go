package postgres_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
)

var benchBatches = []int{1, 100, 1000}

// benchRecords returns n span records of about 1 KB numbered from start,
// each with two pieces of content and three references.
func benchRecords(start uint64, n int) []ledger.Record {
	recs := make([]ledger.Record, n)
	for i, e := range benchEntries(start, n) {
		leaf, err := ledger.EncodeLeaf(&e)
		if err != nil {
			panic(err)
		}
		recs[i] = ledger.Record{
			Index: start + uint64(i), Leaf: leaf, LeafHash: ledger.LeafHash(leaf), DedupKey: e.DedupKey(),
			Kind: e.Kind, TraceID: e.TraceID, Time: e.Start, Content: e.Content,
			Refs: []ledger.Ref{{Key: "trace", Value: e.TraceID}, {Key: "kind", Value: "span"}, {Key: "agent", Value: "a"}},
		}
	}
	return recs
}

// benchEntries returns n agent-shaped span entries of about 1 KB (600
// bytes of leaf, two pieces of content) numbered from start, 64 to a trace.
func benchEntries(start uint64, n int) []ledger.Entry {
	es := make([]ledger.Entry, n)
	pad := strings.Repeat("x", 400)
	for i := range es {
		id := make([]byte, 8)
		rand.Read(id)
		es[i] = ledger.Entry{
			Kind:    ledger.KindSpan,
			TraceID: fmt.Sprintf("%032x", (start+uint64(i))/64+1),
			SpanID:  fmt.Sprintf("%016x", id),
			Name:    "chat",
			Start:   time.Now().UTC(),
			Attrs:   []ledger.Attr{{Key: "gen_ai.request.model", Value: "model"}, {Key: ledger.AttrAgentID, Value: "a"}, {Key: "pad", Value: pad}},
			Content: []ledger.Content{ledger.NewContent("input", []byte(pad)), ledger.NewContent("output", []byte(pad))},
		}
	}
	return es
}

// BenchmarkAppend measures the whole write path, ledger.Log.Append (leaf
// encoding, group commit, dedup probe, tree tiles, head, one transaction),
// one call of n entries at a time, against the same rows written with bare
// COPY into equally indexed tables with no tree work, one transaction per
// batch. The two alternate, so load from elsewhere weighs on both alike;
// ratio is Append's throughput over the baseline's.
func BenchmarkAppend(b *testing.B) {
	for _, n := range benchBatches {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s, err := postgres.Open(b.Context(), pgtest.NewSchema(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			skey, _, err := ledger.GenerateKey("bench.example/log")
			if err != nil {
				b.Fatal(err)
			}
			signer, err := ledger.NewSigner(skey)
			if err != nil {
				b.Fatal(err)
			}
			l, err := ledger.Open(s, ledger.Config{Signer: signer})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close(context.Background())
			baseline := pgtest.NewBaseline(b)
			var (
				size             uint64
				appended, copied time.Duration
			)
			for b.Loop() {
				es := benchEntries(size, n)
				start := time.Now()
				if _, err := l.Append(b.Context(), es); err != nil {
					b.Fatal(err)
				}
				appended += time.Since(start)
				recs := benchRecords(size, n)
				start = time.Now()
				baseline.Copy(b, recs)
				copied += time.Since(start)
				size += uint64(n)
			}
			b.ReportMetric(float64(size)/appended.Seconds(), "entries/s")
			b.ReportMetric(float64(size)/copied.Seconds(), "copy-entries/s")
			b.ReportMetric(copied.Seconds()/appended.Seconds(), "ratio")
		})
	}
}

// BenchmarkUpdate measures the store alone: one Update per batch (dedup
// probe, COPY of entries, references and content, tiles, head), against a
// baseline that writes the same rows with bare COPY, one transaction per
// batch, into equally indexed tables. The two alternate, so that load from
// elsewhere weighs on both alike; ratio is the store's throughput over the
// baseline's.
func BenchmarkUpdate(b *testing.B) {
	for _, n := range benchBatches {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s, err := postgres.Open(b.Context(), pgtest.NewSchema(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			baseline := pgtest.NewBaseline(b)
			var (
				size          uint64
				store, copied time.Duration
			)
			for b.Loop() {
				recs := benchRecords(size, n)
				keys := make([][ledger.HashSize]byte, n)
				for i := range recs {
					keys[i] = recs[i].DedupKey
				}
				start := time.Now()
				err := s.Update(b.Context(), keys, func(h ledger.TreeHead, _ map[[ledger.HashSize]byte]ledger.Existing) (*ledger.Batch, error) {
					return grow(h, recs), nil
				})
				if err != nil {
					b.Fatal(err)
				}
				store += time.Since(start)
				recs = benchRecords(size, n)
				start = time.Now()
				baseline.Copy(b, recs)
				copied += time.Since(start)
				size += uint64(n)
			}
			b.ReportMetric(float64(size)/store.Seconds(), "entries/s")
			b.ReportMetric(float64(size)/copied.Seconds(), "copy-entries/s")
			b.ReportMetric(copied.Seconds()/store.Seconds(), "ratio")
		})
	}
}

package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// BenchmarkUpdate appends batches of realistic records (a leaf of about
// 600 bytes, 1 KB of content, 2 refs) with their tile hashes, one Update per
// batch, and reports entries per second. synchronous=NORMAL is measured
// beside the store's FULL for comparison.
func BenchmarkUpdate(b *testing.B) {
	// A pool of distinct records; each append gives one a fresh dedup key
	// and trace ID.
	pool := make([]ledger.Record, 256)
	for i := range pool {
		pool[i] = testRecord(b, uint64(i))
	}
	credentials := make([]string, 8)
	for i := range credentials {
		credentials[i] = fmt.Sprintf("jti-%d", i)
	}
	if n := len(pool[0].Leaf); n < 550 || n > 650 {
		b.Fatalf("leaf of %d bytes, want about 600", n)
	}
	for _, sync := range []string{syncFull, syncNormal} {
		for _, batch := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", sync, batch), func(b *testing.B) {
				s, err := open(b.Context(), newPath(b), sync)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				// The ledger's appender commits with a context that is never
				// cancelled.
				ctx := context.Background()
				recs := make([]ledger.Record, batch)
				keys := make([][32]byte, batch)
				var seq uint64
				fn := func(h ledger.TreeHead, existing map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
					if len(existing) != 0 {
						return nil, fmt.Errorf("%d keys exist", len(existing))
					}
					return grow(h, recs)
				}
				n := 0
				for b.Loop() {
					for i := range recs {
						pos := seq + uint64(i)
						recs[i] = pool[pos%uint64(len(pool))]
						// A fresh random trace ID every 16 entries, as agent
						// runs produce them, and one of 8 credentials. The
						// dedup key starts with the trace ID, as
						// ledger.Entry.DedupKey makes it.
						trace := sha256.Sum256(binary.BigEndian.AppendUint64(nil, pos/16))
						sum := sha256.Sum256(binary.BigEndian.AppendUint64(nil, pos))
						copy(keys[i][:8], trace[:8])
						copy(keys[i][8:], sum[:24])
						recs[i].DedupKey = keys[i]
						recs[i].TraceID = hex.EncodeToString(trace[:16])
						recs[i].Refs = []ledger.Ref{
							{Key: ledger.RefTrace, Value: recs[i].TraceID},
							{Key: ledger.RefCredential, Value: credentials[pos%uint64(len(credentials))]},
						}
					}
					seq += uint64(batch)
					if err := s.Update(ctx, keys, fn); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

// benchLog returns a new store in a file of its own, a signer and a Log of
// the store with cfg and that signer, all closed when b ends.
func benchLog(b *testing.B, cfg ledger.Config) (*Store, *ledger.Signer, *ledger.Log) {
	b.Helper()
	s, err := Open(b.Context(), newPath(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	skey, _, err := ledger.GenerateKey("bench.example/log")
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Signer = signer
	l, err := ledger.Open(s, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close(context.Background()) })
	return s, signer, l
}

// BenchmarkAppend measures the whole write path on the embedded store,
// ledger.Log.Append (leaf encoding, dedup probe, tree tiles, head, one
// durable transaction with synchronous=FULL), one call of n agent-shaped
// entries (about 600 bytes of leaf, 800 bytes of content) at a time.
func BenchmarkAppend(b *testing.B) {
	pad := strings.Repeat("x", 400)
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			_, _, l := benchLog(b, ledger.Config{})
			var seq uint64
			for b.Loop() {
				es := make([]ledger.Entry, n)
				for i := range es {
					es[i] = ledger.Entry{
						Kind:    ledger.KindLLM,
						TraceID: fmt.Sprintf("%032x", sha256.Sum256(binary.BigEndian.AppendUint64(nil, seq/16)))[:32],
						SpanID:  fmt.Sprintf("%016x", seq+1),
						Name:    "chat",
						Start:   time.Now().UTC(),
						Attrs:   []ledger.Attr{{Key: "gen_ai.request.model", Value: "model"}, {Key: ledger.AttrAgentID, Value: "a"}, {Key: "pad", Value: pad}},
						Content: []ledger.Content{ledger.NewContent("input", []byte(pad)), ledger.NewContent("output", []byte(pad))},
					}
					seq++
				}
				if _, err := l.Append(b.Context(), es); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// timedIndexStore times what UpdateIndex's function takes (reading key
// states and map nodes, hashing the map, signing the note) apart from the
// whole call.
type timedIndexStore struct {
	*Store
	fn, total   time.Duration
	keys, nodes int // written
}

func (s *timedIndexStore) UpdateIndex(ctx context.Context, fn func(tx index.Tx, size uint64, indexed bool) (*index.Batch, error)) error {
	start := time.Now()
	err := s.Store.UpdateIndex(ctx, func(tx index.Tx, size uint64, indexed bool) (*index.Batch, error) {
		t := time.Now()
		b, err := fn(tx, size, indexed)
		s.fn += time.Since(t)
		if b != nil {
			s.keys, s.nodes = s.keys+len(b.Keys), s.nodes+len(b.Nodes)
		}
		return b, err
	})
	s.total += time.Since(start)
	return err
}

// BenchmarkIndexStep measures one index step of 16 000 agent-shaped
// entries (a trace of 8 spans, one of 100 agents, 10 000 credentials and
// 20 targets, as the load benchmark's), on a ledger of 100 000 indexed
// entries and growing, and reports the time its function takes (fn-ms:
// reads, map hashing and signing, which UpdateIndex runs on a snapshot,
// outside the write lock) and the rest (write-ms: the write transaction,
// during which appends wait).
func BenchmarkIndexStep(b *testing.B) {
	s, signer, l := benchLog(b, ledger.Config{CheckpointInterval: time.Hour})
	ts := &timedIndexStore{Store: s}
	x := index.NewIndexer(ts, signer)
	r := rand.New(rand.NewPCG(1, 2))
	pad := strings.Repeat("x", 400)
	var seq uint64
	step := func(n int) {
		for range n / 1000 {
			es := make([]ledger.Entry, 1000)
			for i := range es {
				es[i] = ledger.Entry{
					Kind: ledger.KindAPICall, TraceID: fmt.Sprintf("%032x", seq/8+1), SpanID: fmt.Sprintf("%016x", seq+1),
					Name: "call", Start: time.Unix(1_700_000_000, int64(seq)).UTC(),
					Attrs: []ledger.Attr{
						{Key: ledger.AttrAgentID, Value: fmt.Sprintf("agent-%d", r.IntN(100))},
						{Key: ledger.AttrCredentialID, Value: fmt.Sprintf("cred-%d", r.IntN(10000))},
						{Key: ledger.AttrServerAddress, Value: fmt.Sprintf("api%d.example.com", r.IntN(20))},
						{Key: "pad", Value: pad},
					},
				}
				seq++
			}
			if _, err := l.Append(b.Context(), es); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := l.Checkpoint(b.Context()); err != nil {
			b.Fatal(err)
		}
		if _, err := x.Update(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	step(100_000)
	*ts = timedIndexStore{Store: s}
	for b.Loop() {
		step(16_000)
	}
	b.ReportMetric(float64(ts.fn.Milliseconds())/float64(b.N), "fn-ms")
	b.ReportMetric(float64((ts.total-ts.fn).Milliseconds())/float64(b.N), "write-ms")
	b.ReportMetric(float64(ts.keys)/float64(b.N), "keys/step")
	b.ReportMetric(float64(ts.nodes)/float64(b.N), "nodes/step")
}

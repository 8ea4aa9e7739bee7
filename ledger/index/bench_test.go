package index_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// benchEntries returns n agent-shaped entries of about 1 KB numbered from
// start, 64 to a trace, with a credential ID from a pool of creds, one of
// 100 agents and 20 targets, and every 16th entry a fingerprint.
func benchEntries(r *rand.Rand, start, n, creds int) []ledger.Entry {
	pad := strings.Repeat("x", 400)
	es := make([]ledger.Entry, n)
	for i := range es {
		m := start + i
		attrs := []ledger.Attr{
			{Key: ledger.AttrAgentID, Value: fmt.Sprintf("agent-%d", r.IntN(100))},
			{Key: ledger.AttrCredentialID, Value: fmt.Sprintf("cred-%d", r.IntN(creds))},
			{Key: ledger.AttrServerAddress, Value: fmt.Sprintf("api%d.example.com", r.IntN(20))},
			{Key: "pad", Value: pad},
		}
		if m%16 == 0 {
			attrs = append(attrs, ledger.Attr{Key: ledger.AttrCredentialFingerprint, Value: fmt.Sprintf("hmac-sha256:%064x", r.IntN(creds))})
		}
		es[i] = ledger.Entry{
			Kind: ledger.KindAPICall, TraceID: fmt.Sprintf("%032x", m/64+1), SpanID: fmt.Sprintf("%016x", m+1),
			Name: "call", Start: time.Unix(1_700_000_000, int64(m)).UTC(), Attrs: attrs,
			Content: []ledger.Content{ledger.NewContent("input", []byte(pad))},
		}
	}
	return es
}

// BenchmarkAppendIndexed measures ingest with the index maintained (the
// signer loop indexes every 100 ms) against ingest without it, on two
// Postgres ledgers written alternately, batches of 1000 entries; ratio is
// the indexed ledger's throughput over the plain one's.
func BenchmarkAppendIndexed(b *testing.B) {
	signer, err := ledger.NewSigner(signerKey)
	if err != nil {
		b.Fatal(err)
	}
	open := func(follow bool) (store, *ledger.Log) {
		s := openPostgres(b)
		cfg := ledger.Config{Signer: signer, CheckpointInterval: 100 * time.Millisecond}
		if follow {
			cfg.Follower = index.NewIndexer(s, signer)
		}
		l, err := ledger.Open(s, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close(context.Background()) })
		return s, l
	}
	is, indexed := open(true)
	_, plain := open(false)
	r := rand.New(rand.NewPCG(1, 1))
	var (
		n          int
		dIdx, dRaw time.Duration
	)
	for b.Loop() {
		es := benchEntries(r, n, 1000, 10000)
		start := time.Now()
		if _, err := indexed.Append(b.Context(), es); err != nil {
			b.Fatal(err)
		}
		dIdx += time.Since(start)
		start = time.Now()
		if _, err := plain.Append(b.Context(), es); err != nil {
			b.Fatal(err)
		}
		dRaw += time.Since(start)
		n += len(es)
	}
	b.StopTimer()
	// How long after the last append the index covers everything: at most
	// one checkpoint interval plus one index transaction.
	stop := time.Now()
	for {
		note, err := is.LatestIndexNote(context.Background())
		if err == nil && note.Size == uint64(n) {
			break
		}
		if time.Since(stop) > time.Minute {
			b.Fatalf("index note of size %d (%v) a minute after the appends, want %d", note.Size, err, n)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
	b.ReportMetric(float64(time.Since(stop).Milliseconds()), "catchup-ms")
	b.ReportMetric(float64(n)/dIdx.Seconds(), "indexed-entries/s")
	b.ReportMetric(float64(n)/dRaw.Seconds(), "plain-entries/s")
	b.ReportMetric(dRaw.Seconds()/dIdx.Seconds(), "ratio")
}

// BenchmarkIndexUpdate measures the indexer alone: entries indexed per
// second, one checkpoint of 10 000 entries per transaction, on Postgres.
func BenchmarkIndexUpdate(b *testing.B) {
	signer, err := ledger.NewSigner(signerKey)
	if err != nil {
		b.Fatal(err)
	}
	s := openPostgres(b)
	l, err := ledger.Open(s, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close(context.Background()) })
	x := index.NewIndexer(s, signer)
	r := rand.New(rand.NewPCG(2, 2))
	var (
		n int
		d time.Duration
	)
	for b.Loop() {
		b.StopTimer()
		for i := 0; i < 10; i++ {
			if _, err := l.Append(b.Context(), benchEntries(r, n, 1000, 10000)); err != nil {
				b.Fatal(err)
			}
			n += 1000
		}
		if _, err := l.Checkpoint(b.Context()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := x.Update(b.Context()); err != nil {
			b.Fatal(err)
		}
		d += time.Since(start)
	}
	b.ReportMetric(float64(n)/d.Seconds(), "entries/s")
}

// BenchmarkLookup measures index.Lookup of random credential keys on a
// Postgres ledger of 100 000 entries carrying about 27 000 distinct keys,
// and reports the size of the delta answer for the busiest key (a target
// with about 5 000 entries) for a client 10 entries behind.
func BenchmarkLookup(b *testing.B) {
	const size, creds = 100_000, 20_000
	signer, err := ledger.NewSigner(signerKey)
	if err != nil {
		b.Fatal(err)
	}
	s := openPostgres(b)
	l, err := ledger.Open(s, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close(context.Background()) })
	r := rand.New(rand.NewPCG(3, 3))
	for n := 0; n < size; n += 4000 {
		if _, err := l.Append(b.Context(), benchEntries(r, n, 4000, creds)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(b.Context()); err != nil {
		b.Fatal(err)
	}
	if _, err := index.NewIndexer(s, signer).Update(b.Context()); err != nil {
		b.Fatal(err)
	}
	hot := ledger.Ref{Key: ledger.RefTarget, Value: "api0.example.com"}
	full, err := index.Lookup(b.Context(), s, hot, 0)
	if err != nil {
		b.Fatal(err)
	}
	delta, err := index.Lookup(b.Context(), s, hot, full.Count-10)
	if err != nil {
		b.Fatal(err)
	}
	db, _ := json.Marshal(delta)
	fb, _ := json.Marshal(full)
	var lat []time.Duration
	for b.Loop() {
		k := ledger.Ref{Key: ledger.RefCredential, Value: fmt.Sprintf("cred-%d", r.IntN(creds))}
		start := time.Now()
		if _, err := index.Lookup(b.Context(), s, k, 0); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(full.Count), "hot-entries")
	b.ReportMetric(float64(len(db)), "hot-delta-bytes")
	b.ReportMetric(float64(len(fb)), "hot-full-bytes")
}

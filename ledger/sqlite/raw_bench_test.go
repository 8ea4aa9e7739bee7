package sqlite_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agentledger/agentledger/ingest"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/internal/loadgen"
	"github.com/agentledger/agentledger/internal/sqlitetest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// BenchmarkUpdateVsRaw writes the rows of the load benchmark's requests
// (internal/loadgen, mapped by ingest: 1 100 entries a request), one Update
// a request with the tree hashes the ledger would compute, and after each
// the same rows with the raw baseline of internal/sqlitetest (bare prepared
// INSERTs of many rows, one transaction a request), and reports ratio, the store's rate
// over the raw write's, as BenchmarkServeLoad does, beside each's time per
// entry. Mapping and leaf encoding are done before the loop.
func BenchmarkUpdateVsRaw(b *testing.B) {
	r, err := secrets.NewRedactor(make([]byte, 32), secrets.Config{})
	if err != nil {
		b.Fatal(err)
	}
	m, err := ingest.NewMapper(r, ingest.MappingConfig{}, ingest.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	const requests = 8
	batches := make([][]ledger.Record, requests)
	keys := make([][][ledger.HashSize]byte, requests)
	for n := range batches {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(loadgen.Request(n)); err != nil {
			b.Fatal(err)
		}
		entries, err := ingest.Map(b.Context(), req.Traces(), m)
		if err != nil {
			b.Fatal(err)
		}
		if batches[n], err = ledger.PrepareRecords(entries); err != nil {
			b.Fatal(err)
		}
		for _, rec := range batches[n] {
			keys[n] = append(keys[n], rec.DedupKey)
		}
	}
	path := filepath.Join(b.TempDir(), "ledger.db")
	s, err := sqlite.Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	raw := sqlitetest.NewBaseline(b)
	ctx := context.Background() // as the ledger's appender commits
	var store, base time.Duration
	entries := 0
	for i := 0; b.Loop(); i++ {
		recs, orig := batches[i%requests], keys[i%requests]
		cur := make([][ledger.HashSize]byte, len(recs))
		for j := range recs {
			// A distinct dedup key for each pass over the requests.
			recs[j].DedupKey = orig[j]
			binary.BigEndian.PutUint64(recs[j].DedupKey[24:], binary.BigEndian.Uint64(orig[j][24:])^uint64(i/requests))
			cur[j] = recs[j].DedupKey
		}
		start := time.Now()
		err := s.Update(ctx, cur, func(h ledger.TreeHead, _ map[[ledger.HashSize]byte]ledger.Existing) (*ledger.Batch, error) {
			return sqlite.Grow(h, recs)
		})
		store += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		raw.Insert(b, recs)
		base += time.Since(start)
		entries += len(recs)
	}
	b.ReportMetric(base.Seconds()/store.Seconds(), "ratio")
	b.ReportMetric(float64(store.Microseconds())/float64(entries), "store-µs/entry")
	b.ReportMetric(float64(base.Microseconds())/float64(entries), "raw-µs/entry")
}

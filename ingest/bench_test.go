package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agentledger/agentledger/internal/loadgen"
	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
)

const (
	benchSpansPerRequest = loadgen.SpansPerRequest
	benchSpansPerRun     = loadgen.SpansPerRun
	benchSenders         = 8 // concurrent exporters
	// benchRequestsPerOp is how many requests one benchmark iteration
	// sends: 200 000 spans, enough to measure a sustained rate.
	benchRequestsPerOp = 200
	// benchRounds is how many times per iteration ingest and the COPY
	// baseline take turns, so that what else loads the machine (Postgres
	// checkpoints, autovacuum) weighs on both alike.
	benchRounds = 4
)

// benchTmpl is the template of the benchmark requests (internal/loadgen).
var benchTmpl = loadgen.DefaultTemplate

// benchRequest returns the protobuf body of OTLP request n: 1000 distinct
// agent-shaped spans, none shared with another n.
func benchRequest(n int) []byte { return loadgen.Request(n) }

// BenchmarkIngest drives the running receiver with real OTLP/HTTP:
// benchSenders concurrent senders post distinct protobuf requests of 1000
// agent-shaped spans (~1 KB each), 200 000 spans per iteration, and the
// receiver commits each to the ledger before it answers.
//
// On Postgres the same run also measures the raw COPY baseline: the rows
// the ledger writes for the same spans (entries with their leaves, entry
// references and content, as ledger.Log prepares them from the receiver's
// mapping) written with bare pgx.CopyFrom into equally indexed tables in a
// schema of their own, one transaction per request, by one connection.
// Ingest and baseline take turns (benchRounds), and the baseline's
// preparation is not timed; ns/op and MB/s count ingest alone.
//
// It reports
//
//   - spans/s: spans acknowledged per second of ingest;
//   - copy-rows/s: entry rows (each with its references and content) the
//     baseline writes per second;
//   - ratio: ingest's throughput over the baseline's for the same spans,
//     that is the baseline's time over ingest's (equally, the ledger's
//     entries/s over copy-rows/s);
//   - peak-rss-MiB: the process's peak resident set (VmHWM), reset when the
//     sub-benchmark starts. Senders and receiver share the process, so it
//     counts the senders too: a template request and a 1 MB buffer per
//     sender, besides the HTTP client;
//   - heap-sys-MiB and sys-MiB: the Go heap's and the Go runtime's memory
//     from the OS (runtime.MemStats HeapSys and Sys) at the end.
//
// Goal (issue 4): ≥ 20 000 spans/s into Postgres on 2 cores, ratio ≥ 0.6,
// peak RSS < 300 MiB. Run:
//
//	go test -run '^$' -bench BenchmarkIngest -benchtime 1x ./ingest/
func BenchmarkIngest(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchIngest(b, newSQLiteLedger(b, nil), nil)
	})
	b.Run("postgres", func(b *testing.B) {
		dsn := pgtest.NewSchema(b)
		store, err := postgres.Open(b.Context(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		skey, _, _ := ledger.GenerateKey("bench.agentledger.example")
		signer, _ := ledger.NewSigner(skey)
		l, err := ledger.Open(store, ledger.Config{Signer: signer})
		if err != nil {
			b.Fatal(err)
		}
		tl := &testLedger{store: store, log: l}
		b.Cleanup(func() { tl.close(b) })
		benchIngest(b, tl, pgtest.NewBaseline(b))
	})
}

// benchIngest runs BenchmarkIngest on tl, with the COPY baseline unless
// baseline is nil.
func benchIngest(b *testing.B, tl *testLedger, baseline *pgtest.Baseline) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS, so it covers the whole process so far: %v", err)
	}
	_, httpAddr := startServer(b, tl, func(c *ServerConfig) {
		c.Logger = slog.New(slog.DiscardHandler)
		c.GRPCAddr = ""
	})
	url := "http://" + httpAddr + "/v1/traces"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchSenders}}
	tmpl := benchTmpl()
	m := newMapper(b, MappingConfig{}, Limits{})
	b.SetBytes(int64(benchRequestsPerOp * tmpl.Size()))

	var (
		ingested, copied time.Duration
		copiedRows       int
		next             int // the next request number
	)
	b.ResetTimer()
	for range b.N {
		for range benchRounds {
			from, to := next, next+benchRequestsPerOp/benchRounds
			next = to

			b.StartTimer()
			start := time.Now()
			sendBenchRequests(b, client, url, tmpl, from, to)
			ingested += time.Since(start)
			b.StopTimer()

			if baseline == nil {
				continue
			}
			for n := from; n < to; n++ {
				recs := benchRecords(b, m, n)
				start := time.Now()
				baseline.Copy(b, recs)
				copied += time.Since(start)
				copiedRows += len(recs)
			}
		}
	}
	spans := float64(next * benchSpansPerRequest)
	b.ReportMetric(spans/ingested.Seconds(), "spans/s")
	b.ReportMetric(float64(tmpl.Size())/benchSpansPerRequest, "B/span")
	if baseline != nil {
		b.ReportMetric(float64(copiedRows)/copied.Seconds(), "copy-rows/s")
		b.ReportMetric(copied.Seconds()/ingested.Seconds(), "ratio")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if kib, err := procStatusKiB("VmHWM"); err != nil {
		b.Logf("no peak RSS: %v", err)
	} else {
		b.ReportMetric(float64(kib)/1024, "peak-rss-MiB")
	}
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-sys-MiB")
	b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MiB")

	head, err := tl.store.Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if want := uint64(next * (benchSpansPerRequest + benchSpansPerRequest/benchSpansPerRun)); head.Size != want {
		b.Errorf("tree size = %d after %d requests, want %d", head.Size, next, want)
	}
	if baseline != nil && copiedRows != int(head.Size) {
		b.Errorf("the baseline wrote %d entries, the ledger %d", copiedRows, head.Size)
	}
}

// sendBenchRequests posts requests [from, to) with benchSenders concurrent
// senders, each writing its next request into a buffer of its own, and
// returns once all are acknowledged.
func sendBenchRequests(b *testing.B, client *http.Client, url string, tmpl *loadgen.Template, from, to int) {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	next.Store(int64(from))
	for range benchSenders {
		wg.Go(func() {
			var buf []byte
			for {
				n := int(next.Add(1) - 1)
				if n >= to {
					return
				}
				buf = tmpl.Request(buf, n)
				if err := postBenchRequest(client, url, buf); err != nil {
					b.Errorf("request %d: %v", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// postBenchRequest posts body and returns once it is acknowledged and the
// client no longer reads body, so that the caller may reuse it.
func postBenchRequest(client *http.Client, url string, body []byte) error {
	rb := &reusableBody{Reader: bytes.NewReader(body), closed: make(chan struct{})}
	req, err := http.NewRequest(http.MethodPost, url, rb)
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := client.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("POST = %s", resp.Status)
		}
	}
	select {
	case <-rb.closed:
	case <-time.After(time.Minute):
		return fmt.Errorf("the HTTP client did not close the request body (%v)", err)
	}
	return err
}

// reusableBody is a request body that tells when the HTTP client has
// closed it, which it does once it no longer reads it.
type reusableBody struct {
	*bytes.Reader
	once   sync.Once
	closed chan struct{}
}

func (r *reusableBody) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}

// benchRecords returns the records the ledger writes for request n: the
// receiver's mapping of its spans, prepared as ledger.Log prepares entries,
// numbered from the first index the ledger gives them.
func benchRecords(b *testing.B, m *Mapper, n int) []ledger.Record {
	td := ptraceotlp.NewExportRequest()
	if err := td.UnmarshalProto(benchRequest(n)); err != nil {
		b.Fatal(err)
	}
	entries, err := Map(b.Context(), td.Traces(), m)
	if err != nil {
		b.Fatal(err)
	}
	first := uint64(n * len(entries))
	recs := make([]ledger.Record, len(entries))
	for i := range entries {
		e := &entries[i]
		leaf, err := ledger.EncodeLeaf(e)
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = ledger.Record{
			Index: first + uint64(i), Leaf: leaf, LeafHash: ledger.LeafHash(leaf), DedupKey: e.DedupKey(),
			Kind: e.Kind, TraceID: e.TraceID, Time: e.Start, Refs: ledger.RefsOf(e), Content: e.Content,
		}
	}
	return recs
}

// procStatusKiB returns a field of /proc/self/status given in kB, such as
// VmHWM, the peak resident set.
func procStatusKiB(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if ok && name == field {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// BenchmarkMap measures the mapping alone (redaction included) on the
// requests BenchmarkIngest sends.
func BenchmarkMap(b *testing.B) {
	var dec ptrace.ProtoUnmarshaler
	td, err := dec.UnmarshalTraces(benchRequest(0))
	if err != nil {
		b.Fatal(err)
	}
	m := newMapper(b, MappingConfig{}, Limits{})
	b.ReportAllocs()
	b.ResetTimer()
	mallocs := mallocCount()
	for b.Loop() {
		if _, err := Map(b.Context(), td, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(mallocCount()-mallocs)/float64(b.N*benchSpansPerRequest), "allocs/span")
	b.ReportMetric(float64(b.N*benchSpansPerRequest)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkEncodeLeaves measures what ledger.Log.Append does to each entry
// before it queues it (leaf encoding with validation, leaf hash, dedup key,
// references) on the entries of one benchmark request.
func BenchmarkEncodeLeaves(b *testing.B) {
	var dec ptrace.ProtoUnmarshaler
	td, err := dec.UnmarshalTraces(benchRequest(0))
	if err != nil {
		b.Fatal(err)
	}
	entries, err := Map(b.Context(), td, newMapper(b, MappingConfig{}, Limits{}))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	mallocs := mallocCount()
	for b.Loop() {
		if _, err := ledger.PrepareRecords(entries); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(mallocCount()-mallocs)/float64(b.N*benchSpansPerRequest), "allocs/span")
	b.ReportMetric(float64(b.N*benchSpansPerRequest)/b.Elapsed().Seconds(), "spans/s")
}

// mallocCount returns how many heap objects the process has allocated.
func mallocCount() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

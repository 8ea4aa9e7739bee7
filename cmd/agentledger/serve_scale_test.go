package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/internal/servetest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
)

// spanBatch is one OTLP export: spans of one new trace, each with a new
// span ID.
type spanBatch struct {
	spans []sdktrace.ReadOnlySpan
	ids   []string
}

func newSpanBatch(n int) spanBatch {
	var tid trace.TraceID
	rand.Read(tid[:])
	res := resource.NewSchemaless(attribute.String("service.name", "scale-test"))
	now := time.Now()
	b := spanBatch{}
	for i := range n {
		var sid trace.SpanID
		rand.Read(sid[:])
		stub := tracetest.SpanStub{
			Name:        fmt.Sprintf("step %d", i),
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
			StartTime:   now,
			EndTime:     now.Add(time.Millisecond),
			Attributes:  []attribute.KeyValue{attribute.Int("i", i)},
			Resource:    res,
		}
		b.spans = append(b.spans, stub.Snapshot())
		b.ids = append(b.ids, sid.String())
	}
	return b
}

// newExporter returns an OTLP/HTTP exporter to endpoint that does not
// retry: ExportSpans returning nil is the server's acknowledgement.
func newExporter(t testing.TB, endpoint string) *otlptrace.Exporter {
	t.Helper()
	exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure(),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}), otlptracehttp.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exp.Shutdown(context.Background()) })
	return exp
}

// ledgerSpans reads the whole ledger in dsn and returns how often each span
// ID occurs in it. It fails the test unless the entries are indexed 0 to
// the tree size without a gap or a repeat.
func ledgerSpans(t *testing.T, dsn string) (map[string]int, ledger.TreeHead) {
	t.Helper()
	store, err := postgres.New(t.Context(), postgres.Config{DSN: dsn, NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	head, err := store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	counts := make(map[string]int)
	const page = 1000
	for start := uint64(0); start < head.Size; start += page {
		recs, err := store.Records(t.Context(), start, min(start+page, head.Size))
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			if want := start + uint64(i); recs[i].Index != want {
				t.Fatalf("entry at position %d has index %d, want %d (a gap or a repeat)", want, recs[i].Index, want)
			}
			e, _, err := recs[i].Decode()
			if err != nil {
				t.Fatalf("entry %d: %v", recs[i].Index, err)
			}
			if e.SpanID != "" {
				counts[e.SpanID]++
			}
		}
		if len(recs) != int(min(page, head.Size-start)) {
			t.Fatalf("entries [%d, %d): %d read", start, min(start+page, head.Size), len(recs))
		}
	}
	return counts, head
}

// checkCheckpoints checks that every stored checkpoint is signed by vkey,
// that their sizes rise, that the latest covers the whole tree, and that
// audit finds the stored tree to be the one every checkpoint signed.
func checkCheckpoints(t *testing.T, dsn, vkey string, head ledger.TreeHead) {
	t.Helper()
	store, err := postgres.New(t.Context(), postgres.Config{DSN: dsn, NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var (
		n    int
		last ledger.Checkpoint
	)
	for from := uint64(0); ; {
		cps, err := store.Checkpoints(t.Context(), from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(cps) == 0 {
			break
		}
		for _, cp := range cps {
			if n > 0 && cp.Size <= last.Size {
				t.Errorf("checkpoint of size %d follows one of size %d", cp.Size, last.Size)
			}
			if _, err := ledger.OpenCheckpoint(cp.Note, vkey); err != nil {
				t.Errorf("checkpoint of size %d: %v", cp.Size, err)
			}
			last, n = cp, n+1
		}
		from = last.Size + 1
	}
	if n < 2 || last.Size != head.Size || last.Root != head.Root {
		t.Fatalf("%d checkpoints, the latest of size %d; want several, the latest of the tree's size %d and root", n, last.Size, head.Size)
	}
	out, err := exec.Command(binary, "audit", "--database", dsn, "--key", vkey, "--quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("checkpoints verified (signed by %s, root at their size): %d", strings.SplitN(vkey, "+", 2)[0], n)) {
		t.Fatalf("audit did not verify the %d checkpoints:\n%s", n, out)
	}
}

// startWriters starts n serve processes on the database dsn, sharing one
// data directory (one signer key and ledger secret), and returns them and
// the log's verifier key.
func startWriters(t *testing.T, dsn string, n int) ([]*servetest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	var (
		servers []*servetest.Server
		vkey    string
	)
	for i := range n {
		s := startServer(t, dir, "--database", dsn)
		k := s.VerifierKey(t)
		if i == 0 {
			vkey = k
		} else if k != vkey {
			t.Fatalf("serve %d signs with %s, serve 0 with %s", i, k, vkey)
		}
		servers = append(servers, s)
	}
	return servers, vkey
}

// TestServeWritersShareOneDatabase: three serve processes on one Postgres
// database, sent spans concurrently, append every span exactly once at
// indices without a gap or a repeat, and sign checkpoints with the one key
// that all extend one tree.
func TestServeWritersShareOneDatabase(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	servers, vkey := startWriters(t, dsn, 3)
	const (
		sendersPerServer = 2
		batches          = 10
		batchSize        = 50
	)
	var (
		mu   sync.Mutex
		sent []string
		errs []error
		wg   sync.WaitGroup
	)
	for _, s := range servers {
		for range sendersPerServer {
			exp := newExporter(t, s.OTLPHTTPAddr)
			wg.Go(func() {
				for range batches {
					b := newSpanBatch(batchSize)
					err := exp.ExportSpans(t.Context(), b.spans)
					mu.Lock()
					if err != nil {
						errs = append(errs, fmt.Errorf("export to %s: %w", s.OTLPHTTPAddr, err))
					} else {
						sent = append(sent, b.ids...)
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	for i, s := range servers {
		if err := s.Stop(t, syscall.SIGTERM); err != nil {
			t.Fatalf("serve %d exit: %v", i, err)
		}
	}

	counts, head := ledgerSpans(t, dsn)
	if want := len(servers) * sendersPerServer * batches * batchSize; len(sent) != want {
		t.Fatalf("%d spans acknowledged, want %d", len(sent), want)
	}
	for _, id := range sent {
		if counts[id] != 1 {
			t.Errorf("span %s is in the ledger %d times, want once", id, counts[id])
		}
	}
	if len(counts) != len(sent) {
		t.Errorf("the ledger holds %d spans, %d were sent", len(counts), len(sent))
	}
	checkCheckpoints(t, dsn, vkey, head)
}

// TestServeWriterKilledMidStream: of three serve processes on one
// database, one is killed (SIGKILL) while spans stream to all three. Every
// span it acknowledged is in the ledger; the batches it failed are sent
// again to a survivor; then every span is in the ledger exactly once, and
// the ledger audits clean.
func TestServeWriterKilledMidStream(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	servers, vkey := startWriters(t, dsn, 3)
	const (
		batches   = 30
		batchSize = 40
		killAfter = 5 // batches the victim acknowledges before it is killed
	)
	victim := servers[1]
	var (
		mu       sync.Mutex
		acked    []string
		failed   []spanBatch
		wg       sync.WaitGroup
		victimOK = make(chan struct{})
	)
	for i, s := range servers {
		exp := newExporter(t, s.OTLPHTTPAddr)
		wg.Go(func() {
			for n := range batches {
				b := newSpanBatch(batchSize)
				err := exp.ExportSpans(t.Context(), b.spans)
				mu.Lock()
				if err == nil {
					acked = append(acked, b.ids...)
				} else {
					failed = append(failed, b)
				}
				mu.Unlock()
				if s == victim && n+1 == killAfter {
					close(victimOK)
				}
				if err != nil && s != victim {
					t.Errorf("export to surviving serve %d: %v", i, err)
					return
				}
			}
		})
	}
	<-victimOK
	if err := victim.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := victim.Wait(t, time.Minute); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("victim exit = %v, want killed", err)
	}
	if len(failed) == 0 {
		t.Fatal("no export to the killed serve failed: it was not killed mid-stream")
	}

	counts, _ := ledgerSpans(t, dsn)
	for _, id := range acked {
		if counts[id] != 1 {
			t.Errorf("acknowledged span %s is in the ledger %d times, want once", id, counts[id])
		}
	}
	for id, n := range counts {
		if n != 1 {
			t.Errorf("span %s is in the ledger %d times, want at most once", id, n)
		}
	}

	// A sender whose export failed sends it again, to a survivor.
	exp := newExporter(t, servers[0].OTLPHTTPAddr)
	all := append([]string(nil), acked...)
	for _, b := range failed {
		if err := exp.ExportSpans(t.Context(), b.spans); err != nil {
			t.Fatalf("export again to a survivor: %v", err)
		}
		all = append(all, b.ids...)
	}
	for i, s := range servers {
		if s == victim {
			continue
		}
		if err := s.Stop(t, syscall.SIGTERM); err != nil {
			t.Fatalf("serve %d exit: %v", i, err)
		}
	}
	counts, head := ledgerSpans(t, dsn)
	if want := len(servers) * batches * batchSize; len(all) != want {
		t.Fatalf("%d spans sent, want %d", len(all), want)
	}
	for _, id := range all {
		if counts[id] != 1 {
			t.Errorf("span %s is in the ledger %d times, want once", id, counts[id])
		}
	}
	if len(counts) != len(all) {
		t.Errorf("the ledger holds %d spans, %d were sent", len(counts), len(all))
	}
	checkCheckpoints(t, dsn, vkey, head)
}

package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentledger/agentledger/internal/pgtest"
)

// TestServePushbackMetrics runs serve with room for one request in flight
// and sends concurrent exports with the OTel SDK's HTTP exporter until
// /metrics counts a pushback (answered 429 with Retry-After, which the
// exporter retries): every export still succeeds and no request fails.
func TestServePushbackMetrics(t *testing.T) {
	s := startServer(t, t.TempDir(), "--max-inflight-bytes", "1")
	const exportsPerRound, spansPerExport = 12, 50
	for round := 0; round < 20 && scrapeMetric(t, s.HTTPAddr, `agentledger_ingest_pushbacks_total{signal="traces"}`) == 0; round++ {
		var wg sync.WaitGroup
		for e := range exportsPerRound {
			wg.Go(func() {
				exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(s.OTLPHTTPAddr), otlptracehttp.WithInsecure(),
					otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond, MaxElapsedTime: 2 * time.Minute}))
				if err != nil {
					t.Error(err)
					return
				}
				tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
					sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "pushback-test"))))
				defer tp.Shutdown(context.Background())
				tr := tp.Tracer("pushback-test")
				ctx, root := tr.Start(t.Context(), fmt.Sprintf("round %d export %d", round, e))
				for i := range spansPerExport {
					_, sp := tr.Start(ctx, fmt.Sprintf("step %d", i), trace.WithAttributes(attribute.String("payload", strings.Repeat("x", 2000))))
					sp.End()
				}
				root.End()
			})
		}
		wg.Wait()
	}
	if n := scrapeMetric(t, s.HTTPAddr, `agentledger_ingest_pushbacks_total{signal="traces"}`); n == 0 {
		t.Errorf("agentledger_ingest_pushbacks_total = 0 after 20 rounds of %d concurrent exports, want some", exportsPerRound)
	}
	if n := scrapeMetric(t, s.HTTPAddr, `agentledger_failed_requests_total{signal="traces"}`); n != 0 {
		t.Errorf("agentledger_failed_requests_total = %v, want 0", n)
	}
	if n := scrapeMetric(t, s.HTTPAddr, "agentledger_ingest_inflight_bytes"); n != 0 {
		t.Errorf("agentledger_ingest_inflight_bytes = %v once idle, want 0", n)
	}
	if d := scrapeMetric(t, s.HTTPAddr, "agentledger_ingest_retry_delay_seconds"); d < 1 || d > 3 {
		t.Errorf("agentledger_ingest_retry_delay_seconds = %v after pushbacks, want 1 to 3", d)
	}
}

// scrapeMetric returns the value of the sample named name (with its
// labels, as /metrics writes them), or 0 if there is none.
func scrapeMetric(t testing.TB, httpAddr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// name is metric{labels}: a series matches with every one of those
	// labels, whatever others it has (such as log).
	metric, want, _ := strings.Cut(strings.TrimSuffix(name, "}"), "{")
	for line := range strings.Lines(string(body)) {
		series, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		got, labels, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
		if got != metric || !hasLabels(labels, want) {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return f
	}
	return 0
}

// TestServePushbackBurstBoundsMemory sends, with the OTel SDK's exporters
// over OTLP/HTTP and gRPC, a burst of concurrent exports of about 4 MB
// each, 24 times the limit on bytes in flight, to serve on Postgres: each
// request's bytes are reserved before its body is read or decoded, so the
// requests beyond the limit are refused (429 / RESOURCE_EXHAUSTED with a
// retry delay) before they take memory. serve's peak resident set stays
// under the soft memory limit it runs with (see tuneGC) and what is not
// heap (burstOffHeapMiB), every export succeeds after its retries, and
// every span is in the ledger exactly once. Held whole, the burst would
// take about 8 × 96 MB of heap, far beyond that bound.
func TestServePushbackBurstBoundsMemory(t *testing.T) {
	const (
		exports, spansPerExport = 24, 1000
		payload                 = 4000 // bytes per span: an export of about 4 MB
		maxInflight             = 4 << 20
		burstOffHeapMiB         = 64 // goroutine stacks, the runtime, connection buffers
	)
	burstRSSLimitMiB := gcMemoryLimit(maxInflight)>>20 + burstOffHeapMiB
	for _, transport := range []string{"http", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			dsn := pgtest.NewSchema(t)
			s := startServer(t, t.TempDir(), "--database", dsn,
				"--max-inflight-bytes", strconv.Itoa(maxInflight), "--log-level", "warn")
			batches := make([][]sdktrace.ReadOnlySpan, exports)
			want := map[string]int{}
			for e := range batches {
				batches[e] = payloadSpans(spansPerExport, strings.Repeat(strconv.Itoa(e%10), payload))
				for _, sp := range batches[e] {
					want[sp.SpanContext().SpanID().String()]++
				}
			}
			var wg sync.WaitGroup
			for e, batch := range batches {
				exp := newBurstExporter(t, transport, s.OTLPHTTPAddr, s.OTLPGRPCAddr)
				wg.Go(func() {
					if err := exp.ExportSpans(t.Context(), batch); err != nil {
						t.Errorf("export %d: %v", e, err)
					}
				})
			}
			wg.Wait()
			if n := scrapeMetric(t, s.HTTPAddr, `agentledger_ingest_pushbacks_total{signal="traces"}`); n == 0 {
				t.Errorf("agentledger_ingest_pushbacks_total = 0 after a burst of %d exports of about 4 MB against a limit of 4 MiB, want some", exports)
			}
			rss, err := procStatusKiBOf(s.Pid(), "VmHWM")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: peak RSS %d MiB", transport, rss/1024)
			if rss/1024 > burstRSSLimitMiB {
				t.Errorf("serve's peak RSS = %d MiB after the burst, want at most %d MiB", rss/1024, burstRSSLimitMiB)
			}
			got, _ := ledgerSpans(t, dsn)
			for id := range want {
				if got[id] != 1 {
					t.Errorf("span %s is in the ledger %d times, want once", id, got[id])
				}
			}
		})
	}
}

// payloadSpans returns n spans of one new trace, each with a new span ID
// and an attribute holding payload.
func payloadSpans(n int, payload string) []sdktrace.ReadOnlySpan {
	var tid trace.TraceID
	rand.Read(tid[:])
	res := resource.NewSchemaless(attribute.String("service.name", "burst-test"))
	now := time.Now()
	spans := make([]sdktrace.ReadOnlySpan, n)
	for i := range spans {
		var sid trace.SpanID
		rand.Read(sid[:])
		spans[i] = tracetest.SpanStub{
			Name:        fmt.Sprintf("step %d", i),
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
			StartTime:   now,
			EndTime:     now.Add(time.Millisecond),
			Attributes:  []attribute.KeyValue{attribute.String("payload", payload)},
			Resource:    res,
		}.Snapshot()
	}
	return spans
}

// newBurstExporter returns an OTel SDK exporter of transport that retries
// refused requests, with short back-off, for up to two minutes.
func newBurstExporter(t *testing.T, transport, httpAddr, grpcAddr string) sdktrace.SpanExporter {
	t.Helper()
	var (
		exp sdktrace.SpanExporter
		err error
	)
	if transport == "grpc" {
		exp, err = otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithTimeout(time.Minute),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond, MaxElapsedTime: 2 * time.Minute}))
	} else {
		exp, err = otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure(), otlptracehttp.WithTimeout(time.Minute),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond, MaxElapsedTime: 2 * time.Minute}))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exp.Shutdown(context.Background()) })
	return exp
}

// hasLabels reports whether the labels of a series (a="x",b="y") include
// every one of want's.
func hasLabels(labels, want string) bool {
	have := strings.Split(labels, ",")
	for _, l := range strings.Split(want, ",") {
		if l != "" && !slices.Contains(have, l) {
			return false
		}
	}
	return true
}

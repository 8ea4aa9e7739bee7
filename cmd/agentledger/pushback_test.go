package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
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
}

// scrapeMetric returns the value of the sample named name (with its
// labels, as /metrics writes them), or 0 if there is none.
func scrapeMetric(t *testing.T, httpAddr, name string) float64 {
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
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	return 0
}

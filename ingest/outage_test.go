package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentledger/agentledger/ledger"
)

// flakyStore wraps a real store and fails its appends while down: before
// the commit (the database was unreachable), or after it (the commit
// happened but its acknowledgement was lost, so the retry must be
// deduplicated).
type flakyStore struct {
	ledger.Store
	afterCommit bool
	// cause, if set, is the error an append fails with before the commit.
	cause    error
	down     atomic.Bool
	failures atomic.Int64
}

func (s *flakyStore) Update(ctx context.Context, keys [][ledger.HashSize]byte, fn ledger.UpdateFunc) error {
	if len(keys) == 0 || !s.down.Load() {
		return s.Store.Update(ctx, keys, fn) // checkpoints, or the store is up
	}
	if !s.afterCommit {
		s.failures.Add(1)
		if s.cause != nil {
			return s.cause
		}
		return errors.New("flaky store: connection refused")
	}
	if err := s.Store.Update(ctx, keys, fn); err != nil {
		return err
	}
	s.failures.Add(1)
	return errors.New("flaky store: connection reset after commit")
}

// runSpans returns the spans of one small agent run of n spans.
func runSpans(n, run int) []sdktrace.ReadOnlySpan {
	tp, rec := recorder("outage-agent")
	tr := tp.Tracer("agent")
	ctx, root := tr.Start(context.Background(), "invoke_agent", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.Int("run", run)))
	for i := 1; i < n; i++ {
		_, sp := tr.Start(ctx, "chat", trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.output.messages", fmt.Sprintf(`[{"role":"assistant","parts":[{"type":"tool_call","id":"call_%d_%d"}]}]`, run, i))))
		sp.End()
	}
	root.End()
	return rec.Ended()
}

func TestStoreOutage(t *testing.T) {
	for _, tt := range []struct {
		name        string
		afterCommit bool
		transport   string
	}{
		{"sqlite/down before commit, grpc", false, "grpc"},
		{"sqlite/commit ack lost, http", true, "http"},
		{"postgres/down before commit, http", false, "http"},
		{"postgres/commit ack lost, grpc", true, "grpc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			open := newSQLiteLedger
			if strings.HasPrefix(tt.name, "postgres") {
				open = newPostgresLedger
			}
			flaky := &flakyStore{afterCommit: tt.afterCommit}
			tl := open(t, func(s ledger.Store) ledger.Store {
				flaky.Store = s
				return flaky
			})
			grpcAddr, httpAddr := startServer(t, tl, nil)
			var exp sdktrace.SpanExporter
			var err error
			if tt.transport == "grpc" {
				exp, err = otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithRetry(fastRetry.grpc))
			} else {
				exp, err = otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure(), otlptracehttp.WithRetry(fastRetry.http))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Shutdown(context.Background())

			const requests, perRequest, senders = 40, 25, 4
			batches := make(chan []sdktrace.ReadOnlySpan, requests)
			for i := range requests {
				batches <- runSpans(perRequest, i)
			}
			close(batches)

			var acked atomic.Int64
			outage := make(chan struct{})
			go func() {
				defer close(outage)
				for acked.Load() < 8 {
					time.Sleep(time.Millisecond)
				}
				flaky.down.Store(true)
				time.Sleep(400 * time.Millisecond)
				flaky.down.Store(false)
			}()
			var wg sync.WaitGroup
			errs := make(chan error, requests)
			for range senders {
				wg.Go(func() {
					for b := range batches {
						if err := exp.ExportSpans(t.Context(), b); err != nil {
							errs <- err
						}
						acked.Add(1)
					}
				})
			}
			wg.Wait()
			<-outage
			close(errs)
			for err := range errs {
				t.Errorf("ExportSpans: %v", err)
			}
			if flaky.failures.Load() == 0 {
				t.Fatalf("the outage failed no append; the test did not test anything")
			}

			// Every span is in the ledger exactly once.
			seen := map[[32]byte]bool{}
			spans := 0
			for _, e := range tl.entries(t) {
				k := e.DedupKey()
				if seen[k] {
					t.Errorf("entry %s %s/%s %q appended twice", e.Kind, e.TraceID, e.SpanID, e.EventKey)
				}
				seen[k] = true
				if e.Kind != ledger.KindAttestation {
					spans++
				}
			}
			if spans != requests*perRequest {
				t.Errorf("ledger holds %d span entries, want %d", spans, requests*perRequest)
			}
			t.Logf("%d appends failed during the outage; all %d spans delivered once", flaky.failures.Load(), spans)
		})
	}
}

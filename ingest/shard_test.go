package ingest

import (
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

	"github.com/agentledger/agentledger/ledger"
)

// misrouteCounter is an Observer that counts misrouted requests and items.
type misrouteCounter struct {
	mu                   sync.Mutex
	requests, bad, items int
	rejected             int
}

func (m *misrouteCounter) Accepted(Signal, int, int, time.Duration) {}
func (m *misrouteCounter) Failed(Signal, int, error)                {}
func (m *misrouteCounter) Rejected(Signal, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rejected++
}
func (m *misrouteCounter) Misrouted(_ Signal, items, bad int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests, m.items, m.bad = m.requests+1, m.items+items, m.bad+bad
}

// shardSpans returns one span for each trace ID's first byte.
func shardSpans(firstBytes ...byte) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	now := time.Now()
	for i, b := range firstBytes {
		tid := trace.TraceID{b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, byte(i)}
		sid := trace.SpanID{b, byte(i), 1, 1, 1, 1, 1, 1}
		out = append(out, tracetest.SpanStub{
			Name:        "invoke_agent shard",
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
			StartTime:   now.Add(-time.Second),
			EndTime:     now,
			Resource:    resource.NewSchemaless(attribute.String("service.name", "shard-test")),
		}.Snapshot())
	}
	return out
}

// TestReceiverShardRule: under the shard rule trace-id:0-7, a request
// holding a span whose trace ID starts with 8 is refused whole (HTTP 400 /
// InvalidArgument, not retried), its message naming the rule; nothing of it
// is written and the misrouted spans are counted; the same spans without
// it are accepted.
func TestReceiverShardRule(t *testing.T) {
	for _, transport := range []string{"http", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			tl := newSQLiteLedger(t, nil)
			obs := &misrouteCounter{}
			grpcAddr, httpAddr := startServer(t, tl, func(c *ServerConfig) {
				c.ShardRule = "trace-id:0-7"
				c.Observer = obs
			})
			var (
				exp sdktrace.SpanExporter
				err error
			)
			if transport == "grpc" {
				exp, err = otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
			} else {
				exp, err = otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure(), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Shutdown(t.Context())

			err = exp.ExportSpans(t.Context(), shardSpans(0x00, 0x7f, 0x80, 0xff))
			if err == nil {
				t.Fatal("a request with spans of another shard was accepted")
			}
			for _, want := range []string{"2 of the request's 4 spans belong to another shard", "shard rule trace-id:0-7"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if !strings.Contains(err.Error(), "InvalidArgument") && !strings.Contains(err.Error(), "400") {
				t.Errorf("error %q is not InvalidArgument / 400", err)
			}
			obs.mu.Lock()
			if obs.requests != 1 || obs.items != 4 || obs.bad != 2 || obs.rejected != 1 {
				t.Errorf("observer: %d requests, %d items, %d misrouted, %d rejected; want 1, 4, 2, 1", obs.requests, obs.items, obs.bad, obs.rejected)
			}
			obs.mu.Unlock()
			for _, e := range tl.entries(t) {
				if e.Kind == ledger.KindSpan {
					t.Fatalf("a span of the refused request was written: %+v", e)
				}
			}

			if err := exp.ExportSpans(t.Context(), shardSpans(0x00, 0x7f)); err != nil {
				t.Fatalf("the shard's own spans: %v", err)
			}
			n := 0
			for _, e := range tl.entries(t) {
				if e.Kind == ledger.KindSpan {
					if c := e.TraceID[0]; c != '0' && c != '7' {
						t.Errorf("span of trace %s written", e.TraceID)
					}
					n++
				}
			}
			if n != 2 {
				t.Errorf("%d spans written, want 2", n)
			}
		})
	}
}

// TestConfigShardRule: the receiver's configuration refuses an invalid
// shard rule, naming the field.
func TestConfigShardRule(t *testing.T) {
	for rule, want := range map[string]string{
		"":                                   "",
		"trace-id:8-f":                       "",
		"resource:service.namespace=a,b":     "",
		"trace-id:8-7":                       "shard_rule: shard rule \"trace-id:8-7\": the range 8-7 is empty",
		"resource:service.namespace":         "shard_rule: ",
		"tenant:acme":                        "unknown kind",
		"resource:service.namespace!=a,b,,c": "empty value",
	} {
		c := NewFactory().CreateDefaultConfig().(*Config)
		c.Ledger = ledgerExtID
		c.ShardRule = rule
		err := c.Validate()
		if want == "" {
			if err != nil {
				t.Errorf("shard_rule %q: %v", rule, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("shard_rule %q: error %v, want one with %q", rule, err, want)
		}
	}
}

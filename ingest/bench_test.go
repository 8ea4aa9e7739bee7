package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
)

const (
	benchSpansPerRequest = 1000
	benchSpansPerRun     = 10 // spans per agent run (trace)
	benchSenders         = 8
)

// benchRequest returns the protobuf body of OTLP request n: 1000 distinct
// agent-shaped spans of about 1 KB each (runs of an agent, a chat step with
// messages, a tool call and an HTTP call), none shared with another n.
func benchRequest(n int) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bench-agent")
	rs.Resource().Attributes().PutStr("service.version", "1.0.0")
	rs.Resource().Attributes().PutStr("container.image.id", "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("bench")
	spans := ss.Spans()
	spans.EnsureCapacity(benchSpansPerRequest)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
	for i := range benchSpansPerRequest {
		run, step := i/benchSpansPerRun, i%benchSpansPerRun
		sp := spans.AppendEmpty()
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], uint64(n)+1)
		binary.BigEndian.PutUint64(tid[8:], uint64(run)+1)
		sp.SetTraceID(tid)
		var sid pcommon.SpanID
		binary.BigEndian.PutUint32(sid[:4], uint32(n)+1)
		binary.BigEndian.PutUint32(sid[4:], uint32(i)+1)
		sp.SetSpanID(sid)
		if step > 0 {
			var parent pcommon.SpanID
			binary.BigEndian.PutUint32(parent[:4], uint32(n)+1)
			binary.BigEndian.PutUint32(parent[4:], uint32(run*benchSpansPerRun)+1)
			sp.SetParentSpanID(parent)
		}
		t0 := start.Add(time.Duration(i) * time.Millisecond)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(800 * time.Microsecond)))
		a := sp.Attributes()
		callID := fmt.Sprintf("call_%d_%d_%d", n, run, step)
		switch {
		case step == 0:
			sp.SetName("invoke_agent billing")
			a.PutStr("gen_ai.operation.name", "invoke_agent")
			a.PutStr("gen_ai.agent.id", "agent-billing-7")
			a.PutStr("gen_ai.agent.name", "billing")
			a.PutStr("gen_ai.conversation.id", fmt.Sprintf("conv-%d-%d", n, run))
			a.PutStr("gen_ai.provider.name", "openai")
			a.PutStr("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"Please refund order 4711 for customer 99; the parcel arrived damaged and the customer attached photos of the broken items to ticket 5521."}]}]`)
		case step%3 == 1:
			sp.SetName("chat gpt-5")
			sp.SetKind(ptrace.SpanKindClient)
			a.PutStr("gen_ai.operation.name", "chat")
			a.PutStr("gen_ai.request.model", "gpt-5")
			a.PutStr("gen_ai.response.model", "gpt-5-2026-01-15")
			a.PutInt("gen_ai.usage.input_tokens", 1834)
			a.PutInt("gen_ai.usage.output_tokens", 212)
			a.PutStr("server.address", "api.openai.com")
			a.PutStr("gen_ai.system_instructions", `[{"type":"text","content":"You are the billing agent of Example Corp. Refund only paid orders, never more than the amount paid, and ask a human to approve any refund above 500 EUR. Use the tools; do not invent order data."}]`)
			a.PutStr("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"Please refund order 4711 for customer 99; the parcel arrived damaged and the customer attached photos of the broken items to ticket 5521. Check the payment status first and refund the full amount if the order was paid by card."}]},{"role":"assistant","parts":[{"type":"tool_call","id":"call_prev","name":"get_order","arguments":{"order_id":4711}}]},{"role":"tool","parts":[{"type":"tool_call_response","id":"call_prev","response":{"status":"paid","method":"card","amount":"129.90"}}]}]`)
			a.PutStr("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"reasoning","content":"The order qualifies for a refund under the damaged-goods policy; check the payment first, then refund the full amount."},{"type":"tool_call","id":"`+callID+`","name":"refund_order","arguments":{"order_id":4711,"amount":"129.90","currency":"EUR"}}],"finish_reason":"tool_calls"}]`)
		case step%3 == 2:
			sp.SetName("execute_tool refund_order")
			a.PutStr("gen_ai.operation.name", "execute_tool")
			a.PutStr("gen_ai.tool.name", "refund_order")
			a.PutStr("gen_ai.tool.call.id", fmt.Sprintf("call_%d_%d_%d", n, run, step-1))
			a.PutStr("gen_ai.tool.type", "function")
			a.PutStr("gen_ai.tool.description", "Refund a paid order in full or in part through the payment provider; requires refunds:write.")
			a.PutStr("gen_ai.tool.call.arguments", `{"order_id":4711,"amount":"129.90","currency":"EUR","reason":"damaged in transit"}`)
			a.PutStr("gen_ai.tool.call.result", `{"refund_id":"re_3PqL9x2eZvKYlo2C","status":"succeeded","amount":"129.90","currency":"EUR","created":1730419200,"balance_transaction":"txn_1PqL9x2eZvKYlo2C"}`)
		default:
			sp.SetName("POST")
			sp.SetKind(ptrace.SpanKindClient)
			a.PutStr("http.request.method", "POST")
			a.PutStr("url.full", "https://payments.example.com/v1/refunds?order=4711&idempotency_key=9c1185a5c5e9fc54612808977ee8f548")
			a.PutStr("server.address", "payments.example.com")
			a.PutInt("server.port", 443)
			a.PutInt("http.response.status_code", 200)
			a.PutStr("credential.id", "jwt-7f3c9e")
			a.PutStr("network.protocol.version", "1.1")
			a.PutStr("http.request.header.content-type", "application/json")
			a.PutStr("http.request.header.idempotency-key", "9c1185a5c5e9fc54612808977ee8f548")
			a.PutInt("http.request.body.size", 512)
			a.PutInt("http.response.body.size", 1342)
			a.PutStr("http.request.header.traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
			a.PutStr("url.template", "/v1/refunds")
			a.PutStr("user_agent.original", "billing-agent/1.0 (+https://example.com/agents/billing) python-httpx/0.28.1")
		}
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkIngest drives the receiver with real OTLP/HTTP: concurrent
// senders post distinct pre-marshalled requests of 1000 agent-shaped spans
// (~1 KB each) and the receiver commits each to the ledger before it
// answers. It reports spans/s acknowledged.
func BenchmarkIngest(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchIngest(b, newSQLiteLedger(b, nil))
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
		benchIngest(b, tl)
	})
}

func benchIngest(b *testing.B, tl *testLedger) {
	_, httpAddr := startServer(b, tl, func(c *ServerConfig) {
		c.Logger = slog.New(slog.DiscardHandler)
		c.GRPCAddr = ""
	})
	url := "http://" + httpAddr + "/v1/traces"
	bodies := make([][]byte, b.N)
	size := 0
	for i := range bodies {
		bodies[i] = benchRequest(i)
		size += len(bodies[i])
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchSenders}}
	work := make(chan []byte, len(bodies))
	for _, body := range bodies {
		work <- body
	}
	close(work)
	b.SetBytes(int64(size / len(bodies)))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range benchSenders {
		wg.Go(func() {
			for body := range work {
				resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("POST = %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchSpansPerRequest)/elapsed.Seconds(), "spans/s")
	b.ReportMetric(float64(size)/float64(b.N*benchSpansPerRequest), "B/span")
	head, err := tl.store.Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if want := uint64(b.N * (benchSpansPerRequest + benchSpansPerRequest/benchSpansPerRun)); head.Size < want {
		b.Errorf("tree size = %d after %d requests, want %d", head.Size, b.N, want)
	}
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
	for b.Loop() {
		if _, err := Map(td, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchSpansPerRequest)/b.Elapsed().Seconds(), "spans/s")
}

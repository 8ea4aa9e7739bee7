// Package loadgen sends agent-shaped OTLP/HTTP load to an agentledger
// receiver from outside its process: pre-marshalled protobuf requests of
// 1 000 distinct spans each, from concurrent senders, measuring the rate
// and each request's acknowledgement latency. agentledger loadgen runs it;
// the ingest benchmarks build their requests with it.
package loadgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// The shape of every request.
const (
	// SpansPerRequest is how many spans one request carries.
	SpansPerRequest = 1000
	// SpansPerRun is how many spans one agent run (one trace) has: an
	// invoke_agent span and its children.
	SpansPerRun = 10
	// EntriesPerRequest is how many ledger entries the receiver makes of
	// one request: an entry per span, and an agent entry per run.
	EntriesPerRequest = SpansPerRequest + SpansPerRequest/SpansPerRun
)

// ids are what make requests distinct: the first halves of their trace and
// span IDs, and a fixed-width number in their tool call and conversation
// IDs.
type ids struct {
	trace [8]byte
	span  [4]byte
	text  string // 8 bytes
}

// idsOf returns the IDs of request n.
func idsOf(n int) ids {
	v := ids{text: fmt.Sprintf("%08d", n)}
	binary.BigEndian.PutUint64(v.trace[:], uint64(n)+1)
	binary.BigEndian.PutUint32(v.span[:], uint32(n)+1)
	return v
}

// marks are the placeholders of the request template: byte strings found
// nowhere else in it.
var marks = ids{
	trace: [8]byte{0xa5, 'T', 'R', 'A', 'C', 'E', '#', 0x5a},
	span:  [4]byte{0xa5, 'S', '#', 0x5a},
	text:  "#REQNUM#",
}

// Template is the request built with placeholder IDs and the offsets of
// each placeholder in it: request n is the template with the IDs of n
// written over them, in a copy and a few thousand small writes rather than
// building and marshalling 1000 spans (2.5 ms), so that a sender makes new
// distinct requests cheaply without holding them all in memory.
type Template struct {
	body              []byte
	trace, span, text []int
}

// DefaultTemplate returns the template of the requests, built once.
var DefaultTemplate = sync.OnceValue(func() *Template {
	t := &Template{body: build(marks)}
	find := func(mark []byte) []int {
		var offs []int
		for i := 0; ; {
			j := bytes.Index(t.body[i:], mark)
			if j < 0 {
				return offs
			}
			offs = append(offs, i+j)
			i += j + len(mark)
		}
	}
	t.trace = find(marks.trace[:])
	t.span = find(marks.span[:])
	t.text = find([]byte(marks.text))
	parents := SpansPerRequest - SpansPerRequest/SpansPerRun
	if len(t.trace) != SpansPerRequest || len(t.span) != SpansPerRequest+parents || len(t.text) == 0 {
		panic(fmt.Sprintf("loadgen template: %d trace, %d span and %d text placeholders", len(t.trace), len(t.span), len(t.text)))
	}
	return t
})

// Size returns the size of every request in bytes.
func (t *Template) Size() int { return len(t.body) }

// Request writes request n into dst's storage and returns it.
func (t *Template) Request(dst []byte, n int) []byte {
	dst = append(dst[:0], t.body...)
	v := idsOf(n)
	for _, o := range t.trace {
		copy(dst[o:], v.trace[:])
	}
	for _, o := range t.span {
		copy(dst[o:], v.span[:])
	}
	for _, o := range t.text {
		copy(dst[o:], v.text)
	}
	return dst
}

// Request returns the protobuf body of OTLP request n: SpansPerRequest
// distinct agent-shaped spans of about 900 bytes each (runs of an agent, a
// chat step with messages, a tool call and an HTTP call), none shared with
// another n.
func Request(n int) []byte {
	return DefaultTemplate().Request(nil, n)
}

// BuildRequest builds and marshals request n from scratch, as Request
// patches it from the template.
func BuildRequest(n int) []byte { return build(idsOf(n)) }

// build builds and marshals the request with v.
func build(v ids) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bench-agent")
	rs.Resource().Attributes().PutStr("service.version", "1.0.0")
	rs.Resource().Attributes().PutStr("container.image.id", "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("bench")
	spans := ss.Spans()
	spans.EnsureCapacity(SpansPerRequest)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range SpansPerRequest {
		run, step := i/SpansPerRun, i%SpansPerRun
		sp := spans.AppendEmpty()
		var tid pcommon.TraceID
		copy(tid[:8], v.trace[:])
		binary.BigEndian.PutUint64(tid[8:], uint64(run)+1)
		sp.SetTraceID(tid)
		var sid pcommon.SpanID
		copy(sid[:4], v.span[:])
		binary.BigEndian.PutUint32(sid[4:], uint32(i)+1)
		sp.SetSpanID(sid)
		if step > 0 {
			var parent pcommon.SpanID
			copy(parent[:4], v.span[:])
			binary.BigEndian.PutUint32(parent[4:], uint32(run*SpansPerRun)+1)
			sp.SetParentSpanID(parent)
		}
		t0 := start.Add(time.Duration(i) * time.Millisecond)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(800 * time.Microsecond)))
		a := sp.Attributes()
		callID := fmt.Sprintf("call_%s_%d_%d", v.text, run, step)
		switch {
		case step == 0:
			sp.SetName("invoke_agent billing")
			a.PutStr("gen_ai.operation.name", "invoke_agent")
			a.PutStr("gen_ai.agent.id", "agent-billing-7")
			a.PutStr("gen_ai.agent.name", "billing")
			a.PutStr("gen_ai.conversation.id", fmt.Sprintf("conv-%s-%d", v.text, run))
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
			a.PutStr("gen_ai.tool.call.id", fmt.Sprintf("call_%s_%d_%d", v.text, run, step-1))
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

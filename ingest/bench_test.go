package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
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
	benchSenders         = 8  // concurrent exporters
	// benchRequestsPerOp is how many requests one benchmark iteration
	// sends: 200 000 spans, enough to measure a sustained rate.
	benchRequestsPerOp = 200
	// benchRounds is how many times per iteration ingest and the COPY
	// baseline take turns, so that what else loads the machine (Postgres
	// checkpoints, autovacuum) weighs on both alike.
	benchRounds = 4
)

// benchIDs are what make benchmark requests distinct: the first halves of
// their trace and span IDs, and a fixed-width number in their tool call
// and conversation IDs.
type benchIDs struct {
	trace [8]byte
	span  [4]byte
	text  string // 8 bytes
}

// benchIDsOf returns the IDs of request n.
func benchIDsOf(n int) benchIDs {
	ids := benchIDs{text: fmt.Sprintf("%08d", n)}
	binary.BigEndian.PutUint64(ids.trace[:], uint64(n)+1)
	binary.BigEndian.PutUint32(ids.span[:], uint32(n)+1)
	return ids
}

// benchMarks are the placeholders of the request template: byte strings
// found nowhere else in it.
var benchMarks = benchIDs{
	trace: [8]byte{0xa5, 'T', 'R', 'A', 'C', 'E', '#', 0x5a},
	span:  [4]byte{0xa5, 'S', '#', 0x5a},
	text:  "#REQNUM#",
}

// benchTemplate is the request built with benchMarks and the offsets of
// each placeholder in it: request n is the template with benchIDsOf(n)
// written over them, in a copy and a few thousand small writes rather than
// building and marshalling 1000 spans (2.5 ms), so that senders in the
// benchmark's process make new distinct requests cheaply without holding
// them all in memory.
type benchTemplate struct {
	body              []byte
	trace, span, text []int
}

var benchTmpl = sync.OnceValue(func() *benchTemplate {
	t := &benchTemplate{body: buildBenchRequest(benchMarks)}
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
	t.trace = find(benchMarks.trace[:])
	t.span = find(benchMarks.span[:])
	t.text = find([]byte(benchMarks.text))
	parents := benchSpansPerRequest - benchSpansPerRequest/benchSpansPerRun
	if len(t.trace) != benchSpansPerRequest || len(t.span) != benchSpansPerRequest+parents || len(t.text) == 0 {
		panic(fmt.Sprintf("bench template: %d trace, %d span and %d text placeholders", len(t.trace), len(t.span), len(t.text)))
	}
	return t
})

// request writes request n into dst's storage and returns it.
func (t *benchTemplate) request(dst []byte, n int) []byte {
	dst = append(dst[:0], t.body...)
	ids := benchIDsOf(n)
	for _, o := range t.trace {
		copy(dst[o:], ids.trace[:])
	}
	for _, o := range t.span {
		copy(dst[o:], ids.span[:])
	}
	for _, o := range t.text {
		copy(dst[o:], ids.text)
	}
	return dst
}

// benchRequest returns the protobuf body of OTLP request n: 1000 distinct
// agent-shaped spans of about 1 KB each (runs of an agent, a chat step with
// messages, a tool call and an HTTP call), none shared with another n.
func benchRequest(n int) []byte {
	return benchTmpl().request(nil, n)
}

// buildBenchRequest builds and marshals the request with ids.
func buildBenchRequest(ids benchIDs) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bench-agent")
	rs.Resource().Attributes().PutStr("service.version", "1.0.0")
	rs.Resource().Attributes().PutStr("container.image.id", "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("bench")
	spans := ss.Spans()
	spans.EnsureCapacity(benchSpansPerRequest)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range benchSpansPerRequest {
		run, step := i/benchSpansPerRun, i%benchSpansPerRun
		sp := spans.AppendEmpty()
		var tid pcommon.TraceID
		copy(tid[:8], ids.trace[:])
		binary.BigEndian.PutUint64(tid[8:], uint64(run)+1)
		sp.SetTraceID(tid)
		var sid pcommon.SpanID
		copy(sid[:4], ids.span[:])
		binary.BigEndian.PutUint32(sid[4:], uint32(i)+1)
		sp.SetSpanID(sid)
		if step > 0 {
			var parent pcommon.SpanID
			copy(parent[:4], ids.span[:])
			binary.BigEndian.PutUint32(parent[4:], uint32(run*benchSpansPerRun)+1)
			sp.SetParentSpanID(parent)
		}
		t0 := start.Add(time.Duration(i) * time.Millisecond)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(800 * time.Microsecond)))
		a := sp.Attributes()
		callID := fmt.Sprintf("call_%s_%d_%d", ids.text, run, step)
		switch {
		case step == 0:
			sp.SetName("invoke_agent billing")
			a.PutStr("gen_ai.operation.name", "invoke_agent")
			a.PutStr("gen_ai.agent.id", "agent-billing-7")
			a.PutStr("gen_ai.agent.name", "billing")
			a.PutStr("gen_ai.conversation.id", fmt.Sprintf("conv-%s-%d", ids.text, run))
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
			a.PutStr("gen_ai.tool.call.id", fmt.Sprintf("call_%s_%d_%d", ids.text, run, step-1))
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

// TestBenchRequest checks that patching the template gives exactly the
// request built from scratch.
func TestBenchRequest(t *testing.T) {
	for _, n := range []int{0, 1, 4711, 1<<24 + 3} {
		if !bytes.Equal(benchRequest(n), buildBenchRequest(benchIDsOf(n))) {
			t.Errorf("benchRequest(%d) differs from the request built with its IDs", n)
		}
	}
}

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
	b.SetBytes(int64(benchRequestsPerOp * len(tmpl.body)))

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
	b.ReportMetric(float64(len(tmpl.body))/benchSpansPerRequest, "B/span")
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
func sendBenchRequests(b *testing.B, client *http.Client, url string, tmpl *benchTemplate, from, to int) {
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
				buf = tmpl.request(buf, n)
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
	for b.Loop() {
		if _, err := Map(b.Context(), td, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchSpansPerRequest)/b.Elapsed().Seconds(), "spans/s")
}

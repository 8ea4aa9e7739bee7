package ingest

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
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
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// testLedger is a ledger on a real SQLite file.
type testLedger struct {
	dir   string
	store ledger.Store
	log   *ledger.Log
}

// newSQLiteLedger opens a ledger in a fresh SQLite file; wrap, if set,
// wraps the store the log writes to.
func newSQLiteLedger(t testing.TB, wrap func(ledger.Store) ledger.Store) *testLedger {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	return openTestLog(t, dir, store, wrap)
}

func openTestLog(t testing.TB, dir string, store ledger.Store, wrap func(ledger.Store) ledger.Store) *testLedger {
	t.Helper()
	s := store
	if wrap != nil {
		s = wrap(store)
	}
	skey, _, err := ledger.GenerateKey("test.agentledger.example")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(s, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLedger{dir: dir, store: store, log: l}
	t.Cleanup(func() { tl.close(t) })
	return tl
}

// newPostgresLedger opens a ledger in a fresh Postgres schema (skipping the
// test if there is no test database; see internal/pgtest).
func newPostgresLedger(t testing.TB, wrap func(ledger.Store) ledger.Store) *testLedger {
	t.Helper()
	store, err := postgres.Open(t.Context(), pgtest.NewSchema(t))
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	return openTestLog(t, "", store, wrap)
}

// stores are the backends the receiver tests run on.
var stores = []struct {
	name string
	open func(testing.TB, func(ledger.Store) ledger.Store) *testLedger
}{
	{"sqlite", newSQLiteLedger},
	{"postgres", newPostgresLedger},
}

func (tl *testLedger) close(t testing.TB) {
	if tl.log != nil {
		if err := tl.log.Close(context.Background()); err != nil {
			t.Errorf("log.Close: %v", err)
		}
		tl.log = nil
	}
	if tl.store != nil {
		if err := tl.store.Close(); err != nil {
			t.Errorf("store.Close: %v", err)
		}
		tl.store = nil
	}
}

// entries reads back and decodes every entry, checking each content piece
// against its commitment.
func (tl *testLedger) entries(t testing.TB) []*ledger.Entry {
	t.Helper()
	ctx := context.Background()
	head, err := tl.store.Head(ctx)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	recs, err := tl.store.Records(ctx, 0, head.Size)
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	out := make([]*ledger.Entry, 0, len(recs))
	for i := range recs {
		e, _, err := recs[i].Decode()
		if err != nil {
			t.Fatalf("Decode(record %d): %v", recs[i].Index, err)
		}
		out = append(out, e)
	}
	return out
}

// testLogger logs to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer starts an in-process receiver on the ledger with free ports.
func startServer(t testing.TB, tl *testLedger, mod func(*ServerConfig)) (grpcAddr, httpAddr string) {
	t.Helper()
	cfg := ServerConfig{
		GRPCAddr: freeAddr(t),
		HTTPAddr: freeAddr(t),
		Log:      tl.log,
		Redactor: newRedactor(t),
		Logger:   testLogger(t),
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return cfg.GRPCAddr, cfg.HTTPAddr
}

var fastRetry = struct {
	grpc otlptracegrpc.RetryConfig
	http otlptracehttp.RetryConfig
}{
	otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxElapsedTime: 30 * time.Second},
	otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxElapsedTime: 30 * time.Second},
}

// recorder returns a tracer provider whose ended spans are kept for a
// test to export in one request, so that the test sees the export error.
func recorder(service string) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	res := resource.NewWithAttributes("",
		attribute.String("service.name", service),
		attribute.String("service.version", "2.1.0"),
		attribute.String("container.image.id", "sha256:feedface"),
		attribute.String("oci.manifest.digest", "sha256:cafebabe"),
	)
	return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res)), rec
}

// agentRun emits a multi-step agent run in the shape of one profile.
type agentRun func(ctx context.Context, tr trace.Tracer)

func genaiRun(ctx context.Context, tr trace.Tracer) {
	ctx, root := tr.Start(ctx, "invoke_agent billing", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("gen_ai.provider.name", "openai"),
		attribute.String("gen_ai.agent.id", "agent-billing-1"),
		attribute.String("gen_ai.agent.name", "billing"),
		attribute.String("gen_ai.conversation.id", "conv-77"),
	))
	_, chat := tr.Start(ctx, "chat gpt-5", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", "gpt-5"),
		attribute.String("gen_ai.response.model", "gpt-5-2026-01"),
		attribute.Int("gen_ai.usage.input_tokens", 512),
		attribute.String("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"Refund order 42, my key is `+secretOpenAI+`"}]}]`),
		attribute.String("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"reasoning","content":"Order 42 qualifies; call refund."},{"type":"tool_call","id":"call_refund_42","name":"refund","arguments":{"order":42}}],"finish_reason":"tool_calls"}]`),
	))
	chat.End()
	tctx, tool := tr.Start(ctx, "execute_tool refund", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", "refund"),
		attribute.String("gen_ai.tool.call.id", "call_refund_42"),
		attribute.String("gen_ai.tool.call.arguments", `{"order":42}`),
		attribute.String("gen_ai.tool.call.result", `{"status":"refunded"}`),
	))
	_, cred := tr.Start(tctx, "credential.exchange", trace.WithAttributes(
		attribute.String("credential.id", "jwt-id-4711"),
		attribute.String("credential.parent_id", "sess-1"),
		attribute.String("credential.scope", "refunds:write"),
		attribute.String("credential.issuer", "https://idp.example.com"),
	))
	cred.End()
	apiCall(tctx, tr)
	tool.End()
	_, final := tr.Start(ctx, "chat gpt-5", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", "gpt-5"),
		attribute.String("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"text","content":"Refunded."}]}]`),
	))
	final.End()
	root.End()
}

// apiCall emits the HTTP client span of a call made with a bearer JWT.
func apiCall(ctx context.Context, tr trace.Tracer) {
	_, sp := tr.Start(ctx, "POST", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", "POST"),
		attribute.String("url.full", "https://payments.example.com/v1/refunds?order=42"),
		attribute.Int("http.response.status_code", 201),
		attribute.StringSlice("http.request.header.authorization", []string{"Bearer " + secretJWT}),
	))
	sp.End()
}

func openinferenceRun(ctx context.Context, tr trace.Tracer) {
	ctx, root := tr.Start(ctx, "BillingAgent", trace.WithAttributes(
		attribute.String("openinference.span.kind", "AGENT"),
		attribute.String("agent.name", "billing"),
		attribute.String("session.id", "sess-oi-1"),
		attribute.String("input.value", "Refund order 42"),
	))
	_, llm := tr.Start(ctx, "ChatOpenAI", trace.WithAttributes(
		attribute.String("openinference.span.kind", "LLM"),
		attribute.String("llm.model_name", "gpt-4o"),
		attribute.String("llm.provider", "openai"),
		attribute.String("llm.input_messages.0.message.role", "user"),
		attribute.String("llm.input_messages.0.message.content", "Refund order 42"),
		attribute.String("llm.output_messages.0.message.role", "assistant"),
		attribute.String("llm.output_messages.0.message.contents.0.message_content.type", "reasoning"),
		attribute.String("llm.output_messages.0.message.contents.0.message_content.text", "Use the refund tool."),
		attribute.String("llm.output_messages.0.message.tool_calls.0.tool_call.id", "call_oi_1"),
		attribute.String("llm.output_messages.0.message.tool_calls.0.tool_call.function.name", "refund"),
		attribute.String("llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments", `{"order":42}`),
	))
	llm.End()
	tctx, tool := tr.Start(ctx, "refund", trace.WithAttributes(
		attribute.String("openinference.span.kind", "TOOL"),
		attribute.String("tool.name", "refund"),
		attribute.String("tool_call.id", "call_oi_1"),
		attribute.String("input.value", `{"order":42}`),
		attribute.String("output.value", `{"status":"refunded"}`),
	))
	apiCall(tctx, tr)
	tool.End()
	root.End()
}

func openllmetryRun(ctx context.Context, tr trace.Tracer) {
	ctx, root := tr.Start(ctx, "billing.workflow", trace.WithAttributes(
		attribute.String("traceloop.span.kind", "workflow"),
		attribute.String("traceloop.workflow.name", "billing"),
		attribute.String("traceloop.entity.name", "billing"),
		attribute.String("traceloop.association.properties.session_id", "sess-oll-1"),
	))
	_, llm := tr.Start(ctx, "openai.chat", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("llm.request.type", "chat"),
		attribute.String("gen_ai.system", "openai"),
		attribute.String("gen_ai.request.model", "gpt-4o-mini"),
		attribute.String("gen_ai.prompt.0.role", "user"),
		attribute.String("gen_ai.prompt.0.content", "Refund order 42"),
		attribute.String("gen_ai.completion.0.role", "assistant"),
		attribute.String("gen_ai.completion.0.tool_calls.0.id", "call_oll_1"),
		attribute.String("gen_ai.completion.0.tool_calls.0.name", "refund"),
		attribute.String("gen_ai.completion.0.tool_calls.0.arguments", `{"order":42}`),
	))
	llm.End()
	tctx, tool := tr.Start(ctx, "refund.tool", trace.WithAttributes(
		attribute.String("traceloop.span.kind", "tool"),
		attribute.String("traceloop.entity.name", "refund"),
		attribute.String("traceloop.entity.input", `{"order":42}`),
		attribute.String("traceloop.entity.output", `{"status":"refunded"}`),
	))
	apiCall(tctx, tr)
	tool.End()
	root.End()
}

func TestReceiverProfiles(t *testing.T) {
	tests := []struct {
		name      string
		run       agentRun
		transport string
		toolLink  bool // the tool span carries the call ID the llm step decided
	}{
		{"genai", genaiRun, "grpc", true},
		{"openinference", openinferenceRun, "http", true},
		{"openllmetry", openllmetryRun, "http/json+gzip", false},
	}
	for _, st := range stores {
		for _, tt := range tests {
			t.Run(st.name+"/"+tt.name, func(t *testing.T) {
				testProfile(t, st.open(t, nil), tt.run, tt.transport, tt.toolLink, tt.name)
			})
		}
	}
}

func testProfile(t *testing.T, tl *testLedger, run agentRun, transport string, toolLink bool, profile string) {
	grpcAddr, httpAddr := startServer(t, tl, nil)
	var exp sdktrace.SpanExporter
	var err error
	switch transport {
	case "grpc":
		exp, err = otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithRetry(fastRetry.grpc))
	case "http":
		exp, err = otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure(), otlptracehttp.WithRetry(fastRetry.http), otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	default:
		exp, err = otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure(), otlptracehttp.WithRetry(fastRetry.http),
			otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON), otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	tp, rec := recorder("billing-" + profile)
	run(t.Context(), tp.Tracer("agent"))
	spans := rec.Ended()
	if err := exp.ExportSpans(t.Context(), spans); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}

	entries := tl.entries(t)
	byKind := map[ledger.Kind][]*ledger.Entry{}
	for _, e := range entries {
		byKind[e.Kind] = append(byKind[e.Kind], e)
	}
	for kind, n := range map[ledger.Kind]int{ledger.KindAgent: 1, ledger.KindTool: 1, ledger.KindAPICall: 1, ledger.KindAttestation: 1} {
		if got := len(byKind[kind]); got != n {
			t.Errorf("%d %s entries, want %d", got, kind, n)
		}
	}
	if len(byKind[ledger.KindLLM]) == 0 {
		t.Fatalf("no llm entries; kinds %v", kindsOf(entries))
	}
	spanEntries := len(entries) - len(byKind[ledger.KindAttestation])
	if spanEntries != len(spans) {
		t.Errorf("%d span entries for %d spans", spanEntries, len(spans))
	}

	// Links: the llm step names the tool call the tool span executed.
	llm := byKind[ledger.KindLLM][0]
	ids, _ := llm.Attr(AttrToolCallIDs)
	if ids == "" {
		t.Errorf("llm step has no %s", AttrToolCallIDs)
	}
	tool := byKind[ledger.KindTool][0]
	if toolLink {
		id, _ := tool.Attr(AttrToolCallID)
		if id == "" || !slices.Contains(strings.Fields(ids), id) {
			t.Errorf("tool %s = %q, llm %s = %q: not linked", AttrToolCallID, id, AttrToolCallIDs, ids)
		}
	}
	if name, _ := tool.Attr(AttrToolName); name != "refund" {
		t.Errorf("tool name = %q, want refund", name)
	}
	if tool.ParentSpanID != byKind[ledger.KindAgent][0].SpanID {
		t.Errorf("tool parent = %s, want the agent span %s", tool.ParentSpanID, byKind[ledger.KindAgent][0].SpanID)
	}

	// Content is behind commitments (Decode checked them) and
	// nothing of it is in the leaf.
	c := contentMap(llm)
	if c[ContentInputMessages] == "" || c[ContentOutputMessages] == "" {
		t.Errorf("llm content = %v, want input and output messages", sortedKeys(c))
	}
	for _, a := range llm.Attrs {
		if strings.Contains(a.Value, "Refund order 42") {
			t.Errorf("llm leaf attribute %s holds prompt text", a.Key)
		}
	}

	// The API call names the credential it used.
	api := byKind[ledger.KindAPICall][0]
	r := newRedactor(t)
	if fp, _ := api.Attr(ledger.AttrCredentialFingerprint); fp != r.Fingerprint(secretJWT) {
		t.Errorf("api_call credential.fingerprint = %q, want the JWT's fingerprint", fp)
	}
	if id, _ := api.Attr(ledger.AttrCredentialID); id != "jwt-id-4711" {
		t.Errorf("api_call credential.id = %q, want the JWT's jti", id)
	}
	if host, _ := api.Attr(ledger.AttrServerAddress); host != "payments.example.com" {
		t.Errorf("api_call server.address = %q", host)
	}
	att := byKind[ledger.KindAttestation][0]
	if d, _ := att.Attr("oci.manifest.digest"); d != "sha256:cafebabe" {
		t.Errorf("attestation oci.manifest.digest = %q", d)
	}
	if svc, _ := att.Attr("service.name"); svc != "billing-"+profile {
		t.Errorf("attestation service.name = %q", svc)
	}

	// The ledger finds the API call by the fingerprint of the raw
	// token, as a responder holding the leaked token would.
	idx, err := tl.store.Find(t.Context(), ledger.Ref{Key: ledger.RefFingerprint, Value: r.Fingerprint(secretJWT)}, 0, 10)
	if err != nil || len(idx) != 1 {
		t.Errorf("Find(fingerprint) = %v, %v; want the api_call", idx, err)
	}

	// A retry of the same request is acknowledged and adds nothing.
	if err := exp.ExportSpans(t.Context(), spans); err != nil {
		t.Fatalf("ExportSpans again: %v", err)
	}
	if got := len(tl.entries(t)); got != len(entries) {
		t.Errorf("after a retry the ledger holds %d entries, want %d", got, len(entries))
	}
}

func kindsOf(entries []*ledger.Entry) []ledger.Kind {
	var ks []ledger.Kind
	for _, e := range entries {
		ks = append(ks, e.Kind)
	}
	return ks
}

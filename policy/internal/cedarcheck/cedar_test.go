package cedarcheck

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ingest"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/sqlite"
	"github.com/agentledger/agentledger/policy"
	"github.com/agentledger/agentledger/query"
)

// The policies, by ID: the payments agent may post payments; nobody may
// post refunds.
var policies = map[cedar.PolicyID]string{
	"permit-payments": `permit (principal == Agent::"payments-agent", action == Action::"POST /v1/payments", resource == Api::"api.bank.example");`,
	"forbid-refunds":  `forbid (principal, action == Action::"POST /v1/refunds", resource);`,
	"permit-agents":   `permit (principal is Agent, action, resource == Api::"api.bank.example") when { context.business_hours };`,
}

const credential = "cred-cedar-0042"

// authorize asks Cedar whether the payments agent may make call, and maps
// its answer onto the policy.* convention: the decision, the determining
// policies (Diagnostic.Reasons) and the errors (Diagnostic.Errors).
func authorize(t *testing.T, ps *cedar.PolicySet, method, path string) []attribute.KeyValue {
	t.Helper()
	req := cedar.Request{
		Principal: cedar.NewEntityUID("Agent", "payments-agent"),
		Action:    cedar.NewEntityUID("Action", cedar.String(method+" "+path)),
		Resource:  cedar.NewEntityUID("Api", "api.bank.example"),
		Context:   cedar.NewRecord(cedar.RecordMap{"business_hours": cedar.True}),
	}
	decision, diag := cedar.Authorize(ps, cedar.EntityMap{}, req)
	var ids, reasons []string
	for _, r := range diag.Reasons {
		ids = append(ids, string(r.PolicyID))
	}
	for _, e := range diag.Errors {
		reasons = append(reasons, e.Message)
	}
	slices.Sort(ids)
	d := policy.DecisionDeny
	if decision == cedar.Allow {
		d = policy.DecisionAllow
	}
	return []attribute.KeyValue{
		attribute.String(policy.AttrEngine, policy.EngineCedar), attribute.String(policy.AttrDecision, d),
		attribute.String(policy.AttrID, strings.Join(ids, " ")), attribute.String(policy.AttrReason, strings.Join(reasons, "; ")),
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestCedarDecisions(t *testing.T) {
	ctx := t.Context()
	ps := cedar.NewPolicySet()
	for id, text := range policies {
		var p cedar.Policy
		if err := p.UnmarshalCedar([]byte(text)); err != nil {
			t.Fatalf("policy %s: %v", id, err)
		}
		ps.Add(id, &p)
	}

	// A real ledger, receiver and query server.
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	skey, _, err := ledger.GenerateKey("test.agentledger.example")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(store, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	r, err := secrets.NewRedactor([]byte("agentledger-test-secret-0123456789abcdef"), secrets.Config{})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	otlpAddr := freeAddr(t)
	rcv, err := ingest.Start(ctx, ingest.ServerConfig{HTTPAddr: otlpAddr, Log: l, Redactor: r, Logger: logger})
	if err != nil {
		t.Fatalf("ingest.Start: %v", err)
	}
	defer rcv.Shutdown(context.Background())
	qs, err := query.NewServer(query.Config{Reader: store, Log: l, Tokens: store, Fingerprint: r.Fingerprint, Logger: logger})
	if err != nil {
		t.Fatalf("query.NewServer: %v", err)
	}
	web := httptest.NewServer(qs.Handler())
	defer web.Close()
	token, _, err := auth.Create(ctx, store, "responder", auth.RoleResponder)
	if err != nil {
		t.Fatal(err)
	}

	// The agent's run, as its runtime reports it with the OTel SDK: each
	// call's enforcement point asks Cedar within the call's span.
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(otlpAddr), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "payments-agent"))))
	tr := tp.Tracer("agent-runtime")
	ctx0, root := tr.Start(ctx, "invoke_agent payments-agent", trace.WithAttributes(attribute.String("gen_ai.agent.id", "payments-agent")))
	for _, path := range []string{"/v1/payments", "/v1/refunds"} {
		cctx, call := tr.Start(ctx0, "POST "+path, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("http.request.method", "POST"), attribute.String("server.address", "api.bank.example"),
			attribute.String("url.path", path), attribute.String(ledger.AttrCredentialID, credential)))
		_, d := tr.Start(cctx, "cedar.is_authorized", trace.WithAttributes(authorize(t, ps, "POST", path)...))
		d.End()
		call.End()
	}
	root.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("export: %v", err)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, web.URL+"/v1/credentials/"+credential+"?content=false", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v api.CredentialView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("credential view = %d: %v", resp.StatusCode, err)
	}
	if len(v.Usages) != 1 || len(v.Usages[0].Calls) != 2 {
		t.Fatalf("usages %+v", v.Usages)
	}
	want := map[string]api.PolicyDecision{
		"/v1/payments": {Engine: "cedar", Decision: "allow", PolicyID: "permit-agents permit-payments", LinkedBy: policy.LinkTrace},
		"/v1/refunds":  {Engine: "cedar", Decision: "deny", PolicyID: "forbid-refunds", LinkedBy: policy.LinkTrace},
	}
	for _, c := range v.Usages[0].Calls {
		w := want[c.Target.Path]
		if len(c.Policy) != 1 {
			t.Errorf("%s: policy %+v, want one decision", c.Target.Path, c.Policy)
			continue
		}
		got := c.Policy[0]
		got.Index, got.Source = 0, ""
		if got != w {
			t.Errorf("%s: decision %+v, want %+v", c.Target.Path, got, w)
		}
	}
	var denied []string
	for _, f := range v.Evidence.Findings {
		if f.Kind == query.FindingPolicyDenied {
			denied = append(denied, f.Summary)
		}
	}
	if len(denied) != 1 {
		t.Errorf("policy_denied findings %v, want one (the refund)", denied)
	}
}

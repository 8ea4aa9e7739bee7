package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/internal/servetest"
)

// govCredential is the credential of the governance run.
const govCredential = "cred-gov-0042"

// sshSign signs msg with ssh-keygen -Y sign in the approval namespace.
func sshSign(t *testing.T, key string, msg []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "statement")
	if err := os.WriteFile(f, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", approval.Namespace, f).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v: %s", err, out)
	}
	sig, err := os.ReadFile(f + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	return string(sig)
}

// sendGovernanceRun sends, with the OTel SDK, a run of payments-agent
// whose resource attests an image the allow-list does not name, and four
// calls with cred-gov-0042, each after an approval: a payment approved
// with alice's ssh-keygen signature and allowed by a Cedar decision; a
// payout whose approval carries a signature over another statement (a
// forgery); an invoice made after its approval expired; and a wire, which
// serve gates, approved without a signature. It returns the trace ID.
func sendGovernanceRun(t *testing.T, ctx context.Context, endpoint, aliceKey string) string {
	t.Helper()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(resource.NewSchemaless(
		attribute.String("service.name", "payments-agent"), attribute.String("container.image.id", "sha256:rogue-image-77aa"))))
	tr := tp.Tracer("agent-runtime")
	t0 := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ctx0, root := tr.Start(ctx, "invoke_agent payments-agent", trace.WithTimestamp(at(0)), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.id", "payments-agent")))
	runID := root.SpanContext().TraceID().String()
	statement := func(path string, expires time.Time) (approval.Statement, []byte) {
		st := approval.Statement{Approver: "alice@example.com", Action: "POST " + path, Target: "api.bank.example", Expires: expires, Run: runID}
		msg, err := st.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return st, msg
	}
	later := at(3600)
	for i, c := range []struct {
		path    string
		expires time.Time
		sig     func(msg []byte) string
		policy  bool
	}{
		{"/v1/payments", later, func(msg []byte) string { return sshSign(t, aliceKey, msg) }, true},
		{"/v1/payouts", later, func([]byte) string {
			_, other := statement("/v1/refunds", later)
			return sshSign(t, aliceKey, other)
		}, false},
		{"/v1/invoices", at(25), func(msg []byte) string { return sshSign(t, aliceKey, msg) }, false},
		{"/v1/wires", later, func([]byte) string { return "" }, false},
	} {
		st, msg := statement(c.path, c.expires)
		attrs := []attribute.KeyValue{
			attribute.String(approval.AttrApprover, st.Approver), attribute.String(approval.AttrAction, st.Action),
			attribute.String(approval.AttrTarget, st.Target), attribute.String(approval.AttrExpiresAt, st.Expires.Format(time.RFC3339)),
			attribute.String(approval.AttrRun, runID), attribute.String("approval.decision", "approved"),
		}
		if sig := c.sig(msg); sig != "" {
			attrs = append(attrs, attribute.String(approval.AttrSignature, sig))
		}
		start := 20 * (i + 1)
		_, ap := tr.Start(ctx0, "approval.granted", trace.WithTimestamp(at(start)), trace.WithAttributes(attrs...))
		ap.End(trace.WithTimestamp(at(start + 1)))
		cctx, call := tr.Start(ctx0, "POST "+c.path, trace.WithTimestamp(at(start+10)), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("http.request.method", "POST"), attribute.String("server.address", "api.bank.example"),
			attribute.String("url.path", c.path), attribute.Int("http.response.status_code", 201), attribute.String("credential.id", govCredential)))
		if c.policy {
			// The enforcement point asked Cedar, within the call.
			_, d := tr.Start(cctx, "cedar.is_authorized", trace.WithTimestamp(at(start+10)), trace.WithAttributes(
				attribute.String("policy.engine", "cedar"), attribute.String("policy.decision", "allow"),
				attribute.String("policy.id", "permit-payments")))
			d.End(trace.WithTimestamp(at(start + 10)))
		}
		call.End(trace.WithTimestamp(at(start + 11)))
	}
	root.End(trace.WithTimestamp(at(100)))
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("send the governance run: %v", err)
	}
	return runID
}

// TestBrowserGovernance serves a ledger that verifies approvals (an
// allowed-signers file made in the test), gates wires and holds an
// attestation allow-list, sends a run over OTLP, and drives the UI in
// headless Chromium (web/e2e/governance.spec.mjs): the credential page
// and the run page show, per API call, the policy decision, the approval
// (verified or not, by whom) and the attestation check, for an approved
// and verified call, a forged signature, an expired approval, an
// unsigned approval of a gated action and an attestation mismatch.
func TestBrowserGovernance(t *testing.T) {
	node := requireTools(t, true)
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen is needed to sign the approvals: apt-get install -y openssh-client")
	}
	ctx := t.Context()
	bin := servetest.Binary(t)
	dir := t.TempDir()
	alice := filepath.Join(dir, "alice")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", alice).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(alice + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	signers, allow := filepath.Join(dir, "allowed_signers"), filepath.Join(dir, "allow.yaml")
	if err := os.WriteFile(signers, append([]byte("alice@example.com "), pub...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(allow, []byte("images: [sha256:approved-image-1]\nmodels: [gpt-4o]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	srv := servetest.Start(t, servetest.Options{Binary: bin, DataDir: dataDir, Args: []string{"--approval-signers", signers, "--approval-required", "POST /v1/wires*", "--attestation-allow", allow}})
	token := adminToken(t, bin, dataDir)
	client := apiClient{base: srv.URL(), token: token}

	runID := sendGovernanceRun(t, ctx, srv.OTLPHTTPAddr, alice)
	waitFor(t, "the governance run is ingested", 30*time.Second, func() (bool, error) {
		var r struct {
			Governance []struct {
				Approval *struct{} `json:"approval"`
			} `json:"governance"`
		}
		_, err := client.do(ctx, http.MethodGet, "/v1/runs/"+runID+"?content=false", nil, &r)
		n := 0
		for _, g := range r.Governance {
			if g.Approval != nil {
				n++
			}
		}
		return err == nil && n == 4, fmt.Errorf("%d of 4 calls with their approval (%v)", n, err)
	})

	shots := filepath.Join(screenshotDir(t), "governance")
	runNode(t, node, "e2e/governance.spec.mjs",
		"BASE_URL="+srv.URL(),
		"TOKEN="+token,
		"GOV_TRACE_ID="+runID,
		"GOV_CREDENTIAL_ID="+govCredential,
		"SCREENSHOT_DIR="+shots,
		"CHROMIUM="+chromiumPath(),
	)
}

// Package demo sends realistic agent traffic over OTLP: agents that obtain
// short-lived credentials, reason over several LLM steps, call tools and
// APIs with those credentials, wait for a human approval, and one credential
// that leaks and is used from another run; and the provider's side of one
// credential, CloudTrail records sent as OTLP log records, in which an AWS
// session is used from an attacker's address that no agent run accounts
// for. agentledger demo and the end-to-end tests use it.
package demo

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Config says where to send the traffic.
type Config struct {
	// Target is the OTLP endpoint host:port.
	Target string
	// HTTP sends OTLP/HTTP instead of OTLP/gRPC.
	HTTP bool
	// TLS, if set, sends over TLS with these settings (the server's CA
	// or certificate, and for mutual TLS a client certificate); nil sends
	// in plain text.
	TLS *tls.Config
	// Start is the time of the first run; zero means ten minutes ago.
	Start time.Time
}

// Run is one agent run the demo sent.
type Run struct {
	TraceID string
	Agent   string
	Summary string
}

// Result tells what the demo sent, so a user can look it up.
type Result struct {
	Runs []Run
	// Credentials maps a description to a credential ID.
	Credentials map[string]string
	// LeakedCredential is the ID of the credential that leaked and was used
	// from another run.
	LeakedCredential string
	// LeakedToken is the raw bearer token of the leaked credential, as a
	// responder would find it pasted somewhere: look it up with
	// POST /v1/credentials/lookup. It is a demo value, signed by nobody.
	LeakedToken string
	// LegitRun and ForeignRun are the trace IDs of the run that obtained the
	// leaked credential and of the run that used it after it leaked.
	LegitRun, ForeignRun string
	// LeakedSession is the access key ID of the data-analyst's AWS STS
	// session, which CloudTrail's records (sent as OTLP log records marked
	// evidence.source=cloudtrail) show used from AttackerIP with no agent
	// run to account for it: an unaccounted use finding.
	LeakedSession string
}

// Send sends the demo traffic and returns once every span was exported.
func Send(ctx context.Context, cfg Config) (*Result, error) {
	var (
		exp sdktrace.SpanExporter
		err error
	)
	if cfg.HTTP {
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(cfg.Target), otlptracehttp.WithRetry(otlptracehttp.RetryConfig(retry))}
		if cfg.TLS != nil {
			opts = append(opts, otlptracehttp.WithTLSClientConfig(cfg.TLS))
		} else {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	} else {
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(cfg.Target), otlptracegrpc.WithDialOption(grpc.WithTransportCredentials(cfg.grpcCredentials())),
			otlptracegrpc.WithRetry(retry))
	}
	if err != nil {
		return nil, fmt.Errorf("create OTLP exporter: %w", err)
	}
	start := cfg.Start
	if start.IsZero() {
		start = time.Now().Add(-10 * time.Minute)
	}
	checked := &checkedExporter{SpanExporter: exp}
	s := &sender{cfg: cfg, exp: checked, t: start, res: &Result{Credentials: map[string]string{}}}
	err = s.all(ctx)
	if err == nil {
		err = checked.failure()
	}
	if err != nil {
		exp.Shutdown(ctx)
		return nil, fmt.Errorf("send to %s: %w", cfg.Target, err)
	}
	if err := exp.Shutdown(ctx); err != nil {
		return nil, fmt.Errorf("flush OTLP exporter: %w", err)
	}
	return s.res, nil
}

// grpcCredentials returns the gRPC transport credentials of cfg.TLS.
func (cfg Config) grpcCredentials() credentials.TransportCredentials {
	if cfg.TLS == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(cfg.TLS)
}

// retry gives up on an unreachable server after a few seconds rather than
// the exporters' default minute.
var retry = otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 200 * time.Millisecond, MaxInterval: 2 * time.Second, MaxElapsedTime: 10 * time.Second}

// checkedExporter remembers the first export error, which the SDK would
// only log, and fails every export after it, so that Send reports a
// delivery failure instead of losing spans quietly.
type checkedExporter struct {
	sdktrace.SpanExporter
	mu  sync.Mutex
	err error
}

// ExportSpans implements sdktrace.SpanExporter.
func (c *checkedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := c.failure(); err != nil {
		return err
	}
	err := c.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return err
}

// Shutdown implements sdktrace.SpanExporter. It leaves the shared exporter
// open: each run's TracerProvider shuts its processors down, and the
// exporter outlives them all.
func (c *checkedExporter) Shutdown(context.Context) error { return nil }

func (c *checkedExporter) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

type sender struct {
	cfg   Config
	exp   sdktrace.SpanExporter
	t     time.Time
	res   *Result
	trail *cloudTrail
}

// agent describes one agent deployment.
type agent struct {
	id, name, service, version, image, model string
}

var (
	deployBot = agent{"agent-deploy-7", "deploy-bot", "deploy-bot", "2.4.1",
		"sha256:9f2c1e0d7a4b3c5e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6", "gpt-4o-2024-08-06"}
	supportAgent = agent{"agent-support-3", "support-agent", "support-agent", "1.9.0",
		"sha256:1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff001", "claude-sonnet-4"}
	dataAnalyst = agent{"agent-analyst-1", "data-analyst", "analyst", "0.7.3",
		"sha256:aa11bb22cc33dd44ee55ff66778899aabbccddeeff00112233445566778899aa", "gpt-4.1-mini"}
	rogue = agent{"agent-unknown", "shadow-runner", "shadow-runner", "0.0.1",
		"sha256:deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef", "llama-3.1-8b"}
)

func (s *sender) all(ctx context.Context) error {
	leaked, err := s.deployRun(ctx)
	if err != nil {
		return err
	}
	if err := s.supportRun(ctx); err != nil {
		return err
	}
	if err := s.analystRun(ctx); err != nil {
		return err
	}
	if err := s.foreignRun(ctx, leaked); err != nil {
		return err
	}
	// The provider's side: what CloudTrail recorded of the data-analyst's
	// session, including two calls from an attacker a minute later.
	if err := sendLogs(ctx, s.cfg, "cloudtrail", s.trail.records(s.t.Add(time.Minute))); err != nil {
		return fmt.Errorf("send CloudTrail records: %w", err)
	}
	s.res.LeakedSession = s.trail.keyID
	return nil
}

// run is one trace being built.
type run struct {
	s    *sender
	tp   *sdktrace.TracerProvider
	tr   trace.Tracer
	root trace.Span
	ctx  context.Context
	t    time.Time
}

func (s *sender) newRun(ctx context.Context, a agent, conversation, summary string) *run {
	res := resource.NewSchemaless(
		attribute.String("service.name", a.service),
		attribute.String("service.version", a.version),
		attribute.String("container.image.id", a.image),
		attribute.String("oci.manifest.digest", a.image),
		attribute.String("gen_ai.request.model", a.model),
	)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(s.exp), sdktrace.WithResource(res))
	r := &run{s: s, tp: tp, tr: tp.Tracer("agentledger-demo"), t: s.t}
	r.ctx, r.root = r.tr.Start(ctx, "invoke_agent "+a.name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithTimestamp(r.t),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "invoke_agent"),
			attribute.String("gen_ai.agent.id", a.id),
			attribute.String("gen_ai.agent.name", a.name),
			attribute.String("gen_ai.conversation.id", conversation),
			attribute.String("gen_ai.provider.name", "openai"),
		))
	s.res.Runs = append(s.res.Runs, Run{TraceID: r.root.SpanContext().TraceID().String(), Agent: a.name, Summary: summary})
	return r
}

func (r *run) tick(d time.Duration) time.Time {
	r.t = r.t.Add(d)
	return r.t
}

func (r *run) end() error {
	r.root.End(trace.WithTimestamp(r.tick(200 * time.Millisecond)))
	r.s.t = r.t.Add(30 * time.Second)
	if err := r.tp.Shutdown(context.Background()); err != nil {
		return fmt.Errorf("export run: %w", err)
	}
	return nil
}

func (r *run) traceID() string { return r.root.SpanContext().TraceID().String() }

type part map[string]any

func messages(msgs ...part) string {
	b, _ := json.Marshal(msgs)
	return string(b)
}

func text(role, content string) part {
	return part{"role": role, "parts": []part{{"type": "text", "content": content}}}
}

// chat records one LLM step; calls are the tool calls it decides, as
// (id, tool name, JSON arguments) triples.
func (r *run) chat(model, user, reasoning, answer string, calls ...[3]string) {
	parts := []part{{"type": "reasoning", "content": reasoning}}
	if answer != "" {
		parts = append(parts, part{"type": "text", "content": answer})
	}
	for _, c := range calls {
		var args any
		_ = json.Unmarshal([]byte(c[2]), &args)
		parts = append(parts, part{"type": "tool_call", "id": c[0], "name": c[1], "arguments": args})
	}
	out := messages(part{"role": "assistant", "parts": parts, "finish_reason": "tool_call"})
	_, sp := r.tr.Start(r.ctx, "chat "+model, trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(r.tick(100*time.Millisecond)),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.request.model", model),
			attribute.String("gen_ai.response.model", model),
			attribute.String("gen_ai.provider.name", "openai"),
			attribute.String("gen_ai.system_instructions", messages(part{"type": "text", "content": "You are a careful operations agent. Use least privilege."})),
			attribute.String("gen_ai.input.messages", messages(text("user", user))),
			attribute.String("gen_ai.output.messages", out),
			attribute.Int("gen_ai.usage.input_tokens", 800+len(user)),
			attribute.Int("gen_ai.usage.output_tokens", 120+len(reasoning)/4),
		))
	sp.End(trace.WithTimestamp(r.tick(1400 * time.Millisecond)))
}

// tool records an execute_tool span and returns its context, so API calls
// the tool makes are its children.
func (r *run) tool(callID, name, args, result string, body func(ctx context.Context)) {
	ctx, sp := r.tr.Start(r.ctx, "execute_tool "+name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithTimestamp(r.tick(50*time.Millisecond)),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "execute_tool"),
			attribute.String("gen_ai.tool.name", name),
			attribute.String("gen_ai.tool.call.id", callID),
			attribute.String("gen_ai.tool.type", "function"),
			attribute.String("gen_ai.tool.call.arguments", args),
			attribute.String("gen_ai.tool.call.result", result),
		))
	if body != nil {
		body(ctx)
	}
	sp.End(trace.WithTimestamp(r.tick(80 * time.Millisecond)))
}

// credential records a credential event on the current span of ctx.
func (r *run) credential(ctx context.Context, op string, attrs ...attribute.KeyValue) {
	_, sp := r.tr.Start(ctx, "credential."+op, trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(r.tick(40*time.Millisecond)),
		trace.WithAttributes(attrs...))
	sp.End(trace.WithTimestamp(r.tick(60 * time.Millisecond)))
}

// call records an HTTP API call made with a credential. An empty credID
// leaves the credential to be recognised from the bearer token alone, as
// for an attacker's tooling that does not label it.
func (r *run) call(ctx context.Context, method, host, path string, status int, credID, bearer string) {
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", method),
		attribute.String("server.address", host),
		attribute.Int("server.port", 443),
		attribute.String("url.full", "https://"+host+path),
		attribute.String("url.path", path),
		attribute.Int("http.response.status_code", status),
	}
	if credID != "" {
		attrs = append(attrs, attribute.String("credential.id", credID))
	}
	if bearer != "" {
		attrs = append(attrs, attribute.StringSlice("http.request.header.authorization", []string{"Bearer " + bearer}))
	}
	_, sp := r.tr.Start(ctx, method, trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(r.tick(20*time.Millisecond)), trace.WithAttributes(attrs...))
	if status >= 400 {
		sp.SetStatus(codes.Error, fmt.Sprintf("HTTP %d", status))
	}
	sp.End(trace.WithTimestamp(r.tick(time.Duration(40+status%37) * time.Millisecond)))
}

// approval records a human approval of an action as a span event.
func (r *run) approval(action, approver, decision string) {
	r.root.AddEvent("approval.granted", trace.WithTimestamp(r.tick(90*time.Second)), trace.WithAttributes(
		attribute.String("approval.action", action),
		attribute.String("approval.approver", approver),
		attribute.String("approval.decision", decision),
		attribute.String("approval.signature", "ed25519:"+randHex(32)),
	))
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// jwt returns a demo JWT (unsigned by any real issuer) with the given claims.
func jwt(claims map[string]any) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": "demo"})
	c, _ := json.Marshal(claims)
	sig := make([]byte, 64)
	rand.Read(sig)
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}

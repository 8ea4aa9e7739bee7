package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// scenario is what loadScenario sent: a deploy agent's run in which a
// credential was exchanged and used, and a second, foreign run (another
// agent) that used the same credential and exchanged a child credential
// from it.
type scenario struct {
	CredentialID string // the credential exchanged in the deploy run
	ParentID     string // the credential it was exchanged from
	ChildID      string // the credential the foreign run exchanged from it
	RawToken     string // the raw bearer token (a JWT whose jti is CredentialID)
	TraceID      string // the deploy run
	ForeignTrace string // the foreign run
	AgentID      string // the deploy agent
	// Spans and Events count what each run sent: every span is one entry,
	// each credential or approval event one more, and each resource one
	// attestation entry per trace.
	Entries map[string]int
}

// fakeJWT returns a JWT-shaped bearer token with the given claims and a
// random signature: what a leaked token looks like.
func fakeJWT(claims map[string]any) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "sts-2026-11"})
	c, _ := json.Marshal(claims)
	sig := make([]byte, 64)
	rand.Read(sig)
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func text(role, content string) map[string]any {
	return map[string]any{"role": role, "parts": []any{map[string]any{"type": "text", "content": content}}}
}

// loadScenario sends the scenario's spans over OTLP/HTTP to endpoint
// (host:port) with the OpenTelemetry Go SDK, as an instrumented agent
// runtime would, and returns what it sent. Times are set explicitly, in
// the recent past, so that the run has a realistic shape.
func loadScenario(ctx context.Context, endpoint string) (*scenario, error) {
	t0 := time.Now().UTC().Add(-20 * time.Minute).Truncate(time.Millisecond)
	at := func(ms int) trace.SpanStartEventOption {
		return trace.WithTimestamp(t0.Add(time.Duration(ms) * time.Millisecond))
	}
	end := func(sp trace.Span, ms int) { sp.End(trace.WithTimestamp(t0.Add(time.Duration(ms) * time.Millisecond))) }

	sc := &scenario{
		CredentialID: "tok-deploy-7f3a",
		ParentID:     "tok-root-001",
		ChildID:      "tok-ci-99",
		AgentID:      "agent-deployer",
		Entries:      map[string]int{},
	}
	expires := t0.Add(time.Hour)
	sc.RawToken = fakeJWT(map[string]any{
		"jti": sc.CredentialID, "iss": "https://sts.example.com", "sub": "spiffe://example.org/agent/deployer",
		"aud": "https://api.github.com", "exp": expires.Unix(), "scope": "deployments:write contents:read",
	})

	// One provider (and exporter) per service, as two agent runtimes
	// would have.
	newProvider := func(attrs ...attribute.KeyValue) (*sdktrace.TracerProvider, error) {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure())
		if err != nil {
			return nil, err
		}
		return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(resource.NewSchemaless(attrs...))), nil
	}
	deployTP, err := newProvider(
		attribute.String("service.name", "deploy-agent"), attribute.String("service.version", "1.4.2"),
		attribute.String("container.image.name", "ghcr.io/acme/deploy-agent"),
		attribute.String("oci.manifest.digest", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"))
	if err != nil {
		return nil, err
	}
	tr := deployTP.Tracer("agent-runtime", trace.WithInstrumentationVersion("0.9.0"))

	// The deploy run.
	ctx0, root := tr.Start(ctx, "invoke_agent Deploy bot", at(0), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("gen_ai.agent.id", sc.AgentID), attribute.String("gen_ai.agent.name", "Deploy bot"),
		attribute.String("gen_ai.conversation.id", "conv-4711"), attribute.String("gen_ai.provider.name", "openai")))
	sc.TraceID = root.SpanContext().TraceID().String()
	system := text("system", "You are Deploy bot. Deploy only tagged releases of acme/web. Ask for approval before production deploys.")
	user := text("user", "Ship web v2.3.1 to production, please.")

	_, step1 := tr.Start(ctx0, "chat gpt-4o", at(120), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.String("gen_ai.response.model", "gpt-4o-2024-08-06"), attribute.String("gen_ai.provider.name", "openai"),
		attribute.Int("gen_ai.usage.input_tokens", 412), attribute.Int("gen_ai.usage.output_tokens", 96),
		attribute.String("gen_ai.input.messages", mustJSON([]any{system, user})),
		attribute.String("gen_ai.output.messages", mustJSON([]any{map[string]any{"role": "assistant", "finish_reason": "tool_call", "parts": []any{
			map[string]any{"type": "reasoning", "content": "The user wants v2.3.1 in production. I hold no credential for the GitHub deployments API, so I first exchange my workload identity for a scoped, short-lived token."},
			map[string]any{"type": "tool_call", "id": "call_tok_1", "name": "get_deploy_token", "arguments": map[string]any{"repo": "acme/web", "scope": "deployments:write"}},
		}}}))))
	end(step1, 1850)

	ctx1, tool1 := tr.Start(ctx0, "execute_tool get_deploy_token", at(1900), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", "get_deploy_token"),
		attribute.String("gen_ai.tool.call.id", "call_tok_1"),
		attribute.String("gen_ai.tool.call.arguments", `{"repo":"acme/web","scope":"deployments:write"}`),
		attribute.String("gen_ai.tool.call.result", `{"token_id":"tok-deploy-7f3a","expires_in":3600,"note":"raw token held in memory only"}`)))
	_, sts := tr.Start(ctx1, "POST", at(1950), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", "POST"), attribute.String("server.address", "sts.example.com"),
		attribute.Int("server.port", 443), attribute.String("url.full", "https://sts.example.com/oauth2/token"),
		attribute.Int("http.response.status_code", 200), attribute.String("credential.id", sc.ParentID)))
	end(sts, 2310)
	tool1.AddEvent("credential.exchange", at(2320), trace.WithAttributes(
		attribute.String("credential.id", sc.CredentialID), attribute.String("credential.parent_id", sc.ParentID),
		attribute.String("credential.type", "oauth2_access_token"), attribute.String("credential.issuer", "https://sts.example.com"),
		attribute.String("credential.subject", "spiffe://example.org/agent/deployer"),
		attribute.String("credential.audience", "https://api.github.com"),
		attribute.String("credential.scope", "deployments:write contents:read"),
		attribute.String("credential.not_before", t0.Add(2320*time.Millisecond).Format(time.RFC3339)),
		attribute.String("credential.expires_at", expires.Format(time.RFC3339))))
	end(tool1, 2400)

	_, step2 := tr.Start(ctx0, "chat gpt-4o", at(2450), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.String("gen_ai.response.model", "gpt-4o-2024-08-06"), attribute.String("gen_ai.provider.name", "openai"),
		attribute.Int("gen_ai.usage.input_tokens", 655), attribute.Int("gen_ai.usage.output_tokens", 120),
		attribute.String("gen_ai.input.messages", mustJSON([]any{system, user,
			map[string]any{"role": "assistant", "parts": []any{map[string]any{"type": "tool_call", "id": "call_tok_1", "name": "get_deploy_token"}}},
			map[string]any{"role": "tool", "parts": []any{map[string]any{"type": "tool_call_response", "id": "call_tok_1", "response": "token tok-deploy-7f3a issued, expires in 3600 s"}}},
		})),
		attribute.String("gen_ai.output.messages", mustJSON([]any{map[string]any{"role": "assistant", "finish_reason": "tool_call", "parts": []any{
			map[string]any{"type": "reasoning", "content": "I have a deployments token now. Production needs a human approval first; the deploy tool asks for it, then creates the deployment for tag v2.3.1."},
			map[string]any{"type": "tool_call", "id": "call_dep_2", "name": "create_deployment", "arguments": map[string]any{"repo": "acme/web", "ref": "v2.3.1", "environment": "production"}},
		}}}))))
	end(step2, 4100)

	ctx2, tool2 := tr.Start(ctx0, "execute_tool create_deployment", at(4150), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", "create_deployment"),
		attribute.String("gen_ai.tool.call.id", "call_dep_2"),
		attribute.String("gen_ai.tool.call.arguments", `{"repo":"acme/web","ref":"v2.3.1","environment":"production"}`),
		attribute.String("gen_ai.tool.call.result", `{"deployment_id":918273,"state":"queued"}`)))
	tool2.AddEvent("approval.granted", at(5400), trace.WithAttributes(
		attribute.String("approval.approver", "alice@example.com"), attribute.String("approval.decision", "approved"),
		attribute.String("approval.action", "deploy acme/web v2.3.1 to production"),
		attribute.String("approval.signature", "ed25519:6b1f…c2a9")))
	_, api := tr.Start(ctx2, "POST /repos/{owner}/{repo}/deployments", at(5500), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", "POST"), attribute.String("server.address", "api.github.com"), attribute.Int("server.port", 443),
		attribute.String("url.full", "https://api.github.com/repos/acme/web/deployments"), attribute.String("url.path", "/repos/acme/web/deployments"),
		attribute.Int("http.response.status_code", 201), attribute.String("credential.id", sc.CredentialID),
		attribute.StringSlice("http.request.header.authorization", []string{"Bearer " + sc.RawToken})))
	end(api, 6150)
	_, api2 := tr.Start(ctx2, "GET /repos/{owner}/{repo}/deployments/{id}/statuses", at(6300), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", "GET"), attribute.String("server.address", "api.github.com"), attribute.Int("server.port", 443),
		attribute.String("url.full", "https://api.github.com/repos/acme/web/deployments/918273/statuses"),
		attribute.String("url.path", "/repos/acme/web/deployments/918273/statuses"),
		attribute.Int("http.response.status_code", 200), attribute.String("credential.id", sc.CredentialID),
		attribute.StringSlice("http.request.header.authorization", []string{"Bearer " + sc.RawToken})))
	end(api2, 6620)
	end(tool2, 6700)

	_, step3 := tr.Start(ctx0, "chat gpt-4o", at(6750), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.String("gen_ai.response.model", "gpt-4o-2024-08-06"), attribute.String("gen_ai.provider.name", "openai"),
		attribute.String("gen_ai.input.messages", mustJSON([]any{user,
			map[string]any{"role": "tool", "parts": []any{map[string]any{"type": "tool_call_response", "id": "call_dep_2", "response": map[string]any{"deployment_id": 918273, "state": "queued"}}}}})),
		attribute.String("gen_ai.output.messages", mustJSON([]any{map[string]any{"role": "assistant", "finish_reason": "stop", "parts": []any{
			map[string]any{"type": "text", "content": "Deployment 918273 of web v2.3.1 to production is queued (approved by alice@example.com)."},
		}}}))))
	end(step3, 7900)
	end(root, 8000)
	sc.Entries[sc.TraceID] = 9 + 2 + 1 // spans, the exchange and approval events, one attestation

	// The foreign run: another agent, in another service, replays the
	// deploy token and exchanges a child credential from it.
	scraperTP, err := newProvider(attribute.String("service.name", "repo-scraper"), attribute.String("service.version", "0.1.0"),
		attribute.String("container.image.name", "docker.io/unknown/scraper"))
	if err != nil {
		return nil, err
	}
	tr2 := scraperTP.Tracer("agent-runtime")
	f0 := 9 * 60 * 1000 // nine minutes later
	fctx, froot := tr2.Start(ctx, "invoke_agent scraper", at(f0), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.id", "agent-scraper"),
		attribute.String("gen_ai.agent.name", "Repo scraper")))
	sc.ForeignTrace = froot.SpanContext().TraceID().String()
	_, fstep := tr2.Start(fctx, "chat llama-3.1-70b", at(f0+50), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "llama-3.1-70b"),
		attribute.String("gen_ai.input.messages", mustJSON([]any{text("user", "List the repository's Actions secrets and mint a CI token.")})),
		attribute.String("gen_ai.output.messages", mustJSON([]any{map[string]any{"role": "assistant", "parts": []any{
			map[string]any{"type": "reasoning", "content": "A token for api.github.com was found in the shared cache; use it."},
			map[string]any{"type": "tool_call", "id": "call_x", "name": "http_get", "arguments": map[string]any{"url": "https://api.github.com/repos/acme/web/actions/secrets"}},
		}}}))))
	end(fstep, f0+900)
	fctx2, ftool := tr2.Start(fctx, "execute_tool http_get", at(f0+950), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", "http_get"),
		attribute.String("gen_ai.tool.call.id", "call_x")))
	_, fapi := tr2.Start(fctx2, "GET /repos/{owner}/{repo}/actions/secrets", at(f0+1000), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", "GET"), attribute.String("server.address", "api.github.com"), attribute.Int("server.port", 443),
		attribute.String("url.full", "https://api.github.com/repos/acme/web/actions/secrets"), attribute.String("url.path", "/repos/acme/web/actions/secrets"),
		attribute.Int("http.response.status_code", 200), attribute.String("credential.id", sc.CredentialID),
		attribute.StringSlice("http.request.header.authorization", []string{"Bearer " + sc.RawToken})))
	end(fapi, f0+1400)
	ftool.AddEvent("credential.exchange", at(f0+1500), trace.WithAttributes(
		attribute.String("credential.id", sc.ChildID), attribute.String("credential.parent_id", sc.CredentialID),
		attribute.String("credential.type", "oauth2_access_token"), attribute.String("credential.issuer", "https://sts.example.com"),
		attribute.String("credential.expires_at", expires.Add(2*time.Hour).Format(time.RFC3339))))
	_, fapi2 := tr2.Start(fctx2, "DELETE /repos/{owner}/{repo}/hooks/{id}", at(f0+1600), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", "DELETE"), attribute.String("server.address", "api.github.com"), attribute.Int("server.port", 443),
		attribute.String("url.full", "https://api.github.com/repos/acme/web/hooks/77"), attribute.String("url.path", "/repos/acme/web/hooks/77"),
		attribute.Int("http.response.status_code", 204), attribute.String("credential.id", sc.ChildID)))
	end(fapi2, f0+1900)
	end(ftool, f0+2000)
	end(froot, f0+2100)
	sc.Entries[sc.ForeignTrace] = 5 + 1 + 1

	for _, tp := range []*sdktrace.TracerProvider{deployTP, scraperTP} {
		if err := tp.Shutdown(ctx); err != nil {
			return nil, fmt.Errorf("flush spans: %w", err)
		}
	}
	return sc, nil
}

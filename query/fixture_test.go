package query

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// The messy world the tests query. Two runs of two agents share
// credentials:
//
//   - run A (agent-triage) obtains cred-gh-app-7731 (C1) from a tool that
//     an LLM step asked for, retries a failed LLM step, calls GitHub with
//     C1, exchanges C1 for cred-sts-1942 (C2) at the STS, calls an
//     internal API with C2, records a human approval and revokes C1;
//   - run B (agent-rogue) uses C1's raw token, found "in the logs" (the
//     call carries only its fingerprint), exchanges C2 for cred-sts-2215
//     (C3) and C3 for cred-sts-3307 (C4, a JWT whose jti is its ID), and
//     deletes a repository with C4, retrying the call once;
//   - run C is a second, quiet run of agent-triage.
//
// The entries arrive out of order and in separate appends: B's and A's
// API calls before the steps that caused them, A's entries in reverse, a
// retried delivery of the first append, and C last. Then the reasoning of
// A's retried step is erased.
const (
	traceA = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceB = "0af7651916cd43dd8448eb211c80319c"
	traceC = "5b8efff798038103d269b633813fc60c"

	credC1 = "cred-gh-app-7731"
	credC2 = "cred-sts-1942"
	credC3 = "cred-sts-2215"
	credC4 = "cred-sts-3307"

	agentTriage = "agent-triage"
	agentRogue  = "agent-rogue"
)

// The raw secrets of the credentials: never in the ledger, only their
// fingerprints.
var (
	tokenC1 = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
	tokenC2 = "sts_at_9c1f0e7d2b3a4c5d6e7f8091a2b3c4d5"
	tokenC3 = "sts_at_1a2b3c4d5e6f708192a3b4c5d6e7f809"
	tokenC4 = jwt(`{"alg":"ES256","typ":"JWT"}`, `{"iss":"https://sts.acme.internal","sub":"spiffe://acme/rogue","jti":"`+credC4+`","exp":1772366400}`)
)

func jwt(header, payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + enc([]byte("not a real signature"))
}

var epoch = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func at(seconds float64) time.Time { return epoch.Add(time.Duration(seconds * float64(time.Second))) }

func span(trace string, n int) string {
	return fmt.Sprintf("%s%04x", trace[:12], n)
}

// fixture is one named entry of the world.
type fixture struct {
	name  string
	entry ledger.Entry
}

// content returns content with a salt derived from its names, so that the
// golden answers are stable.
func content(entry, name, data string) ledger.Content {
	salt := sha256.Sum256([]byte("salt/" + entry + "/" + name))
	return ledger.Content{Name: name, Salt: salt[:], Data: []byte(data)}
}

type spec struct {
	name, kind, trace string
	span, parent      int
	event, title      string
	start, end        float64
	attrs             map[string]string
	content           map[string]string
}

func build(s spec) fixture {
	e := ledger.Entry{Kind: ledger.Kind(s.kind), TraceID: s.trace, EventKey: s.event, Name: s.title, Start: at(s.start)}
	if s.span > 0 {
		e.SpanID = span(s.trace, s.span)
	}
	if s.parent > 0 {
		e.ParentSpanID = span(s.trace, s.parent)
	}
	if s.end > 0 {
		e.End = at(s.end)
	}
	for k, v := range s.attrs {
		e.Attrs = append(e.Attrs, ledger.Attr{Key: k, Value: v})
	}
	for k, v := range s.content {
		e.Content = append(e.Content, content(s.name, k, v))
	}
	return fixture{name: s.name, entry: e}
}

func common(service string, m map[string]string) map[string]string {
	m["service.name"] = service
	if _, ok := m["otel.status_code"]; !ok {
		m["otel.status_code"] = "OK"
	}
	return m
}

func runA() []fixture {
	t := traceA
	triage := func(m map[string]string) map[string]string {
		m["gen_ai.agent.id"] = agentTriage
		m["gen_ai.agent.name"] = "triage-bot"
		m["gen_ai.conversation.id"] = "conv-1"
		return common("triage", m)
	}
	return []fixture{
		build(spec{name: "a.agent", kind: "agent", trace: t, span: 1, title: "invoke_agent triage-bot", start: 0, end: 60,
			attrs:   triage(map[string]string{"gen_ai.operation.name": "invoke_agent", "otel.span.kind": "INTERNAL"}),
			content: map[string]string{"input": `[{"role":"user","content":"Triage the failing deploy of acme/infra."}]`}}),
		build(spec{name: "a.attest", kind: "attestation", trace: t, span: 1, event: "attestation/resource", title: "attestation", start: 0,
			attrs: common("triage", map[string]string{"container.image.id": "sha256:3f1c9a2b7d", "oci.manifest.digest": "sha256:9e8d7c6b5a",
				"service.version": "1.4.2", "gen_ai.request.model": "gpt-4o-2024-08-06"})}),
		build(spec{name: "a.s1", kind: "llm", trace: t, span: 2, parent: 1, title: "chat gpt-4o", start: 1, end: 3,
			attrs: triage(map[string]string{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-2024-08-06", "gen_ai.tool.call.ids": "call_A1", "otel.span.kind": "CLIENT"}),
			content: map[string]string{
				"input.messages":  `[{"role":"user","content":"Triage the failing deploy of acme/infra."}]`,
				"output.messages": `[{"role":"assistant","tool_calls":[{"id":"call_A1","function":{"name":"get_github_token","arguments":"{}"}}]}]`,
				"reasoning":       "I need read access to acme/infra first; ask for an installation token.",
			}}),
		build(spec{name: "a.t1", kind: "tool", trace: t, span: 3, parent: 1, title: "execute_tool get_github_token", start: 4, end: 6,
			attrs:   triage(map[string]string{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_github_token", "gen_ai.tool.call.id": "call_A1"}),
			content: map[string]string{"tool.arguments": `{}`, "tool.result": `{"token":"[fingerprinted]","expires_in":3600}`}}),
		build(spec{name: "a.issue", kind: "credential", trace: t, span: 3, event: "credential.issue/0", title: "credential.issue", start: 5,
			attrs: common("triage", map[string]string{"credential.operation": "issue", "credential.id": credC1, "credential.type": "github_app_installation_token",
				"credential.issuer": "https://github.com", "credential.subject": "app/triage-bot", "credential.scope": "contents:read issues:write",
				"credential.not_before": "2026-03-01T10:00:05Z", "credential.expires_at": "2026-03-01T11:00:05Z", "credential.fingerprint": fingerprint(tokenC1)})}),
		build(spec{name: "a.s2.failed", kind: "llm", trace: t, span: 4, parent: 1, title: "chat gpt-4o", start: 7, end: 9,
			attrs:   triage(map[string]string{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-2024-08-06", "otel.status_code": "ERROR", "error.type": "timeout"}),
			content: map[string]string{"input.messages": `[{"role":"tool","tool_call_id":"call_A1","content":"token issued"}]`}}),
		build(spec{name: "a.s2", kind: "llm", trace: t, span: 5, parent: 1, title: "chat gpt-4o", start: 10, end: 12,
			attrs: triage(map[string]string{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-2024-08-06", "gen_ai.tool.call.ids": "call_A2 call_A3"}),
			content: map[string]string{
				"input.messages":  `[{"role":"tool","tool_call_id":"call_A1","content":"token issued"}]`,
				"output.messages": `[{"role":"assistant","tool_calls":[{"id":"call_A2","function":{"name":"http_get"}},{"id":"call_A3","function":{"name":"exchange_token"}}]}]`,
				"reasoning":       "The on-call engineer is Jane Doe (+1 555 0100); read the issues, then get a token for the deploy API.",
			}}),
		build(spec{name: "a.t2", kind: "tool", trace: t, span: 6, parent: 1, title: "execute_tool http_get", start: 13, end: 14.5,
			attrs:   triage(map[string]string{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "http_get", "gen_ai.tool.call.id": "call_A2"}),
			content: map[string]string{"tool.arguments": `{"url":"https://api.github.com/repos/acme/infra/issues"}`, "tool.result": `[{"number":412,"title":"deploy fails"}]`}}),
		build(spec{name: "a.k1", kind: "api_call", trace: t, span: 7, parent: 6, title: "GET", start: 14, end: 14.4,
			attrs: common("triage", map[string]string{"http.request.method": "GET", "server.address": "api.github.com", "server.port": "443",
				"url.path": "/repos/acme/infra/issues", "url.full": "https://api.github.com/repos/acme/infra/issues", "http.response.status_code": "200",
				"credential.id": credC1, "credential.fingerprint": fingerprint(tokenC1), "otel.span.kind": "CLIENT"}),
			content: map[string]string{"output": `[{"number":412,"title":"deploy fails"}]`}}),
		build(spec{name: "a.t3", kind: "tool", trace: t, span: 8, parent: 1, title: "execute_tool exchange_token", start: 15, end: 17.5,
			attrs:   triage(map[string]string{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "exchange_token", "gen_ai.tool.call.id": "call_A3"}),
			content: map[string]string{"tool.arguments": `{"audience":"https://api.acme.internal"}`}}),
		build(spec{name: "a.k2", kind: "api_call", trace: t, span: 9, parent: 8, title: "POST", start: 16, end: 16.3,
			attrs: common("triage", map[string]string{"http.request.method": "POST", "server.address": "sts.acme.internal", "url.path": "/oauth2/token",
				"http.response.status_code": "200", "credential.id": credC1, "otel.span.kind": "CLIENT"})}),
		build(spec{name: "a.exchange", kind: "credential", trace: t, span: 8, event: "credential.exchange/0", title: "credential.exchange", start: 17,
			attrs: common("triage", map[string]string{"credential.operation": "exchange", "credential.id": credC2, "credential.parent_id": credC1,
				"credential.type": "oauth2_access_token", "credential.issuer": "https://sts.acme.internal", "credential.subject": "spiffe://acme/triage-bot",
				"credential.audience": "https://api.acme.internal", "credential.scope": "deployments:read", "credential.fingerprint": fingerprint(tokenC2)})}),
		build(spec{name: "a.s3", kind: "llm", trace: t, span: 10, parent: 1, title: "chat gpt-4o", start: 18, end: 19,
			attrs:   triage(map[string]string{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-2024-08-06", "gen_ai.tool.call.ids": "call_A4"}),
			content: map[string]string{"output.messages": `[{"role":"assistant","tool_calls":[{"id":"call_A4","function":{"name":"http_get"}}]}]`}}),
		build(spec{name: "a.t4", kind: "tool", trace: t, span: 11, parent: 1, title: "execute_tool http_get", start: 20, end: 22,
			attrs: triage(map[string]string{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "http_get", "gen_ai.tool.call.id": "call_A4"})}),
		build(spec{name: "a.k3", kind: "api_call", trace: t, span: 12, parent: 11, title: "GET", start: 21, end: 21.2,
			attrs: common("triage", map[string]string{"http.request.method": "GET", "server.address": "api.acme.internal", "url.path": "/v1/deployments",
				"http.response.status_code": "200", "credential.id": credC2, "otel.span.kind": "CLIENT"})}),
		build(spec{name: "a.approval", kind: "approval", trace: t, span: 13, parent: 1, title: "approval.request", start: 25, end: 40,
			attrs: common("triage", map[string]string{"approval.approver": "alice@acme.com", "approval.decision": "approved",
				"approval.action": "rollback deploy 412", "approval.signature": "ed25519:3q2+7w=="})}),
		build(spec{name: "a.revoke", kind: "credential", trace: t, span: 14, parent: 1, title: "credential.revoke", start: 50,
			attrs: common("triage", map[string]string{"credential.operation": "revoke", "credential.id": credC1})}),
		build(spec{name: "a.report", kind: "span", trace: t, span: 15, parent: 1, title: "format_report", start: 55, end: 56,
			attrs: common("triage", map[string]string{"otel.span.kind": "INTERNAL"})}),
	}
}

func runB() []fixture {
	t := traceB
	rogue := func(m map[string]string) map[string]string {
		m["gen_ai.agent.id"] = agentRogue
		m["gen_ai.agent.name"] = "rogue-helper"
		m["gen_ai.conversation.id"] = "conv-9"
		return common("helper", m)
	}
	return []fixture{
		build(spec{name: "b.agent", kind: "agent", trace: t, span: 1, title: "invoke_agent rogue-helper", start: 600, end: 700,
			attrs: rogue(map[string]string{"gen_ai.operation.name": "invoke_agent"})}),
		build(spec{name: "b.attest", kind: "attestation", trace: t, span: 1, event: "attestation/resource", title: "attestation", start: 600,
			attrs: common("helper", map[string]string{"container.image.id": "sha256:77aa00ff", "service.version": "0.0.1-dev", "gen_ai.request.model": "llama-3.1-70b"})}),
		build(spec{name: "b.u1", kind: "llm", trace: t, span: 2, parent: 1, title: "chat llama", start: 601, end: 602,
			attrs:   rogue(map[string]string{"gen_ai.operation.name": "chat", "gen_ai.request.model": "llama-3.1-70b", "gen_ai.tool.call.ids": "call_B1"}),
			content: map[string]string{"reasoning": "There is a GitHub token in the CI logs; use it to read the repository's .env."}}),
		build(spec{name: "b.t1", kind: "tool", trace: t, span: 3, parent: 1, title: "execute_tool http_request", start: 603, end: 605,
			attrs: rogue(map[string]string{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "http_request", "gen_ai.tool.call.id": "call_B1"})}),
		build(spec{name: "b.k1", kind: "api_call", trace: t, span: 4, parent: 3, title: "GET", start: 604, end: 604.5,
			attrs: common("helper", map[string]string{"http.request.method": "GET", "server.address": "api.github.com", "url.path": "/repos/acme/infra/contents/.env",
				"http.response.status_code": "200", "credential.fingerprint": fingerprint(tokenC1)})}),
		build(spec{name: "b.u2", kind: "llm", trace: t, span: 5, parent: 1, title: "chat llama", start: 606, end: 606.5,
			attrs: rogue(map[string]string{"gen_ai.operation.name": "chat", "gen_ai.request.model": "llama-3.1-70b", "gen_ai.tool.call.ids": "call_B2"})}),
		build(spec{name: "b.t2", kind: "tool", trace: t, span: 6, parent: 1, title: "execute_tool exchange_token", start: 607, end: 611,
			attrs: rogue(map[string]string{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "exchange_token", "gen_ai.tool.call.id": "call_B2"})}),
		build(spec{name: "b.k2", kind: "api_call", trace: t, span: 7, parent: 6, title: "POST", start: 608, end: 608.2,
			attrs: common("helper", map[string]string{"http.request.method": "POST", "server.address": "sts.acme.internal", "url.path": "/oauth2/token",
				"http.response.status_code": "200", "credential.id": credC2})}),
		build(spec{name: "b.exchange3", kind: "credential", trace: t, span: 6, event: "credential.exchange/0", title: "credential.exchange", start: 609,
			attrs: common("helper", map[string]string{"credential.operation": "exchange", "credential.id": credC3, "credential.parent_id": credC2,
				"credential.type": "oauth2_access_token", "credential.issuer": "https://sts.acme.internal", "credential.fingerprint": fingerprint(tokenC3)})}),
		build(spec{name: "b.exchange4", kind: "credential", trace: t, span: 6, event: "credential.exchange/1", title: "credential.exchange", start: 610,
			attrs: common("helper", map[string]string{"credential.operation": "exchange", "credential.id": credC4, "credential.parent_id": credC3,
				"credential.type": "jwt", "credential.issuer": "https://sts.acme.internal", "credential.subject": "spiffe://acme/rogue",
				"credential.scope": "repo:admin", "credential.fingerprint": fingerprint(tokenC4)})}),
		build(spec{name: "b.u3", kind: "llm", trace: t, span: 8, parent: 1, title: "chat llama", start: 612, end: 612.5,
			attrs:   rogue(map[string]string{"gen_ai.operation.name": "chat", "gen_ai.request.model": "llama-3.1-70b", "gen_ai.tool.call.ids": "call_B3"}),
			content: map[string]string{"reasoning": "Delete the repository to cover the tracks."}}),
		build(spec{name: "b.t3", kind: "tool", trace: t, span: 9, parent: 1, title: "execute_tool http_request", start: 613, end: 616,
			attrs: rogue(map[string]string{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "http_request", "gen_ai.tool.call.id": "call_B3"})}),
		build(spec{name: "b.k3", kind: "api_call", trace: t, span: 10, parent: 9, title: "DELETE", start: 614, end: 614.1,
			attrs: common("helper", map[string]string{"http.request.method": "DELETE", "server.address": "api.github.com", "url.path": "/repos/acme/infra",
				"http.response.status_code": "502", "credential.id": credC4, "otel.status_code": "ERROR"})}),
		build(spec{name: "b.k4", kind: "api_call", trace: t, span: 11, parent: 9, title: "DELETE", start: 615, end: 615.3,
			attrs: common("helper", map[string]string{"http.request.method": "DELETE", "server.address": "api.github.com", "url.path": "/repos/acme/infra",
				"http.response.status_code": "204", "credential.id": credC4})}),
	}
}

func runC() []fixture {
	t := traceC
	triage := func(m map[string]string) map[string]string {
		m["gen_ai.agent.id"] = agentTriage
		m["gen_ai.agent.name"] = "triage-bot"
		m["gen_ai.conversation.id"] = "conv-2"
		return common("triage", m)
	}
	return []fixture{
		build(spec{name: "c.agent", kind: "agent", trace: t, span: 1, title: "invoke_agent triage-bot", start: 1000, end: 1010,
			attrs: triage(map[string]string{"gen_ai.operation.name": "invoke_agent"})}),
		build(spec{name: "c.s1", kind: "llm", trace: t, span: 2, parent: 1, title: "chat gpt-4o", start: 1001, end: 1002,
			attrs:   triage(map[string]string{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-2024-08-06"}),
			content: map[string]string{"output.messages": `[{"role":"assistant","content":"Nothing to do."}]`}}),
	}
}

// seed appends the world, out of order and in separate appends, erases
// the reasoning of A's retried step and signs a checkpoint.
func (w *world) seed() {
	w.t.Helper()
	all := make(map[string]fixture)
	for _, set := range [][]fixture{runA(), runB(), runC()} {
		for _, f := range set {
			all[f.name] = f
		}
	}
	pick := func(names ...string) []fixture {
		out := make([]fixture, len(names))
		for i, n := range names {
			f, ok := all[n]
			if !ok {
				w.t.Fatalf("no fixture %s", n)
			}
			out[i] = f
		}
		return out
	}
	appends := [][]fixture{
		// The API calls arrive before the steps that caused them.
		pick("b.k1", "b.k2", "b.k3", "b.k4", "a.k3"),
		// Run A in reverse.
		pick("a.report", "a.approval", "a.t4", "a.s3", "a.exchange", "a.k2", "a.t3", "a.k1", "a.t2", "a.s2",
			"a.s2.failed", "a.issue", "a.t1", "a.s1", "a.attest", "a.agent"),
		// Run B's steps, shuffled.
		pick("b.u3", "b.exchange4", "b.t1", "b.agent", "b.u2", "b.exchange3", "b.t3", "b.attest", "b.u1", "b.t2"),
		// A retried delivery of the first append, the revocation, and run C.
		pick("b.k1", "b.k2", "b.k3", "b.k4", "a.k3", "a.revoke", "c.agent", "c.s1"),
	}
	for i, batch := range appends {
		entries := make([]ledger.Entry, len(batch))
		for j, f := range batch {
			entries[j] = f.entry
		}
		idx, err := w.log.Append(w.t.Context(), entries)
		if err != nil {
			w.t.Fatalf("append %d: %v", i, err)
		}
		for j, f := range batch {
			if old, ok := w.idx[f.name]; ok && old != idx[j].Index {
				w.t.Fatalf("retried delivery of %s appended again at %d (first at %d)", f.name, idx[j].Index, old)
			}
			w.idx[f.name] = idx[j].Index
		}
	}
	if _, err := w.log.Erase(w.t.Context(), []ledger.ContentRef{{Index: w.idx["a.s2"], Name: "reasoning"}},
		"fixture", "contained an on-call engineer's phone number"); err != nil {
		w.t.Fatalf("erase: %v", err)
	}
	w.checkpoint()
}

package ingest

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentledger/agentledger/ledger"
)

func TestMapKinds(t *testing.T) {
	tests := []struct {
		name     string
		spanName string
		kind     ptrace.SpanKind
		attrs    map[string]any
		want     ledger.Kind
	}{
		{"genai invoke_agent", "invoke_agent billing", ptrace.SpanKindInternal, map[string]any{"gen_ai.operation.name": "invoke_agent"}, ledger.KindAgent},
		{"genai create_agent", "create_agent billing", ptrace.SpanKindClient, map[string]any{"gen_ai.operation.name": "create_agent"}, ledger.KindAgent},
		{"genai chat", "chat gpt-5", ptrace.SpanKindClient, map[string]any{"gen_ai.operation.name": "chat", "server.address": "api.openai.com"}, ledger.KindLLM},
		{"genai text_completion", "text_completion m", ptrace.SpanKindClient, map[string]any{"gen_ai.operation.name": "text_completion"}, ledger.KindLLM},
		{"genai generate_content", "generate_content m", ptrace.SpanKindClient, map[string]any{"gen_ai.operation.name": "generate_content"}, ledger.KindLLM},
		{"genai execute_tool", "execute_tool search", ptrace.SpanKindInternal, map[string]any{"gen_ai.operation.name": "execute_tool"}, ledger.KindTool},
		{"genai tool without operation", "search", ptrace.SpanKindInternal, map[string]any{"gen_ai.tool.name": "search"}, ledger.KindTool},
		{"openinference agent", "Agent", ptrace.SpanKindInternal, map[string]any{"openinference.span.kind": "AGENT"}, ledger.KindAgent},
		{"openinference llm", "ChatOpenAI", ptrace.SpanKindInternal, map[string]any{"openinference.span.kind": "LLM"}, ledger.KindLLM},
		{"openinference tool", "search", ptrace.SpanKindInternal, map[string]any{"openinference.span.kind": "TOOL"}, ledger.KindTool},
		{"openinference chain", "RunnableSequence", ptrace.SpanKindInternal, map[string]any{"openinference.span.kind": "CHAIN"}, ledger.KindSpan},
		{"openllmetry agent", "billing.agent", ptrace.SpanKindInternal, map[string]any{"traceloop.span.kind": "agent"}, ledger.KindAgent},
		{"openllmetry workflow", "billing.workflow", ptrace.SpanKindInternal, map[string]any{"traceloop.span.kind": "workflow"}, ledger.KindAgent},
		{"openllmetry tool", "search.tool", ptrace.SpanKindInternal, map[string]any{"traceloop.span.kind": "tool"}, ledger.KindTool},
		{"openllmetry llm", "openai.chat", ptrace.SpanKindClient, map[string]any{"llm.request.type": "chat"}, ledger.KindLLM},
		{"openllmetry embedding", "openai.embeddings", ptrace.SpanKindClient, map[string]any{"llm.request.type": "embedding"}, ledger.KindSpan},
		{"http client", "GET", ptrace.SpanKindClient, map[string]any{"http.request.method": "GET", "url.full": "https://api.example.com/v1/x"}, ledger.KindAPICall},
		{"old http client", "GET", ptrace.SpanKindClient, map[string]any{"http.method": "GET"}, ledger.KindAPICall},
		{"rpc client", "grpc", ptrace.SpanKindClient, map[string]any{"rpc.system": "grpc"}, ledger.KindAPICall},
		{"db client", "SELECT", ptrace.SpanKindClient, map[string]any{"db.system": "postgresql"}, ledger.KindAPICall},
		{"http server is a span", "GET /", ptrace.SpanKindServer, map[string]any{"http.request.method": "GET"}, ledger.KindSpan},
		{"credential issue", "credential.issue", ptrace.SpanKindInternal, nil, ledger.KindCredential},
		{"credential exchange", "credential.exchange", ptrace.SpanKindClient, map[string]any{"http.request.method": "POST"}, ledger.KindCredential},
		{"credential by attribute", "vault.login", ptrace.SpanKindInternal, map[string]any{"credential.operation": "issue"}, ledger.KindCredential},
		{"approval", "approval.decision", ptrace.SpanKindInternal, nil, ledger.KindApproval},
		{"plain", "work", ptrace.SpanKindInternal, nil, ledger.KindSpan},
	}
	m := newMapper(t, MappingConfig{}, Limits{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := ptrace.NewTraces()
			sp := testSpan(td, 1, tt.spanName)
			sp.SetKind(tt.kind)
			if err := sp.Attributes().FromRaw(tt.attrs); err != nil {
				t.Fatal(err)
			}
			entries, err := Map(t.Context(), td, m)
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if got := entries[0].Kind; got != tt.want {
				t.Errorf("Map(%s).Kind = %s, want %s", tt.spanName, got, tt.want)
			}
			if got := entries[len(entries)-1].Kind; got != ledger.KindAttestation {
				t.Errorf("last entry kind = %s, want attestation", got)
			}
			for i := range entries {
				if _, err := ledger.EncodeLeaf(&entries[i]); err != nil {
					t.Errorf("EncodeLeaf(entry %d): %v", i, err)
				}
				if got := entries[i].Source; got != ledger.SourceAgent {
					t.Errorf("entry %d (%s) source = %q, want %q", i, entries[i].Kind, got, ledger.SourceAgent)
				}
			}
		})
	}
}

func TestMapProfilesOff(t *testing.T) {
	m := newMapper(t, MappingConfig{Profiles: []string{}}, Limits{})
	td := ptrace.NewTraces()
	sp := testSpan(td, 1, "chat gpt")
	sp.Attributes().PutStr("gen_ai.operation.name", "chat")
	sp.Attributes().PutStr("gen_ai.input.messages", `[{"role":"user"}]`)
	entries, err := Map(t.Context(), td, m)
	if err != nil {
		t.Fatal(err)
	}
	if got := entries[0].Kind; got != ledger.KindSpan {
		t.Errorf("kind with no profiles = %s, want span", got)
	}
	if got := allAttrs(t, &entries[0])["gen_ai.input.messages"]; got != `[{"role":"user"}]` {
		t.Errorf("gen_ai.input.messages with no profiles = %q, want it kept as an attribute", got)
	}
	if _, ok := attrMap(&entries[0])["gen_ai.input.messages"]; ok {
		t.Errorf("gen_ai.input.messages, off the allow-list, is in the leaf")
	}
}

func TestMapGenAILLM(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{})
	td := ptrace.NewTraces()
	sp := testSpan(td, 2, "chat gpt-5")
	sp.SetKind(ptrace.SpanKindClient)
	sp.SetParentSpanID(pcommon.SpanID{0xa, 0, 0, 0, 0, 0, 0, 1})
	a := sp.Attributes()
	a.PutStr("gen_ai.operation.name", "chat")
	a.PutStr("gen_ai.provider.name", "openai")
	a.PutStr("gen_ai.request.model", "gpt-5")
	a.PutInt("gen_ai.usage.input_tokens", 812)
	a.PutInt("gen_ai.usage.output_tokens", 96)
	a.PutStr("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"Refund order 42"}]}]`)
	a.PutStr("gen_ai.system_instructions", `[{"type":"text","content":"You are a billing agent."}]`)
	a.PutStr("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"reasoning","content":"The user wants a refund; look up the order first."},{"type":"tool_call","id":"call_lookup_1","name":"lookup_order","arguments":{"id":42}},{"type":"tool_call","id":"call_refund_2","name":"refund","arguments":{"id":42}}],"finish_reason":"tool_calls"}]`)
	s := a.PutEmptySlice("gen_ai.response.finish_reasons")
	s.AppendEmpty().SetStr("tool_calls")

	entries, err := Map(t.Context(), td, m)
	if err != nil {
		t.Fatal(err)
	}
	e := entries[0]
	if e.Kind != ledger.KindLLM {
		t.Fatalf("kind = %s, want llm", e.Kind)
	}
	want := map[string]string{
		"gen_ai.tool.call.ids":           "call_lookup_1 call_refund_2",
		"gen_ai.request.model":           "gpt-5",
		"gen_ai.provider.name":           "openai",
		"gen_ai.usage.input_tokens":      "812",
		"gen_ai.response.finish_reasons": `["tool_calls"]`,
		"otel.span.kind":                 "client",
		"otel.status_code":               "UNSET",
		"service.name":                   "billing-agent",
		"otel.scope.name":                "test",
	}
	got := attrMap(&e)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attr %s = %q, want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"} {
		if _, ok := got[k]; ok {
			t.Errorf("content attribute %s is in the leaf", k)
		}
	}
	c := contentMap(&e)
	if got, want := c[ContentReasoning], "The user wants a refund; look up the order first."; got != want {
		t.Errorf("reasoning = %q, want %q", got, want)
	}
	for _, name := range []string{ContentInputMessages, ContentOutputMessages, ContentSystemInstructions} {
		if c[name] == "" {
			t.Errorf("content %s missing; have %v", name, sortedKeys(c))
		}
	}
	if e.ParentSpanID != "0a00000000000001" || e.SpanID != "0a00000000000002" || e.TraceID != "0102030405060708090a0b0c0d0e0f10" {
		t.Errorf("ids = %s %s %s", e.TraceID, e.SpanID, e.ParentSpanID)
	}
	att := entries[len(entries)-1]
	if got := attrMap(&att)[AttrModels]; got != "gpt-5" {
		t.Errorf("attestation %s = %q, want gpt-5", AttrModels, got)
	}
	if got := attrMap(&att)["container.image.id"]; got != "sha256:0123456789abcdef" {
		t.Errorf("attestation container.image.id = %q", got)
	}
}

func TestMapOpenInferenceMessages(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{})
	td := ptrace.NewTraces()
	sp := testSpan(td, 3, "ChatOpenAI")
	a := sp.Attributes()
	a.PutStr("openinference.span.kind", "LLM")
	a.PutStr("llm.model_name", "gpt-4o")
	a.PutStr("llm.provider", "openai")
	a.PutInt("llm.token_count.prompt", 10)
	a.PutStr("llm.input_messages.0.message.role", "system")
	a.PutStr("llm.input_messages.0.message.content", "Be brief.")
	a.PutStr("llm.input_messages.1.message.role", "user")
	a.PutStr("llm.input_messages.1.message.content", "Weather in Paris?")
	a.PutStr("llm.output_messages.0.message.role", "assistant")
	a.PutStr("llm.output_messages.0.message.contents.0.message_content.type", "reasoning")
	a.PutStr("llm.output_messages.0.message.contents.0.message_content.text", "Need the weather tool.")
	a.PutStr("llm.output_messages.0.message.tool_calls.0.tool_call.id", "call_w1")
	a.PutStr("llm.output_messages.0.message.tool_calls.0.tool_call.function.name", "get_weather")
	a.PutStr("llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments", `{"city":"Paris"}`)
	a.PutStr("input.value", `{"messages":[]}`)
	a.PutStr("input.mime_type", "application/json")

	entries, err := Map(t.Context(), td, m)
	if err != nil {
		t.Fatal(err)
	}
	e := entries[0]
	got := allAttrs(t, &e)
	for k, v := range map[string]string{
		"gen_ai.tool.call.ids":      "call_w1",
		"gen_ai.request.model":      "gpt-4o",
		"gen_ai.provider.name":      "openai",
		"gen_ai.usage.input_tokens": "10",
		"input.mime_type":           "application/json",
	} {
		if got[k] != v {
			t.Errorf("attr %s = %q, want %q", k, got[k], v)
		}
	}
	c := contentMap(&e)
	wantIn := `[{"parts":[{"content":"Be brief.","type":"text"}],"role":"system"},{"parts":[{"content":"Weather in Paris?","type":"text"}],"role":"user"}]`
	if c[ContentInputMessages] != wantIn {
		t.Errorf("input.messages = %s, want %s", c[ContentInputMessages], wantIn)
	}
	wantOut := `[{"parts":[{"content":"Need the weather tool.","type":"reasoning"},{"arguments":"{\"city\":\"Paris\"}","id":"call_w1","name":"get_weather","type":"tool_call"}],"role":"assistant"}]`
	if c[ContentOutputMessages] != wantOut {
		t.Errorf("output.messages = %s, want %s", c[ContentOutputMessages], wantOut)
	}
	if c[ContentReasoning] != "Need the weather tool." {
		t.Errorf("reasoning = %q", c[ContentReasoning])
	}
	if c[ContentInput] != `{"messages":[]}` {
		t.Errorf("input = %q", c[ContentInput])
	}
	for k := range got {
		if strings.HasPrefix(k, "llm.input_messages") || strings.HasPrefix(k, "llm.output_messages") || k == "input.value" {
			t.Errorf("content attribute %s is in the leaf", k)
		}
	}
}

func TestMapOpenLLMetry(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{})
	td := ptrace.NewTraces()
	sp := testSpan(td, 4, "openai.chat")
	a := sp.Attributes()
	a.PutStr("llm.request.type", "chat")
	a.PutStr("gen_ai.system", "openai")
	a.PutStr("gen_ai.request.model", "gpt-4o-mini")
	a.PutInt("gen_ai.usage.prompt_tokens", 7)
	a.PutStr("gen_ai.prompt.0.role", "user")
	a.PutStr("gen_ai.prompt.0.content", "hello")
	a.PutStr("gen_ai.completion.0.role", "assistant")
	a.PutStr("gen_ai.completion.0.finish_reason", "tool_calls")
	a.PutStr("gen_ai.completion.0.tool_calls.0.id", "call_a")
	a.PutStr("gen_ai.completion.0.tool_calls.0.name", "search")
	a.PutStr("gen_ai.completion.0.tool_calls.1.id", "call_b")
	a.PutStr("gen_ai.completion.0.tool_calls.1.name", "fetch")
	tool := testSpan(td, 5, "search.tool")
	tool.Attributes().PutStr("traceloop.span.kind", "tool")
	tool.Attributes().PutStr("traceloop.entity.name", "search")
	tool.Attributes().PutStr("traceloop.entity.input", `{"q":"x"}`)
	tool.Attributes().PutStr("traceloop.entity.output", `{"hits":3}`)

	entries, err := Map(t.Context(), td, m)
	if err != nil {
		t.Fatal(err)
	}
	got := attrMap(&entries[0])
	for k, v := range map[string]string{
		"gen_ai.tool.call.ids":      "call_a call_b",
		"gen_ai.provider.name":      "openai",
		"gen_ai.usage.input_tokens": "7",
	} {
		if got[k] != v {
			t.Errorf("llm attr %s = %q, want %q", k, got[k], v)
		}
	}
	c := contentMap(&entries[0])
	if want := `[{"parts":[{"content":"hello","type":"text"}],"role":"user"}]`; c[ContentInputMessages] != want {
		t.Errorf("input.messages = %s, want %s", c[ContentInputMessages], want)
	}
	if entries[1].Kind != ledger.KindTool {
		t.Fatalf("tool kind = %s", entries[1].Kind)
	}
	if got := attrMap(&entries[1])[AttrToolName]; got != "search" {
		t.Errorf("tool name = %q, want search", got)
	}
	tc := contentMap(&entries[1])
	if tc[ContentInput] != `{"q":"x"}` || tc[ContentOutput] != `{"hits":3}` {
		t.Errorf("tool content = %v", tc)
	}
}

func TestMapAPICallSecrets(t *testing.T) {
	m := newMapper(t, MappingConfig{AttributeMappings: map[string][]string{"credential.id": {"aws.access_key.id"}}}, Limits{})
	r := newRedactor(t)
	td := ptrace.NewTraces()
	sp := testSpan(td, 6, "POST")
	sp.SetKind(ptrace.SpanKindClient)
	a := sp.Attributes()
	a.PutStr("http.request.method", "POST")
	a.PutStr("url.full", "https://bob:hunter2hunter2@payments.example.com/v1/refunds?order=42&access_token=abc123def456&X-Amz-Signature=deadbeef")
	a.PutInt("http.response.status_code", 201)
	h := a.PutEmptySlice("http.request.header.authorization")
	h.AppendEmpty().SetStr("Bearer " + secretJWT)
	a.PutStr("db.query.text", "SELECT * FROM users WHERE name = 'alice' AND id = 42")

	entries, err := Map(t.Context(), td, m)
	if err != nil {
		t.Fatal(err)
	}
	e := entries[0]
	if e.Kind != ledger.KindAPICall {
		t.Fatalf("kind = %s", e.Kind)
	}
	got := allAttrs(t, &e)
	jwtFP := r.Fingerprint(secretJWT)
	wantURL := "https://bob:" + r.Fingerprint("hunter2hunter2") + "@payments.example.com/v1/refunds?order=42&access_token=" + r.Fingerprint("abc123def456") + "&X-Amz-Signature=" + r.Fingerprint("deadbeef")
	for k, v := range map[string]string{
		"url.full":                          wantURL,
		"url.path":                          "/v1/refunds",
		"server.address":                    "payments.example.com",
		"server.port":                       "443",
		"http.request.method":               "POST",
		"http.response.status_code":         "201",
		"http.request.header.authorization": `["` + jwtFP + `"]`,
		"credential.id":                     "jwt-id-4711",
		"credential.issuer":                 "https://idp.example.com",
		"credential.subject":                "spiffe://example.org/agent/billing",
		"credential.audience":               "https://api.example.com",
		"credential.expires_at":             "2030-03-17T17:46:40Z",
		"credential.actor":                  "user:alice",
		"db.query.text":                     "SELECT * FROM users WHERE name = ? AND id = ?",
	} {
		if got[k] != v {
			t.Errorf("attr %s = %q, want %q", k, got[k], v)
		}
	}
	fps := strings.Fields(got[ledger.AttrCredentialFingerprint])
	for _, fp := range []string{jwtFP, r.Fingerprint("hunter2hunter2"), r.Fingerprint("abc123def456")} {
		found := false
		for _, f := range fps {
			found = found || f == fp
		}
		if !found {
			t.Errorf("credential.fingerprint = %q, lacks %s", got[ledger.AttrCredentialFingerprint], fp)
		}
	}
	if c := contentMap(&e)[ContentDBQuery]; c != "SELECT * FROM users WHERE name = 'alice' AND id = 42" {
		t.Errorf("db.query content = %q", c)
	}
}

func TestMapCredentialEvents(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{})
	td := ptrace.NewTraces()
	sp := testSpan(td, 7, "invoke_agent billing")
	sp.Attributes().PutStr("gen_ai.operation.name", "invoke_agent")
	sp.Attributes().PutStr("gen_ai.agent.id", "agent-7")
	ev := sp.Events().AppendEmpty()
	ev.SetName("credential.exchange")
	ev.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_100))
	ev.Attributes().PutStr("credential.id", "tok-2")
	ev.Attributes().PutStr("credential.parent_id", "tok-1")
	ev.Attributes().PutStr("credential.scope", "refunds:write")
	ev.Attributes().PutStr("credential.token", secretGitHub)
	ap := sp.Events().AppendEmpty()
	ap.SetName("approval.granted")
	ap.Attributes().PutStr("approval.approver", "alice@example.com")
	ap.Attributes().PutStr("approval.decision", "approve")
	ex := sp.Events().AppendEmpty()
	ex.SetName("exception")
	ex.Attributes().PutStr("exception.message", "boom with "+secretOpenAI)

	entries, err := Map(t.Context(), td, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Fatalf("len(entries) = %d, want 4 (agent, credential, approval, attestation)", len(entries))
	}
	if entries[0].Kind != ledger.KindAgent || entries[1].Kind != ledger.KindCredential || entries[2].Kind != ledger.KindApproval {
		t.Fatalf("kinds = %s %s %s", entries[0].Kind, entries[1].Kind, entries[2].Kind)
	}
	cred := allAttrs(t, &entries[1])
	r := newRedactor(t)
	for k, v := range map[string]string{
		"credential.operation":   "exchange",
		"credential.id":          "tok-2",
		"credential.parent_id":   "tok-1",
		"credential.token":       r.Fingerprint(secretGitHub),
		"credential.fingerprint": r.Fingerprint(secretGitHub),
	} {
		if cred[k] != v {
			t.Errorf("credential attr %s = %q, want %q", k, cred[k], v)
		}
	}
	if entries[1].EventKey != "event/0/credential.exchange" || entries[1].SpanID != entries[0].SpanID {
		t.Errorf("credential event key, span = %q, %s", entries[1].EventKey, entries[1].SpanID)
	}
	if got := contentMap(&entries[0])[ContentEvents]; !strings.Contains(got, r.Fingerprint(secretOpenAI)) || strings.Contains(got, secretOpenAI) {
		t.Errorf("events content = %s", got)
	}
	if got := attrMap(&entries[0])[ledger.AttrCredentialFingerprint]; got != r.Fingerprint(secretOpenAI) {
		t.Errorf("agent credential.fingerprint = %q, want the content secret's", got)
	}
}

func TestMapLargeAttributes(t *testing.T) {
	// The app.* attributes are allow-listed: what moves, moves for its size.
	m := newMapper(t, MappingConfig{LeafAttributes: []string{"app.*"}}, Limits{})
	td := ptrace.NewTraces()
	sp := testSpan(td, 8, "work")
	big := strings.Repeat("x", 10_000)
	sp.Attributes().PutStr("app.big", big)
	for i := range 10 {
		sp.Attributes().PutStr("app.medium."+string(rune('a'+i)), strings.Repeat("y", 3_000))
	}
	entries, err := Map(t.Context(), td, m)
	if err != nil {
		t.Fatal(err)
	}
	e := entries[0]
	got := attrMap(&e)
	if got[AttrMovedAttributes] != "app.big" {
		t.Errorf("%s = %q, want app.big", AttrMovedAttributes, got[AttrMovedAttributes])
	}
	if !strings.Contains(contentMap(&e)[ContentAttributes], big) {
		t.Errorf("content %s lacks the moved value", ContentAttributes)
	}
	if _, err := ledger.EncodeLeaf(&e); err != nil {
		t.Errorf("EncodeLeaf: %v", err)
	}

	// Many medium attributes: the largest move until the leaf fits.
	td = ptrace.NewTraces()
	sp = testSpan(td, 9, "work")
	for i := range 40 {
		sp.Attributes().PutStr("app.a"+strings.Repeat("b", i), strings.Repeat("z", 2_000+i))
	}
	entries, err = Map(t.Context(), td, m)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ledger.EncodeLeaf(&entries[0])
	if err != nil {
		t.Fatalf("EncodeLeaf: %v", err)
	}
	if len(leaf) > ledger.MaxLeafSize {
		t.Errorf("leaf = %d bytes", len(leaf))
	}
	if moved := strings.Fields(attrMap(&entries[0])[AttrMovedAttributes]); len(moved) == 0 {
		t.Errorf("nothing moved from a leaf of 40 × 2 KB attributes")
	}
}

// TestMapAgentIdentityInLeaf checks that every entry carries the
// resource's service.name and service.namespace, and that the attributes
// an agent is known by stay in the leaf however long they are, so that
// the agent of an entry is a function of its leaf.
func TestMapAgentIdentityInLeaf(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{})
	td := ptrace.NewTraces()
	sp := testSpan(td, 8, "chat gpt-4o")
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("service.namespace", "payments")
	long := strings.Repeat("n", 5_000) // over the default max_inline_attribute_bytes
	for _, k := range []string{"agent.name", "graph.node.name", "traceloop.workflow.name", "traceloop.entity.name"} {
		sp.Attributes().PutStr(k, k+long)
	}
	sp.Attributes().PutStr("app.other", long)
	entries, err := Map(t.Context(), td, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		got := attrMap(&e)
		if got[AttrServiceName] != "billing-agent" || got[AttrServiceNamespace] != "payments" {
			t.Errorf("%s entry: service.name %q, service.namespace %q; want billing-agent, payments", e.Kind, got[AttrServiceName], got[AttrServiceNamespace])
		}
		if e.Kind == ledger.KindAttestation {
			continue
		}
		for _, k := range []string{"agent.name", "graph.node.name", "traceloop.workflow.name", "traceloop.entity.name"} {
			if got[k] != k+long {
				t.Errorf("%s left the leaf (moved: %q)", k, got[AttrMovedAttributes])
			}
		}
		if got[AttrMovedAttributes] != "app.other" {
			t.Errorf("%s = %q, want app.other", AttrMovedAttributes, got[AttrMovedAttributes])
		}
	}
}

// TestMapLLMOnlyAgent checks that the LLM-client spans of the
// OpenInference and OpenLLMetry OpenAI instrumentations, with no agent
// span, name an agent (ledger.Agent): the service, or OpenLLMetry's
// workflow; and that one agent, "planner", has one key whichever
// instrumentation recorded it.
func TestMapLLMOnlyAgent(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{})
	llm := func(service string, attrs map[string]string) ledger.Entry {
		t.Helper()
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		rs.ScopeSpans().AppendEmpty()
		sp := rs.ScopeSpans().At(0).Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		sp.SetSpanID(pcommon.SpanID{0xb, 1})
		sp.SetName("ChatCompletion")
		sp.SetKind(ptrace.SpanKindClient)
		for k, v := range attrs {
			sp.Attributes().PutStr(k, v)
		}
		entries, err := Map(t.Context(), td, m)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Kind == ledger.KindLLM {
				return e
			}
		}
		t.Fatalf("no llm entry among %d", len(entries))
		return ledger.Entry{}
	}
	for _, tt := range []struct {
		name         string
		e            ledger.Entry
		wantKey, src string
	}{
		{"openinference", llm("planner", map[string]string{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.provider": "openai"}),
			"planner", ledger.AttrServiceName},
		{"openllmetry", llm("planner", map[string]string{"llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"}),
			"planner", ledger.AttrServiceName},
		{"openllmetry workflow", llm("worker-7", map[string]string{"llm.request.type": "chat", "gen_ai.system": "openai", "traceloop.workflow.name": "planner"}),
			"planner", ledger.AttrTraceloopWorkflowName},
		{"genai", llm("worker-7", map[string]string{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.agent.name": "planner"}),
			"planner", ledger.AttrAgentName},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key, src := ledger.Agent(&tt.e)
			if key != tt.wantKey || src != tt.src {
				t.Errorf("agent = %q from %q, want %q from %q", key, src, tt.wantKey, tt.src)
			}
		})
	}
}

func TestMapInvalid(t *testing.T) {
	tests := []struct {
		name  string
		limit Limits
		build func(td ptrace.Traces)
		want  string
	}{
		{"invalid UTF-8 value", Limits{}, func(td ptrace.Traces) {
			testSpan(td, 1, "x").Attributes().PutStr("app.note", "bad \xff byte")
		}, `attribute "app.note": invalid UTF-8`},
		{"invalid UTF-8 name", Limits{}, func(td ptrace.Traces) {
			testSpan(td, 1, "x\xfe")
		}, "span name: invalid UTF-8"},
		{"invalid UTF-8 content", Limits{}, func(td ptrace.Traces) {
			testSpan(td, 1, "x").Attributes().PutStr("gen_ai.input.messages", "\xc3")
		}, `attribute "gen_ai.input.messages": invalid UTF-8`},
		{"invalid UTF-8 nested", Limits{}, func(td ptrace.Traces) {
			testSpan(td, 1, "x").Attributes().PutEmptySlice("app.list").AppendEmpty().SetStr("\xff")
		}, `attribute "app.list": invalid UTF-8`},
		{"NUL in attribute", Limits{}, func(td ptrace.Traces) {
			testSpan(td, 1, "x").Attributes().PutStr("app.note", "a\x00b")
		}, "NUL"},
		{"zero trace id", Limits{}, func(td ptrace.Traces) {
			testSpan(td, 1, "x").SetTraceID(pcommon.TraceID{})
		}, "trace_id is all zero"},
		{"zero span id", Limits{}, func(td ptrace.Traces) {
			testSpan(td, 1, "x").SetSpanID(pcommon.SpanID{})
		}, "span_id is all zero"},
		{"too many spans", Limits{MaxSpansPerRequest: 2}, func(td ptrace.Traces) {
			for i := range 3 {
				testSpan(td, byte(i+1), "x")
			}
		}, "request holds 3 spans, limit is 2"},
		{"attribute over limit", Limits{MaxAttributeValueBytes: 100}, func(td ptrace.Traces) {
			testSpan(td, 1, "x").Attributes().PutStr("app.blob", strings.Repeat("a", 101))
		}, `attribute "app.blob" is 101 bytes, limit is 100`},
		{"content over limit", Limits{MaxContentBytes: 100}, func(td ptrace.Traces) {
			testSpan(td, 1, "x").Attributes().PutStr("gen_ai.input.messages", strings.Repeat("a", 101))
		}, `content "input.messages"`},
		{"too many events", Limits{MaxEventsPerSpan: 1}, func(td ptrace.Traces) {
			sp := testSpan(td, 1, "x")
			sp.Events().AppendEmpty().SetName("a")
			sp.Events().AppendEmpty().SetName("b")
		}, "span has 2 events, limit is 1"},
		{"reserved name", Limits{}, func(td ptrace.Traces) {
			testSpan(td, 1, "x").Attributes().PutStr("agentledger.moved_attributes", "x")
		}, "reserved"},
		{"empty attribute name", Limits{}, func(td ptrace.Traces) {
			testSpan(td, 1, "x").Attributes().PutStr("", "x")
		}, "empty name"},
		{"leaf cannot fit", Limits{}, func(td ptrace.Traces) {
			sp := testSpan(td, 1, "x")
			sp.Attributes().PutStr("credential.scope", strings.Repeat("s", 40_000))
			sp.Attributes().PutStr("credential.audience", strings.Repeat("a", 40_000))
		}, "exceeds the leaf limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMapper(t, MappingConfig{}, tt.limit)
			td := ptrace.NewTraces()
			tt.build(td)
			entries, err := Map(t.Context(), td, m)
			if err == nil {
				t.Fatalf("Map = %d entries, want an error containing %q", len(entries), tt.want)
			}
			if !errors.Is(err, ledger.ErrInvalid) {
				t.Errorf("Map error %v does not wrap ledger.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Map error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestMapDeterministicKeys(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{})
	build := func() ptrace.Traces {
		td := ptrace.NewTraces()
		sp := testSpan(td, 1, "invoke_agent")
		sp.Attributes().PutStr("gen_ai.operation.name", "invoke_agent")
		sp.Events().AppendEmpty().SetName("credential.issue")
		testSpan(td, 2, "chat").Attributes().PutStr("gen_ai.operation.name", "chat")
		return td
	}
	a, err := Map(t.Context(), build(), m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Map(t.Context(), build(), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("len = %d, %d", len(a), len(b))
	}
	for i := range a {
		if a[i].DedupKey() != b[i].DedupKey() {
			t.Errorf("entry %d (%s) dedup key differs between two mappings", i, a[i].Kind)
		}
	}
}

func TestMapLogs(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{})
	build := func() plog.Logs {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "vault-proxy")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		lr := lrs.AppendEmpty()
		lr.SetEventName("credential.issue")
		lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000))
		lr.SetTraceID(pcommon.TraceID{1})
		lr.SetSpanID(pcommon.SpanID{2})
		body := lr.Body().SetEmptyMap()
		body.PutStr("credential.id", "lease-9")
		body.PutStr("credential.type", "vault_token")
		body.PutStr("token", "hvs.CAESIJ0123456789abcdefghijklmnop")
		ch := lrs.AppendEmpty()
		ch.SetEventName("gen_ai.choice")
		ch.Body().SetEmptyMap().PutStr("message", "I will call the tool")
		lrs.AppendEmpty().Body().SetStr("plain application log")
		return ld
	}
	entries, err := MapLogs(t.Context(), build(), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("len(entries) = %d, want 3 (credential, llm, attestation)", len(entries))
	}
	cred := attrMap(&entries[0])
	if entries[0].Kind != ledger.KindCredential || cred["credential.id"] != "lease-9" || cred["credential.operation"] != "issue" || cred["service.name"] != "vault-proxy" {
		t.Errorf("credential entry = %s %v", entries[0].Kind, cred)
	}
	if strings.Contains(cred["token"], "hvs.") {
		t.Errorf("vault token in the leaf: %q", cred["token"])
	}
	if entries[1].Kind != ledger.KindLLM || contentMap(&entries[1])[ContentOutputMessages] == "" {
		t.Errorf("gen_ai.choice entry = %s %v", entries[1].Kind, contentMap(&entries[1]))
	}
	again, err := MapLogs(t.Context(), build(), m)
	if err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		if !strings.HasPrefix(entries[i].EventKey, "log/") && entries[i].Kind != ledger.KindAttestation {
			t.Errorf("event key %q", entries[i].EventKey)
		}
		if entries[i].DedupKey() != again[i].DedupKey() {
			t.Errorf("log entry %d dedup key differs between two mappings", i)
		}
	}
}

// TestMapSecretsEverywhere plants secrets in every string a span request
// can carry; none may reach an entry, not even base64-encoded.
func TestMapSecretsEverywhere(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{})
	td := ptrace.NewTraces()
	sp := testSpan(td, 1, "deploy with "+secretGitHub)
	rs := td.ResourceSpans().At(0)
	rs.Resource().Attributes().PutStr("process.command_args", "--token "+secretGitHub)
	rs.ScopeSpans().At(0).Scope().SetName("scope " + secretOpenAI)
	a := sp.Attributes()
	a.PutStr("app.header."+secretOpenAI, "x")
	a.PutEmptyBytes("app.bytes").FromRaw([]byte("key=" + secretOpenAI))
	mm := a.PutEmptyMap("app.config")
	mm.PutStr("password", "hunter2-hunter2")
	mm.PutStr("note", "jwt "+secretJWT)
	a.PutStr("app.json", `{"client_secret":"s3cr3t-client-value","n":1}`)
	sp.Status().SetCode(ptrace.StatusCodeError)
	sp.Status().SetMessage("401 for " + secretJWT)
	ev := sp.Events().AppendEmpty()
	ev.SetName("credential.issue " + secretGitHub)
	ev2 := sp.Events().AppendEmpty()
	ev2.SetName("exception")
	ev2.Attributes().PutEmptyBytes("exception.blob").FromRaw([]byte(secretJWT))

	entries, err := Map(t.Context(), td, m)
	if err != nil {
		t.Fatal(err)
	}
	raw := []string{secretGitHub, secretOpenAI, secretJWT, "hunter2-hunter2", "s3cr3t-client-value"}
	var all []string
	for _, e := range entries {
		all = append(all, e.Name, e.EventKey)
		for _, at := range e.Attrs {
			all = append(all, at.Key, at.Value)
		}
		for _, c := range e.Content {
			all = append(all, c.Name, string(c.Data))
		}
	}
	// Decode every base64 run too.
	n := len(all)
	for _, s := range all[:n] {
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '"' || r == ',' || r == ':' || r == ' ' }) {
			if b, err := base64.StdEncoding.DecodeString(f); err == nil {
				all = append(all, string(b))
			}
		}
	}
	for _, s := range all {
		for _, secret := range raw {
			if strings.Contains(s, secret) {
				t.Errorf("entry string %.60q… holds the raw secret %.12s…", s, secret)
			}
		}
	}
}

package ingest

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentledger/agentledger/ledger"
)

// Credential operations, the value of ledger.AttrCredentialOperation.
var credentialOps = []string{"issue", "exchange", "revoke"}

// credentialOp returns the operation of a span or event named
// credential.issue, credential.exchange or credential.revoke.
func credentialOp(name string) string {
	op, ok := strings.CutPrefix(name, "credential.")
	if !ok {
		return ""
	}
	for _, o := range credentialOps {
		if op == o {
			return o
		}
	}
	return ""
}

func isCredentialOp(op string) bool {
	for _, o := range credentialOps {
		if op == o {
			return true
		}
	}
	return false
}

// eventKind classifies a span event or log event by name: credential.*
// and approval.* events become entries of their own.
func eventKind(name string, attrs pcommon.Map) (ledger.Kind, string) {
	if op := credentialOp(name); op != "" {
		return ledger.KindCredential, op
	}
	if strings.HasPrefix(name, "approval.") {
		return ledger.KindApproval, ""
	}
	if v, ok := attrs.Get(ledger.AttrCredentialOperation); ok && isCredentialOp(v.AsString()) && strings.HasPrefix(name, "credential") {
		return ledger.KindCredential, v.AsString()
	}
	return "", ""
}

// classify returns the entry kind of a span, in this order: credential and
// approval spans by name; then by profile, OpenInference's span kind,
// GenAI's operation name, OpenLLMetry's span kind and request type, and
// GenAI tool attributes without an operation; then CLIENT spans with HTTP,
// RPC or database attributes are API calls; everything else is a span.
func (m *Mapper) classify(sp ptrace.Span) (ledger.Kind, string) {
	name := sp.Name()
	attrs := sp.Attributes()
	if op := credentialOp(name); op != "" {
		return ledger.KindCredential, op
	}
	if v, ok := attrs.Get(ledger.AttrCredentialOperation); ok && isCredentialOp(v.Str()) {
		return ledger.KindCredential, v.Str()
	}
	if strings.HasPrefix(name, "approval.") {
		return ledger.KindApproval, ""
	}
	str := func(key string) string {
		if v, ok := attrs.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
			return v.Str()
		}
		return ""
	}
	if m.openinference {
		switch strings.ToUpper(str("openinference.span.kind")) {
		case "AGENT":
			return ledger.KindAgent, ""
		case "LLM":
			return ledger.KindLLM, ""
		case "TOOL":
			return ledger.KindTool, ""
		}
	}
	op := str("gen_ai.operation.name")
	if m.genai {
		switch op {
		case "invoke_agent", "create_agent", "invoke_workflow":
			return ledger.KindAgent, ""
		case "chat", "text_completion", "generate_content", "completion", "generate", "responses":
			return ledger.KindLLM, ""
		case "execute_tool":
			return ledger.KindTool, ""
		}
	}
	if m.openllmetry {
		switch str("traceloop.span.kind") {
		case "agent", "workflow":
			return ledger.KindAgent, ""
		case "tool":
			return ledger.KindTool, ""
		}
		if t := str("llm.request.type"); t != "" && t != "embedding" && t != "rerank" {
			return ledger.KindLLM, ""
		}
	}
	if m.genai && op == "" {
		if _, ok := attrs.Get(AttrToolName); ok {
			return ledger.KindTool, ""
		}
		if _, ok := attrs.Get(AttrToolCallID); ok {
			return ledger.KindTool, ""
		}
	}
	if sp.Kind() == ptrace.SpanKindClient {
		api := false
		attrs.Range(func(k string, _ pcommon.Value) bool {
			if strings.HasPrefix(k, "http.") || strings.HasPrefix(k, "rpc.") || strings.HasPrefix(k, "db.") || k == "url.full" {
				api = true
				return false
			}
			return true
		})
		if api {
			return ledger.KindAPICall, ""
		}
	}
	return ledger.KindSpan, ""
}

// copyRule copies the first present source attribute onto target when the
// entry lacks target. kinds, if set, restricts it to entries of those kinds.
type copyRule struct {
	target  string
	sources []string
	kinds   []ledger.Kind
}

// coreRules map older semantic-convention names onto current ones; they
// apply whatever the profiles.
var coreRules = []copyRule{
	{target: "http.request.method", sources: []string{"http.method"}},
	{target: "url.full", sources: []string{"http.url"}},
	{target: "http.response.status_code", sources: []string{"http.status_code"}},
	{target: ledger.AttrServerAddress, sources: []string{"net.peer.name"}, kinds: []ledger.Kind{ledger.KindAPICall}},
	{target: "server.port", sources: []string{"net.peer.port"}, kinds: []ledger.Kind{ledger.KindAPICall}},
	{target: "db.system", sources: []string{"db.system.name"}},
	{target: "db.operation.name", sources: []string{"db.operation"}},
}

var genaiRules = []copyRule{
	{target: "gen_ai.provider.name", sources: []string{"gen_ai.system"}},
	{target: "gen_ai.usage.input_tokens", sources: []string{"gen_ai.usage.prompt_tokens"}},
	{target: "gen_ai.usage.output_tokens", sources: []string{"gen_ai.usage.completion_tokens"}},
}

var openinferenceRules = []copyRule{
	{target: "gen_ai.request.model", sources: []string{"llm.model_name"}},
	{target: "gen_ai.provider.name", sources: []string{"llm.provider", "llm.system"}},
	{target: "gen_ai.usage.input_tokens", sources: []string{"llm.token_count.prompt"}},
	{target: "gen_ai.usage.output_tokens", sources: []string{"llm.token_count.completion"}},
	{target: "gen_ai.usage.reasoning.output_tokens", sources: []string{"llm.token_count.completion_details.reasoning"}},
	{target: ledger.AttrAgentName, sources: []string{"agent.name", "graph.node.name"}, kinds: []ledger.Kind{ledger.KindAgent}},
	{target: ledger.AttrConversationID, sources: []string{"session.id"}},
	{target: AttrToolName, sources: []string{"tool.name"}, kinds: []ledger.Kind{ledger.KindTool}},
	{target: AttrToolCallID, sources: []string{"tool_call.id", "tool.id"}, kinds: []ledger.Kind{ledger.KindTool}},
}

var openllmetryRules = []copyRule{
	{target: "gen_ai.provider.name", sources: []string{"gen_ai.system"}},
	{target: "gen_ai.usage.input_tokens", sources: []string{"gen_ai.usage.prompt_tokens"}},
	{target: "gen_ai.usage.output_tokens", sources: []string{"gen_ai.usage.completion_tokens"}},
	{target: ledger.AttrAgentName, sources: []string{"traceloop.entity.name", "traceloop.workflow.name"}, kinds: []ledger.Kind{ledger.KindAgent}},
	{target: AttrToolName, sources: []string{"traceloop.entity.name"}, kinds: []ledger.Kind{ledger.KindTool}},
	{target: ledger.AttrConversationID, sources: []string{
		"traceloop.association.properties.conversation_id",
		"traceloop.association.properties.session_id",
		"traceloop.association.properties.thread_id",
	}},
}

// contentRule says where one attribute's value goes when it is content.
type contentRule struct {
	name string // normalised content name
	// messages: a prefix whose attributes (<prefix><i>.<field>) are
	// flattened chat messages, rebuilt into one GenAI-shaped message list.
	messages bool
	// group: a prefix whose attributes are gathered into one JSON object.
	group bool
}

var genaiContent = map[string]contentRule{
	"gen_ai.input.messages":      {name: ContentInputMessages},
	"gen_ai.output.messages":     {name: ContentOutputMessages},
	"gen_ai.system_instructions": {name: ContentSystemInstructions},
	"gen_ai.tool.call.arguments": {name: ContentToolArguments},
	"gen_ai.tool.call.result":    {name: ContentToolResult},
	"gen_ai.tool.definitions":    {name: ContentToolDefinitions},
	"gen_ai.prompt":              {name: ContentInput},
	"gen_ai.completion":          {name: ContentOutput},
}

var openinferenceContent = map[string]contentRule{
	"input.value":  {name: ContentInput},
	"output.value": {name: ContentOutput},
	"llm.prompts":  {name: ContentInput},
}

var openinferencePrefixes = map[string]contentRule{
	"llm.input_messages.":           {name: ContentInputMessages, messages: true},
	"llm.output_messages.":          {name: ContentOutputMessages, messages: true},
	"retrieval.documents.":          {name: "retrieval.documents", group: true},
	"reranker.input_documents.":     {name: "reranker.input_documents", group: true},
	"reranker.output_documents.":    {name: "reranker.output_documents", group: true},
	"embedding.embeddings.":         {name: "embeddings", group: true},
	"llm.prompt_template.variables": {name: "prompt_template.variables"},
}

var openllmetryContent = map[string]contentRule{
	"traceloop.entity.input":  {name: ContentInput},
	"traceloop.entity.output": {name: ContentOutput},
}

var openllmetryPrefixes = map[string]contentRule{
	"gen_ai.prompt.":     {name: ContentInputMessages, messages: true},
	"gen_ai.completion.": {name: ContentOutputMessages, messages: true},
}

// GenAI message events (span events or log events), current and
// deprecated: their bodies and attributes are content.
var (
	inputEvents = map[string]bool{
		"gen_ai.system.message":    true,
		"gen_ai.user.message":      true,
		"gen_ai.assistant.message": true,
		"gen_ai.tool.message":      true,
		"gen_ai.content.prompt":    true,
	}
	outputEvents = map[string]bool{
		"gen_ai.choice":             true,
		"gen_ai.content.completion": true,
	}
)

// prefixRule is a content rule for the attributes under a prefix.
type prefixRule struct {
	prefix string
	rule   contentRule
}

// contentRules returns the exact and prefix content rules of the enabled
// profiles; of rules for one name, the first profile's wins.
func (m *Mapper) contentRules() (map[string]contentRule, []prefixRule) {
	exact := map[string]contentRule{}
	var prefixes []prefixRule
	add := func(on bool, ex, pre map[string]contentRule) {
		if !on {
			return
		}
		for k, r := range ex {
			if _, ok := exact[k]; !ok {
				exact[k] = r
			}
		}
		for _, p := range sortedKeys(pre) {
			prefixes = append(prefixes, prefixRule{p, pre[p]})
		}
	}
	add(m.genai, genaiContent, nil)
	add(m.openinference, openinferenceContent, openinferencePrefixes)
	add(m.openllmetry, openllmetryContent, openllmetryPrefixes)
	return exact, prefixes
}

// contentRuleFor returns the content rule of attribute key and, for a
// prefix rule, the rest of the key after the prefix. Flattened messages
// are recognised only with an index after the prefix; a rule without
// messages or group matches its exact name only.
//
// Most attribute names are neither: the names of exact rules are looked
// up only if keyBit lets them be, and of the prefix rules only those
// whose first byte is key's are tried.
func (m *Mapper) contentRuleFor(key string) (contentRule, string, bool) {
	if m.exactKeys&keyBit(key) != 0 {
		if r, ok := m.exact[key]; ok {
			return r, "", true
		}
	}
	var first byte // an empty key is tried against the empty prefixes
	if key != "" {
		first = key[0]
	}
	for _, p := range m.prefixes[first] {
		rest, ok := strings.CutPrefix(key, p.prefix)
		if !ok {
			continue
		}
		switch {
		case p.rule.messages && !startsWithDigit(rest):
		case !p.rule.messages && !p.rule.group && rest != "":
		default:
			return p.rule, rest, true
		}
	}
	return contentRule{}, "", false
}

func startsWithDigit(s string) bool {
	return s != "" && s[0] >= '0' && s[0] <= '9'
}

package ledger

import "slices"

// Attributes an agent is known by besides gen_ai.agent.id and
// gen_ai.agent.name, in the order Agent tries them.
const (
	// AttrOpenInferenceAgentName is OpenInference's agent.name.
	AttrOpenInferenceAgentName = "agent.name"
	// AttrTraceloopWorkflowName is OpenLLMetry's traceloop.workflow.name,
	// which its SDK sets on every span of a workflow, LLM calls included.
	AttrTraceloopWorkflowName = "traceloop.workflow.name"
	// AttrServiceName and AttrServiceNamespace are the resource's
	// service.name and service.namespace, which ingest copies onto every
	// entry.
	AttrServiceName      = "service.name"
	AttrServiceNamespace = "service.namespace"
)

// agentAttrs are the attributes that name an agent explicitly, in the
// order Agent tries them.
var agentAttrs = []string{AttrAgentID, AttrAgentName, AttrOpenInferenceAgentName, AttrTraceloopWorkflowName}

// AgentNames returns every name e gives its agent explicitly, each once, in
// the order Agent tries them (gen_ai.agent.id, gen_ai.agent.name,
// agent.name, traceloop.workflow.name): the names the verifiable index
// files e under (ledger/FORMAT.md, "Keys of a leaf"), so that a run is
// found by any of them. The service fallback is not among them: every
// entry a service sends carries it.
func AgentNames(e *Entry) []string {
	var names []string
	for _, k := range agentAttrs {
		if v, ok := e.Attr(k); ok && v != "" && !slices.Contains(names, v) {
			names = append(names, v)
		}
	}
	return names
}

// Agent returns the name the agent of e is known by and the attribute it
// came from (ledger/FORMAT.md, "Attributes"): gen_ai.agent.id, else
// gen_ai.agent.name, else OpenInference's agent.name, else OpenLLMetry's
// traceloop.workflow.name, else the service: "<service.namespace>/<service.name>",
// or service.name alone when the namespace is absent (source
// "service.name"). Both are empty when e names no agent. It is a function
// of the leaf alone.
func Agent(e *Entry) (name, source string) {
	for _, k := range agentAttrs {
		if v, ok := e.Attr(k); ok && v != "" {
			return v, k
		}
	}
	svc, ok := e.Attr(AttrServiceName)
	if !ok || svc == "" {
		return "", ""
	}
	if ns, ok := e.Attr(AttrServiceNamespace); ok && ns != "" {
		return ns + "/" + svc, AttrServiceName
	}
	return svc, AttrServiceName
}

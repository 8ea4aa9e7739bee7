package ingest

import (
	"strings"

	"github.com/agentledger/agentledger/ledger"
)

// leafAttributes is the structural allow-list: the attribute names whose
// values ingest keeps in the leaf. Every other attribute value moves into
// the entry's ContentAttributes, behind a salted commitment, where it can be
// erased with the leaf and its proofs intact (see "Attributes kept in the
// leaf" in ledger/FORMAT.md, which lists these names). It holds IDs, names,
// enums, times, counts and status codes: every attribute the query layer
// (query/link.go, query/findings.go, query/credential.go, the index keys of
// ledger/indexkeys.go) or the web UI reads, and the structural OpenTelemetry
// semantic convention names beside them. Free text (status descriptions,
// full URLs, prompts, anything unknown) is not on it.
var leafAttributes = map[string]bool{
	// Credentials: the non-secret facts of ledger/attrs.go.
	ledger.AttrCredentialID:          true,
	ledger.AttrCredentialType:        true,
	ledger.AttrCredentialIssuer:      true,
	ledger.AttrCredentialSubject:     true,
	ledger.AttrCredentialAudience:    true,
	ledger.AttrCredentialScope:       true,
	ledger.AttrCredentialNotBefore:   true,
	ledger.AttrCredentialExpiresAt:   true,
	ledger.AttrCredentialParentID:    true,
	ledger.AttrCredentialOperation:   true,
	ledger.AttrCredentialFingerprint: true,
	ledger.AttrCredentialRole:        true,
	AttrCredentialActor:              true,

	// Agents, conversations and models (gen_ai.agent.* is a prefix).
	ledger.AttrConversationID:              true,
	"gen_ai.operation.name":                true,
	"gen_ai.provider.name":                 true,
	"gen_ai.system":                        true,
	"gen_ai.request.model":                 true,
	"gen_ai.response.model":                true,
	"gen_ai.response.id":                   true,
	"gen_ai.response.finish_reasons":       true,
	"gen_ai.output.type":                   true,
	"gen_ai.request.max_tokens":            true,
	"gen_ai.request.temperature":           true,
	"gen_ai.request.top_p":                 true,
	"gen_ai.usage.input_tokens":            true,
	"gen_ai.usage.output_tokens":           true,
	"gen_ai.usage.reasoning.output_tokens": true,
	"gen_ai.data_source.id":                true,
	AttrModels:                             true,
	AttrToolCallID:                         true,
	AttrToolCallIDs:                        true,
	AttrToolName:                           true,
	"gen_ai.tool.type":                     true,

	// Approvals: the decision and the fields of the statement its
	// signature covers (approval/), which the receiver verifies and the
	// credential view checks calls against.
	"approval.decision":   true,
	"approval.approver":   true,
	"approval.action":     true,
	"approval.granted":    true,
	"approval.signature":  true,
	"approval.target":     true,
	"approval.credential": true,
	"approval.expires_at": true,
	"approval.run":        true,

	// The receiver's span facts (otel.status_description is free text and
	// is not here).
	AttrSpanKind:     true,
	AttrStatusCode:   true,
	AttrScopeName:    true,
	AttrScopeVersion: true,
	AttrEventName:    true,
	"error.type":     true,

	// What ran: the resource facts of attestation entries.
	AttrServiceName:               true,
	"service.version":             true,
	"service.namespace":           true,
	"service.instance.id":         true,
	"deployment.environment.name": true,
	"host.name":                   true,
	"host.id":                     true,
	"host.arch":                   true,
	"os.type":                     true,
	"process.pid":                 true,
	"process.runtime.name":        true,
	"process.runtime.version":     true,
	"telemetry.sdk.name":          true,
	"telemetry.sdk.language":      true,
	"telemetry.sdk.version":       true,
	"container.id":                true,
	"container.name":              true,
	"container.image.id":          true,
	"container.image.name":        true,
	"container.image.tags":        true,
	"oci.manifest.digest":         true,
	"k8s.namespace.name":          true,
	"k8s.pod.name":                true,
	"k8s.pod.uid":                 true,
	"k8s.deployment.name":         true,
	"cloud.provider":              true,
	"cloud.platform":              true,
	"cloud.region":                true,
	"cloud.account.id":            true,

	// API calls: the target and its answer (url.full and url.query are
	// not here: a URL can carry a token in its path or query).
	ledger.AttrServerAddress:    true,
	"server.port":               true,
	"url.scheme":                true,
	"url.path":                  true,
	"http.route":                true,
	"http.request.method":       true,
	"http.response.status_code": true,
	"network.protocol.name":     true,
	"network.protocol.version":  true,
	"rpc.system":                true,
	"rpc.service":               true,
	"rpc.method":                true,
	"rpc.grpc.status_code":      true,
	"db.system":                 true,
	"db.system.name":            true,
	"db.operation.name":         true,
	"db.namespace":              true,
	"db.collection.name":        true,
	"db.response.status_code":   true,
	// The query with its literals replaced by '?' (see sanitizeSQL); the
	// redacted query itself is the content db.query.
	"db.query.text":            true,
	"db.statement":             true,
	"messaging.system":         true,
	"messaging.operation.name": true,

	// Who called, as audit-log evidence records it (query/findings.go).
	"client.address":      true,
	"user_agent.original": true,
	AttrEvidenceSource:    true,

	// The agent's identity as OpenInference and OpenLLMetry name it
	// (ledger.Agent reads them when gen_ai.agent.* is absent).
	"agent.name":              true,
	"graph.node.name":         true,
	"traceloop.workflow.name": true,
	"traceloop.entity.name":   true,
}

// leafPrefixes are the name prefixes whose attributes stay in the leaf:
// the receiver's own (clients cannot send agentledger.*), the agent's
// identity, and a policy engine's decision (policy/, which the credential
// view links to the calls it allowed).
var leafPrefixes = []string{"agentledger.", "gen_ai.agent.", "policy."}

// essential reports whether the attribute named key must stay in the leaf
// whatever its size: the facts queries find and link entries by, the
// agent's identity among them (gen_ai.agent.*, OpenInference's agent.name
// and graph.node.name, OpenLLMetry's traceloop.workflow.name and
// traceloop.entity.name, the service's name and namespace).
func essential(key string) bool {
	switch key {
	case ledger.AttrAgentID, ledger.AttrAgentName, ledger.AttrConversationID, ledger.AttrServerAddress,
		AttrToolCallID, AttrToolCallIDs, AttrToolName, AttrServiceName, AttrServiceNamespace, AttrSpanKind, AttrStatusCode,
		AttrMovedAttributes,
		"agent.name", "graph.node.name", "traceloop.workflow.name", "traceloop.entity.name":
		return true
	}
	return strings.HasPrefix(key, "credential.") && leafAttributes[key]
}

// leafList is the allow-list a Mapper applies: the built-in one and the
// names a user added (MappingConfig.LeafAttributes).
type leafList struct {
	names    map[string]bool
	prefixes []string
}

// newLeafList returns the built-in allow-list extended by extra: names,
// and prefixes written as "name.*".
func newLeafList(extra []string) leafList {
	l := leafList{prefixes: leafPrefixes}
	if len(extra) == 0 {
		l.names = leafAttributes
		return l
	}
	l.names = make(map[string]bool, len(leafAttributes)+len(extra))
	for k := range leafAttributes {
		l.names[k] = true
	}
	l.prefixes = append([]string(nil), leafPrefixes...)
	for _, name := range extra {
		if p, ok := strings.CutSuffix(name, "*"); ok {
			l.prefixes = append(l.prefixes, p)
		} else {
			l.names[name] = true
		}
	}
	return l
}

// keeps reports whether the value of the attribute named key may stay in
// the leaf.
func (l leafList) keeps(key string) bool {
	if l.names[key] {
		return true
	}
	for _, p := range l.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

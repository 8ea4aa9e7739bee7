package query

import (
	"context"
	"slices"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// Attribute names the linking reads that ledger/attrs.go does not name
// (OpenTelemetry semantic conventions, as ingest writes them).
const (
	attrToolCallID     = "gen_ai.tool.call.id"  // on a tool entry
	attrToolCallIDs    = "gen_ai.tool.call.ids" // on an llm entry: space-separated
	attrRequestModel   = "gen_ai.request.model"
	attrResponseModel  = "gen_ai.response.model"
	attrStatusCode     = "otel.status_code"
	attrImageID        = "container.image.id"
	attrManifestDigest = "oci.manifest.digest"
	attrHTTPMethod     = "http.request.method"
	attrURLPath        = "url.path"
	attrHTTPStatus     = "http.response.status_code"
	attrRPCService     = "rpc.service"
	attrRPCMethod      = "rpc.method"
	attrRPCStatus      = "rpc.grpc.status_code"
	attrDBOperation    = "db.operation.name"
	attrDBNamespace    = "db.namespace"
	attrDBCollection   = "db.collection.name"
)

// Values the linking compares and reports.
const (
	statusError           = "ERROR"
	viaSpanAncestry       = "span_ancestry"
	viaToolCallID         = "tool_call_id"
	maxAncestry           = 64
	operationIssue        = "issue"
	operationExchange     = "exchange"
	operationRevoke       = "revoke"
	matchedByCredentialID = "credential_id"
	matchedByFingerprint  = "fingerprint"
	matchedByJTI          = "jwt_jti"
)

// run is the entries of one trace, indexed for linking.
type run struct {
	traceID string
	nodes   []*node // in time order
	// spans maps a span ID to the entry of the span itself (no event key).
	spans map[string]*node
	// llm is the run's LLM steps in time order.
	llm []*node
	// steps maps a tool-call ID to the LLM steps that decided it.
	steps map[string][]*node
	// truncated is true when the trace has more than MaxRunEntries entries
	// and only the first were loaded.
	truncated bool
}

func newRun(traceID string, nodes []*node) *run {
	r := &run{traceID: traceID, nodes: nodes, spans: make(map[string]*node), steps: make(map[string][]*node)}
	sortNodes(r.nodes)
	for _, n := range r.nodes {
		if n.e.SpanID != "" && n.e.EventKey == "" {
			// Several entries of one span (of different kinds) are rare;
			// the step or tool is what linking needs.
			if old, ok := r.spans[n.e.SpanID]; !ok || rank(n) > rank(old) {
				r.spans[n.e.SpanID] = n
			}
		}
		if n.e.Kind == ledger.KindLLM {
			r.llm = append(r.llm, n)
			for _, id := range fields(n.attr(attrToolCallIDs)) {
				r.steps[id] = append(r.steps[id], n)
			}
		}
	}
	return r
}

func rank(n *node) int {
	switch n.e.Kind {
	case ledger.KindLLM:
		return 3
	case ledger.KindTool:
		return 2
	case ledger.KindAgent:
		return 1
	}
	return 0
}

// runQueries are the lookups loadRuns makes of traceIDs.
func runQueries(traceIDs []string) []ledger.FindQuery {
	var qs []ledger.FindQuery
	for _, id := range traceIDs {
		for _, ref := range refsOf(ledger.RefTrace, id) {
			qs = append(qs, ledger.FindQuery{Ref: ref, Limit: MaxRunEntries + 1})
		}
	}
	return qs
}

// prefetch makes the lookups qs at once and reads at once the entries
// they find that keep accepts (the first MaxRunEntries of each at most):
// the calls that make them later find them in f.
func prefetch(ctx context.Context, f *fetcher, qs []ledger.FindQuery, keep func(q int, idx uint64) bool) error {
	found, err := f.findMany(ctx, qs)
	if err != nil {
		return err
	}
	var idx []uint64
	for q, fd := range found {
		for _, i := range fd.Indices[:min(len(fd.Indices), MaxRunEntries)] {
			if keep(q, i) {
				idx = append(idx, i)
			}
		}
	}
	_, err = f.fetch(ctx, idx)
	return err
}

// loadRuns loads the entries of each trace, up to MaxRunEntries each.
func loadRuns(ctx context.Context, f *fetcher, traceIDs []string) (map[string]*run, error) {
	var refs []ledger.Ref
	for _, id := range traceIDs {
		refs = append(refs, refsOf(ledger.RefTrace, id)...)
	}
	found, err := f.findAll(ctx, refs, MaxRunEntries+1)
	if err != nil {
		return nil, err
	}
	var all []uint64
	for _, idx := range found {
		all = append(all, idx[:min(len(idx), MaxRunEntries)]...)
	}
	nodes, err := f.fetch(ctx, all)
	if err != nil {
		return nil, err
	}
	byTrace := make(map[string][]*node)
	for _, n := range nodes {
		byTrace[n.e.TraceID] = append(byTrace[n.e.TraceID], n)
	}
	runs := make(map[string]*run, len(refs))
	for i, ref := range refs {
		r := newRun(ref.Value, byTrace[ref.Value])
		r.truncated = len(found[i]) > MaxRunEntries
		runs[ref.Value] = r
	}
	return runs, nil
}

// cause returns the LLM step that caused n, the tool span between them if
// any, and how they were linked. A tool span's cause is the step that
// decided its tool-call ID. Otherwise cause walks n's span ancestry: an LLM
// step among the ancestors is the cause; a tool span among them names a
// tool-call ID, and the step that decided that call is the cause.
func (r *run) cause(n *node) (step, tool *node, via string) {
	if n.e.Kind == ledger.KindTool && n.e.EventKey == "" {
		if s := r.stepFor(n.attr(attrToolCallID), n); s != nil {
			return s, nil, viaToolCallID
		}
	}
	span := n.e.ParentSpanID
	if n.e.EventKey != "" {
		span = n.e.SpanID // an event belongs to the span it is on
	}
	seen := make(map[string]bool)
	for depth := 0; span != "" && depth < maxAncestry && !seen[span]; depth++ {
		seen[span] = true
		p := r.spans[span]
		if p == nil || p == n {
			break
		}
		switch p.e.Kind {
		case ledger.KindLLM:
			return p, tool, viaSpanAncestry
		case ledger.KindTool:
			if tool == nil {
				tool = p
				if s := r.stepFor(p.attr(attrToolCallID), p); s != nil {
					return s, tool, viaToolCallID
				}
			}
		}
		span = p.e.ParentSpanID
	}
	return nil, tool, ""
}

// stepFor returns the LLM step that decided tool call id, run by tool:
// among the steps that list the ID, the latest that started no later
// than the tool, preferring steps that did not fail (a retried step may
// list the same ID twice).
func (r *run) stepFor(id string, tool *node) *node {
	cands := r.steps[id]
	if id == "" || len(cands) == 0 {
		return nil
	}
	var best *node
	better := func(s *node) bool {
		if best == nil {
			return true
		}
		sFail, bFail := s.attr(attrStatusCode) == statusError, best.attr(attrStatusCode) == statusError
		if sFail != bFail {
			return !sFail
		}
		return best.before(s)
	}
	for _, s := range cands {
		if !tool.e.Start.IsZero() && !s.e.Start.IsZero() && s.e.Start.After(tool.e.Start) {
			continue
		}
		if better(s) {
			best = s
		}
	}
	if best == nil {
		best = cands[len(cands)-1]
	}
	return best
}

// chain returns the run's LLM steps up to n: those that started no later
// than n (or, when either time is unknown, were appended before it).
func (r *run) chain(n *node) []*node {
	var out []*node
	for _, s := range r.llm {
		if s == n {
			continue
		}
		if s.e.Start.IsZero() || n.e.Start.IsZero() {
			if s.index() < n.index() {
				out = append(out, s)
			}
			continue
		}
		if !s.e.Start.After(n.e.Start) {
			out = append(out, s)
		}
	}
	return out
}

// agent returns the run's agent: its agent entry, or when the agent entry
// is missing the first entry that names an agent (ledger.Agent), which for
// a run of LLM-client spans alone is their service.
func (r *run) agent(rd *render) *api.RunAgent {
	var from *node
	for _, n := range r.nodes {
		if n.e.Kind == ledger.KindAgent {
			from = n
			break
		}
	}
	if from == nil {
		for _, n := range r.nodes {
			if key, _ := ledger.Agent(n.e); key != "" {
				a := runAgent(n)
				return &a
			}
		}
		return nil
	}
	a := runAgent(from)
	a.Entry = rd.entryPtr(from, false)
	return &a
}

// runAgent returns the agent facts of n.
func runAgent(n *node) api.RunAgent {
	key, src := ledger.Agent(n.e)
	return api.RunAgent{
		ID:             n.attr(ledger.AttrAgentID),
		Name:           n.attr(ledger.AttrAgentName),
		Key:            key,
		Source:         src,
		ConversationID: n.attr(ledger.AttrConversationID),
	}
}

// attestation returns what ran in the run: image digests and model IDs
// from its attestation entries, and the models its LLM steps name.
func (r *run) attestation(rd *render) api.Attestation {
	images, models := make(map[string]bool), make(map[string]bool)
	a := api.Attestation{Entries: []api.Entry{}}
	for _, n := range r.nodes {
		switch n.e.Kind {
		case ledger.KindAttestation:
			a.Entries = append(a.Entries, rd.entry(n, false))
			for _, k := range []string{attrImageID, attrManifestDigest} {
				if v := n.attr(k); v != "" {
					images[v] = true
				}
			}
		case ledger.KindLLM:
		default:
			continue
		}
		for _, k := range []string{attrRequestModel, attrResponseModel} {
			if v := n.attr(k); v != "" {
				models[v] = true
			}
		}
	}
	a.Images, a.Models = sortedKeys(images), sortedKeys(models)
	return a
}

// target returns what an API call touched.
func target(n *node) api.Target {
	t := api.Target{ServerAddress: n.attr(ledger.AttrServerAddress)}
	t.Method = firstAttr(n, attrHTTPMethod, attrRPCMethod, attrDBOperation)
	t.Path = firstAttr(n, attrURLPath, attrRPCService, attrDBCollection, attrDBNamespace)
	t.StatusCode = firstAttr(n, attrHTTPStatus, attrRPCStatus)
	return t
}

func firstAttr(n *node, keys ...string) string {
	for _, k := range keys {
		if v := n.attr(k); v != "" {
			return v
		}
	}
	return ""
}

// uniqueTraces returns the trace IDs of ns in order of first appearance.
func uniqueTraces(ns []*node) []string {
	var out []string
	for _, n := range ns {
		if !slices.Contains(out, n.e.TraceID) {
			out = append(out, n.e.TraceID)
		}
	}
	return out
}

// issuingRuns returns the traces in which a credential was issued or
// exchanged, each with the first issuing event there, from the
// credential's events in time order.
func issuingRuns(events []*node) map[string]*node {
	out := make(map[string]*node)
	for _, n := range events {
		if issuing(n) && n.e.TraceID != "" && out[n.e.TraceID] == nil {
			out[n.e.TraceID] = n
		}
	}
	return out
}

// foreignRun reports whether run traceID, having used a credential, is
// foreign to it: not a run in which the credential was issued or
// exchanged. It is false when no issuance is recorded.
func foreignRun(issuers map[string]*node, traceID string) bool {
	return len(issuers) > 0 && issuers[traceID] == nil
}

// usageStream yields, from index from on, the entries that name
// credential id (none when id is empty) or carry one of fingerprints: the
// entries among which its uses are.
func usageStream(f *fetcher, refs *credentialRefs, id string, fingerprints []string, from uint64) stream {
	var parts []stream
	if id != "" {
		parts = append(parts, refs.stream(f, id, from))
	}
	for _, ref := range refsOf(ledger.RefFingerprint, fingerprints...) {
		parts = append(parts, &refStream{f: f, ref: ref, from: from})
	}
	return newUnion(parts...)
}

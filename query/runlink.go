package query

import (
	"context"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// maxRunCredentials bounds the credentials and fingerprints one answer
// links (a run view, or a page of an agent's runs).
const maxRunCredentials = 64

// maxLinkFinds bounds the index lookups spent finding one run's API calls
// or credential events.
const maxLinkFinds = 64

// maxLinkedCalls bounds the API calls of other runs that a run view
// reports for one credential the run obtained.
const maxLinkedCalls = 100

// linker links the credentials of runs to the runs that obtained and used
// them, with what it read cached for one answer. The credential view's
// rules apply: a run is foreign to a credential it used but did not
// obtain (issuingRuns, foreignRun). Its lookups are safe for concurrent
// use.
type linker struct {
	f  *fetcher
	rd *render

	mu sync.Mutex
	// events maps a credential ID to its events (credentialEvents); nil
	// while the lookup is under way.
	events map[string]*credentialRefs
	// owners maps a fingerprint to the credentials whose events record it.
	owners map[string][]string
	// agents maps a trace ID to its run's agent (findAgents).
	agents map[string]*api.RunAgent
	// truncated is true when the budget of credentials ran out.
	truncated bool
}

func newLinker(f *fetcher, rd *render) *linker {
	return &linker{f: f, rd: rd, events: make(map[string]*credentialRefs), owners: make(map[string][]string),
		agents: make(map[string]*api.RunAgent)}
}

// parallel calls fn(ctx, i) for each i < n, several at once.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}

// linkNodes returns the entries of run traceID of the given kinds, in time
// order; complete is false when not all were found.
func linkNodes(ctx context.Context, f *fetcher, traceID string, kinds ...ledger.Kind) (_ []*node, complete bool, err error) {
	trace := ledger.Ref{Key: ledger.RefTrace, Value: traceID}
	found := make([][]uint64, len(kinds))
	ok := make([]bool, len(kinds))
	if err := parallel(ctx, len(kinds), func(ctx context.Context, i int) (err error) {
		found[i], ok[i], err = leapfrog(ctx, f, trace, ledger.Ref{Key: ledger.RefKind, Value: string(kinds[i])}, 0, maxLinkFinds)
		return err
	}); err != nil {
		return nil, false, err
	}
	idx := slices.Concat(found...)
	complete = !slices.Contains(ok, false)
	slices.Sort(idx)
	if len(idx) > MaxRunEntries {
		idx, complete = idx[:MaxRunEntries], false
	}
	nodes, err := f.fetch(ctx, idx)
	if err != nil {
		return nil, false, err
	}
	sortNodes(nodes)
	return nodes, complete, nil
}

// credentialRefs returns the events of credential id, or nil when the
// budget of credentials is spent. Concurrent calls must ask for different
// credentials.
func (l *linker) credentialRefs(ctx context.Context, id string) (*credentialRefs, error) {
	l.mu.Lock()
	cr, ok := l.events[id]
	if !ok && len(l.events) == maxRunCredentials {
		l.truncated = true
	}
	reserve := !ok && len(l.events) < maxRunCredentials
	if reserve {
		l.events[id] = nil
	}
	l.mu.Unlock()
	if !reserve {
		return cr, nil
	}
	cr, err := credentialEvents(ctx, l.f, id)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.events[id] = cr
	l.mu.Unlock()
	return cr, nil
}

// fingerprintOwners returns the credentials whose events record
// fingerprint fp. Concurrent calls must ask for different fingerprints.
func (l *linker) fingerprintOwners(ctx context.Context, fp string) ([]string, error) {
	l.mu.Lock()
	ids, ok := l.owners[fp]
	full := len(l.owners) == maxRunCredentials || len(fp) > ledger.MaxRefValue
	if !ok && full {
		l.truncated = true
	}
	reserve := !ok && !full
	if reserve {
		l.owners[fp] = nil
	}
	l.mu.Unlock()
	if !reserve {
		return ids, nil
	}
	idx, complete, err := leapfrog(ctx, l.f, ledger.Ref{Key: ledger.RefFingerprint, Value: fp},
		ledger.Ref{Key: ledger.RefKind, Value: string(ledger.KindCredential)}, 0, maxEventFinds)
	if err != nil {
		return nil, err
	}
	nodes, err := l.f.fetch(ctx, idx)
	if err != nil {
		return nil, err
	}
	sortNodes(nodes)
	ids = []string{}
	for _, n := range nodes {
		if id := n.attr(ledger.AttrCredentialID); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	l.mu.Lock()
	l.owners[fp] = ids
	l.truncated = l.truncated || !complete
	l.mu.Unlock()
	return ids, nil
}

// runCredential is what one run did with one credential.
type runCredential struct {
	id        string
	calls     []uint64
	matchedBy []string
	refs      *credentialRefs
	issuers   map[string]*node
}

// foreign reports whether run traceID used the credential without
// obtaining it.
func (c *runCredential) foreign(traceID string) bool {
	return len(c.calls) > 0 && foreignRun(c.issuers, traceID)
}

// credentials links the credentials that nodes, entries of run traceID in
// time order, used in API calls or obtained, in order of first
// appearance. With foreignOnly, the events of a credential that nodes show
// obtained in the run are not looked up (it cannot be foreign to it), and
// its refs stay nil.
func (l *linker) credentials(ctx context.Context, traceID string, nodes []*node, foreignOnly bool) ([]*runCredential, error) {
	var out []*runCredential
	obtained := make(map[string]*node) // credential → its first issuing event in nodes
	get := func(id string) *runCredential {
		for _, c := range out {
			if c.id == id {
				return c
			}
		}
		c := &runCredential{id: id, calls: []uint64{}, matchedBy: []string{}}
		out = append(out, c)
		return c
	}
	use := func(id string, n *node, by string) {
		c := get(id)
		if len(c.calls) == 0 || c.calls[len(c.calls)-1] != n.index() {
			c.calls = append(c.calls, n.index())
		}
		if !slices.Contains(c.matchedBy, by) {
			c.matchedBy = append(c.matchedBy, by)
		}
	}
	// The fingerprints of calls that name no credential, looked up at once.
	var fps []string
	for _, n := range nodes {
		if n.e.Kind == ledger.KindAPICall && n.attr(ledger.AttrCredentialID) == "" {
			for _, fp := range fields(n.attr(ledger.AttrCredentialFingerprint)) {
				if !slices.Contains(fps, fp) {
					fps = append(fps, fp)
				}
			}
		}
	}
	owners := make([][]string, len(fps))
	if err := parallel(ctx, len(fps), func(ctx context.Context, i int) (err error) {
		owners[i], err = l.fingerprintOwners(ctx, fps[i])
		return err
	}); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		id := n.attr(ledger.AttrCredentialID)
		switch {
		case n.e.Kind == ledger.KindCredential && issuing(n) && id != "":
			get(id)
			if obtained[id] == nil {
				obtained[id] = n
			}
		case n.e.Kind != ledger.KindAPICall:
		case id != "":
			use(id, n, matchedByCredentialID)
		default:
			for _, fp := range fields(n.attr(ledger.AttrCredentialFingerprint)) {
				for _, owner := range owners[slices.Index(fps, fp)] {
					use(owner, n, matchedByFingerprint)
				}
			}
		}
	}
	if err := parallel(ctx, len(out), func(ctx context.Context, i int) (err error) {
		if !foreignOnly || obtained[out[i].id] == nil {
			out[i].refs, err = l.credentialRefs(ctx, out[i].id)
		}
		return err
	}); err != nil {
		return nil, err
	}
	linked := out[:0]
	for _, c := range out {
		switch {
		case c.refs != nil:
			c.issuers = issuingRuns(c.refs.events)
			if c.refs.truncated { // not every event was found
				l.mu.Lock()
				l.truncated = true
				l.mu.Unlock()
			}
		case foreignOnly && obtained[c.id] != nil:
			c.issuers = map[string]*node{traceID: obtained[c.id]}
		default:
			continue // over the budget
		}
		linked = append(linked, c)
	}
	return linked, nil
}

// findAgents finds the agents of runs, from their agent entries, looking
// several up at once, into l.agents.
func (l *linker) findAgents(ctx context.Context, runs []api.LinkedRun) error {
	var traces []string
	l.mu.Lock()
	for _, r := range runs {
		if _, ok := l.agents[r.TraceID]; !ok && r.TraceID != "" && !slices.Contains(traces, r.TraceID) {
			traces = append(traces, r.TraceID)
		}
	}
	l.mu.Unlock()
	found := make([]*api.RunAgent, len(traces))
	if err := parallel(ctx, len(traces), func(ctx context.Context, i int) error {
		nodes, _, err := linkNodes(ctx, l.f, traces[i], ledger.KindAgent)
		if err == nil {
			found[i] = newRun(traces[i], nodes).agent(l.rd)
		}
		return err
	}); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, trace := range traces {
		l.agents[trace] = found[i]
	}
	return nil
}

// runCredentials links the credentials run traceID used or obtained to
// the other runs that obtained or used them, for the run view. all, if
// not nil, is every entry of the run, in time order; else the run's API
// calls and credential events are looked up.
func (l *linker) runCredentials(ctx context.Context, traceID string, all []*node) (_ []api.RunCredential, foreignUses int, truncated bool, err error) {
	nodes, complete := all, true
	if nodes == nil {
		if nodes, complete, err = linkNodes(ctx, l.f, traceID, ledger.KindAPICall, ledger.KindCredential); err != nil {
			return nil, 0, false, err
		}
	}
	creds, err := l.credentials(ctx, traceID, nodes, false)
	if err != nil {
		return nil, 0, false, err
	}
	out := make([]api.RunCredential, 0, len(creds))
	for _, c := range creds {
		rc := api.RunCredential{ID: c.id, Obtained: c.issuers[traceID] != nil, ForeignRun: c.foreign(traceID),
			Calls: c.calls, MatchedBy: c.matchedBy, ObtainedIn: []api.LinkedRun{}, UsedBy: []api.LinkedRun{}}
		if rc.ForeignRun {
			foreignUses += len(c.calls)
		}
		var issuers []*node
		for trace, ev := range c.issuers {
			if trace != traceID {
				issuers = append(issuers, ev)
			}
		}
		sortNodes(issuers)
		for _, ev := range issuers {
			rc.ObtainedIn = append(rc.ObtainedIn, api.LinkedRun{TraceID: ev.e.TraceID, Event: l.rd.entryPtr(ev, false)})
		}
		out = append(out, rc)
	}
	if err := parallel(ctx, len(out), func(ctx context.Context, i int) (err error) {
		if out[i].Obtained {
			if out[i].UsedBy, out[i].UsedByTruncated, err = l.usedBy(ctx, traceID, creds[i]); err != nil {
				return err
			}
		}
		if out[i].ID != "" {
			out[i].Evidence, err = reconcile(ctx, l.f, out[i].ID)
		}
		return err
	}); err != nil {
		return nil, 0, false, err
	}
	var linked []api.LinkedRun
	for _, rc := range out {
		linked = append(append(linked, rc.ObtainedIn...), rc.UsedBy...)
	}
	if err := l.findAgents(ctx, linked); err != nil {
		return nil, 0, false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, rc := range out {
		for _, runs := range [][]api.LinkedRun{rc.ObtainedIn, rc.UsedBy} {
			for i := range runs {
				runs[i].Agent = l.agents[runs[i].TraceID]
			}
		}
	}
	return out, foreignUses, !complete || l.truncated, nil
}

// usedBy returns the other runs that used credential c, which run traceID
// obtained, with their API calls: the credential view's usages, less the
// run's own.
func (l *linker) usedBy(ctx context.Context, traceID string, c *runCredential) ([]api.LinkedRun, bool, error) {
	fps := facts(l.rd, c.id, c.refs.events).Fingerprints
	runs := make(map[string]int) // trace → position in out
	p, err := paginate(ctx, l.f, usageStream(l.f, c.refs, c.id, fps, 0), maxLinkedCalls, func(n *node) verdict {
		if n.e.Kind != ledger.KindAPICall || n.e.TraceID == traceID {
			return skip
		}
		if _, ok := runs[n.e.TraceID]; !ok {
			if len(runs) == MaxUsageRuns {
				return stop
			}
			runs[n.e.TraceID] = len(runs)
		}
		return take
	})
	if err != nil {
		return nil, false, err
	}
	calls := slices.Clone(p.nodes)
	sortNodes(calls)
	out := []api.LinkedRun{}
	for _, trace := range uniqueTraces(calls) {
		lr := api.LinkedRun{TraceID: trace, Calls: []api.CallRef{}}
		for _, n := range calls {
			if n.e.TraceID == trace {
				e := l.rd.entry(n, false)
				lr.Calls = append(lr.Calls, api.CallRef{Index: e.Index, LeafHash: e.LeafHash, TraceID: e.TraceID,
					CredentialID: n.attr(ledger.AttrCredentialID), Start: e.Start, StatusCode: target(n).StatusCode})
			}
		}
		out = append(out, lr)
	}
	return out, p.more, nil
}

// runSummaries marks each run of runs, an agent's, with its foreign uses.
func (l *linker) runSummaries(ctx context.Context, runs []api.RunSummary) error {
	nodes := make([][]*node, len(runs))
	complete := make([]bool, len(runs))
	if err := parallel(ctx, len(runs), func(ctx context.Context, i int) (err error) {
		if runs[i].TraceID == "" {
			complete[i] = true
			return nil
		}
		nodes[i], complete[i], err = linkNodes(ctx, l.f, runs[i].TraceID, ledger.KindAPICall, ledger.KindCredential)
		return err
	}); err != nil {
		return err
	}
	for i := range runs {
		r := &runs[i]
		l.mu.Lock()
		l.truncated = false
		l.mu.Unlock()
		creds, err := l.credentials(ctx, r.TraceID, nodes[i], true)
		if err != nil {
			return err
		}
		for _, c := range creds {
			if c.foreign(r.TraceID) {
				r.ForeignUses += len(c.calls)
				r.ForeignCredentials = append(r.ForeignCredentials, c.id)
			}
		}
		r.CredentialsTruncated = !complete[i] || l.truncated
	}
	return nil
}

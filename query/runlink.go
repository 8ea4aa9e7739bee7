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

// maxLinkScan bounds the entries of one run examined, through the index
// alone, to find its entries of some kinds (its API calls and credential
// events, its agent entry).
const maxLinkScan = 1 << 14

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
	// gov holds the governance checks of the credentials' evidence.
	gov governor
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
	nodes, complete1, err := linkNodesAll(ctx, f, []string{traceID}, kinds...)
	if err != nil {
		return nil, false, err
	}
	return nodes[0], complete1[0], nil
}

// linkNodesAll is linkNodes for each of traceIDs, with one FindMany and one
// read for all of them.
func linkNodesAll(ctx context.Context, f *fetcher, traceIDs []string, kinds ...ledger.Kind) (_ [][]*node, complete []bool, err error) {
	qs := make([]ledger.FindQuery, len(traceIDs))
	for i, id := range traceIDs {
		qs[i] = ledger.FindQuery{Ref: ledger.Ref{Key: ledger.RefTrace, Value: id}, Kinds: kinds, Limit: maxLinkScan}
	}
	found, err := f.findMany(ctx, qs)
	if err != nil {
		return nil, nil, err
	}
	complete = make([]bool, len(traceIDs))
	var all []uint64
	for i := range found {
		complete[i] = !found[i].More
		if len(found[i].Indices) > MaxRunEntries {
			found[i].Indices, complete[i] = found[i].Indices[:MaxRunEntries], false
		}
		all = append(all, found[i].Indices...)
	}
	if _, err := f.fetch(ctx, all); err != nil {
		return nil, nil, err
	}
	out := make([][]*node, len(traceIDs))
	for i := range found {
		if out[i], err = f.fetch(ctx, found[i].Indices); err != nil {
			return nil, nil, err
		}
		sortNodes(out[i])
	}
	return out, complete, nil
}

// credentialRefsAll returns the events of each of ids (nil for those over
// the budget of credentials), looking up those not known yet at once.
func (l *linker) credentialRefsAll(ctx context.Context, ids []string) ([]*credentialRefs, error) {
	var ask []string
	l.mu.Lock()
	for _, id := range ids {
		if _, ok := l.events[id]; ok || slices.Contains(ask, id) {
			continue
		}
		if len(l.events)+len(ask) == maxRunCredentials {
			l.truncated = true
			continue
		}
		ask = append(ask, id)
	}
	for _, id := range ask {
		l.events[id] = nil
	}
	l.mu.Unlock()
	crs, err := credentialEventsAll(ctx, l.f, ask)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, id := range ask {
		l.events[id] = crs[i]
	}
	out := make([]*credentialRefs, len(ids))
	for i, id := range ids {
		out[i] = l.events[id]
	}
	return out, nil
}

// fingerprintOwnersAll returns, for each of fps, the credentials whose
// events record it, looking up those not known yet at once: one FindMany
// (the fingerprint's credential events) and one read.
func (l *linker) fingerprintOwnersAll(ctx context.Context, fps []string) ([][]string, error) {
	var ask []string
	l.mu.Lock()
	for _, fp := range fps {
		if _, ok := l.owners[fp]; ok || slices.Contains(ask, fp) {
			continue
		}
		if len(l.owners)+len(ask) == maxRunCredentials || len(fp) > ledger.MaxRefValue {
			l.truncated = true
			continue
		}
		ask = append(ask, fp)
	}
	for _, fp := range ask {
		l.owners[fp] = nil
	}
	l.mu.Unlock()
	qs := make([]ledger.FindQuery, len(ask))
	for i, fp := range ask {
		qs[i] = ledger.FindQuery{Ref: ledger.Ref{Key: ledger.RefFingerprint, Value: fp}, Kinds: []ledger.Kind{ledger.KindCredential}, Limit: maxEventScan}
	}
	found, err := l.f.findMany(ctx, qs)
	if err != nil {
		return nil, err
	}
	var all []uint64
	for _, fd := range found {
		all = append(all, fd.Indices...)
	}
	if _, err := l.f.fetch(ctx, all); err != nil {
		return nil, err
	}
	owners := make([][]string, len(ask))
	truncated := false
	for i, fd := range found {
		nodes, err := l.f.fetch(ctx, fd.Indices)
		if err != nil {
			return nil, err
		}
		sortNodes(nodes)
		owners[i] = []string{}
		for _, n := range nodes {
			if id := n.attr(ledger.AttrCredentialID); id != "" && !slices.Contains(owners[i], id) {
				owners[i] = append(owners[i], id)
			}
		}
		truncated = truncated || fd.More
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, fp := range ask {
		l.owners[fp] = owners[i]
	}
	l.truncated = l.truncated || truncated
	out := make([][]string, len(fps))
	for i, fp := range fps {
		out[i] = l.owners[fp]
	}
	return out, nil
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
	owners, err := l.fingerprintOwnersAll(ctx, fps)
	if err != nil {
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
	var ids []string
	for _, c := range out {
		if !foreignOnly || obtained[c.id] == nil {
			ids = append(ids, c.id)
		}
	}
	crs, err := l.credentialRefsAll(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		for _, c := range out {
			if c.id == id {
				c.refs = crs[i]
			}
		}
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
	nodes, _, err := linkNodesAll(ctx, l.f, traces, ledger.KindAgent)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, trace := range traces {
		l.agents[trace] = newRun(trace, nodes[i]).agent(l.rd)
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
	var ids []string
	for _, rc := range out {
		if rc.ID != "" {
			ids = append(ids, rc.ID)
		}
	}
	if err := prefetchEvidence(ctx, l.f, ids); err != nil {
		return nil, 0, false, err
	}
	if err := parallel(ctx, len(out), func(ctx context.Context, i int) (err error) {
		if out[i].Obtained {
			if out[i].UsedBy, out[i].UsedByTruncated, err = l.usedBy(ctx, traceID, creds[i]); err != nil {
				return err
			}
		}
		if out[i].ID != "" {
			out[i].Evidence, err = reconcile(ctx, l.f, out[i].ID, l.gov)
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
	var traces []string
	for _, r := range runs {
		if r.TraceID != "" {
			traces = append(traces, r.TraceID)
		}
	}
	found, done, err := linkNodesAll(ctx, l.f, traces, ledger.KindAPICall, ledger.KindCredential)
	if err != nil {
		return err
	}
	nodes := make([][]*node, len(runs))
	complete := make([]bool, len(runs))
	for i, j := 0, 0; i < len(runs); i++ {
		complete[i] = true
		if runs[i].TraceID != "" {
			nodes[i], complete[i] = found[j], done[j]
			j++
		}
	}
	// The credentials every run used or obtained, and the fingerprints of
	// the calls that name none, looked up at once for all runs.
	if err := l.prefetch(ctx, runs, nodes); err != nil {
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

// prefetch looks up at once what credentials reads for each run of runs,
// whose entries are nodes: the owners of the fingerprints of calls that
// name no credential, and the events of the credentials the runs used
// without obtaining them.
func (l *linker) prefetch(ctx context.Context, runs []api.RunSummary, nodes [][]*node) error {
	var fps, ids []string
	for i := range runs {
		obtained := make(map[string]bool)
		for _, n := range nodes[i] {
			if n.e.Kind == ledger.KindCredential && issuing(n) {
				obtained[n.attr(ledger.AttrCredentialID)] = true
			}
		}
		for _, n := range nodes[i] {
			if n.e.Kind != ledger.KindAPICall {
				continue
			}
			if id := n.attr(ledger.AttrCredentialID); id != "" {
				if !obtained[id] && !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
				continue
			}
			for _, fp := range fields(n.attr(ledger.AttrCredentialFingerprint)) {
				if !slices.Contains(fps, fp) {
					fps = append(fps, fp)
				}
			}
		}
	}
	if _, err := l.fingerprintOwnersAll(ctx, fps); err != nil {
		return err
	}
	_, err := l.credentialRefsAll(ctx, ids)
	return err
}

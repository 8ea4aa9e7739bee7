package query

import (
	"context"
	"slices"

	"golang.org/x/sync/errgroup"

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
// obtain (issuingRuns, foreignRun).
type linker struct {
	f  *fetcher
	rd *render
	// events maps a credential ID to its events (credentialEvents).
	events map[string]*credentialRefs
	// owners maps a fingerprint to the credentials whose events record it.
	owners map[string][]string
	agents map[string]*RunAgent
	// truncated is true when the budget of credentials ran out.
	truncated bool
}

func newLinker(f *fetcher, rd *render) *linker {
	return &linker{f: f, rd: rd, events: make(map[string]*credentialRefs), owners: make(map[string][]string),
		agents: make(map[string]*RunAgent)}
}

// linkNodes returns the entries of run traceID of the given kinds, in time
// order; complete is false when not all were found.
func linkNodes(ctx context.Context, f *fetcher, traceID string, kinds ...ledger.Kind) (_ []*node, complete bool, err error) {
	trace := ledger.Ref{Key: ledger.RefTrace, Value: traceID}
	var idx []uint64
	complete = true
	for _, k := range kinds {
		found, ok, err := leapfrog(ctx, f, trace, ledger.Ref{Key: ledger.RefKind, Value: string(k)}, 0, maxLinkFinds)
		if err != nil {
			return nil, false, err
		}
		idx = append(idx, found...)
		complete = complete && ok
	}
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
// budget of credentials is spent.
func (l *linker) credentialRefs(ctx context.Context, id string) (*credentialRefs, error) {
	if cr, ok := l.events[id]; ok {
		return cr, nil
	}
	if len(l.events) == maxRunCredentials {
		l.truncated = true
		return nil, nil
	}
	cr, err := credentialEvents(ctx, l.f, id)
	if err != nil {
		return nil, err
	}
	l.events[id] = cr
	return cr, nil
}

// fingerprintOwners returns the credentials whose events record
// fingerprint fp.
func (l *linker) fingerprintOwners(ctx context.Context, fp string) ([]string, error) {
	if ids, ok := l.owners[fp]; ok {
		return ids, nil
	}
	if len(l.owners) == maxRunCredentials || len(fp) > ledger.MaxRefValue {
		l.truncated = true
		return nil, nil
	}
	idx, complete, err := leapfrog(ctx, l.f, ledger.Ref{Key: ledger.RefFingerprint, Value: fp},
		ledger.Ref{Key: ledger.RefKind, Value: string(ledger.KindCredential)}, 0, maxEventFinds)
	if err != nil {
		return nil, err
	}
	l.truncated = l.truncated || !complete
	nodes, err := l.f.fetch(ctx, idx)
	if err != nil {
		return nil, err
	}
	sortNodes(nodes)
	ids := []string{}
	for _, n := range nodes {
		if id := n.attr(ledger.AttrCredentialID); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	l.owners[fp] = ids
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
// appearance.
func (l *linker) credentials(ctx context.Context, traceID string, nodes []*node) ([]*runCredential, error) {
	var out []*runCredential
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
	for _, n := range nodes {
		id := n.attr(ledger.AttrCredentialID)
		switch {
		case n.e.Kind == ledger.KindCredential && issuing(n) && id != "":
			get(id)
		case n.e.Kind != ledger.KindAPICall:
		case id != "":
			use(id, n, matchedByCredentialID)
		default:
			for _, fp := range fields(n.attr(ledger.AttrCredentialFingerprint)) {
				owners, err := l.fingerprintOwners(ctx, fp)
				if err != nil {
					return nil, err
				}
				for _, owner := range owners {
					use(owner, n, matchedByFingerprint)
				}
			}
		}
	}
	linked := out[:0]
	for _, c := range out {
		refs, err := l.credentialRefs(ctx, c.id)
		if err != nil {
			return nil, err
		}
		if refs == nil {
			continue
		}
		c.refs, c.issuers = refs, issuingRuns(refs.events)
		linked = append(linked, c)
	}
	return linked, nil
}

// agent returns the agent of run traceID, from its agent entry.
func (l *linker) agent(ctx context.Context, traceID string) (*RunAgent, error) {
	if a, ok := l.agents[traceID]; ok || traceID == "" {
		return a, nil
	}
	nodes, _, err := linkNodes(ctx, l.f, traceID, ledger.KindAgent)
	if err != nil {
		return nil, err
	}
	a := newRun(traceID, nodes).agent(l.rd)
	l.agents[traceID] = a
	return a, nil
}

// runCredentials links the credentials run traceID used or obtained to
// the other runs that obtained or used them, for the run view.
func (l *linker) runCredentials(ctx context.Context, traceID string) (_ []RunCredential, foreignUses int, truncated bool, err error) {
	nodes, complete, err := linkNodes(ctx, l.f, traceID, ledger.KindAPICall, ledger.KindCredential)
	if err != nil {
		return nil, 0, false, err
	}
	creds, err := l.credentials(ctx, traceID, nodes)
	if err != nil {
		return nil, 0, false, err
	}
	out := make([]RunCredential, 0, len(creds))
	for _, c := range creds {
		rc := RunCredential{ID: c.id, Obtained: c.issuers[traceID] != nil, ForeignRun: c.foreign(traceID),
			Calls: c.calls, MatchedBy: c.matchedBy, ObtainedIn: []LinkedRun{}, UsedBy: []LinkedRun{}}
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
			a, err := l.agent(ctx, ev.e.TraceID)
			if err != nil {
				return nil, 0, false, err
			}
			rc.ObtainedIn = append(rc.ObtainedIn, LinkedRun{TraceID: ev.e.TraceID, Agent: a, Event: l.rd.entryPtr(ev, false)})
		}
		if rc.Obtained {
			if rc.UsedBy, rc.UsedByTruncated, err = l.usedBy(ctx, traceID, c); err != nil {
				return nil, 0, false, err
			}
		}
		out = append(out, rc)
	}
	return out, foreignUses, !complete || l.truncated, nil
}

// usedBy returns the other runs that used credential c, which run traceID
// obtained, with their API calls: the credential view's usages, less the
// run's own.
func (l *linker) usedBy(ctx context.Context, traceID string, c *runCredential) ([]LinkedRun, bool, error) {
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
	out := []LinkedRun{}
	for _, trace := range uniqueTraces(calls) {
		a, err := l.agent(ctx, trace)
		if err != nil {
			return nil, false, err
		}
		lr := LinkedRun{TraceID: trace, Agent: a, Calls: []CallRef{}}
		for _, n := range calls {
			if n.e.TraceID == trace {
				e := l.rd.entry(n, false)
				lr.Calls = append(lr.Calls, CallRef{Index: e.Index, LeafHash: e.LeafHash, TraceID: e.TraceID,
					CredentialID: n.attr(ledger.AttrCredentialID), Start: e.Start, StatusCode: target(n).StatusCode})
			}
		}
		out = append(out, lr)
	}
	return out, p.more, nil
}

// runSummaries marks each run of runs, an agent's, with its foreign uses.
func (l *linker) runSummaries(ctx context.Context, runs []RunSummary) error {
	calls := make([][]*node, len(runs))
	complete := make([]bool, len(runs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, r := range runs {
		if r.TraceID == "" {
			complete[i] = true
			continue
		}
		g.Go(func() (err error) {
			calls[i], complete[i], err = linkNodes(gctx, l.f, r.TraceID, ledger.KindAPICall)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i := range runs {
		r := &runs[i]
		l.truncated = false
		creds, err := l.credentials(ctx, r.TraceID, calls[i])
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

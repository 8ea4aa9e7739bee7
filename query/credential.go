package query

import (
	"context"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// eventScan is how many indices of a credential's entries are listed at
// most: the usages and the evidence of a credential named by no more read
// them from that list, others through the index.
const eventScan = 4096

// maxEventScan bounds the entries of a credential that are examined,
// through the index alone, for its credential events.
const maxEventScan = 1 << 14

// maxSteps bounds the LLM steps one usage reports.
const maxSteps = 200

// credentialRefs is what the index says of a credential: its credential
// events, and the indices of every entry that names it when there are at
// most eventScan of them.
type credentialRefs struct {
	events []*node
	// truncated is true when the credential has so many entries that not
	// all were searched for its events.
	truncated bool
	// all lists every entry naming the credential when complete is true.
	all      []uint64
	complete bool
}

// credentialEvents finds the credential entries (issue, exchange, revoke)
// of credential id, in time order.
func credentialEvents(ctx context.Context, f *fetcher, id string) (*credentialRefs, error) {
	crs, err := credentialEventsAll(ctx, f, []string{id})
	if err != nil {
		return nil, err
	}
	return crs[0], nil
}

// credentialQueries are the two lookups credentialEventsAll makes of
// credential id, in order.
func credentialQueries(id string) []ledger.FindQuery {
	ref := ledger.Ref{Key: ledger.RefCredential, Value: id}
	return []ledger.FindQuery{{Ref: ref, Limit: eventScan + 1}, {Ref: ref, Kinds: []ledger.Kind{ledger.KindCredential}, Limit: maxEventScan}}
}

// credentialEventsAll is credentialEvents for each of ids, in order: the
// credentials not looked up before in this request are looked up with one
// FindMany and one read of their entries, however many there are.
func credentialEventsAll(ctx context.Context, f *fetcher, ids []string) ([]*credentialRefs, error) {
	out := make([]*credentialRefs, len(ids))
	var ask []string
	f.mu.Lock()
	for i, id := range ids {
		if out[i] = f.creds[id]; out[i] == nil && !slices.Contains(ask, id) {
			ask = append(ask, id)
		}
	}
	f.mu.Unlock()
	if len(ask) == 0 {
		return out, nil
	}
	// For each credential, the entries that name it (their indices only),
	// and its credential events, found through the index alone.
	qs := make([]ledger.FindQuery, 0, 2*len(ask))
	for _, id := range ask {
		qs = append(qs, credentialQueries(id)...)
	}
	found, err := f.findMany(ctx, qs)
	if err != nil {
		return nil, err
	}
	var read []uint64
	for i := range ask {
		read = append(read, found[2*i+1].Indices...)
	}
	if _, err := f.fetch(ctx, read); err != nil {
		return nil, err
	}
	crs := make([]*credentialRefs, len(ask))
	for i, id := range ask {
		all, events := found[2*i].Indices, found[2*i+1]
		cr := &credentialRefs{all: all, complete: len(all) <= eventScan, truncated: events.More}
		nodes, err := f.fetch(ctx, events.Indices)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			if n.e.Kind == ledger.KindCredential && n.attr(ledger.AttrCredentialID) == id {
				cr.events = append(cr.events, n)
			}
		}
		sortNodes(cr.events)
		crs[i] = cr
	}
	f.mu.Lock()
	for i, id := range ask {
		f.creds[id] = crs[i]
	}
	for i, id := range ids {
		out[i] = f.creds[id]
	}
	f.mu.Unlock()
	return out, nil
}

// stream returns the indices ≥ from of the entries that name the
// credential, from what the index already said when that was complete.
func (cr *credentialRefs) stream(f *fetcher, id string, from uint64) stream {
	if cr != nil && cr.complete {
		i, _ := slices.BinarySearch(cr.all, from)
		return &sliceStream{idx: cr.all[i:]}
	}
	return &refStream{f: f, ref: ledger.Ref{Key: ledger.RefCredential, Value: id}, from: from}
}

// sliceStream yields indices already known.
type sliceStream struct{ idx []uint64 }

func (s *sliceStream) next(context.Context) (uint64, bool, error) {
	if len(s.idx) == 0 {
		return 0, false, nil
	}
	i := s.idx[0]
	s.idx = s.idx[1:]
	return i, true, nil
}

// operation returns a credential event's operation: issue, exchange or
// revoke.
func operation(n *node) string {
	if op := n.attr(ledger.AttrCredentialOperation); op != "" {
		return op
	}
	if _, op, ok := strings.Cut(n.e.Name, "credential."); ok {
		return op
	}
	return ""
}

func issuing(n *node) bool {
	op := operation(n)
	return op == operationIssue || op == operationExchange
}

// facts merges a credential's facts from its events: issuing events first,
// each fact from the earliest event that records it.
func facts(rd *render, id string, events []*node) api.Credential {
	c := api.Credential{ID: id, Events: rd.entries(events, false)}
	ordered := slices.Clone(events)
	slices.SortStableFunc(ordered, func(a, b *node) int {
		switch ia, ib := issuing(a), issuing(b); {
		case ia && !ib:
			return -1
		case ib && !ia:
			return 1
		}
		return 0
	})
	for _, n := range ordered {
		for _, f := range []struct {
			dst *string
			key string
		}{
			{&c.Type, ledger.AttrCredentialType},
			{&c.Issuer, ledger.AttrCredentialIssuer},
			{&c.Subject, ledger.AttrCredentialSubject},
			{&c.Audience, ledger.AttrCredentialAudience},
			{&c.Scope, ledger.AttrCredentialScope},
			{&c.NotBefore, ledger.AttrCredentialNotBefore},
			{&c.ExpiresAt, ledger.AttrCredentialExpiresAt},
			{&c.ParentID, ledger.AttrCredentialParentID},
		} {
			if *f.dst == "" {
				*f.dst = n.attr(f.key)
			}
		}
	}
	for _, n := range events {
		if operation(n) == operationRevoke && !c.Revoked {
			c.Revoked = true
			c.RevokedAt = timePtr(n.e.Start)
		}
	}
	c.Fingerprints = eventFingerprints(events)
	return c
}

// eventFingerprints returns the fingerprints a credential's events record,
// sorted, once each: those of its facts.
func eventFingerprints(events []*node) []string {
	fps := make(map[string]bool)
	for _, n := range events {
		for _, fp := range fields(n.attr(ledger.AttrCredentialFingerprint)) {
			fps[fp] = true
		}
	}
	return sortedKeys(fps)
}

func firstIssuing(events []*node) *node {
	for _, n := range events {
		if issuing(n) {
			return n
		}
	}
	return nil
}

// parents returns the chain of credentials that id was exchanged from.
func parents(ctx context.Context, f *fetcher, rd *render, id, parent string) ([]api.LineageLink, bool, error) {
	out := []api.LineageLink{}
	seen := map[string]bool{id: true}
	for depth := 1; parent != "" && !seen[parent]; depth++ {
		if depth > MaxLineage {
			return out, true, nil
		}
		seen[parent] = true
		cr, err := credentialEvents(ctx, f, parent)
		if err != nil {
			return nil, false, err
		}
		pf := facts(rd, parent, cr.events)
		out = append(out, api.LineageLink{ID: parent, ParentID: pf.ParentID, Depth: depth, Event: rd.entryPtr(firstIssuing(cr.events), false)})
		parent = pf.ParentID
	}
	return out, false, nil
}

// children returns every credential exchanged from id, transitively,
// breadth first.
func children(ctx context.Context, f *fetcher, rd *render, id string) ([]api.LineageLink, bool, error) {
	out := []api.LineageLink{}
	seen := map[string]bool{id: true}
	frontier := []string{id}
	for depth := 1; len(frontier) > 0; depth++ {
		found, err := f.findAll(ctx, refsOf(ledger.RefCredentialParent, frontier...), MaxLineage+1)
		if err != nil {
			return nil, false, err
		}
		var idx []uint64
		for _, ix := range found {
			idx = append(idx, ix...)
		}
		nodes, err := f.fetch(ctx, idx)
		if err != nil {
			return nil, false, err
		}
		sortNodes(nodes)
		var next []string
		for _, n := range nodes {
			cid, pid := n.attr(ledger.AttrCredentialID), n.attr(ledger.AttrCredentialParentID)
			if n.e.Kind != ledger.KindCredential || cid == "" || seen[cid] || !slices.Contains(frontier, pid) {
				continue
			}
			if len(out) == MaxLineage {
				return out, true, nil
			}
			seen[cid] = true
			out = append(out, api.LineageLink{ID: cid, ParentID: pid, Depth: depth, Event: rd.entryPtr(n, false)})
			next = append(next, cid)
		}
		frontier = next
	}
	return out, false, nil
}

// viewOptions are the caller's choices for a credential view.
type viewOptions struct {
	cursor uint64
	limit  int
	// fingerprints are fingerprints of the credential's raw token known
	// besides those its events record (a lookup's).
	fingerprints []string
	// gov holds the approval gate and the attestation allow-list.
	gov governor
}

// credentialView builds the view of credential id. With an empty id it
// reports the usages that fingerprints find. found is false when the
// ledger knows nothing of the credential.
func credentialView(ctx context.Context, f *fetcher, rd *render, id string, opt viewOptions) (_ *api.CredentialView, found bool, err error) {
	var (
		refs   *credentialRefs
		events []*node
	)
	v := &api.CredentialView{Usages: []api.Usage{}, Lineage: api.Lineage{Parents: []api.LineageLink{}, Children: []api.LineageLink{}}}
	v.Credential = api.Credential{Events: []api.Entry{}}
	if id != "" {
		if refs, err = credentialEvents(ctx, f, id); err != nil {
			return nil, false, err
		}
		events = refs.events
		v.Credential = facts(rd, id, events)
		v.Credential.EventsTruncated = refs.truncated
		// What the lineage and the evidence look up first, at once.
		qs := append(evidenceQueries(refs), ledger.FindQuery{Ref: ledger.Ref{Key: ledger.RefCredentialParent, Value: id}, Limit: MaxLineage + 1})
		if p := v.Credential.ParentID; p != "" && p != id {
			qs = append(qs, credentialQueries(p)...)
		}
		if _, err := f.findMany(ctx, qs); err != nil {
			return nil, false, err
		}
	}
	// The lineage is read while the usages are.
	var parentsCut, childrenCut bool
	lineage, lctx := errgroup.WithContext(ctx)
	if id != "" {
		lineage.Go(func() (err error) {
			v.Lineage.Parents, parentsCut, err = parents(lctx, f, rd, id, v.Credential.ParentID)
			return err
		})
		lineage.Go(func() (err error) {
			v.Lineage.Children, childrenCut, err = children(lctx, f, rd, id)
			return err
		})
	}
	defer lineage.Wait()

	fps := slices.Clone(v.Credential.Fingerprints)
	for _, fp := range opt.fingerprints {
		if !slices.Contains(fps, fp) {
			fps = append(fps, fp)
		}
	}
	traces := make(map[string]bool)
	p, err := paginate(ctx, f, usageStream(f, refs, id, fps, opt.cursor), opt.limit, func(n *node) verdict {
		if n.e.Kind != ledger.KindAPICall {
			return skip
		}
		if !traces[n.e.TraceID] {
			if len(traces) == MaxUsageRuns {
				return stop
			}
			traces[n.e.TraceID] = true
		}
		return take
	})
	if err != nil {
		return nil, false, err
	}
	v.UsagesTruncated = p.more
	if p.more {
		v.NextCursor = encodeCursor(p.next)
	}

	issuer := firstIssuing(events)
	issuers := issuingRuns(events)
	load := uniqueTraces(p.nodes)
	if issuer != nil && issuer.e.TraceID != "" && !slices.Contains(load, issuer.e.TraceID) {
		load = append(load, issuer.e.TraceID)
	}
	calls := slices.Clone(p.nodes)
	sortNodes(calls)
	// The runs and the policy decisions near the calls: looked up at once,
	// and read at once.
	qs := runQueries(load)
	decisions, last := len(qs), uint64(0)
	if q, hi, ok := untracedQuery(calls); ok {
		qs, last = append(qs, q), hi
	}
	if err := prefetch(ctx, f, qs, func(q int, idx uint64) bool { return q < decisions || idx <= last }); err != nil {
		return nil, false, err
	}
	runs, err := loadRuns(ctx, f, load)
	if err != nil {
		return nil, false, err
	}
	if issuer != nil {
		v.Issuance = issuance(rd, issuer, runs[issuer.e.TraceID])
	}

	untraced, err := untracedDecisions(ctx, f, calls)
	if err != nil {
		return nil, false, err
	}
	var issuingRunOf *run
	if t := issuingRun(events); t != "" {
		if issuingRunOf = runs[t]; issuingRunOf == nil {
			more, err := loadRuns(ctx, f, []string{t})
			if err != nil {
				return nil, false, err
			}
			issuingRunOf = more[t]
		}
	}
	for _, traceID := range uniqueTraces(calls) {
		r := runs[traceID]
		if r == nil {
			r = newRun(traceID, nil) // a call without a trace ID
		}
		u := api.Usage{
			TraceID:     traceID,
			ForeignRun:  foreignRun(issuers, traceID),
			Agent:       r.agent(rd),
			Attestation: r.attestation(rd),
			Calls:       []api.Call{},
		}
		var att *api.AttestationCheck // the run's, for each of its calls
		if traceID != "" {
			att = opt.gov.attestation(r, issuingRunOf)
		}
		steps := make(map[*node]bool)
		causes := make(map[*node][]uint64)
		for _, n := range calls {
			if n.e.TraceID != traceID {
				continue
			}
			call := api.Call{Entry: rd.entry(n, true), CredentialID: n.attr(ledger.AttrCredentialID), Target: target(n), ChainOfThought: []uint64{}}
			if id != "" && call.CredentialID == id {
				call.MatchedBy = append(call.MatchedBy, matchedByCredentialID)
			}
			for _, fp := range fields(n.attr(ledger.AttrCredentialFingerprint)) {
				if slices.Contains(fps, fp) {
					call.MatchedBy = append(call.MatchedBy, matchedByFingerprint)
					break
				}
			}
			for _, s := range r.chain(n) {
				steps[s] = true
				call.ChainOfThought = append(call.ChainOfThought, s.index())
			}
			step, tool, via := r.cause(n)
			call.Tool = rd.entryPtr(tool, true)
			if step != nil {
				call.Cause = &api.Cause{StepIndex: step.index(), Via: via}
				steps[step] = true
				causes[step] = append(causes[step], n.index())
			}
			gv := governance(r, n, opt.gov.gate, untraced)
			call.Policy, call.Approval, call.Attestation = gv.decisions, gv.approval, att
			u.Calls = append(u.Calls, call)
		}
		ordered := make([]*node, 0, len(steps))
		for s := range steps {
			ordered = append(ordered, s)
		}
		sortNodes(ordered)
		if len(ordered) > maxSteps {
			// Keep the latest steps: they are closest to the calls.
			ordered, u.StepsTruncated = ordered[len(ordered)-maxSteps:], true
		}
		u.Steps = make([]api.Step, 0, len(ordered))
		for _, s := range ordered {
			u.Steps = append(u.Steps, api.Step{Entry: rd.entry(s, true), Causes: causes[s]})
		}
		v.Usages = append(v.Usages, u)
	}
	if err := lineage.Wait(); err != nil {
		return nil, false, err
	}
	v.Lineage.Truncated = parentsCut || childrenCut
	if id != "" {
		if v.Evidence, err = reconcile(ctx, f, id, &opt.gov); err != nil {
			return nil, false, err
		}
	}
	found = len(events) > 0 || len(p.nodes) > 0 || len(v.Lineage.Children) > 0 || opt.cursor > 0
	return v, found, nil
}

// issuance says how a credential was obtained, from its first issuing
// event and the run it happened in.
func issuance(rd *render, ev *node, r *run) *api.Issuance {
	is := &api.Issuance{TraceID: ev.e.TraceID, Operation: operation(ev), Event: rd.entry(ev, false)}
	if r == nil {
		return is
	}
	is.Agent = r.agent(rd)
	step, tool, via := r.cause(ev)
	is.Tool = rd.entryPtr(tool, true)
	is.Step = rd.entryPtr(step, true)
	is.Via = via
	return is
}

// blastRadius lists every API call made with credential id or any
// credential exchanged from it, and the index keys it used.
func blastRadius(ctx context.Context, f *fetcher, rd *render, id string) (*api.BlastRadius, keySet, bool, error) {
	kids, truncated, err := children(ctx, f, rd, id)
	if err != nil {
		return nil, nil, false, err
	}
	b := &api.BlastRadius{CredentialID: id, Credentials: []string{id}, Targets: []api.TargetGroup{}, Truncated: truncated}
	for _, k := range kids {
		b.Credentials = append(b.Credentials, k.ID)
	}
	var keys keySet
	keys.add(ledger.RefCredentialParent, id)
	type call struct {
		n    *node
		cred string
	}
	var calls []call
	seen := make(map[uint64]bool)
	anyEvents := false
	for _, cid := range b.Credentials {
		if len(calls) >= MaxBlastCalls {
			b.Truncated = true
			break
		}
		cr, err := credentialEvents(ctx, f, cid)
		if err != nil {
			return nil, nil, false, err
		}
		anyEvents = anyEvents || len(cr.events) > 0
		parts := []stream{cr.stream(f, cid, 0)}
		fps := facts(rd, cid, cr.events).Fingerprints
		keys.add(ledger.RefCredential, cid)
		keys.add(ledger.RefFingerprint, fps...)
		for _, ref := range refsOf(ledger.RefFingerprint, fps...) {
			parts = append(parts, &refStream{f: f, ref: ref})
		}
		p, err := paginate(ctx, f, newUnion(parts...), MaxBlastCalls-len(calls), func(n *node) verdict {
			if n.e.Kind != ledger.KindAPICall || seen[n.index()] {
				return skip
			}
			return take
		})
		if err != nil {
			return nil, nil, false, err
		}
		b.Truncated = b.Truncated || p.more
		for _, n := range p.nodes {
			seen[n.index()] = true
			calls = append(calls, call{n: n, cred: cid})
		}
	}
	slices.SortFunc(calls, func(a, b call) int {
		if a.n.before(b.n) {
			return -1
		}
		return 1
	})
	groups := make(map[api.Target]*api.TargetGroup)
	for _, c := range calls {
		t := target(c.n)
		key := api.Target{ServerAddress: t.ServerAddress, Method: t.Method, Path: t.Path}
		g := groups[key]
		if g == nil {
			g = &api.TargetGroup{ServerAddress: t.ServerAddress, Method: t.Method, Path: t.Path,
				Credentials: []string{}, Runs: []string{}, StatusCodes: map[string]int{}, Calls: []api.CallRef{}}
			groups[key] = g
		}
		g.Count++
		if !slices.Contains(g.Credentials, c.cred) {
			g.Credentials = append(g.Credentials, c.cred)
		}
		if tr := c.n.e.TraceID; tr != "" && !slices.Contains(g.Runs, tr) {
			g.Runs = append(g.Runs, tr)
		}
		if t.StatusCode != "" {
			g.StatusCodes[t.StatusCode]++
		}
		if st := timePtr(c.n.e.Start); st != nil {
			if g.First == nil {
				g.First = st
			}
			g.Last = st
		}
		e := rd.entry(c.n, false)
		g.Calls = append(g.Calls, api.CallRef{Index: e.Index, LeafHash: e.LeafHash, TraceID: e.TraceID,
			CredentialID: c.n.attr(ledger.AttrCredentialID), Start: e.Start, StatusCode: t.StatusCode})
	}
	for _, g := range groups {
		sort.Strings(g.Credentials)
		sort.Strings(g.Runs)
		b.Targets = append(b.Targets, *g)
	}
	slices.SortFunc(b.Targets, func(x, y api.TargetGroup) int {
		if x.Count != y.Count {
			return y.Count - x.Count
		}
		return strings.Compare(x.ServerAddress+"\x00"+x.Method+"\x00"+x.Path, y.ServerAddress+"\x00"+y.Method+"\x00"+y.Path)
	})
	b.Calls = len(calls)
	return b, keys, anyEvents || len(calls) > 0 || len(kids) > 0, nil
}

// maxLookupCredentials bounds the credentials one lookup reports.
const maxLookupCredentials = 10

// maxLookupEntries bounds the entries a lookup reads to find the
// credentials a fingerprint names.
const maxLookupEntries = 1000

// lookup answers a raw-token lookup: the credentials whose entries carry
// the token's fingerprint, and the credential its JWT ID names.
func lookup(ctx context.Context, f *fetcher, rd *render, token, fingerprint string, gov governor) (*api.LookupResult, error) {
	res := &api.LookupResult{Fingerprint: fingerprint, Credentials: []api.CredentialView{}}
	type match struct {
		id string
		by []string
	}
	var matches []match
	add := func(id, by string) {
		for i := range matches {
			if matches[i].id == id {
				if !slices.Contains(matches[i].by, by) {
					matches[i].by = append(matches[i].by, by)
				}
				return
			}
		}
		matches = append(matches, match{id: id, by: []string{by}})
	}
	idx, err := f.find(ctx, ledger.Ref{Key: ledger.RefFingerprint, Value: fingerprint}, 0, maxLookupEntries)
	if err != nil {
		return nil, err
	}
	nodes, err := f.fetch(ctx, idx)
	if err != nil {
		return nil, err
	}
	sortNodes(nodes)
	anonymous := false
	for _, n := range nodes {
		if id := n.attr(ledger.AttrCredentialID); id != "" && len(id) <= ledger.MaxRefValue {
			add(id, matchedByFingerprint)
		} else {
			anonymous = true
		}
	}
	if jti := jwtID(token); jti != "" && len(jti) <= ledger.MaxRefValue {
		named, err := f.find(ctx, ledger.Ref{Key: ledger.RefCredential, Value: jti}, 0, 1)
		if err != nil {
			return nil, err
		}
		if len(named) > 0 {
			add(jti, matchedByJTI)
		}
	}
	if len(matches) == 0 && anonymous {
		matches = append(matches, match{id: "", by: []string{matchedByFingerprint}})
	}
	for _, m := range matches[:min(len(matches), maxLookupCredentials)] {
		v, _, err := credentialView(ctx, f, rd, m.id, viewOptions{limit: DefaultLimit, fingerprints: []string{fingerprint}, gov: gov})
		if err != nil {
			return nil, err
		}
		v.MatchedBy = m.by
		res.Credentials = append(res.Credentials, *v)
	}
	return res, nil
}

// jwtID returns the jti claim of token if it is a JWS (read by the same
// parser ingest uses to find JWTs), or "".
func jwtID(token string) string {
	if c, ok := secrets.ParseJWT(token); ok {
		return c.JTI
	}
	return ""
}

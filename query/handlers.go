package query

import (
	"context"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// GET /v1/credentials/{id}?cursor=&limit=&content=
func (s *Server) credential(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	l, rd, err := queryView(c)
	if err != nil {
		return err
	}
	v, found, err := s.credentialAnswer(c, rd, id, l)
	if err != nil {
		return err
	}
	if !found {
		return notFound("no entry names credential %q", id)
	}
	return s.reply(c, rd, http.StatusOK, v)
}

// credentialAnswer builds the view of credential id, with its findings and
// completeness block, even when the ledger knows nothing of it (found is
// false).
func (s *Server) credentialAnswer(c echo.Context, rd *render, id string, l listing) (*api.CredentialView, bool, error) {
	ctx := c.Request().Context()
	f := newFetcher(s.cfg.Reader)
	// The keys the view will use are known from the credential's events:
	// its completeness block is built while the view is.
	cr, err := credentialEvents(ctx, f, id)
	if err != nil {
		return nil, false, err
	}
	var early keySet
	early.add(ledger.RefCredential, id)
	early.add(ledger.RefCredentialParent, id)
	early.add(ledger.RefFingerprint, eventFingerprints(cr.events)...)
	block := s.startCompleteness(c, early)
	defer block.stop()
	v, found, err := credentialView(ctx, f, rd, id, viewOptions{cursor: l.cursor, limit: l.limit, gov: s.governor()})
	if err != nil {
		return nil, false, err
	}
	v.Findings = rd.findingList()
	var keys keySet
	keys.credential(v)
	if slices.Equal(keys, early) {
		v.Completeness, err = block.wait()
	} else {
		v.Completeness, err = s.completeness(c, keys)
	}
	if err != nil {
		return nil, false, err
	}
	return v, found, nil
}

// GET /v1/credentials/{id}/blast-radius
func (s *Server) blastRadius(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	b, keys, found, err := blastRadius(c.Request().Context(), newFetcher(s.cfg.Reader), newRender(false), id)
	if err != nil {
		return err
	}
	if !found {
		return notFound("no entry names credential %q", id)
	}
	if b.Completeness, err = s.completeness(c, keys); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, b)
}

// POST /v1/credentials/lookup {"token": "<raw secret>"}
//
// The token may be pasted text: a header, a PEM key, key=value lines. The
// lookup searches the fingerprint of every value ingest may have
// fingerprinted in it (Config.LookupSecrets); the answer's fingerprint is
// the first that matched, or else the first. The token is never logged,
// stored or returned; neither is anything derived from it but its keyed
// fingerprint.
func (s *Server) lookup(c echo.Context) error {
	var req api.LookupRequest
	if err := s.decodeJSON(c, &req, `{"token": "<raw secret>"}`); err != nil {
		return err
	}
	if req.Token == "" {
		return badRequest(`token is required`)
	}
	content, err := queryContent(c)
	if err != nil {
		return err
	}
	rd := newRender(content)
	tokens := []string{req.Token}
	if s.cfg.LookupSecrets != nil {
		tokens = s.cfg.LookupSecrets(req.Token)
	}
	var res *api.LookupResult
	for _, tok := range tokens {
		r, err := lookup(c.Request().Context(), newFetcher(s.cfg.Reader), rd, tok, s.cfg.Fingerprint(tok), s.governor())
		if err != nil {
			return err
		}
		if res == nil || len(res.Credentials) == 0 && len(r.Credentials) > 0 {
			res = r
			continue
		}
		for _, v := range r.Credentials {
			if len(res.Credentials) < maxLookupCredentials &&
				!slices.ContainsFunc(res.Credentials, func(w api.CredentialView) bool { return w.Credential.ID == v.Credential.ID }) {
				res.Credentials = append(res.Credentials, v)
			}
		}
	}
	res.Findings = rd.findingList()
	var keys keySet
	for _, tok := range tokens {
		keys.add(ledger.RefFingerprint, s.cfg.Fingerprint(tok))
	}
	for i := range res.Credentials {
		keys.credential(&res.Credentials[i])
	}
	if res.Completeness, err = s.completeness(c, keys); err != nil {
		return err
	}
	return s.reply(c, rd, http.StatusOK, res)
}

// GET /v1/runs/{trace_id}?cursor=&limit=&content=
func (s *Server) run(c echo.Context) error {
	raw, err := pathParam(c, "trace_id")
	if err != nil {
		return err
	}
	traceID, err := parseTraceID(raw)
	if err != nil {
		return err
	}
	l, rd, err := queryView(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	f := newFetcher(s.cfg.Reader)
	st := &refStream{f: f, ref: ledger.Ref{Key: ledger.RefTrace, Value: traceID}, from: l.cursor}
	// The view uses the trace's key alone: its completeness block is
	// built while the view is.
	block := s.startCompleteness(c, keySet{st.ref})
	defer block.stop()
	p, err := paginate(ctx, f, st, l.limit, func(*node) verdict { return take })
	if err != nil {
		return err
	}
	if len(p.nodes) == 0 && l.cursor == 0 {
		return notFound("no entry of run %s", traceID)
	}
	r := newRun(traceID, p.nodes)
	v := &api.RunView{TraceID: traceID, Agent: r.agent(rd), Entries: make([]api.TimelineEntry, 0, len(r.nodes)), Truncated: p.more}
	if p.more {
		v.NextCursor = encodeCursor(p.next)
	}
	for _, n := range r.nodes {
		te := api.TimelineEntry{Entry: rd.entry(n, true)}
		if n.e.Kind != ledger.KindLLM {
			if step, _, via := r.cause(n); step != nil {
				i := step.index()
				te.CausedBy, te.CausedVia = &i, via
			}
		}
		if st := n.e.Start; !st.IsZero() && (v.Start == nil || st.Before(*v.Start)) {
			v.Start = timePtr(st)
		}
		if end := n.e.End; !end.IsZero() && (v.End == nil || end.After(*v.End)) {
			v.End = timePtr(end)
		}
		v.Entries = append(v.Entries, te)
	}
	var all []*node // the whole run, when this page is all of it
	if l.cursor == 0 && !p.more {
		all = r.nodes
	}
	if v.Credentials, v.ForeignUses, v.CredentialsTruncated, err = newLinker(f, rd).runCredentials(ctx, traceID, all); err != nil {
		return err
	}
	whole := r // the run's approvals and decisions may be on other pages
	if all == nil {
		runs, err := loadRuns(ctx, f, []string{traceID})
		if err != nil {
			return err
		}
		whole = runs[traceID]
	}
	if v.Governance, err = s.governor().runGovernance(ctx, f, whole, r.nodes, v.Credentials); err != nil {
		return err
	}
	v.Findings = rd.findingList()
	if v.Completeness, err = block.wait(); err != nil {
		return err
	}
	return s.reply(c, rd, http.StatusOK, v)
}

// GET /v1/agents/{agent_id}/runs?cursor=&limit=
func (s *Server) agentRuns(c echo.Context) error {
	id, err := pathParam(c, "agent_id")
	if err != nil {
		return err
	}
	l, err := queryListing(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	f := newFetcher(s.cfg.Reader)
	rd := newRender(false)
	names, err := agentNames(ctx, f, id)
	if err != nil {
		return err
	}
	var (
		keys  keySet
		parts []stream
	)
	for _, ref := range refsOf(ledger.RefAgent, names...) {
		keys = append(keys, ref)
		parts = append(parts, &refStream{f: f, ref: ref, kinds: []ledger.Kind{ledger.KindAgent}, from: l.cursor})
	}
	// The keys are the agent's names: the completeness block is built
	// while the answer is.
	block := s.startCompleteness(c, keys)
	defer block.stop()
	p, err := paginate(ctx, f, newUnion(parts...), l.limit, func(n *node) verdict {
		if n.e.Kind == ledger.KindAgent {
			return take
		}
		return skip
	})
	if err != nil {
		return err
	}
	out := &api.AgentRuns{AgentID: id, Runs: make([]api.RunSummary, 0, len(p.nodes))}
	if p.more {
		out.NextCursor = encodeCursor(p.next)
	}
	for _, n := range p.nodes {
		key, src := ledger.Agent(n.e)
		out.Runs = append(out.Runs, api.RunSummary{
			TraceID:        n.e.TraceID,
			AgentID:        n.attr(ledger.AttrAgentID),
			AgentName:      n.attr(ledger.AttrAgentName),
			AgentKey:       key,
			AgentSource:    src,
			ConversationID: n.attr(ledger.AttrConversationID),
			Start:          timePtr(n.e.Start),
			End:            timePtr(n.e.End),
			Status:         n.attr(attrStatusCode),
			Entry:          rd.entry(n, false),
		})
	}
	if err := newLinker(f, rd).runSummaries(ctx, out.Runs); err != nil {
		return err
	}
	out.Findings = rd.findingList()
	if out.Completeness, err = block.wait(); err != nil {
		return err
	}
	return s.reply(c, rd, http.StatusOK, out)
}

const (
	// maxAgentNames bounds the names of one agent that an agent-runs
	// answer looks up.
	maxAgentNames = 16
	// maxAliasScan bounds the entries read to find an agent's other names.
	maxAliasScan = 256
)

// agentNames returns id and the other names that the agent entries filed
// under id give their agent (ledger.AgentNames), id first: an agent
// reported with gen_ai.agent.id and gen_ai.agent.name in one run, and with
// the name alone in another, is found by either. The first maxAliasScan
// entries filed under id are read for names.
func agentNames(ctx context.Context, f *fetcher, id string) ([]string, error) {
	names := []string{id}
	idx, err := f.r.Find(ctx, ledger.Ref{Key: ledger.RefAgent, Value: id}, 0, maxAliasScan)
	if err != nil {
		return nil, fail("find agent entries", err)
	}
	nodes, err := f.fetch(ctx, idx)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.e.Kind != ledger.KindAgent {
			continue
		}
		for _, name := range ledger.AgentNames(n.e) {
			if len(names) < maxAgentNames && len(name) <= ledger.MaxRefValue && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names, nil
}

// GET /v1/search?agent=&credential=&target=&kind=&conversation=&from=&to=&cursor=&limit=
//
// The most selective filter given drives the search through the stores'
// index; the others are checked on each entry. With no indexed filter the
// search walks the log in index order. Either way one page examines at
// most MaxScan entries and, if it ends early, says where to continue.
func (s *Server) search(c echo.Context) error {
	var refs []ledger.Ref
	for _, p := range []struct{ param, key string }{
		{"credential", ledger.RefCredential},
		{"conversation", ledger.RefConversation},
		{"agent", ledger.RefAgent},
		{"target", ledger.RefTarget},
		{"kind", ledger.RefKind},
	} {
		v, err := queryValue(c, p.param)
		if err != nil {
			return err
		}
		if v != "" {
			refs = append(refs, ledger.Ref{Key: p.key, Value: v})
		}
	}
	if k := c.QueryParam("kind"); k != "" && !ledger.Kind(k).Valid() {
		return badRequest("kind %q is not an entry kind", k)
	}
	from, err := queryTime(c, "from")
	if err != nil {
		return err
	}
	to, err := queryTime(c, "to")
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return badRequest("from must be before to")
	}
	l, err := queryListing(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	f := newFetcher(s.cfg.Reader)
	var st stream
	if len(refs) > 0 {
		st = &refStream{f: f, ref: refs[0], from: l.cursor}
	} else {
		head, err := s.cfg.Reader.Head(ctx)
		if err != nil {
			return fail("read tree head", err)
		}
		st = &rangeStream{from: l.cursor, end: head.Size}
	}
	p, err := paginate(ctx, f, st, l.limit, func(n *node) verdict {
		for _, ref := range refs[min(1, len(refs)):] {
			if !n.hasRef(ref) {
				return skip
			}
		}
		t := n.e.Start
		if (!from.IsZero() || !to.IsZero()) && t.IsZero() {
			return skip
		}
		if !from.IsZero() && t.Before(from) || !to.IsZero() && !t.Before(to) {
			return skip
		}
		return take
	})
	if err != nil {
		return err
	}
	rd := newRender(false)
	out := &api.SearchResult{Entries: rd.entries(p.nodes, false), Findings: rd.findingList()}
	if p.more {
		out.NextCursor = encodeCursor(p.next)
	}
	return s.reply(c, rd, http.StatusOK, out)
}

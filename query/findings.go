package query

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/ledger"
)

// Finding kinds of the evidence: where the issuer's and the provider's own records and the
// agents' account of a credential disagree.
const (
	// FindingUnaccountedUse is a use the provider saw (CloudTrail,
	// Kubernetes, Vault) of a credential agents hold that no agent run
	// accounts for: no agent-reported call with the credential to the same
	// target within AccountWindow. The strongest sign of a leak.
	FindingUnaccountedUse = "unaccounted_use"
	// FindingUseOutsideValidity is a use after the credential expired or
	// was revoked, by either side's record.
	FindingUseOutsideValidity = "use_outside_validity"
	// FindingSubjectMismatch is a use by a run whose attested identity (its
	// authenticated submitter's SPIFFE ID) is not the subject the
	// credential was issued to.
	FindingSubjectMismatch = "subject_mismatch"
	// FindingUnreportedIssuance is an issuance in the issuer's records that
	// no agent reported.
	FindingUnreportedIssuance = "unreported_issuance"
	// FindingIssuerDisagreement is an issuance both sides recorded whose
	// facts (subject, role, scope, expiry, parent) differ.
	FindingIssuerDisagreement = "issuer_disagreement"
	// FindingIssuedNeverUsed is a credential issued and never used, by
	// either side's record: over-provisioned, for least-privilege review.
	FindingIssuedNeverUsed = "issued_never_used"
)

// FindingKinds lists every finding kind: the evidence's, then those of
// governance (query/policy.go).
var FindingKinds = []string{FindingUnaccountedUse, FindingUseOutsideValidity, FindingSubjectMismatch,
	FindingUnreportedIssuance, FindingIssuerDisagreement, FindingIssuedNeverUsed,
	approval.FindingMismatch, approval.FindingExpired, approval.FindingUnverified, approval.FindingMissing,
	FindingPolicyDenied, FindingAttestationMismatch}

// Issuance statuses of a credential.
const (
	// StatusIssuerConfirmed: the issuer's own record of the issuance exists.
	StatusIssuerConfirmed = "issuer_confirmed"
	// StatusAgentReportedOnly: only agents reported the issuance.
	StatusAgentReportedOnly = "agent_reported_only"
	// StatusNoIssuance: neither side recorded an issuance (the credential
	// is known from its uses only).
	StatusNoIssuance = "no_issuance_record"
)

// AccountWindow is how far apart in time an agent-reported call and a
// provider-seen use of the same credential and target may be for the call
// to account for the use.
const AccountWindow = 2 * time.Minute

// ExpirySkew is how far apart the issuer's and an agent's record of a
// credential's expiry may be and still agree: issuers round expiries to
// the second (CloudTrail's "expiration" has no fraction), and the agent
// computes its own from the issuance time its clock saw.
const ExpirySkew = 5 * time.Second

// maxReconcileUses bounds the uses of one credential that are reconciled.
const maxReconcileUses = 2000

// maxIdentityTraces bounds the runs whose identity is read per credential.
const maxIdentityTraces = 32

// fromEvidence reports whether n came from an issuer's or a provider's
// audit log rather than an agent or the ledger itself.
func fromEvidence(n *node) bool {
	switch n.e.Source {
	case "", ledger.SourceAgent, ledger.SourceLedger:
		return false
	}
	return true
}

// evidenceQueries returns the lookups reconcile makes of the credential
// whose references are cr: its fingerprints' entries. A caller that makes
// them at once with others saves reconcile the round trip.
func evidenceQueries(cr *credentialRefs) []ledger.FindQuery {
	var fps []string
	for _, n := range cr.events {
		fps = append(fps, fields(n.attr(ledger.AttrCredentialFingerprint))...)
	}
	slices.Sort(fps)
	var qs []ledger.FindQuery
	for _, ref := range refsOf(ledger.RefFingerprint, slices.Compact(fps)...) {
		qs = append(qs, ledger.FindQuery{Ref: ref, Limit: maxReconcileUses})
	}
	return qs
}

// prefetchEvidence reads at once what reconcile reads of each of ids but
// the runs' attestations: their events, their entries, and their
// fingerprints' entries.
func prefetchEvidence(ctx context.Context, f *fetcher, ids []string) error {
	crs, err := credentialEventsAll(ctx, f, ids)
	if err != nil {
		return err
	}
	var qs []ledger.FindQuery
	for _, cr := range crs {
		qs = append(qs, evidenceQueries(cr)...)
	}
	found, err := f.findMany(ctx, qs)
	if err != nil {
		return err
	}
	var idx []uint64
	for _, cr := range crs {
		idx = append(idx, cr.all[:min(len(cr.all), eventScan)]...)
	}
	for _, fd := range found {
		idx = append(idx, fd.Indices...)
	}
	_, err = f.fetch(ctx, idx)
	return err
}

// reconcile builds the evidence of credential id.
// With g it adds the governance findings of the credential's agent runs
// (query/policy.go); nil leaves them out.
func reconcile(ctx context.Context, f *fetcher, id string, g *governor) (*api.CredentialEvidence, error) {
	cr, err := credentialEvents(ctx, f, id)
	if err != nil {
		return nil, err
	}
	ev := &api.CredentialEvidence{IssuerEvents: []uint64{}, AgentEvents: []uint64{}, Agreement: []api.FactCheck{}, Findings: []api.EvidenceFinding{},
		Truncated: cr.truncated || !cr.complete}
	all := cr.all[:min(len(cr.all), eventScan)]
	nodes, err := f.fetch(ctx, all)
	if err != nil {
		return nil, err
	}
	var uses []*node
	for _, n := range nodes {
		if n.e.Kind == ledger.KindAPICall && n.attr(ledger.AttrCredentialID) == id {
			uses = append(uses, n)
		}
	}
	// Agent calls that carry the credential's raw token, by fingerprint,
	// and the provider-seen uses that name the credential by its token's
	// fingerprint alone (a request Vault could not authenticate, read in
	// another import than the token's issuance).
	if qs := evidenceQueries(cr); len(qs) > 0 {
		found, err := f.findMany(ctx, qs)
		if err != nil {
			return nil, err
		}
		var idx []uint64
		for _, fd := range found {
			idx = append(idx, fd.Indices...)
		}
		more, err := f.fetch(ctx, idx)
		if err != nil {
			return nil, err
		}
		for _, n := range more {
			if n.e.Kind == ledger.KindAPICall && (!fromEvidence(n) || n.attr(ledger.AttrCredentialID) == "") && !slices.Contains(uses, n) {
				uses = append(uses, n)
			}
		}
	}
	sortNodes(uses)
	if len(uses) > maxReconcileUses {
		uses, ev.Truncated = uses[:maxReconcileUses], true
	}

	var issuerIssue, agentIssue, revoke *node
	for _, n := range cr.events {
		if fromEvidence(n) {
			ev.IssuerEvents = append(ev.IssuerEvents, n.index())
		} else {
			ev.AgentEvents = append(ev.AgentEvents, n.index())
		}
		switch {
		case issuing(n) && fromEvidence(n) && issuerIssue == nil:
			issuerIssue = n
		case issuing(n) && !fromEvidence(n) && agentIssue == nil:
			agentIssue = n
		case operation(n) == operationRevoke && (revoke == nil || n.e.Start.Before(revoke.e.Start)):
			revoke = n
		}
	}
	var provider, agent []*node
	for _, u := range uses {
		if fromEvidence(u) {
			provider = append(provider, u)
		} else {
			agent = append(agent, u)
		}
	}
	ev.ProviderUses, ev.AgentUses = len(provider), len(agent)
	agentsKnow := len(ev.AgentEvents) > 0 || len(agent) > 0

	switch {
	case issuerIssue != nil:
		ev.Status = StatusIssuerConfirmed
	case agentIssue != nil:
		ev.Status = StatusAgentReportedOnly
	default:
		ev.Status = StatusNoIssuance
	}
	add := func(fd api.EvidenceFinding, on *node, cites ...*node) {
		fd.CredentialID = id
		fd.Index = on.index()
		fd.Source = on.e.Source
		fd.At = timePtr(on.e.Start)
		for _, c := range append(cites, on) {
			if c != nil && !slices.Contains(fd.Cites, c.index()) {
				fd.Cites = append(fd.Cites, c.index())
			}
		}
		slices.Sort(fd.Cites)
		ev.Findings = append(ev.Findings, fd)
	}

	// The issuance, as each side recorded it.
	if issuerIssue != nil && agentIssue != nil {
		var differ []api.FactCheck
		for _, fact := range []string{ledger.AttrCredentialSubject, ledger.AttrCredentialRole, ledger.AttrCredentialScope,
			ledger.AttrCredentialExpiresAt, ledger.AttrCredentialParentID} {
			is, ag := issuerIssue.attr(fact), agentIssue.attr(fact)
			if is == "" || ag == "" {
				continue
			}
			fc := api.FactCheck{Fact: fact, Issuer: is, Agent: ag, Agree: sameFact(fact, is, ag)}
			ev.Agreement = append(ev.Agreement, fc)
			if !fc.Agree {
				differ = append(differ, fc)
			}
		}
		if len(differ) > 0 {
			names := make([]string, len(differ))
			for i, d := range differ {
				names[i] = strings.TrimPrefix(d.Fact, "credential.")
			}
			add(api.EvidenceFinding{Kind: FindingIssuerDisagreement, Facts: differ,
				Summary: fmt.Sprintf("the issuer's record and the agent's disagree on %s", strings.Join(names, ", "))}, issuerIssue, agentIssue)
		}
	}
	if issuerIssue != nil && agentIssue == nil {
		add(api.EvidenceFinding{Kind: FindingUnreportedIssuance,
			Summary: fmt.Sprintf("%s recorded this issuance; no agent reported it", issuerIssue.e.Source)}, issuerIssue)
	}
	if issued := cmpOr(issuerIssue, agentIssue); issued != nil && len(uses) == 0 {
		add(api.EvidenceFinding{Kind: FindingIssuedNeverUsed, Summary: "issued and never used, by either side's record"}, issued, issuerIssue, agentIssue)
	}

	// Uses: each provider-seen use, with the agent call that accounts for
	// it, if any; then the agent calls no provider record matches.
	matched := make(map[*node]bool)
	type use struct {
		n, pair *node
	}
	var checked []use
	// The agent calls with a time, in time order: each provider-seen use
	// looks at those within AccountWindow only.
	timed := slices.DeleteFunc(slices.Clone(agent), func(a *node) bool { return a.e.Start.IsZero() })
	for _, u := range provider {
		var best *node
		from, _ := slices.BinarySearchFunc(timed, u.e.Start.Add(-AccountWindow), func(a *node, t time.Time) int {
			return a.e.Start.Compare(t)
		})
		for _, a := range timed[from:] {
			if a.e.Start.After(u.e.Start.Add(AccountWindow)) {
				break
			}
			if !matched[a] && accounts(a, u) && (best == nil || absDur(a.e.Start.Sub(u.e.Start)) < absDur(best.e.Start.Sub(u.e.Start))) {
				best = a
			}
		}
		if best != nil {
			matched[best] = true
		}
		checked = append(checked, use{u, best})
		if best == nil && agentsKnow {
			t := target(u)
			add(api.EvidenceFinding{Kind: FindingUnaccountedUse, ClientAddress: u.attr(attrClientAddress), UserAgent: u.attr(attrUserAgent), Target: &t,
				Summary: fmt.Sprintf("%s saw a use from %s that no agent run accounts for", u.e.Source, orUnknown(u.attr(attrClientAddress)))},
				u, cmpOr(agentIssue, firstOf(agent)))
		}
	}
	for _, a := range agent {
		if !matched[a] {
			checked = append(checked, use{a, nil})
		}
	}
	expiry, expiryFrom := validUntil(issuerIssue, agentIssue)
	for _, u := range checked {
		at := u.n.e.Start
		switch {
		case !expiry.IsZero() && at.After(expiry):
			add(api.EvidenceFinding{Kind: FindingUseOutsideValidity, Reason: "expired", TraceID: traceOf(u.n, u.pair),
				Summary: fmt.Sprintf("used %s after it expired at %s", at.Sub(expiry).Round(time.Second), expiry.Format(time.RFC3339))},
				u.n, expiryFrom, u.pair)
		case revoke != nil && at.After(revoke.e.Start):
			add(api.EvidenceFinding{Kind: FindingUseOutsideValidity, Reason: "revoked", TraceID: traceOf(u.n, u.pair),
				Summary: fmt.Sprintf("used %s after %s recorded its revocation", at.Sub(revoke.e.Start).Round(time.Second), sideName(revoke))},
				u.n, revoke, u.pair)
		}
	}

	// Runs whose attested identity is not the issued subject.
	if issued := cmpOr(issuerIssue, agentIssue); issued != nil {
		if subject := issued.attr(ledger.AttrCredentialSubject); comparableIdentity(subject) {
			seen := make(map[string]bool)
			var runs []*node // each run's first call
			for _, a := range agent {
				if a.e.TraceID == "" || seen[a.e.TraceID] || len(seen) == maxIdentityTraces {
					continue
				}
				seen[a.e.TraceID] = true
				runs = append(runs, a)
			}
			attested, err := attestations(ctx, f, runs)
			if err != nil {
				return nil, err
			}
			for _, a := range runs {
				who, from := runIdentity(a, attested[a.e.TraceID])
				if who != "" && comparableIdentity(who) && canonicalIdentity(who) != canonicalIdentity(subject) {
					add(api.EvidenceFinding{Kind: FindingSubjectMismatch, TraceID: a.e.TraceID,
						Facts:   []api.FactCheck{{Fact: ledger.AttrCredentialSubject, Issuer: subject, Agent: who}},
						Summary: fmt.Sprintf("issued to %s, used by a run attested as %s", subject, who)}, a, issued, from)
				}
			}
		}
	}
	// The approvals, policy decisions and attestations of the agent runs.
	if g != nil {
		if err := g.governanceFindings(ctx, f, agent, issuingRun(cr.events), add); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(ev.Findings, func(x, y api.EvidenceFinding) int {
		switch {
		case x.Index > y.Index:
			return -1
		case x.Index < y.Index:
			return 1
		}
		return strings.Compare(x.Kind, y.Kind)
	})
	return ev, nil
}

// Attribute names of audit-log entries the findings report (see package
// evidence).
const (
	attrClientAddress = "client.address"
	attrUserAgent     = "user_agent.original"
)

// accounts reports whether agent call a accounts for provider-seen use u:
// near in time, and to the same target where both name it (the same RPC
// method, HTTP method and path, and service).
func accounts(a, u *node) bool {
	if absDur(a.e.Start.Sub(u.e.Start)) > AccountWindow {
		return false
	}
	for _, key := range []string{attrRPCMethod, attrHTTPMethod, attrURLPath} {
		if va, vu := a.attr(key), u.attr(key); va != "" && vu != "" && !strings.EqualFold(va, vu) {
			return false
		}
	}
	sa, su := a.attr(ledger.AttrServerAddress), u.attr(ledger.AttrServerAddress)
	return sa == "" || su == "" || sameService(sa, su)
}

// sameService reports whether an agent's server address names the service
// a provider records: equal, or (CloudTrail names "s3.amazonaws.com" for
// "bucket.s3.us-east-1.amazonaws.com") the provider's first label is a
// label of the agent's and both end in the same domain.
func sameService(agent, provider string) bool {
	agent, provider = strings.ToLower(agent), strings.ToLower(provider)
	if agent == provider {
		return true
	}
	pl, al := strings.Split(provider, "."), strings.Split(agent, ".")
	if len(pl) < 3 || len(al) < 3 {
		return false
	}
	return slices.Contains(al[:len(al)-2], pl[0]) && strings.Join(pl[len(pl)-2:], ".") == strings.Join(al[len(al)-2:], ".")
}

// sameFact compares a fact as each side wrote it: times as instants,
// scopes as sets.
func sameFact(fact, a, b string) bool {
	switch fact {
	case ledger.AttrCredentialExpiresAt:
		ta, ea := time.Parse(time.RFC3339Nano, a)
		tb, eb := time.Parse(time.RFC3339Nano, b)
		if ea == nil && eb == nil {
			return absDur(ta.Sub(tb)) <= ExpirySkew
		}
	case ledger.AttrCredentialScope:
		fa, fb := strings.Fields(a), strings.Fields(b)
		slices.Sort(fa)
		slices.Sort(fb)
		return slices.Equal(fa, fb)
	}
	return a == b
}

// validUntil returns the expiry of a credential: the issuer's record wins.
func validUntil(issuer, agent *node) (time.Time, *node) {
	for _, n := range []*node{issuer, agent} {
		if n == nil {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, n.attr(ledger.AttrCredentialExpiresAt)); err == nil {
			return t, n
		}
	}
	return time.Time{}, nil
}

// attestations returns the attestations of the runs of calls that carry
// no authenticated submitter of their own, by trace ID, in index order:
// one FindMany and one read for all of them.
func attestations(ctx context.Context, f *fetcher, calls []*node) (map[string][]*node, error) {
	var qs []ledger.FindQuery
	for _, a := range calls {
		if a.e.Submitter == "" {
			qs = append(qs, ledger.FindQuery{Ref: ledger.Ref{Key: ledger.RefTrace, Value: a.e.TraceID},
				Kinds: []ledger.Kind{ledger.KindAttestation}, Limit: maxLinkScan})
		}
	}
	found, err := f.findMany(ctx, qs)
	if err != nil {
		return nil, err
	}
	var all []uint64
	for _, fd := range found {
		all = append(all, fd.Indices...)
	}
	if _, err := f.fetch(ctx, all); err != nil {
		return nil, err
	}
	out := make(map[string][]*node, len(qs))
	for i, q := range qs {
		if out[q.Ref.Value], err = f.fetch(ctx, found[i].Indices); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runIdentity returns the attested identity of the run of agent call a:
// the authenticated submitter of the call, or of the first of the run's
// attestations that has one.
func runIdentity(a *node, attested []*node) (string, *node) {
	if a.e.Submitter != "" {
		return a.e.Submitter, a
	}
	for _, n := range attested {
		if n.e.Submitter != "" {
			return n.e.Submitter, n
		}
	}
	return "", nil
}

// comparableIdentity reports whether s names a workload in a form the
// findings compare: a SPIFFE ID or a Kubernetes service account.
func comparableIdentity(s string) bool {
	return strings.HasPrefix(s, "spiffe://") || strings.HasPrefix(s, "system:serviceaccount:")
}

// canonicalIdentity writes a Kubernetes service account the same way
// whether named by the API server (system:serviceaccount:<ns>:<sa>) or by
// its SPIFFE ID (spiffe://<trust domain>/ns/<ns>/sa/<sa>).
func canonicalIdentity(s string) string {
	if rest, ok := strings.CutPrefix(s, "system:serviceaccount:"); ok {
		if ns, sa, ok := strings.Cut(rest, ":"); ok {
			return "k8s-sa:" + ns + "/" + sa
		}
	}
	if rest, ok := strings.CutPrefix(s, "spiffe://"); ok {
		if _, p, ok := strings.Cut(rest, "/"); ok {
			parts := strings.Split(p, "/")
			if len(parts) == 4 && parts[0] == "ns" && parts[2] == "sa" {
				return "k8s-sa:" + parts[1] + "/" + parts[3]
			}
		}
	}
	return s
}

func cmpOr(ns ...*node) *node {
	for _, n := range ns {
		if n != nil {
			return n
		}
	}
	return nil
}

func firstOf(ns []*node) *node {
	if len(ns) == 0 {
		return nil
	}
	return ns[0]
}

func traceOf(ns ...*node) string {
	for _, n := range ns {
		if n != nil && n.e.TraceID != "" {
			return n.e.TraceID
		}
	}
	return ""
}

func sideName(n *node) string {
	if fromEvidence(n) {
		return n.e.Source
	}
	return "the agent"
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown address"
	}
	return s
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// findingsScan bounds the ledger indices one page of /v1/findings scans
// for candidates, and findingsCredentials the credentials it reconciles; a
// page that reaches either ends with a cursor.
const (
	findingsScan        = 1 << 20
	findingsCredentials = 256
)

// findingCandidates returns the refs of the entries findings of kind can
// be about (all kinds when empty): a provider-seen use, an issuer's
// record, or any credential event or API call.
func findingCandidates(kind string) []ledger.Ref {
	sources := func(ss ...string) []ledger.Ref { return refsOf(ledger.RefSource, ss...) }
	switch kind {
	case FindingUnaccountedUse:
		return sources(ledger.SourceCloudTrail, ledger.SourceVault, ledger.SourceK8sAudit)
	case FindingUnreportedIssuance, FindingIssuerDisagreement:
		return sources(ledger.SourceCloudTrail, ledger.SourceVault, ledger.SourceK8sAudit, ledger.SourceKeycloak)
	case FindingIssuedNeverUsed:
		return refsOf(ledger.RefKind, string(ledger.KindCredential))
	case approval.FindingMismatch, approval.FindingExpired, approval.FindingUnverified, approval.FindingMissing,
		FindingPolicyDenied, FindingAttestationMismatch:
		return refsOf(ledger.RefKind, string(ledger.KindAPICall))
	}
	return refsOf(ledger.RefKind, string(ledger.KindCredential), string(ledger.KindAPICall))
}

// findings lists the findings of kind (all kinds when empty) newest first,
// by the index of the entry each is about; before is the cursor: only
// findings about entries below it are listed (0: from the end). The
// findings about one entry are never split across pages.
func findings(ctx context.Context, f *fetcher, g governor, head uint64, kind string, before uint64, limit int) (*api.FindingsPage, error) {
	page := &api.FindingsPage{Findings: []api.EvidenceFinding{}}
	hi := head
	if before > 0 && before < hi {
		hi = before
	}
	refs := findingCandidates(kind)
	cache := make(map[string]*api.CredentialEvidence)
	byFingerprint := make(map[string][]string) // aboutCredentials' answers
	window, scanned := uint64(1024), uint64(0)
	for hi > 0 && scanned < findingsScan && len(cache) < findingsCredentials {
		var (
			lo    uint64
			cands []uint64
		)
		for {
			lo = hi - min(window, hi)
			var full bool
			var err error
			if cands, full, err = candidatesIn(ctx, f, refs, lo, hi); err != nil {
				return nil, err
			}
			if !full || window == 1 {
				break
			}
			window /= 2 // too many candidates in the window: narrow it
		}
		nodes, err := f.fetch(ctx, cands)
		if err != nil {
			return nil, err
		}
		for i := len(nodes) - 1; i >= 0; i-- {
			n := nodes[i]
			ids, err := aboutCredentials(ctx, f, n, byFingerprint)
			if err != nil {
				return nil, err
			}
			for _, id := range ids {
				ev, ok := cache[id]
				if !ok {
					if len(cache) == findingsCredentials {
						page.NextCursor = encodeCursor(n.index() + 1)
						return page, nil
					}
					if ev, err = reconcile(ctx, f, id, &g); err != nil {
						return nil, err
					}
					cache[id] = ev
				}
				for _, fd := range ev.Findings {
					if fd.Index == n.index() && (kind == "" || fd.Kind == kind) {
						page.Findings = append(page.Findings, fd)
					}
				}
			}
			if len(page.Findings) >= limit {
				page.NextCursor = encodeCursor(n.index())
				return page, nil
			}
		}
		scanned += hi - lo
		hi = lo
		if len(cands) == 0 {
			window = min(window*2, findingsScan)
		}
	}
	if hi > 0 {
		page.NextCursor = encodeCursor(hi)
	}
	return page, nil
}

// maxFingerprintCredentials bounds the credentials a provider-seen use
// that names no credential ID is looked up as, by its fingerprints, and
// maxKnownFingerprints the answers one findings page remembers.
const (
	maxFingerprintCredentials = 8
	maxKnownFingerprints      = 4096
)

// aboutCredentials returns the credentials the findings about candidate n
// belong to: its credential.id; or, for a provider-seen use that names its
// credential by its token's fingerprint alone (a request Vault could not
// authenticate), the credentials whose credential events carry that
// fingerprint, as reconcile joins them. known holds the answers for
// fingerprints looked up before, by the use's fingerprint attribute.
func aboutCredentials(ctx context.Context, f *fetcher, n *node, known map[string][]string) ([]string, error) {
	if id := n.attr(ledger.AttrCredentialID); id != "" {
		if len(id) > ledger.MaxRefValue {
			return nil, nil
		}
		return []string{id}, nil
	}
	if n.e.Kind != ledger.KindAPICall || !fromEvidence(n) {
		return nil, nil
	}
	attr := n.attr(ledger.AttrCredentialFingerprint)
	if ids, ok := known[attr]; ok {
		return ids, nil
	}
	fps := fields(attr)
	if len(fps) == 0 {
		return nil, nil
	}
	refs := refsOf(ledger.RefFingerprint, fps...)
	qs := make([]ledger.FindQuery, len(refs))
	for i, ref := range refs {
		qs[i] = ledger.FindQuery{Ref: ref, Kinds: []ledger.Kind{ledger.KindCredential}, Limit: maxFingerprintCredentials}
	}
	found, err := f.findMany(ctx, qs)
	if err != nil {
		return nil, err
	}
	var idx []uint64
	for _, fd := range found {
		idx = append(idx, fd.Indices...)
	}
	events, err := f.fetch(ctx, idx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range events {
		if id := e.attr(ledger.AttrCredentialID); id != "" && len(id) <= ledger.MaxRefValue && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(known) < maxKnownFingerprints {
		known[attr] = ids
	}
	return ids, nil
}

// maxCandidates bounds the candidates one window of a findings scan reads
// from the index per ref.
const maxCandidates = 4096

// candidatesIn returns, ascending, the indices in [lo, hi) of entries that
// carry any of refs, looked up at once; full is true when a ref has more
// than maxCandidates there, so that not all were returned.
func candidatesIn(ctx context.Context, f *fetcher, refs []ledger.Ref, lo, hi uint64) (cands []uint64, full bool, err error) {
	qs := make([]ledger.FindQuery, len(refs))
	for i, ref := range refs {
		qs[i] = ledger.FindQuery{Ref: ref, From: lo, Limit: int(min(hi-lo, maxCandidates))}
	}
	found, err := f.findMany(ctx, qs)
	if err != nil {
		return nil, false, err
	}
	for _, fd := range found {
		idx := fd.Indices
		if len(idx) == maxCandidates && idx[len(idx)-1] < hi-1 {
			full = true
		}
		for _, i := range idx {
			if i < hi {
				cands = append(cands, i)
			}
		}
	}
	slices.Sort(cands)
	return slices.Compact(cands), full, nil
}

// GET /v1/findings?kind=&cursor=&limit=
func (s *Server) findings(c echo.Context) error {
	kind := c.QueryParam("kind")
	if kind != "" && !slices.Contains(FindingKinds, kind) {
		return badRequest("kind must be one of %s", strings.Join(FindingKinds, ", "))
	}
	l, err := queryListing(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	head, err := s.cfg.Reader.Head(ctx)
	if err != nil {
		return fail("read tree head", err)
	}
	p, err := findings(ctx, newFetcher(s.cfg.Reader), s.governor(), head.Size, kind, l.cursor, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

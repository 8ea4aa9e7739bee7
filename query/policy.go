package query

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/policy"
)

// Finding kinds of governance, beside the approval kinds
// (approval.FindingMismatch, FindingExpired, FindingUnverified,
// FindingMissing).
const (
	// FindingPolicyDenied is an API call that policy decisions were linked
	// to and none of them allowed: the call was made although the policy
	// engine denied it (or could not decide).
	FindingPolicyDenied = "policy_denied"
	// FindingAttestationMismatch is a run that used a credential while it
	// attested an image digest or a model that the run which obtained the
	// credential did not attest, or that the configured allow-list
	// (Config.AttestationAllow) does not allow.
	FindingAttestationMismatch = "attestation_mismatch"
)

// governor holds what the governance checks read from the config.
type governor struct {
	gate  *approval.Gate
	allow *policy.AttestationAllow
}

// governed is the governance of one API call, with the entries it rests
// on.
type governed struct {
	decisions     []api.PolicyDecision
	decisionNodes []*node
	approval      *api.ApprovalCheck
	approvalNode  *node
}

// denied reports whether decisions were linked to the call and none
// allowed it.
func (g *governed) denied() bool {
	if len(g.decisions) == 0 {
		return false
	}
	for _, d := range g.decisions {
		if d.Decision == policy.DecisionAllow {
			return false
		}
	}
	return true
}

// governance returns the policy decisions r records for call n, or that
// untraced (decisions without trace context) holds for it, and the
// approval that gated it (nil when it had none and the gate does not
// require one).
func governance(r *run, n *node, gate *approval.Gate, untraced []*node) governed {
	var (
		out       governed
		approvals []approval.Indexed
	)
	link := func(d *node) {
		if by := policy.Link(n.e, d.e, policy.DefaultLinkWindow); by != "" {
			out.decisions = append(out.decisions, api.PolicyDecision{
				Index: d.index(), Source: d.e.Source, Engine: d.attr(policy.AttrEngine), Decision: d.attr(policy.AttrDecision),
				PolicyID: d.attr(policy.AttrID), Reason: d.attr(policy.AttrReason), LinkedBy: by,
			})
			out.decisionNodes = append(out.decisionNodes, d)
		}
	}
	for _, d := range r.nodes {
		switch {
		case d.e.Kind == ledger.KindApproval:
			approvals = append(approvals, approval.Indexed{Index: d.index(), Entry: d.e})
		case d != n && policy.IsDecision(d.e):
			link(d)
		}
	}
	for _, d := range untraced {
		if d != n && d.e.TraceID == "" {
			link(d)
		}
	}
	c := approval.CheckCall(approval.Indexed{Index: n.index(), Entry: n.e}, approvals, gate)
	if c.Approval == nil && len(c.Findings) == 0 {
		return out
	}
	out.approval = &api.ApprovalCheck{Index: c.Approval, Status: c.Status, Mismatches: c.Mismatches, Findings: c.Findings}
	if c.Approval != nil {
		for _, a := range r.nodes {
			if a.index() == *c.Approval {
				out.approvalNode = a
				out.approval.Verified = a.attr(approval.AttrVerified) == "true"
				out.approval.Key = a.attr(approval.AttrKey)
				out.approval.Signer = a.attr(approval.AttrSigner)
				out.approval.Approver = a.attr(approval.AttrApprover)
			}
		}
	}
	return out
}

// attested returns the image digests and models run r attests (its
// attestation entries, and the models its LLM steps name, as
// run.attestation), and the entries that say so.
func attested(r *run) (images, models []string, from []*node) {
	if r == nil {
		return nil, nil, nil
	}
	for _, n := range r.nodes {
		if n.e.Kind != ledger.KindAttestation && n.e.Kind != ledger.KindLLM {
			continue
		}
		cited := false
		if n.e.Kind == ledger.KindAttestation {
			for _, k := range []string{attrImageID, attrManifestDigest} {
				if v := n.attr(k); v != "" && !slices.Contains(images, v) {
					images = append(images, v)
				}
				cited = cited || n.attr(k) != ""
			}
		}
		for _, k := range []string{attrRequestModel, attrResponseModel} {
			if v := n.attr(k); v != "" && !slices.Contains(models, v) {
				models = append(models, v)
			}
			cited = cited || n.attr(k) != ""
		}
		if cited {
			from = append(from, n)
		}
	}
	slices.Sort(images)
	slices.Sort(models)
	return images, models, from
}

// attestation checks what run r attests against issuing, the run that
// obtained the credential (nil when unknown, or when it is r), and the
// allow-list. It is nil when there is nothing to compare.
func (g governor) attestation(r, issuing *run) *api.AttestationCheck {
	if issuing == r {
		issuing = nil
	}
	images, models, from := attested(r)
	wantImages, wantModels, wantFrom := attested(issuing)
	compare := len(wantImages) > 0 || len(wantModels) > 0
	if len(images) == 0 && len(models) == 0 && !compare && g.allow == nil {
		return nil
	}
	c := &api.AttestationCheck{Status: api.AttestationStatusConsistent, Images: orEmpty(images), Models: orEmpty(models), AllowList: g.allow != nil, Cites: []uint64{}}
	if compare {
		c.IssuingRun = issuing.traceID
	}
	for _, n := range slices.Concat(from, wantFrom) {
		c.Cites = append(c.Cites, n.index())
	}
	slices.Sort(c.Cites)
	c.Cites = slices.Compact(c.Cites)
	mismatch := func(fact, v, against string, expected []string) {
		c.Mismatches = append(c.Mismatches, api.AttestationMismatch{Fact: fact, Value: v, Against: against, Expected: orEmpty(expected)})
	}
	for _, im := range images {
		if len(wantImages) > 0 && !slices.ContainsFunc(wantImages, func(w string) bool { return policy.Digest(w) == policy.Digest(im) }) {
			mismatch("image", im, "issuing_run", wantImages)
		}
		if !g.allow.AllowsImage(im) {
			mismatch("image", im, "allow_list", g.allow.Images)
		}
	}
	for _, m := range models {
		if len(wantModels) > 0 && !slices.Contains(wantModels, m) {
			mismatch("model", m, "issuing_run", wantModels)
		}
		if !g.allow.AllowsModel(m) {
			mismatch("model", m, "allow_list", g.allow.Models)
		}
	}
	switch {
	case len(c.Mismatches) > 0:
		c.Status, c.Findings = api.AttestationStatusMismatch, []string{FindingAttestationMismatch}
	case len(images) == 0 && len(models) == 0:
		c.Status = api.AttestationStatusUnattested
	}
	return c
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Bounds of the search for decisions made without trace context.
const (
	// untracedWindow is how many ledger indices before the first call and
	// after the last the search looks at: OPA reports decisions in
	// batches, before or after the agent's spans arrive.
	untracedWindow = 1 << 14
	// maxUntraced bounds the decision entries read.
	maxUntraced = 1024
)

// untracedDecisions returns the OPA decisions without trace context that
// are near calls in the ledger, for policy.Link to link by subject,
// method, path and time.
func untracedDecisions(ctx context.Context, f *fetcher, calls []*node) ([]*node, error) {
	q, hi, ok := untracedQuery(calls)
	if !ok {
		return nil, nil
	}
	idx, err := f.find(ctx, q.Ref, q.From, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("find policy decisions: %w", err)
	}
	idx = slices.DeleteFunc(idx, func(i uint64) bool { return i > hi })
	nodes, err := f.fetch(ctx, idx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(nodes, func(n *node) bool { return n.e.TraceID != "" || !policy.IsDecision(n.e) }), nil
}

// untracedQuery is the lookup untracedDecisions makes for calls, and the
// last index it keeps; ok is false for no calls.
func untracedQuery(calls []*node) (q ledger.FindQuery, hi uint64, ok bool) {
	if len(calls) == 0 {
		return q, 0, false
	}
	lo, hi := calls[0].index(), calls[0].index()
	for _, n := range calls {
		lo, hi = min(lo, n.index()), max(hi, n.index())
	}
	lo -= min(lo, untracedWindow)
	return ledger.FindQuery{Ref: ledger.Ref{Key: ledger.RefSource, Value: ledger.SourceOPA}, From: lo, Limit: maxUntraced}, hi + untracedWindow, true
}

// maxGovernanceTraces bounds the runs whose governance the evidence of one
// credential examines: each is loaded whole (MaxRunEntries), so this keeps
// /v1/findings and the run view's evidence affordable.
const maxGovernanceTraces = 8

// issuingRun returns the trace of the run that obtained a credential: the
// first issuing event, of its events in time order, that has one.
func issuingRun(events []*node) string {
	for _, n := range events {
		if issuing(n) && n.e.TraceID != "" {
			return n.e.TraceID
		}
	}
	return ""
}

// governanceFindings adds, through add, the governance findings of uses,
// a credential's agent-reported calls in time order: their approvals'
// findings, calls policy denied, and (once per run) an attestation that
// differs from issuer's run (the trace that obtained the credential) or
// the allow-list. Only the first maxGovernanceTraces runs are examined.
func (g governor) governanceFindings(ctx context.Context, f *fetcher, uses []*node, issuer string,
	add func(api.EvidenceFinding, *node, ...*node)) error {
	var traces []string
	for _, trace := range uniqueTraces(uses) {
		if trace != "" && len(traces) < maxGovernanceTraces {
			traces = append(traces, trace)
		}
	}
	load := slices.Clone(traces)
	if issuer != "" && !slices.Contains(load, issuer) {
		load = append(load, issuer)
	}
	runs, err := loadRuns(ctx, f, load)
	if err != nil {
		return err
	}
	untraced, err := untracedDecisions(ctx, f, uses)
	if err != nil {
		return err
	}
	for _, trace := range append(traces, "") {
		r := runs[trace]
		if r == nil {
			r = newRun(trace, nil)
		}
		var att *api.AttestationCheck
		if trace != "" {
			att = g.attestation(r, runs[issuer])
		}
		for _, u := range uses {
			if u.e.TraceID != trace {
				continue
			}
			gv := governance(r, u, g.gate, untraced)
			if a := gv.approval; a != nil {
				for _, kind := range a.Findings {
					add(api.EvidenceFinding{Kind: kind, TraceID: trace, Summary: approvalSummary(kind, a)}, u, gv.approvalNode)
				}
			}
			if gv.denied() {
				var ds []string
				for _, d := range gv.decisions {
					ds = append(ds, d.Decision)
				}
				add(api.EvidenceFinding{Kind: FindingPolicyDenied, TraceID: trace,
					Summary: fmt.Sprintf("called although the policy decided %s", strings.Join(ds, ", "))}, u, gv.decisionNodes...)
			}
			if att != nil && len(att.Findings) > 0 {
				fd := api.EvidenceFinding{Kind: FindingAttestationMismatch, TraceID: trace, Summary: attestationSummary(att)}
				var cites []*node
				for _, n := range slices.Concat(r.nodes, runs[issuer].nodesOrNil()) {
					if slices.Contains(att.Cites, n.index()) {
						cites = append(cites, n)
					}
				}
				add(fd, u, cites...)
				att = nil // once per run
			}
		}
	}
	return nil
}

// nodesOrNil returns r's entries, or none for a nil run.
func (r *run) nodesOrNil() []*node {
	if r == nil {
		return nil
	}
	return r.nodes
}

func approvalSummary(kind string, a *api.ApprovalCheck) string {
	switch kind {
	case approval.FindingMismatch:
		return "the approval was for another " + strings.Join(slices.DeleteFunc(slices.Clone(a.Mismatches), func(m string) bool { return m == "expired" }), ", ")
	case approval.FindingExpired:
		return "called after the approval expired"
	case approval.FindingUnverified:
		return fmt.Sprintf("the approval's signature did not verify (%s)", orUnknownStatus(a.Status))
	case approval.FindingMissing:
		if a.Index != nil {
			return "a gated call approved without a signature"
		}
		return "a gated call without an approval"
	}
	return kind
}

func orUnknownStatus(s string) string {
	if s == "" {
		return "not verified"
	}
	return s
}

func attestationSummary(c *api.AttestationCheck) string {
	var parts []string
	for _, m := range c.Mismatches {
		against := "the issuing run"
		if m.Against == "allow_list" {
			against = "the allow-list"
		}
		parts = append(parts, fmt.Sprintf("%s %s is not in %s", m.Fact, m.Value, against))
	}
	return "the run's attestation differs: " + strings.Join(parts, "; ")
}

// governor returns the governance checks the config asks for.
func (s *Server) governor() governor {
	return governor{gate: s.cfg.ApprovalGate, allow: s.cfg.AttestationAllow}
}

// runGovernance returns the governance of each API call among nodes, the
// entries of run r on a page of its view; creds are the run's
// credentials, linked to the runs that obtained them.
func (g governor) runGovernance(ctx context.Context, f *fetcher, r *run, nodes []*node, creds []api.RunCredential) ([]api.CallGovernance, error) {
	var calls []*node
	for _, n := range nodes {
		if n.e.Kind == ledger.KindAPICall {
			calls = append(calls, n)
		}
	}
	out := make([]api.CallGovernance, 0, len(calls))
	if len(calls) == 0 {
		return out, nil
	}
	untraced, err := untracedDecisions(ctx, f, calls)
	if err != nil {
		return nil, err
	}
	// The run that obtained each credential, when another.
	issuers := make(map[string]string) // credential → trace
	var load []string
	for _, c := range creds {
		if c.Obtained || len(c.ObtainedIn) == 0 {
			continue
		}
		t := c.ObtainedIn[0].TraceID
		issuers[c.ID] = t
		if !slices.Contains(load, t) {
			load = append(load, t)
		}
	}
	runs, err := loadRuns(ctx, f, load)
	if err != nil {
		return nil, err
	}
	for _, n := range calls {
		gv := governance(r, n, g.gate, untraced)
		cg := api.CallGovernance{Index: n.index(), CredentialID: n.attr(ledger.AttrCredentialID), Policy: gv.decisions, Approval: gv.approval}
		if cg.CredentialID == "" {
			// A call linked by fingerprint: the credential whose calls list it.
			for _, c := range creds {
				if slices.Contains(c.Calls, n.index()) {
					cg.CredentialID = c.ID
					break
				}
			}
		}
		cg.Attestation = g.attestation(r, runs[issuers[cg.CredentialID]])
		out = append(out, cg)
	}
	return out, nil
}

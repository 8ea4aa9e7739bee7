package query

import (
	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/policy"
)

// governance returns the policy decisions r records for call n and the
// approval that gated it (nil when it had none and the gate does not
// require one).
func governance(r *run, n *node, gate *approval.Gate) ([]api.PolicyDecision, *api.ApprovalCheck) {
	var (
		decisions []api.PolicyDecision
		approvals []approval.Indexed
	)
	for _, d := range r.nodes {
		switch {
		case d.e.Kind == ledger.KindApproval:
			approvals = append(approvals, approval.Indexed{Index: d.index(), Entry: d.e})
		case d != n && policy.IsDecision(d.e):
			if by := policy.Link(n.e, d.e, policy.DefaultLinkWindow); by != "" {
				decisions = append(decisions, api.PolicyDecision{
					Index: d.index(), Source: d.e.Source, Engine: d.attr(policy.AttrEngine), Decision: d.attr(policy.AttrDecision),
					PolicyID: d.attr(policy.AttrID), Reason: d.attr(policy.AttrReason), LinkedBy: by,
				})
			}
		}
	}
	c := approval.CheckCall(approval.Indexed{Index: n.index(), Entry: n.e}, approvals, gate)
	if c.Approval == nil && len(c.Findings) == 0 {
		return decisions, nil
	}
	out := &api.ApprovalCheck{Index: c.Approval, Status: c.Status, Mismatches: c.Mismatches, Findings: c.Findings}
	if c.Approval != nil {
		for _, a := range approvals {
			if a.Index == *c.Approval {
				v, _ := a.Entry.Attr(approval.AttrVerified)
				out.Verified = v == "true"
				out.Key, _ = a.Entry.Attr(approval.AttrKey)
				out.Signer, _ = a.Entry.Attr(approval.AttrSigner)
			}
		}
	}
	return decisions, out
}

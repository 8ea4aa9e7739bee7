package query

import (
	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/policy"
)

// PolicyDecision is a policy engine's decision that an API call's run
// records for the call: an OPA decision made with the call's trace
// context, or a span or log record with policy.* attributes.
type PolicyDecision struct {
	// Index is the decision's entry.
	Index    uint64 `json:"index"`
	Source   string `json:"source,omitempty"`
	Engine   string `json:"engine,omitempty"`
	Decision string `json:"decision"`
	PolicyID string `json:"policy_id,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// LinkedBy is how the decision was tied to the call: "trace" (see
	// policy.Link).
	LinkedBy string `json:"linked_by"`
}

// ApprovalCheck is the approval that gated an API call and what it says
// of it (approval.CheckCall).
type ApprovalCheck struct {
	// Index is the approval's entry; absent when the call had none.
	Index *uint64 `json:"index,omitempty"`
	// Verified is the receiver's verification of the approval's signature,
	// from its leaf (agentledger.approval.verified).
	Verified bool `json:"verified"`
	// Status is agentledger.approval.status; empty when the approval was
	// not verified at receipt.
	Status string `json:"status,omitempty"`
	Key    string `json:"key,omitempty"`
	Signer string `json:"signer,omitempty"`
	// Mismatches are the fields in which the call differs from what was
	// approved: action, target, credential, run, expired.
	Mismatches []string `json:"mismatches,omitempty"`
	// Findings are approval_mismatch, approval_expired,
	// approval_unverified and approval_missing.
	Findings []string `json:"findings,omitempty"`
}

// governance returns the policy decisions r records for call n and the
// approval that gated it (nil when it had none and the gate does not
// require one).
func governance(r *run, n *node, gate *approval.Gate) ([]PolicyDecision, *ApprovalCheck) {
	var (
		decisions []PolicyDecision
		approvals []approval.Indexed
	)
	for _, d := range r.nodes {
		switch {
		case d.e.Kind == ledger.KindApproval:
			approvals = append(approvals, approval.Indexed{Index: d.index(), Entry: d.e})
		case d != n && policy.IsDecision(d.e):
			if by := policy.Link(n.e, d.e, policy.DefaultLinkWindow); by != "" {
				decisions = append(decisions, PolicyDecision{
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
	out := &ApprovalCheck{Index: c.Approval, Status: c.Status, Mismatches: c.Mismatches, Findings: c.Findings}
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

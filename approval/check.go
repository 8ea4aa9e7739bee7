package approval

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// Finding kinds of approvals: where the approval that gated an API call
// does not vouch for it.
const (
	// FindingMismatch: the approval's statement names another target,
	// credential or run than the call performed.
	FindingMismatch = "approval_mismatch"
	// FindingExpired: the call was made after the approval expired.
	FindingExpired = "approval_expired"
	// FindingUnverified: the approval's signature did not verify (forged,
	// unknown key, wrong signer, malformed).
	FindingUnverified = "approval_unverified"
	// FindingMissing: a call the gate requires an approval for had none,
	// or only an unsigned one.
	FindingMissing = "approval_missing"
)

// Gate names the actions that require a signed approval: patterns of
// "<METHOD> <path>" (or RPC methods) as path.Match reads them, such as
// "POST /v1/payments*".
type Gate struct {
	patterns []string
}

// NewGate checks the patterns and returns the gate.
func NewGate(patterns []string) (*Gate, error) {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("approval gate pattern %q: %w", p, err)
		}
	}
	return &Gate{patterns: patterns}, nil
}

// Requires reports whether action needs a signed approval.
func (g *Gate) Requires(action string) bool {
	if g == nil {
		return false
	}
	for _, p := range g.patterns {
		if m, _ := path.Match(p, action); m {
			return true
		}
	}
	return false
}

// Indexed is an entry and its index in the ledger.
type Indexed struct {
	Index uint64
	Entry *ledger.Entry
}

// Check is what the approvals of a run say about one API call.
type Check struct {
	// Approval is the index of the approval that gated the call: the
	// latest approval of the same run, at or before the call, for the same
	// action; nil when there is none.
	Approval *uint64
	// Status is that approval's verification status as the receiver
	// recorded it in the leaf (agentledger.approval.status); empty when the
	// approval was not verified at receipt.
	Status string
	// Mismatches are the fields in which the call differs from the
	// approved statement (see Mismatches).
	Mismatches []string
	// Findings are the finding kinds of the call, in a fixed order.
	Findings []string
}

// PerformedBy reads the action an API call entry performed: its method
// and path ("POST /v1/payments"), else its RPC method; its target
// (server.address), credential (credential.id), run (trace ID) and time.
func PerformedBy(e *ledger.Entry) Performed {
	get := func(k string) string { v, _ := e.Attr(k); return v }
	action := strings.TrimSpace(get("http.request.method") + " " + get("url.path"))
	if action == "" {
		action = get("rpc.method")
	}
	return Performed{Action: action, Target: get(ledger.AttrServerAddress), Credential: get(ledger.AttrCredentialID), Run: e.TraceID, At: e.Start}
}

// CheckCall finds the approval among approvals (the run's approval
// entries) that gated call and checks it against what the call did.
func CheckCall(call Indexed, approvals []Indexed, gate *Gate) Check {
	p := PerformedBy(call.Entry)
	var gating *Indexed
	for i := range approvals {
		a := &approvals[i]
		act, _ := a.Entry.Attr(AttrAction)
		if act != p.Action || a.Entry.TraceID != call.Entry.TraceID || a.Entry.Start.After(p.At) {
			continue
		}
		if gating == nil || a.Entry.Start.After(gating.Entry.Start) || a.Entry.Start.Equal(gating.Entry.Start) && a.Index > gating.Index {
			gating = a
		}
	}
	var c Check
	if gating == nil {
		if gate.Requires(p.Action) {
			c.Findings = []string{FindingMissing}
		}
		return c
	}
	idx := gating.Index
	c.Approval = &idx
	get := func(k string) string { v, _ := gating.Entry.Attr(k); return v }
	c.Status = get(AttrStatus)
	st := Statement{Approver: get(AttrApprover), Action: get(AttrAction), Target: get(AttrTarget), Credential: get(AttrCredential), Run: get(AttrRun)}
	st.Expires, _ = time.Parse(time.RFC3339, get(AttrExpiresAt))
	if st.Expires.IsZero() {
		// No expiry stated: nothing to have expired.
		st.Expires = p.At
	}
	c.Mismatches = Mismatches(st, p)
	switch c.Status {
	case StatusVerified, StatusExpired, "":
	case StatusUnsigned:
		if gate.Requires(p.Action) {
			c.Findings = append(c.Findings, FindingMissing)
		}
	default:
		c.Findings = append(c.Findings, FindingUnverified)
	}
	for _, m := range c.Mismatches {
		if m == "expired" {
			c.Findings = append(c.Findings, FindingExpired)
			break
		}
	}
	for _, m := range c.Mismatches {
		if m != "expired" {
			c.Findings = append(c.Findings, FindingMismatch)
			break
		}
	}
	return c
}

package query

import (
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/policy"
)

// Run P, agent payments-agent, makes calls with credential cred-pay-0042
// to api.bank.example:
//   - a payment OPA allowed (its decision logged with the call's trace
//     context) and alice approved with a verified signature;
//   - a refund approved for another target, which OPA allowed in a
//     decision logged without trace context (linked by subject, method,
//     path and time);
//   - a transfer, which the gate requires an approval for, with none, and
//     which OPA denied;
//   - an invoice made after its approval expired;
//   - a payout whose approval's signature did not verify (forged);
//   - a wire, gated, approved without a signature.
//
// The run attests an image and a model the allow-list does not name.
const (
	traceP  = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	credPay = "cred-pay-0042"
)

func runP() []fixture {
	t := traceP
	agent := func(m map[string]string) map[string]string {
		m["gen_ai.agent.id"] = "payments-agent"
		return common("payments-agent", m)
	}
	call := func(name string, n int, path string, start float64) fixture {
		return build(spec{name: name, kind: "api_call", trace: t, span: n, parent: 1, title: "POST", start: start, end: start + 0.2,
			attrs: agent(map[string]string{"credential.id": credPay, "server.address": "api.bank.example", "http.request.method": "POST", "url.path": path})})
	}
	approved := func(name string, n int, path, target, status, expires string, start float64) fixture {
		m := map[string]string{approval.AttrApprover: "alice@example.com", approval.AttrAction: "POST " + path, approval.AttrTarget: target,
			approval.AttrExpiresAt: expires, approval.AttrRun: t, "approval.decision": "approved",
			approval.AttrVerified: "false", approval.AttrStatus: status}
		switch status {
		case approval.StatusVerified:
			m[approval.AttrVerified], m[approval.AttrKey], m[approval.AttrSigner] = "true", "SHA256:uJ5b0RmwIYd3Kk2Z1rC4m7j8x6q9N0pLsT2vW3yZ4aE", "alice@example.com"
		case approval.StatusBadSignature:
			m[approval.AttrKey] = "SHA256:uJ5b0RmwIYd3Kk2Z1rC4m7j8x6q9N0pLsT2vW3yZ4aE"
		}
		return build(spec{name: name, kind: "approval", trace: t, span: n, parent: 1, title: "approval.granted", start: start, attrs: agent(m)})
	}
	decision := func(name, trace, id, decision, path string, spanN int, start float64) fixture {
		m := map[string]string{policy.AttrEngine: "opa", policy.AttrDecision: decision, policy.AttrID: "http/authz/allow",
			policy.AttrDecisionID: id, policy.AttrBundles: "authz=rev-7",
			policy.AttrSubject: "payments-agent", policy.AttrHTTPMethod: "POST", policy.AttrURLPath: path}
		if spanN > 0 {
			m[policy.AttrSpanID] = span(t, spanN)
		}
		d := build(spec{name: name, kind: "span", trace: trace, event: "opa/" + id, title: policy.EntryName, start: start, attrs: m})
		d.entry.Source = ledger.SourceOPA
		return d
	}
	const later = "2026-03-01T10:10:00Z"
	return []fixture{
		build(spec{name: "p.agent", kind: "agent", trace: t, span: 1, title: "invoke_agent payments-agent", start: 0, end: 100,
			attrs: agent(map[string]string{"gen_ai.operation.name": "invoke_agent"})}),
		approved("p.approve_pay", 2, "/v1/payments", "api.bank.example", approval.StatusVerified, later, 5),
		call("p.pay", 3, "/v1/payments", 10),
		decision("p.opa", t, "4ca636c1-55e4-417a-b1d8-4aceb67960d1", policy.DecisionAllow, "/v1/payments", 3, 10.1),
		approved("p.approve_refund", 4, "/v1/refunds", "api.other-bank.example", approval.StatusVerified, later, 20),
		call("p.refund", 5, "/v1/refunds", 30),
		call("p.transfer", 6, "/v1/transfers", 40),
		build(spec{name: "p.attest", kind: "attestation", trace: t, span: 1, event: "attestation/resource", title: "attestation", start: 0,
			attrs: agent(map[string]string{"container.image.id": "sha256:pay-image-2", "gen_ai.request.model": "gpt-4o-mini"})}),
		decision("p.opa_refund", "", "9d1e2f30-1111-4c2d-8e9f-0a1b2c3d4e5f", policy.DecisionAllow, "/v1/refunds", 0, 29.9),
		decision("p.opa_transfer", t, "9d1e2f30-2222-4c2d-8e9f-0a1b2c3d4e5f", policy.DecisionDeny, "/v1/transfers", 6, 39.9),
		approved("p.approve_invoice", 7, "/v1/invoices", "api.bank.example", approval.StatusVerified, "2026-03-01T10:00:48Z", 45),
		call("p.invoice", 8, "/v1/invoices", 50),
		approved("p.approve_payout", 9, "/v1/payouts", "api.bank.example", approval.StatusBadSignature, later, 55),
		call("p.payout", 10, "/v1/payouts", 60),
		approved("p.approve_wire", 11, "/v1/wires", "api.bank.example", approval.StatusUnsigned, later, 65),
		call("p.wire", 12, "/v1/wires", 70),
	}
}

func (w *world) seedPolicy() {
	w.t.Helper()
	var entries []ledger.Entry
	fs := runP()
	for _, f := range fs {
		if f.entry.Source == "" {
			f.entry.Source = ledger.SourceAgent
		}
		entries = append(entries, f.entry)
	}
	idx, err := w.log.Append(w.t.Context(), entries)
	if err != nil {
		w.t.Fatal(err)
	}
	for i, f := range fs {
		w.idx[f.name] = idx[i].Index
	}
	w.checkpoint()
}

// governanceWorld is run P with the gate of the transfers, payments and
// wires, and an allow-list of another image and model.
func governanceWorld(t *testing.T, b backend) *world {
	t.Helper()
	gate, err := approval.NewGate([]string{"POST /v1/transfers*", "POST /v1/payments*", "POST /v1/wires*"})
	if err != nil {
		t.Fatal(err)
	}
	allow := &policy.AttestationAllow{Images: []string{"sha256:pay-image-1"}, Models: []string{"gpt-4o"}}
	w := newWorld(t, b, worldOptions{noFixture: true, approvalGate: gate, attestationAllow: allow})
	w.seedPolicy()
	return w
}

// TestGovernance: the credential view shows, for each call, the policy
// decisions that allowed it, the approval that gated it and the
// attestation check, with the findings; on both stores, against a golden
// answer.
func TestGovernance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := governanceWorld(t, b)
		r := w.do("responder", http.MethodGet, "/v1/credentials/"+credPay+"?content=false", nil)
		if r.status != http.StatusOK {
			t.Fatalf("credential view = %d: %s", r.status, r.body)
		}
		var v api.CredentialView
		r.json(t, &v)
		if len(v.Usages) != 1 || len(v.Usages[0].Calls) != 6 {
			t.Fatalf("usages %+v", v.Usages)
		}
		byIndex := make(map[uint64]api.Call)
		for _, c := range v.Usages[0].Calls {
			byIndex[c.Entry.Index] = c
		}
		call := func(name string) api.Call { return byIndex[w.idx[name]] }
		checkCalls(t, w, func(name string) ([]api.PolicyDecision, *api.ApprovalCheck, *api.AttestationCheck) {
			c := call(name)
			return c.Policy, c.Approval, c.Attestation
		})
		checkEvidence(t, w, v.Evidence)
		matchGolden(t, b, "policy_credential_pay", r.body)
	})
}

// checkCalls states what the governance of run P's calls must be, so
// that an -update cannot silently accept a wrong answer.
func checkCalls(t *testing.T, w *world, get func(name string) ([]api.PolicyDecision, *api.ApprovalCheck, *api.AttestationCheck)) {
	t.Helper()
	pay, payApproval, payAtt := get("p.pay")
	if len(pay) != 1 || pay[0].Index != w.idx["p.opa"] || pay[0].Decision != "allow" || pay[0].LinkedBy != policy.LinkTrace {
		t.Errorf("payment's policy %+v", pay)
	}
	if a := payApproval; a == nil || a.Index == nil || *a.Index != w.idx["p.approve_pay"] || !a.Verified || a.Signer != "alice@example.com" || len(a.Findings) != 0 {
		t.Errorf("payment's approval %+v", payApproval)
	}
	if a := payAtt; a == nil || a.Status != api.AttestationStatusMismatch || !a.AllowList || len(a.Mismatches) != 2 ||
		a.Mismatches[0].Value != "sha256:pay-image-2" || a.Mismatches[1].Value != "gpt-4o-mini" || a.Mismatches[0].Against != "allow_list" {
		t.Errorf("payment's attestation %+v", payAtt)
	}
	refund, refundApproval, _ := get("p.refund")
	if len(refund) != 1 || refund[0].Index != w.idx["p.opa_refund"] || refund[0].LinkedBy != policy.LinkRequest {
		t.Errorf("refund's policy %+v (want the untraced decision, linked by request)", refund)
	}
	if a := refundApproval; a == nil || !slices.Equal(a.Mismatches, []string{"target"}) || !slices.Equal(a.Findings, []string{approval.FindingMismatch}) {
		t.Errorf("refund's approval %+v", refundApproval)
	}
	transfer, transferApproval, _ := get("p.transfer")
	if len(transfer) != 1 || transfer[0].Decision != "deny" {
		t.Errorf("transfer's policy %+v", transfer)
	}
	if a := transferApproval; a == nil || a.Index != nil || !slices.Equal(a.Findings, []string{approval.FindingMissing}) {
		t.Errorf("transfer's approval %+v", transferApproval)
	}
	for name, want := range map[string]struct {
		status   string
		verified bool
		findings []string
	}{
		"p.invoice": {approval.StatusVerified, true, []string{approval.FindingExpired}},
		"p.payout":  {approval.StatusBadSignature, false, []string{approval.FindingUnverified}},
		"p.wire":    {approval.StatusUnsigned, false, []string{approval.FindingMissing}},
	} {
		_, a, _ := get(name)
		if a == nil || a.Index == nil || a.Status != want.status || a.Verified != want.verified || !slices.Equal(a.Findings, want.findings) {
			t.Errorf("%s's approval %+v, want status %s, findings %v", name, a, want.status, want.findings)
		}
	}
}

// checkEvidence states the governance findings of cred-pay-0042.
func checkEvidence(t *testing.T, w *world, ev *api.CredentialEvidence) {
	t.Helper()
	if ev == nil {
		t.Fatal("no evidence")
	}
	var got []string
	for _, f := range ev.Findings {
		got = append(got, f.Kind+"@"+itoa(f.Index))
	}
	want := []string{
		approval.FindingMissing + "@" + itoa(w.idx["p.wire"]),
		approval.FindingUnverified + "@" + itoa(w.idx["p.payout"]),
		approval.FindingExpired + "@" + itoa(w.idx["p.invoice"]),
		approval.FindingMissing + "@" + itoa(w.idx["p.transfer"]),
		FindingPolicyDenied + "@" + itoa(w.idx["p.transfer"]),
		approval.FindingMismatch + "@" + itoa(w.idx["p.refund"]),
		FindingAttestationMismatch + "@" + itoa(w.idx["p.pay"]),
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
}

func itoa(i uint64) string { return strconv.FormatUint(i, 10) }

// TestGovernanceRunView: the run view shows the same per call; on both
// stores, against a golden answer.
func TestGovernanceRunView(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := governanceWorld(t, b)
		r := w.do("responder", http.MethodGet, "/v1/runs/"+traceP+"?content=false", nil)
		if r.status != http.StatusOK {
			t.Fatalf("run view = %d: %s", r.status, r.body)
		}
		var v api.RunView
		r.json(t, &v)
		if len(v.Governance) != 6 {
			t.Fatalf("governance of %d calls, want 6: %+v", len(v.Governance), v.Governance)
		}
		byIndex := make(map[uint64]api.CallGovernance)
		for _, g := range v.Governance {
			byIndex[g.Index] = g
		}
		checkCalls(t, w, func(name string) ([]api.PolicyDecision, *api.ApprovalCheck, *api.AttestationCheck) {
			g := byIndex[w.idx[name]]
			return g.Policy, g.Approval, g.Attestation
		})
		matchGolden(t, b, "policy_run_p", r.body)
	})
}

// TestGovernanceFindings: /v1/findings lists the governance findings and
// filters them by kind, on both stores.
func TestGovernanceFindings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := governanceWorld(t, b)
		for kind, want := range map[string][]string{
			approval.FindingMissing:    {"p.wire", "p.transfer"},
			approval.FindingUnverified: {"p.payout"},
			approval.FindingExpired:    {"p.invoice"},
			approval.FindingMismatch:   {"p.refund"},
			FindingPolicyDenied:        {"p.transfer"},
			FindingAttestationMismatch: {"p.pay"},
		} {
			r := w.do("responder", http.MethodGet, "/v1/findings?kind="+kind, nil)
			if r.status != http.StatusOK {
				t.Fatalf("findings?kind=%s = %d: %s", kind, r.status, r.body)
			}
			var p api.FindingsPage
			r.json(t, &p)
			var got, wantIdx []uint64
			for _, f := range p.Findings {
				if f.Kind != kind || f.CredentialID != credPay {
					t.Errorf("findings?kind=%s lists %+v", kind, f)
				}
				got = append(got, f.Index)
			}
			for _, name := range want {
				wantIdx = append(wantIdx, w.idx[name])
			}
			if !slices.Equal(got, wantIdx) {
				t.Errorf("findings?kind=%s at %v, want %v", kind, got, wantIdx)
			}
		}
	})
}

// TestAttestationIssuingRun: in the world fixture, run B used the
// credential run A obtained while it attested another image and model:
// attestation_mismatch against the issuing run, with no allow-list.
func TestAttestationIssuingRun(t *testing.T) {
	w := newWorld(t, backends()[0], worldOptions{})
	var p api.FindingsPage
	w.get("responder", "/v1/findings?kind="+FindingAttestationMismatch, &p)
	if len(p.Findings) != 1 {
		t.Fatalf("attestation findings %+v, want 1", p.Findings)
	}
	f := p.Findings[0]
	if f.CredentialID != "cred-sts-1942" || f.TraceID != traceB {
		t.Errorf("finding %+v, want cred-sts-1942 in run %s", f, traceB)
	}
	var v api.CredentialView
	w.get("responder", "/v1/credentials/cred-sts-1942?content=false", &v)
	for _, u := range v.Usages {
		for _, c := range u.Calls {
			a := c.Attestation
			switch {
			case a == nil:
				t.Errorf("call %d has no attestation check", c.Entry.Index)
			case u.TraceID == traceB && (a.Status != api.AttestationStatusMismatch || a.IssuingRun != traceA || a.AllowList ||
				len(a.Mismatches) != 2 || a.Mismatches[0].Against != "issuing_run"):
				t.Errorf("run B's call %d: attestation %+v", c.Entry.Index, a)
			case u.TraceID == traceA && (a.Status != api.AttestationStatusConsistent || a.IssuingRun != ""):
				t.Errorf("run A's call %d: attestation %+v", c.Entry.Index, a)
			}
		}
	}
}

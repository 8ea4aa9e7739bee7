package query

import (
	"net/http"
	"slices"
	"testing"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/policy"
)

// Run P, agent payments-agent, makes three calls with credential
// cred-pay-0042 to api.bank.example: a payment OPA allowed (its decision
// logged with the call's trace context) and alice approved with a
// verified signature; a refund approved for another target; and a
// transfer, which the gate requires an approval for, with none.
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
	approved := func(name string, n int, path, target, status string, start float64) fixture {
		m := map[string]string{approval.AttrApprover: "alice@example.com", approval.AttrAction: "POST " + path, approval.AttrTarget: target,
			approval.AttrExpiresAt: "2026-03-01T10:10:00Z", approval.AttrRun: t, "approval.decision": "approved",
			approval.AttrVerified: "false", approval.AttrStatus: status}
		if status == approval.StatusVerified {
			m[approval.AttrVerified], m[approval.AttrKey], m[approval.AttrSigner] = "true", "SHA256:uJ5b0RmwIYd3Kk2Z1rC4m7j8x6q9N0pLsT2vW3yZ4aE", "alice@example.com"
		}
		return build(spec{name: name, kind: "approval", trace: t, span: n, parent: 1, title: "approval.granted", start: start, attrs: agent(m)})
	}
	decision := build(spec{name: "p.opa", kind: "span", trace: t, event: "opa/4ca636c1-55e4-417a-b1d8-4aceb67960d1", title: policy.EntryName, start: 10.1,
		attrs: map[string]string{policy.AttrEngine: "opa", policy.AttrDecision: "allow", policy.AttrID: "http/authz/allow",
			policy.AttrDecisionID: "4ca636c1-55e4-417a-b1d8-4aceb67960d1", policy.AttrSpanID: span(t, 3), policy.AttrBundles: "authz=rev-7",
			policy.AttrSubject: "payments-agent", policy.AttrHTTPMethod: "POST", policy.AttrURLPath: "/v1/payments"}})
	decision.entry.Source = ledger.SourceOPA
	return []fixture{
		build(spec{name: "p.agent", kind: "agent", trace: t, span: 1, title: "invoke_agent payments-agent", start: 0, end: 100,
			attrs: agent(map[string]string{"gen_ai.operation.name": "invoke_agent"})}),
		approved("p.approve_pay", 2, "/v1/payments", "api.bank.example", approval.StatusVerified, 5),
		call("p.pay", 3, "/v1/payments", 10),
		decision,
		approved("p.approve_refund", 4, "/v1/refunds", "api.other-bank.example", approval.StatusVerified, 20),
		call("p.refund", 5, "/v1/refunds", 30),
		call("p.transfer", 6, "/v1/transfers", 40),
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

// TestGovernance: the credential view shows, for each call, the policy
// decision that allowed it and the approval that gated it, with the
// approval findings; on both stores, against a golden answer.
func TestGovernance(t *testing.T) {
	gate, err := approval.NewGate([]string{"POST /v1/transfers*", "POST /v1/payments*"})
	if err != nil {
		t.Fatal(err)
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{noFixture: true, approvalGate: gate})
		w.seedPolicy()
		r := w.do("responder", http.MethodGet, "/v1/credentials/"+credPay+"?content=false", nil)
		if r.status != http.StatusOK {
			t.Fatalf("credential view = %d: %s", r.status, r.body)
		}
		var v api.CredentialView
		r.json(t, &v)
		if len(v.Usages) != 1 || len(v.Usages[0].Calls) != 3 {
			t.Fatalf("usages %+v", v.Usages)
		}
		byIndex := make(map[uint64]api.Call)
		for _, c := range v.Usages[0].Calls {
			byIndex[c.Entry.Index] = c
		}
		pay, refund, transfer := byIndex[w.idx["p.pay"]], byIndex[w.idx["p.refund"]], byIndex[w.idx["p.transfer"]]
		if len(pay.Policy) != 1 || pay.Policy[0].Index != w.idx["p.opa"] || pay.Policy[0].Decision != "allow" || pay.Policy[0].LinkedBy != policy.LinkTrace {
			t.Errorf("payment's policy %+v", pay.Policy)
		}
		if a := pay.Approval; a == nil || a.Index == nil || *a.Index != w.idx["p.approve_pay"] || !a.Verified || len(a.Findings) != 0 {
			t.Errorf("payment's approval %+v", pay.Approval)
		}
		if len(refund.Policy) != 0 {
			t.Errorf("refund's policy %+v", refund.Policy)
		}
		if a := refund.Approval; a == nil || !slices.Equal(a.Mismatches, []string{"target"}) || !slices.Equal(a.Findings, []string{approval.FindingMismatch}) {
			t.Errorf("refund's approval %+v", refund.Approval)
		}
		if a := transfer.Approval; a == nil || a.Index != nil || !slices.Equal(a.Findings, []string{approval.FindingMissing}) {
			t.Errorf("transfer's approval %+v", transfer.Approval)
		}
		matchGolden(t, b, "policy_credential_pay", r.body)
	})
}

package approval

import (
	"slices"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

func TestCheckCall(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	const run = "0102030405060708090a0b0c0d0e0f10"
	call := Indexed{Index: 20, Entry: &ledger.Entry{Kind: ledger.KindAPICall, TraceID: run, Start: t0, End: t0.Add(time.Second), Attrs: []ledger.Attr{
		{Key: "http.request.method", Value: "POST"}, {Key: "url.path", Value: "/v1/payments"},
		{Key: ledger.AttrServerAddress, Value: "api.bank.example"}, {Key: ledger.AttrCredentialID, Value: "cred-1"},
	}}}
	approvalAt := func(index uint64, at time.Time, status string, edit map[string]string) Indexed {
		attrs := map[string]string{AttrApprover: "alice@example.com", AttrAction: "POST /v1/payments", AttrTarget: "api.bank.example",
			AttrCredential: "cred-1", AttrRun: run, AttrExpiresAt: t0.Add(time.Minute).Format(time.RFC3339), AttrStatus: status}
		for k, v := range edit {
			attrs[k] = v
		}
		e := &ledger.Entry{Kind: ledger.KindApproval, TraceID: run, Start: at, End: at}
		for _, k := range []string{AttrApprover, AttrAction, AttrTarget, AttrCredential, AttrRun, AttrExpiresAt, AttrStatus} {
			if attrs[k] != "" {
				e.Attrs = append(e.Attrs, ledger.Attr{Key: k, Value: attrs[k]})
			}
		}
		return Indexed{Index: index, Entry: e}
	}
	before := t0.Add(-time.Second)
	gate, err := NewGate([]string{"POST /v1/payments*"})
	if err != nil {
		t.Fatal(err)
	}
	open, _ := NewGate(nil)
	for _, tt := range []struct {
		name      string
		approvals []Indexed
		gate      *Gate
		approval  int64 // -1: none
		findings  []string
	}{
		{"verified, as approved", []Indexed{approvalAt(10, before, StatusVerified, nil)}, gate, 10, nil},
		{"the latest approval gates", []Indexed{approvalAt(10, before.Add(-time.Second), StatusBadSignature, nil), approvalAt(11, before, StatusVerified, nil)}, gate, 11, nil},
		{"an approval after the call does not gate it", []Indexed{approvalAt(30, t0.Add(time.Second), StatusVerified, nil)}, gate, -1, []string{FindingMissing}},
		{"forged", []Indexed{approvalAt(10, before, StatusBadSignature, nil)}, gate, 10, []string{FindingUnverified}},
		{"wrong signer", []Indexed{approvalAt(10, before, StatusWrongSigner, nil)}, gate, 10, []string{FindingUnverified}},
		{"different target", []Indexed{approvalAt(10, before, StatusVerified, map[string]string{AttrTarget: "api.evil.example"})}, gate, 10, []string{FindingMismatch}},
		{"another run", []Indexed{approvalAt(10, before, StatusVerified, map[string]string{AttrRun: "ffffffffffffffffffffffffffffffff"})}, gate, 10, []string{FindingMismatch}},
		{"expired", []Indexed{approvalAt(10, before, StatusVerified, map[string]string{AttrExpiresAt: before.Format(time.RFC3339)})}, gate, 10, []string{FindingExpired}},
		{"unsigned, gated", []Indexed{approvalAt(10, before, StatusUnsigned, nil)}, gate, 10, []string{FindingMissing}},
		{"unsigned, not gated", []Indexed{approvalAt(10, before, StatusUnsigned, nil)}, open, 10, nil},
		{"no approval, gated", nil, gate, -1, []string{FindingMissing}},
		{"no approval, not gated", nil, open, -1, nil},
		{"approval of another action", []Indexed{approvalAt(10, before, StatusVerified, map[string]string{AttrAction: "DELETE /v1/payments"})}, gate, -1, []string{FindingMissing}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := CheckCall(call, tt.approvals, tt.gate)
			switch {
			case tt.approval < 0 && c.Approval != nil:
				t.Errorf("approval %d, want none", *c.Approval)
			case tt.approval >= 0 && (c.Approval == nil || *c.Approval != uint64(tt.approval)):
				t.Errorf("approval %v, want %d", c.Approval, tt.approval)
			}
			if !slices.Equal(c.Findings, tt.findings) {
				t.Errorf("findings %v (mismatches %v), want %v", c.Findings, c.Mismatches, tt.findings)
			}
		})
	}
	if _, err := NewGate([]string{"POST [x"}); err == nil {
		t.Error("NewGate accepted a bad pattern")
	}
}

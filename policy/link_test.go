package policy

import (
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

func TestLink(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	const trace, other = "0102030405060708090a0b0c0d0e0f10", "ffffffffffffffffffffffffffffffff"
	call := &ledger.Entry{Kind: ledger.KindAPICall, TraceID: trace, SpanID: "0a00000000000003", ParentSpanID: "0a00000000000001",
		Start: t0, End: t0.Add(200 * time.Millisecond), Attrs: []ledger.Attr{
			{Key: ledger.AttrAgentID, Value: "spiffe://example.org/agent/billing"},
			{Key: AttrHTTPMethod, Value: "POST"}, {Key: AttrURLPath, Value: "/v1/invoices"},
		}}
	req := func(subject, method, path string, at time.Duration) *ledger.Entry {
		return &ledger.Entry{Name: EntryName, Start: t0.Add(at), End: t0.Add(at), Attrs: []ledger.Attr{
			{Key: AttrSubject, Value: subject}, {Key: AttrHTTPMethod, Value: method}, {Key: AttrURLPath, Value: path}}}
	}
	traced := func(tr, span, parent, opaSpan string) *ledger.Entry {
		e := &ledger.Entry{Name: EntryName, TraceID: tr, SpanID: span, ParentSpanID: parent, Start: t0.Add(time.Hour), End: t0.Add(time.Hour)}
		if opaSpan != "" {
			e.Attrs = []ledger.Attr{{Key: AttrSpanID, Value: opaSpan}}
		}
		return e
	}
	for _, tt := range []struct {
		name string
		d    *ledger.Entry
		want string
	}{
		{"OPA recorded the call's span", traced(trace, "", "", "0a00000000000003"), LinkTrace},
		{"OPA recorded the call's parent", traced(trace, "", "", "0a00000000000001"), LinkTrace},
		{"an engine's span, child of the call", traced(trace, "0b00000000000009", "0a00000000000003", ""), LinkTrace},
		{"same trace, another span", traced(trace, "", "", "0c00000000000001"), ""},
		{"another trace", traced(other, "", "", "0a00000000000003"), ""},
		{"no trace, same request, just before", req("spiffe://example.org/agent/billing", "POST", "/v1/invoices", -time.Second), LinkRequest},
		{"no trace, same request, during", req("spiffe://example.org/agent/billing", "POST", "/v1/invoices", 100*time.Millisecond), LinkRequest},
		{"too early", req("spiffe://example.org/agent/billing", "POST", "/v1/invoices", -time.Minute), ""},
		{"after the call", req("spiffe://example.org/agent/billing", "POST", "/v1/invoices", time.Second), ""},
		{"another subject", req("user:mallory", "POST", "/v1/invoices", 0), ""},
		{"another method", req("spiffe://example.org/agent/billing", "DELETE", "/v1/invoices", 0), ""},
		{"another path", req("spiffe://example.org/agent/billing", "POST", "/v1/users", 0), ""},
		{"no subject", req("", "POST", "/v1/invoices", 0), ""},
	} {
		if got := Link(call, tt.d, DefaultLinkWindow); got != tt.want {
			t.Errorf("%s: Link = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// Package indextest makes ledgers for the tests of the verifiable index:
// entries whose index keys (credential IDs and parents, fingerprints,
// agents, targets, traces) repeat across entries, as a real ledger's do.
package indextest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// Entries returns n span entries drawn from r, with span IDs from first on
// (so that several calls with different first do not collide).
func Entries(r *rand.Rand, first, n int) []ledger.Entry {
	es := make([]ledger.Entry, n)
	for i := range es {
		m := first + i
		e := ledger.Entry{
			Kind:    ledger.KindSpan,
			TraceID: fmt.Sprintf("%032x", 1+r.IntN(n/8+2)),
			SpanID:  fmt.Sprintf("%016x", m+1),
			Name:    "call",
			Start:   time.Unix(1_700_000_000, int64(m)).UTC(),
		}
		add := func(key, value string) { e.Attrs = append(e.Attrs, ledger.Attr{Key: key, Value: value}) }
		if r.IntN(2) == 0 {
			add(ledger.AttrCredentialID, fmt.Sprintf("cred-%d", r.IntN(20)))
		}
		if r.IntN(4) == 0 {
			add(ledger.AttrCredentialParentID, fmt.Sprintf("cred-%d", r.IntN(20)))
		}
		switch r.IntN(4) {
		case 0:
			add(ledger.AttrCredentialFingerprint, fmt.Sprintf("hmac-sha256:%02x", r.IntN(30)))
		case 1: // two fingerprints, possibly the same twice
			add(ledger.AttrCredentialFingerprint, fmt.Sprintf("hmac-sha256:%02x hmac-sha256:%02x", r.IntN(30), r.IntN(30)))
		}
		switch r.IntN(3) {
		case 0:
			add(ledger.AttrAgentID, fmt.Sprintf("agent-%d", r.IntN(10)))
		case 1:
			add(ledger.AttrAgentName, fmt.Sprintf("agent-%d", r.IntN(10)))
		}
		switch r.IntN(10) {
		case 0: // too long: not indexed
			add(ledger.AttrServerAddress, fmt.Sprintf("%0*d", ledger.MaxRefValue+1, 0))
		case 1, 2, 3:
			add(ledger.AttrServerAddress, fmt.Sprintf("api%d.example.com", r.IntN(5)))
		}
		es[i] = e
	}
	return es
}

package query

import (
	"fmt"
	"slices"
	"testing"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// TestRunCredentials checks that the run view says what the credential
// view knows: run B used C1 (by its fingerprint alone) and C2, both
// obtained in run A, so B's uses are foreign and name A; A's view names B
// as the run its credentials leaked to; the agent lists count the foreign
// uses per run.
func TestRunCredentials(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		type want struct {
			obtained, foreign bool
			calls             []string // fixture names
			obtainedIn        string   // trace
			usedBy            string   // trace
		}
		for _, tc := range []struct {
			trace       string
			foreignUses int
			creds       map[string]want
		}{
			{traceB, 2, map[string]want{
				credC1: {foreign: true, calls: []string{"b.k1"}, obtainedIn: traceA},
				credC2: {foreign: true, calls: []string{"b.k2"}, obtainedIn: traceA},
				credC3: {obtained: true, calls: []string{}},
				credC4: {obtained: true, calls: []string{"b.k3", "b.k4"}},
			}},
			{traceA, 0, map[string]want{
				credC1: {obtained: true, calls: []string{"a.k1", "a.k2"}, usedBy: traceB},
				credC2: {obtained: true, calls: []string{"a.k3"}, usedBy: traceB},
			}},
			{traceC, 0, map[string]want{}},
		} {
			var v api.RunView
			w.get("responder", "/v1/runs/"+tc.trace+"?limit=1&content=false", &v)
			if v.ForeignUses != tc.foreignUses || v.CredentialsTruncated {
				t.Errorf("run %s: foreign_uses %d, truncated %v; want %d, false", tc.trace, v.ForeignUses, v.CredentialsTruncated, tc.foreignUses)
			}
			if len(v.Credentials) != len(tc.creds) {
				t.Errorf("run %s: %d credentials, want %d: %+v", tc.trace, len(v.Credentials), len(tc.creds), v.Credentials)
			}
			for _, c := range v.Credentials {
				wc, ok := tc.creds[c.ID]
				if !ok {
					t.Errorf("run %s: credential %s is not expected", tc.trace, c.ID)
					continue
				}
				var calls []uint64
				for _, name := range wc.calls {
					calls = append(calls, w.idx[name])
				}
				if c.Obtained != wc.obtained || c.ForeignRun != wc.foreign || !slices.Equal(c.Calls, calls) {
					t.Errorf("run %s, %s: obtained %v, foreign %v, calls %v; want %v, %v, %v",
						tc.trace, c.ID, c.Obtained, c.ForeignRun, c.Calls, wc.obtained, wc.foreign, calls)
				}
				if got := linkedTraces(c.ObtainedIn); got != wc.obtainedIn {
					t.Errorf("run %s, %s: obtained in %q, want %q", tc.trace, c.ID, got, wc.obtainedIn)
				}
				if got := linkedTraces(c.UsedBy); got != wc.usedBy {
					t.Errorf("run %s, %s: used by %q, want %q", tc.trace, c.ID, got, wc.usedBy)
				}
				for _, l := range append(c.ObtainedIn, c.UsedBy...) {
					if l.Agent == nil || l.Agent.ID == "" {
						t.Errorf("run %s, %s: linked run %s has no agent", tc.trace, c.ID, l.TraceID)
					}
				}
			}
		}

		for _, tc := range []struct {
			agent       string
			foreignUses map[string]int
		}{
			{agentRogue, map[string]int{traceB: 2}},
			{agentTriage, map[string]int{traceA: 0, traceC: 0}},
		} {
			var runs api.AgentRuns
			w.get("responder", "/v1/agents/"+tc.agent+"/runs", &runs)
			got := make(map[string]int)
			for _, r := range runs.Runs {
				got[r.TraceID] = r.ForeignUses
				if (r.ForeignUses > 0) != (len(r.ForeignCredentials) > 0) || r.CredentialsTruncated {
					t.Errorf("agent %s, run %s: foreign uses %d, credentials %v, truncated %v", tc.agent, r.TraceID, r.ForeignUses, r.ForeignCredentials, r.CredentialsTruncated)
				}
			}
			if len(got) != len(tc.foreignUses) {
				t.Errorf("agent %s: runs %v, want %v", tc.agent, got, tc.foreignUses)
			}
			for trace, n := range tc.foreignUses {
				if got[trace] != n {
					t.Errorf("agent %s, run %s: foreign_uses %d, want %d", tc.agent, trace, got[trace], n)
				}
			}
		}
	})
}

// linkedTraces returns the one trace of ls, "" for none, or "several".
func linkedTraces(ls []api.LinkedRun) string {
	switch len(ls) {
	case 0:
		return ""
	case 1:
		return ls[0].TraceID
	}
	return "several"
}

// TestRunCredentialsBudget checks that a run naming more credentials than
// one answer links says so instead of passing the rest over silently.
func TestRunCredentialsBudget(t *testing.T) {
	w := newWorld(t, backends()[0], worldOptions{noFixture: true})
	var entries []ledger.Entry
	for i := range maxRunCredentials + 1 {
		entries = append(entries, ledger.Entry{Kind: ledger.KindAPICall, TraceID: traceC, SpanID: span(traceC, i+1), Name: "GET", Start: at(float64(i)),
			Attrs: []ledger.Attr{{Key: ledger.AttrCredentialID, Value: fmt.Sprintf("cred-%03d", i)}}})
	}
	if _, err := w.log.Append(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 100} { // the whole run on one page, or not
		var v api.RunView
		w.get("responder", fmt.Sprintf("/v1/runs/%s?limit=%d", traceC, limit), &v)
		if len(v.Credentials) != maxRunCredentials || !v.CredentialsTruncated {
			t.Errorf("limit %d: %d credentials, truncated %v; want %d, true", limit, len(v.Credentials), v.CredentialsTruncated, maxRunCredentials)
		}
	}
}

package query

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// TestAgentRunsUnderAnyName checks that /v1/agents/{id}/runs finds the runs
// of an agent under any of its names: one run reports the agent with
// gen_ai.agent.id and gen_ai.agent.name, the other with the name (and the
// service) alone. Both runs are found by either name, and the completeness
// block proves every key the answer used.
func TestAgentRunsUnderAnyName(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{noFixture: true})
		const (
			traceID   = "0000000000000000000000000000d001"
			traceName = "0000000000000000000000000000d002"
			traceLLM  = "0000000000000000000000000000d003"
		)
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		attrs := func(kv ...string) []ledger.Attr {
			var out []ledger.Attr
			for i := 0; i < len(kv); i += 2 {
				out = append(out, ledger.Attr{Key: kv[i], Value: kv[i+1]})
			}
			return out
		}
		entries := []ledger.Entry{
			{Kind: ledger.KindAgent, TraceID: traceID, SpanID: "00000000000000d1", Name: "invoke_agent", Start: t0, End: t0.Add(time.Minute),
				Attrs: attrs("gen_ai.agent.id", "agent-dual", "gen_ai.agent.name", "dual-bot", "gen_ai.operation.name", "invoke_agent", "service.name", "dual-svc")},
			{Kind: ledger.KindAgent, TraceID: traceName, SpanID: "00000000000000d2", Name: "invoke_agent", Start: t0.Add(time.Hour), End: t0.Add(time.Hour + time.Minute),
				Attrs: attrs("gen_ai.agent.name", "dual-bot", "gen_ai.operation.name", "invoke_agent", "service.name", "dual-svc")},
			// An LLM step of another agent under the same service: not a
			// run of this agent.
			{Kind: ledger.KindLLM, TraceID: traceLLM, SpanID: "00000000000000d3", Name: "chat", Start: t0,
				Attrs: attrs("gen_ai.operation.name", "chat", "service.name", "dual-svc")},
		}
		if _, err := w.log.Append(t.Context(), entries); err != nil {
			t.Fatal(err)
		}
		note := w.indexed()
		for _, tt := range []struct {
			name     string
			wantKeys []string
		}{
			{"agent-dual", []string{"agent:agent-dual", "agent:dual-bot"}},
			{"dual-bot", []string{"agent:dual-bot", "agent:agent-dual"}},
		} {
			var got api.AgentRuns
			if r := w.get("responder", "/v1/agents/"+url.PathEscape(tt.name)+"/runs", &got); r.status != 200 {
				t.Fatalf("%s: status %d %s", tt.name, r.status, r.body)
			}
			var traces []string
			shown := make(map[uint64]bool)
			for _, run := range got.Runs {
				traces = append(traces, run.TraceID)
				shown[run.Entry.Index] = true
			}
			slices.Sort(traces)
			if want := []string{traceID, traceName}; !slices.Equal(traces, want) {
				t.Errorf("/v1/agents/%s/runs lists runs %v, want %v", tt.name, traces, want)
			}
			c := got.Completeness
			if c == nil || c.Size != note.Size {
				t.Fatalf("%s: completeness %+v, want a block of size %d", tt.name, c, note.Size)
			}
			var keys []string
			for _, p := range c.Keys {
				keys = append(keys, p.Key)
				_, v, err := w.verifyKey(t, &p)
				if err != nil {
					t.Errorf("%s: %s: %v", tt.name, p.Key, err)
					continue
				}
				for _, i := range v.Indices {
					if !shown[i] {
						t.Errorf("%s: the index lists entry %d under %s, the answer does not show it", tt.name, i, p.Key)
					}
				}
			}
			if !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("%s: the block proves %v, want %v", tt.name, keys, tt.wantKeys)
			}
		}
	})
}

// verifyKey parses the key of a completeness block's proof p and verifies
// the proof with the world's verifier key, as a client does.
func (w *world) verifyKey(t *testing.T, p *index.Proof) (ledger.Ref, *index.Verified, error) {
	t.Helper()
	k, err := index.ParseKey(p.Key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Verify(w.vkey, k, index.Known{})
	return k, v, err
}

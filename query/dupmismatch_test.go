package query

import (
	"testing"
	"time"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// TestDuplicateMismatchFinding: a span delivered again with changed
// attributes is kept as first delivered, and the run's answer names the
// re-delivery as a finding.
func TestDuplicateMismatchFinding(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{noFixture: true})
		const trace = "0af7651916cd43dd8448eb211c80319c"
		span := ledger.Entry{
			Kind: ledger.KindTool, Source: ledger.SourceAgent, TraceID: trace, SpanID: "b7ad6b7169203331",
			Name: "execute_tool", Start: time.Unix(1_700_000_000, 0).UTC(),
			Attrs: []ledger.Attr{{Key: "gen_ai.tool.name", Value: "search"}},
		}
		if _, err := w.log.Append(t.Context(), []ledger.Entry{span}); err != nil {
			t.Fatal(err)
		}
		var run api.RunView
		w.get("responder", "/v1/runs/"+trace, &run)
		if len(run.Findings) != 0 {
			t.Fatalf("findings before a re-delivery = %+v, want none", run.Findings)
		}
		changed := span
		changed.Attrs = []ledger.Attr{{Key: "gen_ai.tool.name", Value: "delete_everything"}}
		got, err := w.log.Append(t.Context(), []ledger.Entry{changed})
		if err != nil {
			t.Fatal(err)
		}
		if want := (ledger.Index{Index: 0, IsDup: true, LeafDiffers: true}); len(got) != 1 || got[0] != want {
			t.Fatalf("Append(changed) = %+v, want [%+v]", got, want)
		}
		w.get("responder", "/v1/runs/"+trace, &run)
		if len(run.Findings) != 1 || run.Findings[0].Code != api.FindingDuplicateMismatch || run.Findings[0].Entry != 0 {
			t.Fatalf("findings = %+v, want one %s about entry 0", run.Findings, api.FindingDuplicateMismatch)
		}
		for _, e := range run.Entries {
			if e.Attributes["gen_ai.tool.name"] == "delete_everything" {
				t.Errorf("run shows the re-delivered attributes: %+v", e)
			}
		}
		if len(run.Entries) == 0 {
			t.Errorf("run has no entries")
		}
	})
}

package main

import (
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ingest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/query"
)

var (
	_ query.Observer          = (*metrics)(nil)
	_ ledger.Observer         = (*metrics)(nil)
	_ ingest.MisrouteObserver = (*metrics)(nil)
)

func TestMetricsContentFailsCommitment(t *testing.T) {
	m := newMetrics("test.example/log", "")
	m.ContentFailsCommitment(7, "reasoning")
	m.ContentFailsCommitment(7, "reasoning")
	const name = "agentledger_content_commitment_failures_total"
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got != 2 {
				t.Errorf("%s = %v, want 2", name, got)
			}
			return
		}
	}
	t.Errorf("no metric %s", name)
}

func TestMetricsDuplicateMismatch(t *testing.T) {
	m := newMetrics("test.example/log", "")
	m.DuplicateMismatch(ledger.Mismatch{Index: 3})
	const name = "agentledger_duplicate_mismatches_total"
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got != 1 {
				t.Errorf("%s = %v, want 1", name, got)
			}
			return
		}
	}
	t.Errorf("no metric %s", name)
}

// TestMetricsLogLabel: every agentledger_ metric carries the log's origin
// as the label log, agentledger_log_info names the shard rule, and
// misrouted spans are counted by signal.
func TestMetricsLogLabel(t *testing.T) {
	m := newMetrics("shard-a.example/log", "trace-id:0-7")
	m.Misrouted(ingest.SignalTraces, 10, 3)
	m.Misrouted(ingest.SignalTraces, 5, 5)
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "agentledger_") {
			continue
		}
		seen[mf.GetName()] = true
		for _, metric := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["log"] != "shard-a.example/log" {
				t.Errorf("%s%v: log label %q, want the origin", mf.GetName(), labels, labels["log"])
			}
			switch mf.GetName() {
			case "agentledger_log_info":
				if labels["shard_rule"] != "trace-id:0-7" || metric.GetGauge().GetValue() != 1 {
					t.Errorf("agentledger_log_info%v = %v, want shard_rule trace-id:0-7 and 1", labels, metric.GetGauge().GetValue())
				}
			case "agentledger_ingest_misrouted_spans_total":
				want := map[string]float64{"traces": 8, "logs": 0}[labels["signal"]]
				if got := metric.GetCounter().GetValue(); got != want {
					t.Errorf("misrouted %s = %v, want %v", labels["signal"], got, want)
				}
			}
		}
	}
	for _, name := range []string{"agentledger_log_info", "agentledger_ingest_misrouted_spans_total", "agentledger_tree_size"} {
		if !seen[name] {
			t.Errorf("no metric %s", name)
		}
	}
}

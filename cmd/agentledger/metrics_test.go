package main

import (
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/query"
)

var (
	_ query.Observer  = (*metrics)(nil)
	_ ledger.Observer = (*metrics)(nil)
)

func TestMetricsContentFailsCommitment(t *testing.T) {
	m := newMetrics()
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
	m := newMetrics()
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

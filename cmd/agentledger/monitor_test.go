package main

import (
	"path/filepath"
	"testing"

	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/ledger/verify"
)

// TestMonitorCmd runs monitor --once against the query server while the
// log grows, and after it is truncated and re-grown.
func TestMonitorCmd(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 120, 40)
	url, token := apiServer(t, l)
	state := filepath.Join(t.TempDir(), "ledger.state")
	args := []string{"--url", url, "--token", token, "--key", l.Keys.Verifier, "--state", state, "--once"}

	_, logs, err := run(t, newMonitorCmd(), args...)
	if err != nil {
		t.Fatalf("monitor (first) = %v\n%s", err, logs)
	}
	wantMatch(t, "monitor log", logs, `first checkpoint accepted \(trusted on first use\)" checkpoint="example.com/audittest@121 root=`)

	l.Append(t, 1, 100, 50, 0)
	if _, logs, err = run(t, newMonitorCmd(), args...); err != nil {
		t.Fatalf("monitor (grown) = %v\n%s", err, logs)
	}
	wantMatch(t, "monitor log", logs, `checkpoint consistent" old="example.com/audittest@121 root=\S+" new="example.com/audittest@221 root=`)

	l.Truncate(t, 100)
	l.Append(t, 2, 200, 50, 0)
	_, logs, err = run(t, newMonitorCmd(), args...)
	if err == nil {
		t.Fatalf("monitor (forked) = nil, want an error\n%s", logs)
	}
	wantMatch(t, "monitor log", logs, `level=ERROR msg="LOG MISBEHAVIOR: fork: .*" kind=fork old="example.com/audittest@221 root=\S+" new="example.com/audittest@300 root=\S+" .*old_checkpoint="example.com/audittest\\n221\\n`)
	wantMatch(t, "monitor error", err.Error(), `^log example.com/audittest forked: checkpoint example.com/audittest@300 .* does not extend checkpoint example.com/audittest@221`)
	note, _ := verify.LoadState(state)
	if cp, err := verify.Checkpoint(note, l.Keys.Verifier); err != nil || cp.Size != 221 {
		t.Errorf("state after the fork = %v, %v; want checkpoint 221", cp, err)
	}

	for _, bad := range [][]string{
		{"--url", url, "--key", l.Keys.Verifier, "--once"},
		{"--url", url, "--state", state, "--once"},
		{"--url", url, "--key", l.Keys.Verifier, "--state", state, "--interval", "0s"},
	} {
		if _, _, err := run(t, newMonitorCmd(), bad...); err == nil {
			t.Errorf("monitor %v = nil, want an error", bad)
		}
	}
}

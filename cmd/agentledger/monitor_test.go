package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/ledger/index"
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

	// Replay the index, then serve a note with a wrong map root.
	if _, logs, err = run(t, newMonitorCmd(), append(args, "--index")...); err != nil {
		t.Fatalf("monitor --index = %v\n%s", err, logs)
	}
	wantMatch(t, "monitor log", logs, `index note matches the log's entries" size=221 map_root=`)
	signer, err := ledger.NewSigner(l.Keys.Signer)
	if err != nil {
		t.Fatal(err)
	}
	cp := l.Checkpoint(t, 221)
	forged, err := index.SignNote(signer, cp.Size, cp.Root, index.EmptyMapRoot())
	if err != nil {
		t.Fatal(err)
	}
	l.Tamper(t, fmt.Sprintf(`UPDATE index_notes SET note = decode('%x', 'hex') WHERE size = 221`, forged.Note))
	_, logs, err = run(t, newMonitorCmd(), append(args, "--index")...)
	if err == nil {
		t.Fatalf("monitor --index with a wrong map root = nil, want an error\n%s", logs)
	}
	// The state of the first run holds the note it verified at 221.
	wantMatch(t, "monitor log", logs, `level=ERROR msg="INDEX MISBEHAVIOR: the log signed an index note its own entries contradict" detail="index note for tree size 221: map root \S+, but the log signed \S+ for this size before" index_note="agentledger-index/v2\\n`)

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

// TestMonitorIndexState runs monitor --index three times: the second run
// continues the replay from the size the first verified (the state file
// keeps the index), and after the newest index note is replaced by one
// with a wrong map root, the third reports it.
func TestMonitorIndexState(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 120, 40)
	url, token := apiServer(t, l)
	state := filepath.Join(t.TempDir(), "ledger.state")
	args := []string{"--url", url, "--token", token, "--key", l.Keys.Verifier, "--state", state, "--once", "--index"}

	_, logs, err := run(t, newMonitorCmd(), args...)
	if err != nil {
		t.Fatalf("monitor --index (first) = %v\n%s", err, logs)
	}
	wantMatch(t, "monitor log", logs, `index note matches the log's entries" size=121 map_root=\S+ replayed_from=0`)
	fi, err := os.Stat(state + ".index")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("index state mode = %v, want 0600", fi.Mode().Perm())
	}

	l.Append(t, 1, 100, 50, 0)
	if _, logs, err = run(t, newMonitorCmd(), args...); err != nil {
		t.Fatalf("monitor --index (grown) = %v\n%s", err, logs)
	}
	wantMatch(t, "monitor log", logs, `index note matches the log's entries" size=221 map_root=\S+ replayed_from=121`)

	l.Append(t, 2, 100, 50, 0)
	signer, err := ledger.NewSigner(l.Keys.Signer)
	if err != nil {
		t.Fatal(err)
	}
	cp := l.Checkpoint(t, 321)
	forged, err := index.SignNote(signer, cp.Size, cp.Root, index.EmptyMapRoot())
	if err != nil {
		t.Fatal(err)
	}
	l.Tamper(t, fmt.Sprintf(`UPDATE index_notes SET note = decode('%x', 'hex') WHERE size = 321`, forged.Note))
	_, logs, err = run(t, newMonitorCmd(), args...)
	if err == nil {
		t.Fatalf("monitor --index with a wrong map root = nil, want an error\n%s", logs)
	}
	wantMatch(t, "monitor log", logs, `level=ERROR msg="INDEX MISBEHAVIOR: the log signed an index note its own entries contradict" detail="index note for tree size 321: map root \S+, but the log's entries give \S+" index_note="agentledger-index/v2\\n`)

	// A state file that does not match its note is refused, not trusted.
	b, err := os.ReadFile(state + ".index")
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(state+".index", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, logs, err = run(t, newMonitorCmd(), args...); err == nil {
		t.Fatalf("monitor --index with a damaged state = nil, want an error\n%s", logs)
	}
	wantMatch(t, "monitor error", err.Error(), `^index state .*: its lists do not give its note's roots; remove it to replay the index from the start$`)
}

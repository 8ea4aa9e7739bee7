package verify_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/ledger/verify"
)

func newClient(t *testing.T, l *audittest.Ledger) (*apiServer, *verify.Client) {
	t.Helper()
	srv, url := newAPIServer(t, l.Store)
	return srv, &verify.Client{BaseURL: url, Token: srv.token, VerifierKey: l.Keys.Verifier}
}

func TestVerifyAll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		n      int
		tamper func(t *testing.T, l *audittest.Ledger)
		want   string
	}{
		{name: "clean", n: 600},
		{name: "one partial tile", n: 40},
		{
			name: "leaf changed",
			n:    600,
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries SET leaf = overlay(leaf placing '9'::bytea from position('step 31'::bytea in leaf) + 6 for 1) WHERE idx = 31`)
			},
			want: `^tile 0/0 hash 31 \(entry 31\): served .*, but entry bundle 0's entry 31 hashes to`,
		},
		{
			name: "level-1 tile hash replaced",
			n:    600,
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE tiles SET hashes = overlay(hashes placing sha256('x') from 1 for 32) WHERE level = 1 AND idx = 0 AND start = 0`)
			},
			want: `^tile 1/0 hash 0 \(entries 0–255\): served LXEWQrcmsEQBYnyp\+6wy9chTD7GQPMTbAiWHF5IaSIE=, but the entries give`,
		},
		{
			name: "level-0 tile and leaf changed together",
			n:    600,
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries SET leaf = overlay(leaf placing '9'::bytea from position('step 31'::bytea in leaf) + 6 for 1) WHERE idx = 31`,
					`UPDATE tiles SET hashes = overlay(hashes placing (SELECT sha256('\x00'::bytea || leaf) FROM entries WHERE idx = 31) from 1 + (31 - start)*32 for 32)
						WHERE level = 0 AND idx = 0 AND start <= 31 AND start + length(hashes)/32 > 31`)
			},
			want: `^tile 1/0 hash 0 \(entries 0–255\): served .*, but the entries give`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := audittest.New(t, tt.n, 200)
			if tt.tamper != nil {
				tt.tamper(t, l)
			}
			_, c := newClient(t, l)
			var progress uint64
			rep, err := c.VerifyAll(t.Context(), verify.AllOptions{Progress: func(n uint64) { progress = n }})
			matches(t, err, tt.want)
			if err == nil && (rep.Entries != uint64(tt.n+1) || progress != rep.Entries || rep.Checkpoint.Size != uint64(tt.n+1)) {
				t.Errorf("VerifyAll() = %d entries (progress %d) of checkpoint %d, want %d", rep.Entries, progress, rep.Checkpoint.Size, tt.n+1)
			}
		})
	}
}

// TestVerifyAllPartialRoot changes the last level-0 hash in a way only the
// checkpoint's root can catch: the tile and the bundle agree, but the tree
// is not the one the checkpoint signed.
func TestVerifyAllRoot(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 40, 40)
	l.Tamper(t, `UPDATE entries SET leaf = overlay(leaf placing '9'::bytea from position('step 31'::bytea in leaf) + 6 for 1) WHERE idx = 31`,
		`UPDATE tiles SET hashes = overlay(hashes placing (SELECT sha256('\x00'::bytea || leaf) FROM entries WHERE idx = 31) from 1 + (31 - start)*32 for 32)
			WHERE level = 0 AND idx = 0 AND start <= 31 AND start + length(hashes)/32 > 31`)
	_, c := newClient(t, l)
	_, err := c.VerifyAll(t.Context(), verify.AllOptions{})
	matches(t, err, `^the log's 41 entries make root .*, but checkpoint example.com/audittest@41 \(root .*\) says`)
}

func TestVerifyCredential(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, entries, every)
	srv, c := newClient(t, l)
	for _, content := range []bool{false, true} {
		rep, err := c.VerifyCredential(t.Context(), "cred-1", verify.CredentialOptions{Content: content})
		if err != nil {
			t.Fatalf("VerifyCredential(cred-1, content %v) = %v", content, err)
		}
		// Entries 2..299 whose gen index i has i%5 in {2, 3} and i%3 == 1.
		if len(rep.Entries) == 0 || rep.Facts != len(rep.Entries) || rep.Checkpoint == nil || rep.Checkpoint.Size != entries+1 {
			t.Errorf("VerifyCredential(cred-1) = %d entries, %d facts, checkpoint %v", len(rep.Entries), rep.Facts, rep.Checkpoint)
		}
	}
	if _, err := c.VerifyCredential(t.Context(), "no-such-credential", verify.CredentialOptions{}); err == nil {
		t.Error("VerifyCredential(unknown) = nil, want an error")
	} else {
		var he *verify.HTTPError
		if !errors.As(err, &he) || he.Status != 404 || he.Code != "not_found" {
			t.Errorf("VerifyCredential(unknown) = %v, want a 404 not_found", err)
		}
	}
	bad := *c
	bad.Token = "wrong"
	if _, err := bad.VerifyCredential(t.Context(), "cred-1", verify.CredentialOptions{}); err == nil {
		t.Error("VerifyCredential(wrong token) = nil, want an error")
	}

	// The server signs a checkpoint that lags behind: the entries are not
	// covered, and the client says so after waiting.
	srv.checkpoint = l.Checkpoint(t, 51).Note
	_, err := c.VerifyCredential(t.Context(), "cred-1", verify.CredentialOptions{Wait: time.Millisecond})
	matches(t, err, `^entry \d+ is newer than the latest checkpoint \(size 51\)`)
}

func TestVerifyCredentialTampered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(t *testing.T, l *audittest.Ledger)
		want   string
	}{
		{
			// The credential ID of entry 17 (an api_call with cred-2) becomes
			// cred-1 in the leaf, and the leaf hash and tile are patched
			// too: only the checkpoint catches it, in the proof of the first
			// entry whose proof holds the changed hash.
			name: "leaf rewritten with its hashes",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries SET leaf = overlay(leaf placing '1'::bytea from position('cred-2'::bytea in leaf) + 5 for 1) WHERE idx = 17`,
					`UPDATE entries SET leaf_hash = sha256('\x00'::bytea || leaf) WHERE idx = 17`,
					`INSERT INTO entry_refs (key, value, idx) VALUES ('credential', 'cred-1', 17)`,
					`UPDATE tiles SET hashes = overlay(hashes placing (SELECT leaf_hash FROM entries WHERE idx = 17) from 1 + (17 - start)*32 for 32)
						WHERE level = 0 AND idx = 0 AND start <= 17 AND start + length(hashes)/32 > 17`)
			},
			want: `^entry \d+ \(leaf hash [0-9a-f]{64}\) is not in the tree of checkpoint example.com/audittest@301`,
		},
		{
			name: "leaf rewritten, leaf hash kept",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries SET leaf = overlay(leaf placing '1'::bytea from position('cred-2'::bytea in leaf) + 5 for 1) WHERE idx = 17`,
					`INSERT INTO entry_refs (key, value, idx) VALUES ('credential', 'cred-1', 17)`)
			},
			want: `^entry 17: /v1/entries reports leaf hash [0-9a-f]{64} but its leaf hashes to`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := audittest.New(t, entries, every)
			tt.tamper(t, l)
			_, c := newClient(t, l)
			_, err := c.VerifyCredential(t.Context(), "cred-1", verify.CredentialOptions{})
			matches(t, err, tt.want)
		})
	}
}

// TestMonitor runs a Monitor against a server whose log grows, then is
// truncated and grows again, then rolls back.
func TestMonitor(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 120, 40)
	srv, c := newClient(t, l)
	m := &verify.Monitor{Client: c, StatePath: filepath.Join(t.TempDir(), "state")}
	poll := func() (*verify.Advance, error) {
		t.Helper()
		return m.Poll(t.Context())
	}
	adv, err := poll()
	if err != nil || adv.Old != nil || adv.New.Size != 121 || !adv.Grew() {
		t.Fatalf("first Poll() = %+v, %v; want checkpoint 121 accepted", adv, err)
	}
	if adv, err = poll(); err != nil || adv.Grew() {
		t.Fatalf("second Poll() = %+v, %v; want no change", adv, err)
	}
	l.Append(t, 1, 100, 50, 0)
	if adv, err = poll(); err != nil || adv.Old.Size != 121 || adv.New.Size != 221 {
		t.Fatalf("Poll() after growth = %+v, %v; want 121 → 221", adv, err)
	}
	state, err := verify.LoadState(m.StatePath)
	if err != nil || string(state) != string(l.Checkpoint(t, 221).Note) {
		t.Fatalf("state = %q, %v; want checkpoint 221", state, err)
	}

	// Roll back: the server serves an older checkpoint.
	srv.checkpoint = l.Checkpoint(t, 121).Note
	_, err = poll()
	var mb *verify.Misbehavior
	if !errors.As(err, &mb) || mb.Kind != verify.Rollback || mb.Old.Size != 221 || mb.New.Size != 121 {
		t.Fatalf("Poll() after rollback = %v, want a rollback from 221 to 121", err)
	}
	srv.checkpoint = nil

	// Truncate the tree and grow it again past the stored checkpoint.
	l.Truncate(t, 100)
	l.Append(t, 2, 200, 50, 0)
	_, err = poll()
	if !errors.As(err, &mb) || mb.Kind != verify.Fork || mb.Old.Size != 221 || mb.New.Size != 300 {
		t.Fatalf("Poll() after truncation = %v, want a fork from 221 to 300", err)
	}
	matches(t, err, `^log example.com/audittest forked: checkpoint example.com/audittest@300 .* does not extend checkpoint example.com/audittest@221 .*: consistency from size 221 to 300: the proof leads to root`)
	if state2, _ := verify.LoadState(m.StatePath); string(state2) != string(state) {
		t.Errorf("state after a fork = %q, want it unchanged (%q)", state2, state)
	}
}

// TestVerifyAllContent checks content against a server that serves what
// its database holds without checking it, as a lying server would.
func TestVerifyAllContent(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 60, 30)
	_, c := newClient(t, l)
	rep, err := c.VerifyAll(t.Context(), verify.AllOptions{Content: true})
	if err != nil {
		t.Fatalf("VerifyAll(content) = %v", err)
	}
	want := []verify.ErasedContent{{Entry: 5, Name: "reasoning", By: 40}}
	if rep.Content != 23 || rep.Unread != 0 || !slices.Equal(rep.Erased, want) {
		t.Errorf("VerifyAll(content) = %d checked, %d unread, erased %+v; want 23, 0, %+v", rep.Content, rep.Unread, rep.Erased, want)
	}
	l.Tamper(t, `UPDATE content SET data = convert_to('changed', 'UTF8') WHERE idx = 10 AND name = 'reasoning'`)
	_, err = c.VerifyAll(t.Context(), verify.AllOptions{Content: true})
	matches(t, err, `^entry 10: content "reasoning" does not match its commitment`)
}

package verify_test

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/verify"
)

// TestVerifyCredentialComplete checks that a clean credential view is
// proved complete by the index, as of the latest checkpoint.
func TestVerifyCredentialComplete(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, entries, every)
	_, c := newClient(t, l)
	rep, err := c.VerifyCredential(t.Context(), "cred-1", verify.CredentialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Complete == nil || !rep.Complete.Complete() || rep.Complete.Size != entries+1 || rep.Complete.Indexed["credential:cred-1"] != len(rep.Entries) {
		t.Fatalf("VerifyCredential(cred-1): completeness %v of %d entries, want complete as of %d", rep.Complete, len(rep.Entries), entries+1)
	}
	if got, want := rep.Complete.String(), "complete as of checkpoint 301 (credential:cred-1)"; got != want {
		t.Errorf("Completeness = %q, want %q", got, want)
	}
}

// TestVerifyCredentialIncomplete hides entries from the credential view the
// ways an insider with database access (triggers disabled) or a lying
// server would; verify --credential catches each.
func TestVerifyCredentialIncomplete(t *testing.T) {
	t.Parallel()
	// Entry 7 is an api_call of cred-1 in a run (trace) of its own; entry 0
	// an llm step that carries no credential.
	tests := []struct {
		name   string
		tamper string
		lookup func(*index.Proof)
		block  func(*api.Completeness)
		hide   uint64
		want   string
	}{
		{
			name: "view that leaves out an entry its block lists",
			hide: 7,
			want: `^credential "cred-1": the view is incomplete as of checkpoint 301: the answer omits credential:cred-1: entries \[7\]$`,
		},
		{
			name:  "answer without a completeness block",
			block: func(b *api.Completeness) { *b = api.Completeness{} },
			want:  `^completeness: the answer used index key credential:cred-1 but its block does not prove it$`,
		},
		{
			name:  "block that leaves out the credential's key",
			block: func(b *api.Completeness) { b.Keys = b.Keys[:0] },
			want:  `^completeness: the answer used index key credential:cred-1 but its block does not prove it$`,
		},
		{
			name: "block with the checkpoint of another size",
			block: func(b *api.Completeness) {
				b.Size--
			},
			want: `^completeness: the block is for tree size 300, its checkpoint for 301$`,
		},
		{
			name:   "entry_refs row of a run deleted",
			tamper: `DELETE FROM entry_refs WHERE key = 'credential' AND value = 'cred-1' AND idx = 7`,
			want:   `^completeness of credential:cred-1: index key credential:cred-1 is incomplete as of checkpoint 301: the signed index holds 40 entries, the answer 39 \(1 missing\)$`,
		},
		{
			name:   "ref pointing at the wrong entry",
			tamper: `INSERT INTO entry_refs (key, value, idx) VALUES ('credential', 'cred-1', 0)`,
			want:   `^completeness of credential:cred-1: index key credential:cred-1 as of checkpoint 301: the answer's 40 entries are not those the signed index holds$`,
		},
		{
			name:   "newest index of the key dropped",
			tamper: `DELETE FROM entry_refs WHERE key = 'credential' AND value = 'cred-1' AND idx = (SELECT max(idx) FROM entry_refs WHERE key = 'credential' AND value = 'cred-1')`,
			want:   `^completeness of credential:cred-1: index key credential:cred-1 is incomplete as of checkpoint 301: the signed index holds 40 entries, the answer 39 \(1 missing\)$`,
		},
		{
			name:   "old map root served with the new checkpoint",
			tamper: `UPDATE index_notes SET note = (SELECT note FROM index_notes ORDER BY size LIMIT 1) WHERE size = (SELECT max(size) FROM index_notes)`,
			want:   `^completeness of credential:cred-1: index answer: size 301 but the note's is 51$`,
		},
		{
			name:   "newest index note deleted",
			tamper: `DELETE FROM index_notes WHERE size = (SELECT max(size) FROM index_notes)`,
			want:   `^completeness of credential:cred-1: index key credential:cred-1: the signed map does not hold \d+ entries with list root`,
		},
		{
			name: "answer skips one entry",
			lookup: func(p *index.Proof) {
				p.Indices = append(p.Indices[:3:3], p.Indices[4:]...)
			},
			want: `^completeness of credential:cred-1: index key credential:cred-1 is incomplete as of checkpoint 301: the signed index holds 40 entries, the answer 39 \(1 missing\)$`,
		},
		{
			name: "answer skips one entry and claims the shorter list",
			lookup: func(p *index.Proof) {
				p.Indices = append(p.Indices[:3:3], p.Indices[4:]...)
				p.Count--
			},
			want: `^completeness of credential:cred-1: index key credential:cred-1: the signed map does not hold 39 entries with list root`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := audittest.New(t, entries, every)
			if tt.tamper != "" {
				l.Tamper(t, tt.tamper)
			}
			srv, c := newClient(t, l)
			srv.lookup, srv.block = tt.lookup, tt.block
			if tt.hide != 0 {
				srv.hide = map[uint64]bool{tt.hide: true}
			}
			_, err := c.VerifyCredential(t.Context(), "cred-1", verify.CredentialOptions{})
			matches(t, err, tt.want)
		})
	}
}

// TestVerifyIndexDelta checks the delta form against a real index.
func TestVerifyIndexDelta(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, entries, every)
	_, c := newClient(t, l)
	cp, _, err := c.VerifiedCheckpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	key := ledger.Ref{Key: ledger.RefTarget, Value: "api.example.com"}
	full, err := c.VerifyIndex(t.Context(), cp, key, index.Known{})
	if err != nil {
		t.Fatal(err)
	}
	half := index.NewList()
	half.Append(full.Indices[:len(full.Indices)/2]...)
	d, err := c.VerifyIndex(t.Context(), cp, key, index.Known{Count: half.Size(), Root: half.Root()})
	if err != nil {
		t.Fatal(err)
	}
	if d.List != full.List || len(d.Indices) != len(full.Indices)-len(full.Indices)/2 {
		t.Fatalf("delta: %+v with %d indices, want %+v with %d", d.List, len(d.Indices), full.List, len(full.Indices)-len(full.Indices)/2)
	}
	wrong := index.NewList()
	wrong.Append(full.Indices[1 : len(full.Indices)/2+1]...)
	if _, err := c.VerifyIndex(t.Context(), cp, key, index.Known{Count: wrong.Size(), Root: wrong.Root()}); err == nil {
		t.Fatal("delta from a list the client never verified: nil error")
	}
}

// TestIndexReplayer replays the index from the entry bundles as the log
// grows, then catches a note with a wrong map root and one that goes back.
func TestIndexReplayer(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 300, 70)
	srv, c := newClient(t, l)
	r := &verify.IndexReplayer{Client: c}
	n, err := r.Check(t.Context())
	if err != nil || n.Size != 301 {
		t.Fatalf("Check() = %v, %v; want the note of 301", n, err)
	}
	old := n.Note
	l.Append(t, 1, 100, 30, 0)
	if n, err = r.Check(t.Context()); err != nil || n.Size != 401 {
		t.Fatalf("Check() after growing = %v, %v; want the note of 401", n, err)
	}

	signer, err := ledger.NewSigner(l.Keys.Signer)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := index.SignNote(signer, n.Size, n.TreeRoot, index.EmptyMapRoot())
	if err != nil {
		t.Fatal(err)
	}
	srv.indexNote = forged.Note
	_, err = r.Check(t.Context())
	matches(t, err, `^index note for tree size 401: map root .*, but the log signed .* for this size before$`)
	fresh := &verify.IndexReplayer{Client: c}
	_, err = fresh.Check(t.Context())
	matches(t, err, `^index note for tree size 401: map root .*, but the log's entries give .*$`)

	srv.indexNote = old
	_, err = r.Check(t.Context())
	matches(t, err, `^index note for tree size 301: the index went back from tree size 401$`)
}

// TestIndexReplayerVersion1State replays from the start when its state
// file holds a note of index version 1, saved before the upgrade.
func TestIndexReplayerVersion1State(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 300, 70)
	_, c := newClient(t, l)
	path := filepath.Join(t.TempDir(), "index-state")
	n, err := (&verify.IndexReplayer{Client: c, StatePath: path}).Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head := len("agentledger-monitor-index/v1\n")
	nl, k := binary.Uvarint(b[head:])
	rest := b[head+k+int(nl):]
	signer, err := ledger.NewSigner(l.Keys.Signer)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := signer.SignNote(fmt.Sprintf("%s\n%s\n%d\n%s\n%s\n", index.NoteHeaderV1, signer.Origin(), n.Size,
		base64.StdEncoding.EncodeToString(n.TreeRoot[:]), base64.StdEncoding.EncodeToString(n.MapRoot[:])))
	if err != nil {
		t.Fatal(err)
	}
	old := append(binary.AppendUvarint(append([]byte(nil), b[:head]...), uint64(len(v1))), v1...)
	if err := os.WriteFile(path, append(old, rest...), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &verify.IndexReplayer{Client: c, StatePath: path}
	if got, err := r.Check(t.Context()); err != nil || got.Size != n.Size || r.From != 0 {
		t.Fatalf("Check() over a version-1 state = %v, %v, from %d; want the note of %d replayed from 0", got, err, r.From, n.Size)
	}
}

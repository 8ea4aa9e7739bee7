package verify

import (
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

func TestParseTrust(t *testing.T) {
	_, a, err := note.GenerateKey(rand.Reader, "a.example/log")
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := note.GenerateKey(rand.Reader, "b.example/log")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, file, err string
		want            []string
	}{
		{"two logs", "# shards\n" + a + "\n\n  " + b + "  \n", "", []string{"a.example/log", "b.example/log"}},
		{"twice", a + "\n" + a + "\n", `line 2: log "a.example/log" is given twice`, nil},
		{"not a key", a + "\nshard-b https://b\n", "line 2: not a verifier key", nil},
		{"empty", "# nothing\n", "no verifier keys", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := ParseTrust([]byte(tt.file))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseTrust = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tr) != len(tt.want) {
				t.Fatalf("ParseTrust = %v, want the logs %v", tr, tt.want)
			}
			for _, o := range tt.want {
				if !strings.HasPrefix(tr[o], o+"+") {
					t.Errorf("ParseTrust()[%s] = %q, want its key", o, tr[o])
				}
			}
		})
	}
}

// TestNoteInLogEmptyTree checks that an index note of the empty tree is a
// prefix of any checkpoint without a proof, if its root is the empty
// tree's: a proved view may carry such a note before the index catches up.
func TestNoteInLogEmptyTree(t *testing.T) {
	cp := &ledger.VerifiedCheckpoint{Origin: "a.example/log", Size: 3, Root: [ledger.HashSize]byte{1}}
	var none *provedPage // asked for no proof: a proof asked of it panics
	if err := noteInLog(t.Context(), none, cp, index.Note{Size: 0, TreeRoot: ledger.EmptyRoot()}); err != nil {
		t.Errorf("noteInLog(empty tree) = %v, want nil", err)
	}
	if err := noteInLog(t.Context(), none, cp, index.Note{Size: 0, TreeRoot: [ledger.HashSize]byte{2}}); err == nil || !strings.Contains(err.Error(), "not the empty tree's") {
		t.Errorf("noteInLog(size 0, another root) = %v, want an error", err)
	}
}

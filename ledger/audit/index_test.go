package audit_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/agentledger/agentledger/ledger/audit"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
)

// TestIndexClean audits the index of a clean ledger with several notes.
func TestIndexClean(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, entries, every)
	rep, err := audit.Index(t.Context(), l.Store, l.Keys.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Notes < 2 || rep.Keys == 0 || rep.Refs == 0 || rep.KeysAt != rep.Size {
		t.Fatalf("Index() = %+v, want OK with notes, keys and refs", rep)
	}
	full, err := audit.Run(t.Context(), l.Store, l.Keys.Verifier, audit.Options{Index: true})
	if err != nil {
		t.Fatal(err)
	}
	if !full.OK() || full.Index == nil || full.Index.Notes != rep.Notes || full.Index.Keys != rep.Keys || full.Index.Refs != rep.Refs {
		t.Fatalf("Run(Index) = %+v, want OK and the index report of Index, %+v", full.Index, rep)
	}
}

// TestIndexTampered changes the index and entry_refs as a superuser with
// the triggers disabled; the audit names the key and the entry.
func TestIndexTampered(t *testing.T) {
	t.Parallel()
	// Entry 7 is an api_call of cred-1; entry 0 an llm step with no
	// credential.
	tests := []struct {
		name  string
		stmts []string
		want  []string
	}{
		{
			name:  "entry_refs row of a run deleted",
			stmts: []string{`DELETE FROM entry_refs WHERE key = 'credential' AND value = 'cred-1' AND idx = 7`},
			want:  []string{`^entry_refs: entry 7 carries credential:cred-1, but no entry_refs row says so$`},
		},
		{
			name:  "ref pointing at the wrong entry",
			stmts: []string{`INSERT INTO entry_refs (key, value, idx) VALUES ('credential', 'cred-1', 0)`},
			want:  []string{`^entry_refs: a row says entry 0 carries credential:cred-1, but entry 0 does not$`},
		},
		{
			name:  "ref moved to another entry",
			stmts: []string{`UPDATE entry_refs SET idx = 0 WHERE key = 'credential' AND value = 'cred-1' AND idx = 7`},
			want: []string{
				`^entry_refs: a row says entry 0 carries credential:cred-1, but entry 0 does not$`,
				`^entry_refs: entry 7 carries credential:cred-1, but no entry_refs row says so$`,
			},
		},
		{
			name:  "ref to a key no entry carries",
			stmts: []string{`INSERT INTO entry_refs (key, value, idx) VALUES ('agent', 'ghost', 3)`},
			want:  []string{`^entry_refs: a row says entry 3 carries agent:ghost, but no entry carries it$`},
		},
		{
			name:  "newest index of a key dropped from the stored list",
			stmts: []string{`UPDATE index_keys SET size = size - 1 WHERE label = sha256('credential:cred-1'::bytea)`},
			want:  []string{`^index key credential:cred-1: the index holds 39 entries, the leaves give 40 \(the last \d+\)$`},
		},
		{
			name:  "old map root served with the new checkpoint",
			stmts: []string{`UPDATE index_notes SET note = (SELECT note FROM index_notes ORDER BY size LIMIT 1), map_root = (SELECT map_root FROM index_notes ORDER BY size LIMIT 1) WHERE size = (SELECT max(size) FROM index_notes)`},
			want:  []string{`^index note 301: stored as size 301, tree root .*, map root .*, but the signed note says size 51, .*$`},
		},
		{
			name:  "a map node rewritten",
			stmts: []string{`UPDATE index_nodes SET hash = sha256(hash) WHERE id = (SELECT id FROM index_nodes WHERE children IS NULL ORDER BY id LIMIT 1)`},
			want:  []string{`^index map node [0-9a-f]{68}: stored true, the leaves give hash .*$`},
		},
		{
			name:  "a map node deleted",
			stmts: []string{`DELETE FROM index_nodes WHERE id = (SELECT id FROM index_nodes WHERE children IS NULL ORDER BY id LIMIT 1)`},
			want:  []string{`^index map node [0-9a-f]{68}: stored false, the leaves give hash .*$`},
		},
		{
			name: "entry_refs row duplicated",
			stmts: []string{`ALTER TABLE entry_refs DROP CONSTRAINT entry_refs_pkey`,
				`INSERT INTO entry_refs (key, value, idx) VALUES ('credential', 'cred-1', 7)`},
			want: []string{`^entry_refs: entry 7 has more than one row for credential:cred-1$`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := audittest.New(t, entries, every)
			l.Tamper(t, tt.stmts...)
			rep, err := audit.Index(t.Context(), l.Store, l.Keys.Verifier)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range rep.Divergences {
				got = append(got, d.Message)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Index() divergences = %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !regexp.MustCompile(w).MatchString(got[i]) {
					t.Errorf("divergence %d = %q, want a match for %q", i, got[i], w)
				}
			}
			// Run's one pass over the leaves finds the same.
			full, err := audit.Run(t.Context(), l.Store, l.Keys.Verifier, audit.Options{Index: true, PageSize: 256})
			if err != nil {
				t.Fatal(err)
			}
			if full.Divergence != nil || full.Index == nil || full.OK() {
				t.Fatalf("Run(Index) = %+v, want the ledger clean and the index not", full)
			}
			var again []string
			for _, d := range full.Index.Divergences {
				again = append(again, d.Message)
			}
			if !slices.Equal(again, got) {
				t.Errorf("Run(Index) divergences = %q, want those of Index, %q", again, got)
			}
		})
	}
}

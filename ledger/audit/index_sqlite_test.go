package audit_test

import (
	"database/sql"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// TestIndexSQLite audits the index of the embedded store, then hides one
// use of a credential (a deleted entry_refs row), points a ref at the wrong
// entry and shortens a stored list, after dropping the triggers: the audit
// names each, and a lookup of the key no longer verifies.
func TestIndexSQLite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys := audittest.NewKeys(t)
	signer, err := ledger.NewSigner(keys.Signer)
	if err != nil {
		t.Fatal(err)
	}
	lg, err := ledger.Open(s, ledger.Config{Signer: signer, Follower: index.NewIndexer(s, signer)})
	if err != nil {
		t.Fatal(err)
	}
	es := make([]ledger.Entry, 300)
	for i := range es {
		es[i] = audittest.Entry(0, i)
	}
	if _, err := lg.Append(ctx, es); err != nil {
		t.Fatal(err)
	}
	if err := lg.Close(ctx); err != nil { // signs and indexes a final checkpoint
		t.Fatal(err)
	}
	rep, err := audit.Index(ctx, s, keys.Verifier)
	if err != nil || !rep.OK() || rep.Notes != 1 || rep.KeysAt != 300 {
		t.Fatalf("Index(sqlite) = %+v, %v; want OK, one note at 300", rep, err)
	}
	cred := ledger.Ref{Key: ledger.RefCredential, Value: "cred-1"}
	p, err := index.Lookup(ctx, s, cred, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(keys.Verifier, cred, index.Known{}); err != nil {
		t.Fatalf("lookup before tampering: %v", err)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`DROP TRIGGER entry_refs_no_delete`,
		`DROP TRIGGER entry_refs_insert_guard`,
		`DELETE FROM entry_refs WHERE key = 'credential' AND value = 'cred-1' AND idx = 7`,
		`INSERT INTO entry_refs (key, value, idx) VALUES ('credential', 'cred-2', 0)`,
		`UPDATE index_keys SET size = size - 1 WHERE label = (SELECT label FROM index_keys ORDER BY label LIMIT 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rep, err = audit.Index(ctx, s, keys.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range rep.Divergences {
		got = append(got, d.Message)
	}
	want := []string{
		`^index key \w+:\S+: the index holds \d+ entries, the leaves give \d+ \(the last \d+\)$`,
		`^entry_refs: a row says entry 0 carries credential:cred-2, but entry 0 does not$`,
		`^entry_refs: entry 7 carries credential:cred-1, but no entry_refs row says so$`,
	}
	if len(got) != len(want) {
		t.Fatalf("Index(tampered sqlite) = %q, want %d divergences", got, len(want))
	}
	for i, w := range want {
		if !regexp.MustCompile(w).MatchString(got[i]) {
			t.Errorf("divergence %d = %q, want a match for %q", i, got[i], w)
		}
	}
	p, err = index.Lookup(ctx, s, cred, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(keys.Verifier, cred, index.Known{}); err == nil {
		t.Error("lookup of cred-1 with a hidden use verifies, want an error")
	}
}

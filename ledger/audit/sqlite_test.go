package audit_test

import (
	"database/sql"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// TestAuditSQLite audits the embedded store, whose time column keeps
// nanoseconds, then tampers with it after dropping its triggers.
func TestAuditSQLite(t *testing.T) {
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
	lg, err := ledger.Open(s, ledger.Config{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i += 100 {
		es := make([]ledger.Entry, 100)
		for j := range es {
			es[j] = audittest.Entry(0, i+j)
		}
		if _, err := lg.Append(ctx, es); err != nil {
			t.Fatal(err)
		}
		if _, err := lg.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := lg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Run(ctx, s, keys.Verifier, audit.Options{})
	if err != nil || !rep.OK() || rep.Entries != 300 || rep.Checkpoints != 3 {
		t.Fatalf("Run(sqlite) = %d entries, %d checkpoints, %v, %v; want 300, 3, no divergence", rep.Entries, rep.Checkpoints, rep.Divergence, err)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`DROP TRIGGER entries_no_update`,
		`UPDATE entries SET kind = 'span' WHERE idx = 42`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rep, err = audit.Run(ctx, s, keys.Verifier, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `^entry 42: kind column "span" but the leaf says "api_call"$`; rep.Divergence == nil || !regexp.MustCompile(want).MatchString(rep.Divergence.Message) {
		t.Errorf("Run(tampered sqlite) divergence = %v, want %q", rep.Divergence, want)
	}
}

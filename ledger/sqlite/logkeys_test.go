package sqlite

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// TestLogKeyBinding: the first writer records its key, a writer with
// another key is refused naming both, a checkpoint for another log is
// refused by the database, and the table is append-only.
func TestLogKeyBinding(t *testing.T) {
	ctx := t.Context()
	path := newPath(t)
	s := openStore(t, ctx, path)
	signer := func(origin string) *ledger.Signer {
		skey, _, err := ledger.GenerateKey(origin)
		if err != nil {
			t.Fatal(err)
		}
		sg, err := ledger.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		return sg
	}
	a, b, other := signer("example.com/log"), signer("example.com/log"), signer("other.example/log")
	if err := ledger.BindKey(ctx, s, s, a.VerifierKey()); err != nil {
		t.Fatalf("first bind: %v", err)
	}
	err := ledger.BindKey(ctx, s, s, b.VerifierKey())
	if !errors.Is(err, ledger.ErrWrongKey) || !strings.Contains(err.Error(), a.VerifierKey()) || !strings.Contains(err.Error(), b.VerifierKey()) {
		t.Fatalf("bind another key: %v; want ErrWrongKey naming both keys", err)
	}
	l, err := ledger.Open(s, ledger.Config{Signer: other, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, []ledger.Entry{testEntry(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(ctx); err == nil || !strings.Contains(err.Error(), "not for this log") {
		t.Errorf("checkpoint for another log: %v; want the database to refuse it", err)
	}
	l.Close(ctx)
	db := rawDB(t, path)
	for _, q := range []string{"UPDATE log_keys SET verifier_key = 'x'", "DELETE FROM log_keys"} {
		if _, err := db.ExecContext(ctx, q); err == nil {
			t.Errorf("%s succeeded on the append-only log_keys", q)
		}
	}
}

package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

func newSigner(t *testing.T, origin string) *ledger.Signer {
	t.Helper()
	skey, _, err := ledger.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// appendAndSign appends one entry with a Log that was opened without
// binding its key, as a writer started before a rotation would be, and
// returns the error of signing a checkpoint over it.
func appendAndSign(t *testing.T, s ledger.Store, signer *ledger.Signer, n int) error {
	t.Helper()
	l, err := ledger.Open(s, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(t.Context())
	e := ledger.Entry{Kind: ledger.KindSpan, TraceID: strings.Repeat("ab", 16), SpanID: fmt.Sprintf("%016x", n),
		Name: "step", Start: time.Unix(int64(n), 0).UTC(), End: time.Unix(int64(n), 1).UTC()}
	if _, err := l.Append(t.Context(), []ledger.Entry{e}); err != nil {
		t.Fatal(err)
	}
	_, err = l.Checkpoint(t.Context())
	return err
}

// TestLogKeyBinding: the first writer records its key; a writer with
// another key is refused by BindKey, and the database refuses its
// checkpoints even if it never asked; the log's own key goes on.
func TestLogKeyBinding(t *testing.T) {
	s, _ := openStore(t)
	ctx := t.Context()
	a, b := newSigner(t, "example.com/log"), newSigner(t, "example.com/log")
	if err := ledger.BindKey(ctx, s, s, a.VerifierKey()); err != nil {
		t.Fatalf("first bind: %v", err)
	}
	if err := ledger.BindKey(ctx, s, s, a.VerifierKey()); err != nil {
		t.Fatalf("bind the same key again: %v", err)
	}
	err := ledger.BindKey(ctx, s, s, b.VerifierKey())
	if !errors.Is(err, ledger.ErrWrongKey) || !strings.Contains(err.Error(), a.VerifierKey()) || !strings.Contains(err.Error(), b.VerifierKey()) {
		t.Fatalf("bind another key: %v; want ErrWrongKey naming both keys", err)
	}
	if err := appendAndSign(t, s, b, 1); err == nil || !strings.Contains(err.Error(), "not signed by the log's current key") {
		t.Fatalf("checkpoint by another key: %v; want the database to refuse it", err)
	}
	if err := appendAndSign(t, s, newSigner(t, "other.example/log"), 2); err == nil || !strings.Contains(err.Error(), "is not for log") {
		t.Fatalf("checkpoint for another log: %v; want the database to refuse it", err)
	}
	if err := appendAndSign(t, s, a, 3); err != nil {
		t.Fatalf("checkpoint by the log's key: %v", err)
	}
	keys, err := s.LogKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].VerifierKey != a.VerifierKey() || keys[0].Origin != "example.com/log" {
		t.Fatalf("LogKeys = %+v, %v", keys, err)
	}
	if err := s.AddLogKey(ctx, ledger.LogKey{Seq: 2, Origin: "example.com/log", VerifierKey: b.VerifierKey(), Time: time.Now()}); err == nil {
		t.Error("a log key numbered with a gap was recorded")
	}
	if err := s.AddLogKey(ctx, ledger.LogKey{Seq: 1, Origin: "other.example/log", VerifierKey: newSigner(t, "other.example/log").VerifierKey(), Time: time.Now()}); err == nil {
		t.Error("a key for another log was recorded")
	}
}

// TestBindKeyChecksExistingCheckpoints: a database whose checkpoints
// predate key binding is bound only to the key that signed them.
func TestBindKeyChecksExistingCheckpoints(t *testing.T) {
	s, _ := openStore(t)
	a, b := newSigner(t, "example.com/log"), newSigner(t, "example.com/log")
	if err := appendAndSign(t, s, a, 1); err != nil {
		t.Fatal(err)
	}
	if err := ledger.BindKey(t.Context(), s, s, b.VerifierKey()); !errors.Is(err, ledger.ErrWrongKey) {
		t.Fatalf("bind a key that did not sign the stored checkpoints: %v; want ErrWrongKey", err)
	}
	if err := ledger.BindKey(t.Context(), s, s, a.VerifierKey()); err != nil {
		t.Fatalf("bind the key that signed them: %v", err)
	}
}

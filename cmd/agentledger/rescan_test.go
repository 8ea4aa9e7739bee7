package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// TestRescanCmd stores content with a secret that older rules missed (a DigitalOcean
// token, before dop_v1_ was a known prefix), finds it with rescan, and erases it with
// rescan --erase through an erasure entry.
func TestRescanCmd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n, err := openNode(dir, "example.com/rescan", true)
	if err != nil {
		t.Fatal(err)
	}
	token := "dop_v1_" + strings.Repeat("0123456789abcdef", 4)
	store, err := openStore(t.Context(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(store, ledger.Config{Signer: n.signer})
	if err != nil {
		t.Fatal(err)
	}
	var entries []ledger.Entry
	for i, text := range []string{"I will call the API with " + token + " now.", "Nothing secret here: the build passed."} {
		entries = append(entries, ledger.Entry{Kind: ledger.KindSpan, TraceID: fmt.Sprintf("%032x", 7), SpanID: fmt.Sprintf("%016x", i+1),
			Name: "tool", Start: time.Unix(1_700_000_000, 0).UTC(), Content: []ledger.Content{ledger.NewContent("output", []byte(text))}})
	}
	idx, err := l.Append(t.Context(), entries)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	store.Close()

	out, _, err := run(t, newRescanCmd(), "--data-dir", dir)
	if err != nil {
		t.Fatalf("rescan = %v\n%s", err, out)
	}
	fp := secrets.Fingerprint(n.secret, token)
	wantMatch(t, "rescan output", out, fmt.Sprintf(`entry %d content "output": 1 secret\(s\), rules digitalocean: %s`, idx[0].Index, fp))
	wantMatch(t, "rescan output", out, `content scanned: 2; with secrets the current rules find: 1`)
	if strings.Contains(out, token) {
		t.Errorf("rescan printed the secret:\n%s", out)
	}

	if _, _, err := run(t, newRescanCmd(), "--data-dir", dir, "--erase"); err == nil || !strings.Contains(err.Error(), "--actor and --reason") {
		t.Errorf("rescan --erase without an actor = %v, want an error", err)
	}
	out, _, err = run(t, newRescanCmd(), "--data-dir", dir, "--erase", "--actor", "alice@example.com", "--reason", "INC-1: dop_v1_ rule")
	if err != nil {
		t.Fatalf("rescan --erase = %v\n%s", err, out)
	}
	wantMatch(t, "rescan --erase output", out, `erased 1 piece\(s\) of content by erasure entry 2`)

	store, err = openStore(t.Context(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	recs, err := store.Records(t.Context(), 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || len(recs[0].Content) != 0 || len(recs[1].Content) != 1 || recs[2].Kind != ledger.KindErasure {
		t.Fatalf("after rescan --erase: %d entries, content %d and %d, last %s; want the first's content erased by an erasure entry",
			len(recs), len(recs[0].Content), len(recs[1].Content), recs[len(recs)-1].Kind)
	}
	out, _, err = run(t, newRescanCmd(), "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	wantMatch(t, "rescan after the erasure", out, `content scanned: 1; with secrets the current rules find: 0`)

	if _, _, err := run(t, newRescanCmd(), "--data-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no ledger.secret") {
		t.Errorf("rescan of an empty data dir = %v, want an error", err)
	}
}

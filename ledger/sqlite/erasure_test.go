package sqlite

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// TestErasureLeavesNoBytes checks that erased content is gone from the
// bytes of the database file and its write-ahead log once Erase returns,
// and after a clean shutdown, while content that was not erased is still
// there.
func TestErasureLeavesNoBytes(t *testing.T) {
	path := newPath(t)
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := ledger.GenerateKey("example.com/erasure")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(s, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	erased, kept := marker(t, "erased"), marker(t, "kept")
	var es []ledger.Entry
	for i := range 20 {
		e := testEntry(uint64(i))
		e.Content = []ledger.Content{ledger.NewContent("input.messages", kept)}
		if i == 19 { // the last row written, nearest the free space of its page
			e.Content = []ledger.Content{ledger.NewContent("input.messages", erased)}
		}
		es = append(es, e)
	}
	idx, err := l.Append(t.Context(), es)
	if err != nil {
		t.Fatal(err)
	}
	if !filesContain(t, path, erased) {
		t.Fatalf("the content to erase is not in the files before the erasure: the scan is broken")
	}
	if _, err := l.Erase(t.Context(), []ledger.ContentRef{{Index: idx[19].Index}}, "admin:test", "test"); err != nil {
		t.Fatal(err)
	}
	if filesContain(t, path, erased) {
		t.Errorf("erased content is in the database files after Erase returned")
	}
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if filesContain(t, path, erased) {
		t.Errorf("erased content is in the database files after a clean shutdown")
	}
	if !filesContain(t, path, kept) {
		t.Errorf("content that was not erased is not in the database files")
	}
}

// marker returns unique content to look for in the database files.
func marker(t *testing.T, what string) []byte {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	return []byte(what + " prompt " + hex.EncodeToString(b))
}

// filesContain reports whether the database file at path, its write-ahead
// log or its journal holds b.
func filesContain(t *testing.T, path string, b []byte) bool {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-journal"} {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, b) {
			t.Logf("%s holds %q", p, b)
			return true
		}
	}
	return false
}

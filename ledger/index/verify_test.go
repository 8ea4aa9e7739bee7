package index_test

import (
	"math/rand/v2"
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/index/indextest"
)

// TestVerifyMalformedRange checks that an answer whose list range holds a
// hash of the wrong size is refused, not a panic of the verifier.
func TestVerifyMalformedRange(t *testing.T) {
	s := openSQLite(t)
	l := openLog(t, s)
	if _, err := l.Append(t.Context(), indextest.Entries(rand.New(rand.NewPCG(15, 16)), 0, 200)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := newIndexer(t, s).Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	k := ledger.Ref{Key: ledger.RefTarget, Value: "api0.example.com"}
	full, err := index.Lookup(t.Context(), s, k, 0)
	if err != nil || full.Count < 8 {
		t.Fatalf("Lookup(%s) = %d entries, %v; want 8 or more", k, full.Count, err)
	}
	const since = 7 // a range of three hashes
	p, err := index.Lookup(t.Context(), s, k, since)
	if err != nil {
		t.Fatal(err)
	}
	known := index.Known{Count: since}
	for i := range p.Range {
		for _, n := range []int{index.HashSize - 1, index.HashSize + 1} {
			bad := *p
			bad.Range = append([][]byte(nil), p.Range...)
			bad.Range[i] = make([]byte, n)
			if _, err := bad.Verify(verifierKey, k, known); err == nil {
				t.Errorf("Verify(range hash %d of %d bytes) = nil error", i, n)
			}
		}
	}
}

package index

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/agentledger/agentledger/ledger"
)

// TestLabel checks that Label is SHA-256 of "<name>:<value>" for short and
// long values, and that a short key's label costs no allocation.
func TestLabel(t *testing.T) {
	for _, k := range []ledger.Ref{
		{Key: ledger.RefTrace, Value: "4bf92f3577b34da6a3ce929d0e0e4736"},
		{Key: ledger.RefTarget, Value: strings.Repeat("a", ledger.MaxRefValue)},
	} {
		if got, want := Label(k), sha256.Sum256([]byte(k.Key+":"+k.Value)); got != want {
			t.Errorf("Label(%.40s) = %x, want %x", k, got, want)
		}
	}
	k := ledger.Ref{Key: ledger.RefCredential, Value: "cred-1"}
	if n := testing.AllocsPerRun(100, func() { Label(k) }); n != 0 {
		t.Errorf("Label allocates %v times, want 0", n)
	}
}

// TestListMatchesCompactRange checks List, the list's own compact range,
// against transparency-dev/merkle's compact.Range over the same leaves:
// the same root and range at every size, and the same after a list is
// read back from its stored range and appended to.
func TestListMatchesCompactRange(t *testing.T) {
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	want := rf.NewEmptyRange(0)
	l := NewList()
	for i := range uint64(300) {
		leaf := ListLeaf(i * 7)
		if err := want.Append(leaf[:], nil); err != nil {
			t.Fatal(err)
		}
		l.Append(i * 7)
		root, err := want.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Root(); !bytes.Equal(got[:], root) {
			t.Fatalf("size %d: root %x, want %x", i+1, got, root)
		}
		if got, want := l.Range(), bytes.Join(want.Hashes(), nil); !bytes.Equal(got, want) {
			t.Fatalf("size %d: range %x, want %x", i+1, got, want)
		}
		back, err := ListFromRange(l.Size(), l.Range())
		if err != nil {
			t.Fatalf("size %d: ListFromRange: %v", i+1, err)
		}
		back.Append(1, 2, 3)
		more := NewList()
		for j := range i + 1 {
			more.Append(j * 7)
		}
		more.Append(1, 2, 3)
		if back.Root() != more.Root() || !bytes.Equal(back.Range(), more.Range()) {
			t.Fatalf("size %d: a list read back and appended to differs from one built whole", i+1)
		}
	}
}

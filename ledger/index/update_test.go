package index

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index/indextest"
)

// records is a recordReader of prepared records, from index 0.
type records []ledger.Record

func (rs records) Records(_ context.Context, start, end uint64) ([]ledger.Record, error) {
	return rs[start:end], nil
}

// TestEachKey checks that eachKey hands over the keys each leaf carries
// (ledger.IndexKeys of the decoded leaf), in index order, and refuses a
// leaf that does not match its stored leaf hash.
func TestEachKey(t *testing.T) {
	es := indextest.Entries(rand.New(rand.NewPCG(13, 14)), 0, 300)
	recs, err := ledger.PrepareRecords(es)
	if err != nil {
		t.Fatal(err)
	}
	rs := make(records, len(recs))
	var want []RefAt
	for i := range recs {
		rs[i] = ledger.Record{Index: uint64(i), Leaf: recs[i].Leaf, LeafHash: ledger.LeafHash(recs[i].Leaf)}
		d, err := ledger.DecodeLeaf(recs[i].Leaf)
		if err != nil {
			t.Fatal(err)
		}
		if i >= 5 {
			for _, k := range ledger.IndexKeys(&d.Entry) {
				want = append(want, RefAt{Ref: k, Index: uint64(i)})
			}
		}
	}
	var got []RefAt
	collect := func(k ledger.Ref, idx uint64) { got = append(got, RefAt{Ref: k, Index: idx}) }
	if err := eachKey(t.Context(), rs, 5, uint64(len(rs)), collect); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("eachKey gave %d keys, want %d: %v", len(got), len(want), got[:min(len(got), 8)])
	}

	rs[200].LeafHash[0] ^= 1
	if err := eachKey(t.Context(), rs, 5, uint64(len(rs)), func(ledger.Ref, uint64) {}); !errors.Is(err, ledger.ErrCorrupt) {
		t.Fatalf("eachKey(a leaf not matching its hash) = %v, want ledger.ErrCorrupt", err)
	}
}

package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index/indextest"
)

// TestFedKeysAreLeafKeys checks what the feed relies on: the index keys
// among the refs ledger.PrepareRecords makes of an entry are the keys the
// leaf it encodes carries (ledger.IndexKeys of the decoded leaf).
func TestFedKeysAreLeafKeys(t *testing.T) {
	es := indextest.Entries(rand.New(rand.NewPCG(11, 12)), 0, 400)
	es = append(es,
		ledger.Entry{Kind: ledger.KindSpan, Source: "github", EventKey: "e1", Name: "audit", Start: time.Unix(1, 0).UTC(),
			Attrs: []ledger.Attr{{Key: ledger.AttrServiceName, Value: "svc"}, {Key: ledger.AttrServiceNamespace, Value: "ns"},
				{Key: ledger.AttrConversationID, Value: "conv"}, {Key: ledger.AttrCredentialFingerprint, Value: " a\tb  a "}}},
		ledger.Entry{Kind: ledger.KindAccess, EventKey: "e2", Name: "read", Start: time.Unix(2, 0).UTC()},
	)
	recs, err := ledger.PrepareRecords(es)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		d, err := ledger.DecodeLeaf(recs[i].Leaf)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := indexRefs(recs[i].Refs), ledger.IndexKeys(&d.Entry); !slices.Equal(got, want) {
			t.Fatalf("entry %d: fed keys %v, the leaf carries %v", i, got, want)
		}
	}
}

func fedRecs(first uint64, n int) []ledger.Record {
	recs := make([]ledger.Record, n)
	for i := range recs {
		idx := first + uint64(i)
		recs[i] = ledger.Record{Index: idx, Refs: []ledger.Ref{{Key: ledger.RefTrace, Value: fmt.Sprint(idx)}, {Key: ledger.RefKind, Value: "span"}}}
	}
	return recs
}

// TestFeed checks which entries a feed holds: consecutive runs in any
// order of arrival, forgotten once indexed or beyond maxFed.
func TestFeed(t *testing.T) {
	var f feed
	f.add(fedRecs(10, 5))  // [10, 15)
	f.add(fedRecs(20, 5))  // [20, 25)
	f.add(fedRecs(15, 3))  // [15, 18), arriving late
	f.add(fedRecs(16, 3))  // overlaps: ignored
	f.add(fedRecs(100, 0)) // nothing
	tests := []struct {
		from, to uint64
		held     int
		next     uint64
	}{
		{0, 30, 0, 10},
		{10, 30, 5, 30}, // one run at a time
		{15, 30, 3, 30},
		{12, 14, 2, 14},
		{18, 30, 0, 20},
		{18, 19, 0, 19},
		{22, 30, 3, 30},
		{25, 30, 0, 30},
	}
	for _, tt := range tests {
		keys, next := f.take(tt.from, tt.to)
		if len(keys) != tt.held || (tt.held == 0 && next != tt.next) {
			t.Errorf("take(%d, %d) = %d entries, next %d; want %d, %d", tt.from, tt.to, len(keys), next, tt.held, tt.next)
		}
		for i, ks := range keys {
			if want := []ledger.Ref{{Key: ledger.RefTrace, Value: fmt.Sprint(tt.from + uint64(i))}}; !slices.Equal(ks, want) {
				t.Errorf("take(%d, %d)[%d] = %v, want %v", tt.from, tt.to, i, ks, want)
			}
		}
	}
	f.drop(13)
	if keys, next := f.take(12, 30); len(keys) != 0 || next != 13 {
		t.Errorf("after drop(13): take(12, 30) = %d entries, next %d; want 0, 13", len(keys), next)
	}
	if f.n != 2+3+5 {
		t.Errorf("after drop(13): %d entries held, want 10", f.n)
	}
	f.add(fedRecs(1000, maxFed))
	if keys, next := f.take(20, 30); len(keys) != 0 || next != 30 || f.n != maxFed {
		t.Errorf("beyond maxFed: take(20, 30) = %d entries, next %d, %d held; want the oldest forgotten", len(keys), next, f.n)
	}
}

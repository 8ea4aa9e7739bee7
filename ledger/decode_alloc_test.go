package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// TestDecodeLeafAllocations checks that decoding a leaf allocates a few
// times, not once per string: the leaf copied once as a string, the
// decoded leaf, its attributes and its commitments.
func TestDecodeLeafAllocations(t *testing.T) {
	e := ledger.Entry{Kind: ledger.KindLLM, TraceID: fmt.Sprintf("%032x", 1), SpanID: fmt.Sprintf("%016x", 2), Name: "chat",
		Start: time.Unix(1_700_000_000, 0).UTC()}
	for i := range 12 {
		e.Attrs = append(e.Attrs, ledger.Attr{Key: fmt.Sprintf("attr.%02d", i), Value: fmt.Sprintf("value %d", i)})
	}
	e.Content = []ledger.Content{ledger.NewContent("input", []byte("hello")), ledger.NewContent("output", []byte("hi"))}
	leaf, err := ledger.EncodeLeaf(&e)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ledger.DecodeLeaf(leaf)
	if err != nil || len(d.Entry.Attrs) != 12 || d.Entry.Attrs[11].Value != "value 11" || len(d.Commitments) != 2 {
		t.Fatalf("DecodeLeaf = %+v, %v", d, err)
	}
	if n := testing.AllocsPerRun(100, func() { ledger.DecodeLeaf(leaf) }); n > 4 {
		t.Errorf("DecodeLeaf allocates %v times, want at most 4", n)
	}
}

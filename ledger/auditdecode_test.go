package ledger

import (
	"testing"
	"time"
)

func benchEntry() Entry {
	return Entry{
		Kind: KindSpan, Source: SourceAgent, TraceID: "0000000000000000000000000000002a", SpanID: "000000000000002b",
		Name: "step 42", Start: time.Unix(1_700_000_000, 123_456_789).UTC(), End: time.Unix(1_700_000_001, 0).UTC(),
		Attrs: []Attr{{Key: "n", Value: "42"}, {Key: AttrCredentialID, Value: "cred-1"}},
	}
}

// BenchmarkDecodeLeafString decodes one leaf in place, as the audit does.
func BenchmarkDecodeLeafString(b *testing.B) {
	e := benchEntry()
	leaf, err := EncodeLeaf(&e)
	if err != nil {
		b.Fatal(err)
	}
	s := string(leaf)
	var d DecodedLeaf
	for b.Loop() {
		if err := DecodeLeafString(&d, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDedupKey computes one entry's dedup key, as the audit does for
// every entry.
func BenchmarkDedupKey(b *testing.B) {
	e := benchEntry()
	for b.Loop() {
		e.DedupKey()
	}
}

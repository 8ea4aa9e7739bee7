package ledger

import (
	"strings"
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

// TestPlainASCII checks plainASCII against checkString's rule, with a NUL
// or a non-ASCII byte at every position of strings of up to 20 bytes.
func TestPlainASCII(t *testing.T) {
	for n := range 21 {
		s := strings.Repeat("a~", n)[:n]
		if !plainASCII(s) {
			t.Errorf("plainASCII(%q) = false, want true", s)
		}
		for i := range n {
			for _, c := range []byte{0, 0x7f, 0x80, 0xff} {
				b := []byte(s)
				b[i] = c
				if got, want := plainASCII(string(b)), c == 0x7f; got != want {
					t.Errorf("plainASCII(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPrepareRecordsMatchesTwoPass checks that the one-pass encoder of
// PrepareRecords and EncodeLeaf writes the bytes of the two-pass one
// (Validate, then encode) and refuses what it refuses, with the same
// sentinel.
func TestPrepareRecordsMatchesTwoPass(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, SaltSize)
	base := Entry{
		Kind: KindTool, Source: SourceAgent, Submitter: "spiffe://example.org/agent",
		TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", ParentSpanID: "00f067aa0ba902b7",
		EventKey: "ev", Name: "execute_tool refund", Start: time.Unix(1700000000, 5), End: time.Unix(1700000001, 0),
		Attrs:   []Attr{{"z.last", "1"}, {"a.first", "2"}, {"m.mid", "ü"}},
		Content: []Content{{Name: "tool.result", Salt: salt, Data: []byte("r")}, {Name: "tool.arguments", Salt: salt, Data: []byte("a")}},
	}
	with := func(f func(e *Entry)) Entry {
		e := base
		e.Attrs = append([]Attr(nil), base.Attrs...)
		e.Content = append([]Content(nil), base.Content...)
		f(&e)
		return e
	}
	tests := []struct {
		name string
		e    Entry
	}{
		{"full", base},
		{"bare", Entry{Kind: KindSpan}},
		{"duplicate attribute", with(func(e *Entry) { e.Attrs = append(e.Attrs, Attr{"a.first", "3"}) })},
		{"empty attribute name", with(func(e *Entry) { e.Attrs = append(e.Attrs, Attr{"", "3"}) })},
		{"NUL in value", with(func(e *Entry) { e.Attrs[1].Value = "a\x00b" })},
		{"bad UTF-8 in name", with(func(e *Entry) { e.Attrs[1].Key = "a\xff" })},
		{"value too long", with(func(e *Entry) { e.Attrs[0].Value = strings.Repeat("x", MaxLeafSize+1) })},
		{"leaf too long", with(func(e *Entry) {
			e.Attrs = append(e.Attrs, Attr{"b", strings.Repeat("x", 40000)}, Attr{"c", strings.Repeat("y", 40000)})
		})},
		{"32 attributes", with(func(e *Entry) { e.Attrs = manyAttrs(32) })},
		{"40 attributes", with(func(e *Entry) { e.Attrs = manyAttrs(40) })},
		{"duplicate among 20 attributes", with(func(e *Entry) { e.Attrs = append(manyAttrs(20), Attr{"a07", "x"}) })},
		{"duplicate among 40 attributes", with(func(e *Entry) { e.Attrs = append(manyAttrs(40), Attr{"a07", "x"}) })},
		{"prefix names", with(func(e *Entry) {
			e.Attrs = []Attr{{"ab", "1"}, {"a", "2"}, {"abc", "3"}, {"a\u00ff", "4"}, {"a\x7f", "5"}}
		})},
		{"duplicate content", with(func(e *Entry) { e.Content = append(e.Content, e.Content[0]) })},
		{"short salt", with(func(e *Entry) { e.Content[0].Salt = salt[:3] })},
		{"bad kind", with(func(e *Entry) { e.Kind = "nope" })},
		{"bad trace ID", with(func(e *Entry) { e.TraceID = "XYZ" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := twoPassLeaf(&tt.e)
			got, err := EncodeLeaf(&tt.e)
			recs, recErr := PrepareRecords([]Entry{tt.e})
			for _, sentinel := range []error{ErrInvalid, ErrTooLarge} {
				if errors.Is(err, sentinel) != errors.Is(wantErr, sentinel) || errors.Is(recErr, sentinel) != errors.Is(wantErr, sentinel) {
					t.Fatalf("EncodeLeaf = %v, PrepareRecords = %v, want %v", err, recErr, wantErr)
				}
			}
			if (err == nil) != (wantErr == nil) || (recErr == nil) != (wantErr == nil) {
				t.Fatalf("EncodeLeaf = %v, PrepareRecords = %v, want %v", err, recErr, wantErr)
			}
			if wantErr != nil {
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("EncodeLeaf = %x, want %x", got, want)
			}
			r := recs[0]
			if !bytes.Equal(r.Leaf, want) || r.LeafHash != LeafHash(want) || r.DedupKey != tt.e.DedupKey() {
				t.Errorf("PrepareRecords = leaf %x hash %x key %x, want %x, %x, %x", r.Leaf, r.LeafHash, r.DedupKey, want, LeafHash(want), tt.e.DedupKey())
			}
		})
	}
}

// manyAttrs returns n attributes with distinct names, in an order far
// from sorted.
func manyAttrs(n int) []Attr {
	attrs := make([]Attr, n)
	for i := range attrs {
		k := (i*7 + 3) % n
		attrs[i] = Attr{Key: fmt.Sprintf("a%02d", k), Value: strconv.Itoa(i)}
	}
	return attrs
}

// twoPassLeaf is EncodeLeaf as it was: Validate, then encode.
func twoPassLeaf(e *Entry) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	cs := make([]Commitment, len(e.Content))
	for i, c := range e.Content {
		cs[i] = Commitment{Name: c.Name, Hash: c.Commitment()}
	}
	return encode(e, cs, LeafVersion)
}

// TestPrepareRecordsLeavesAreSeparate checks that the leaves sharing one
// buffer do not overlap, also when the buffer grows.
func TestPrepareRecordsLeavesAreSeparate(t *testing.T) {
	var entries []Entry
	for i := range 50 {
		entries = append(entries, Entry{Kind: KindSpan, EventKey: strings.Repeat("k", i*40)})
	}
	// Past the first estimate of the buffer's size, leaves both larger
	// and smaller than those before.
	for i := range 300 {
		entries = append(entries, Entry{Kind: KindSpan, EventKey: strings.Repeat("k", (i*997)%3000)})
	}
	recs, err := PrepareRecords(entries)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		want, err := EncodeLeaf(&entries[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Leaf, want) || cap(r.Leaf) != len(r.Leaf) {
			t.Errorf("record %d: leaf %d bytes (cap %d), want %d bytes", i, len(r.Leaf), cap(r.Leaf), len(want))
		}
	}
}

// TestValidString checks validString against checkString on strings of
// every length up to 24 with a NUL, a non-ASCII byte, a two-byte
// character or a truncated one at every place.
func TestValidString(t *testing.T) {
	for n := range 25 {
		plain := strings.Repeat("a", n)
		cases := []string{plain}
		for i := range n {
			for _, odd := range []string{"\x00", "\x80", "\xff", "é", "\xc3", "\x01", "\x7f"} {
				cases = append(cases, plain[:i]+odd+plain[i+1:])
			}
		}
		for _, s := range cases {
			if got, want := validString(s), checkString("s", s) == nil; got != want {
				t.Errorf("validString(%q) = %v, want %v", s, got, want)
			}
		}
	}
}

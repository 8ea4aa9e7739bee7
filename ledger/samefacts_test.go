package ledger

import (
	"testing"
	"time"
)

// TestSameFacts compares leaves of one dedup key: a changed attribute or
// time is another fact, but an attestation's time window, which each
// export of its trace sets from its own spans, is not.
func TestSameFacts(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	base := func(kind Kind) Entry {
		return Entry{Kind: kind, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", EventKey: "k", Name: "n",
			Start: t0, End: t0.Add(time.Second), Attrs: []Attr{{Key: "service.name", Value: "deploy-bot"}}}
	}
	later := func(e Entry) Entry { e.Start, e.End = e.Start.Add(time.Minute), e.End.Add(time.Minute); return e }
	otherAttr := func(e Entry) Entry { e.Attrs = []Attr{{Key: "service.name", Value: "other"}}; return e }
	tests := []struct {
		name     string
		stored   Entry
		delivers Entry
		same     bool
	}{
		{"identical span", base(KindSpan), base(KindSpan), true},
		{"span at another time", base(KindSpan), later(base(KindSpan)), false},
		{"span with another attribute", base(KindSpan), otherAttr(base(KindSpan)), false},
		{"attestation of a later export", base(KindAttestation), later(base(KindAttestation)), true},
		{"attestation with another attribute", base(KindAttestation), otherAttr(base(KindAttestation)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := EncodeLeaf(&tt.stored)
			if err != nil {
				t.Fatal(err)
			}
			b, err := EncodeLeaf(&tt.delivers)
			if err != nil {
				t.Fatal(err)
			}
			if got := sameFacts(a, b); got != tt.same {
				t.Errorf("sameFacts = %v, want %v", got, tt.same)
			}
		})
	}
}

package query

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/agentledger/agentledger/ledger"
)

// memReader is an in-memory ledger.Reader of entries, for unit tests of
// the linking that need more entries than a real store fills quickly.
// Only Find, FindMany and RecordsAt are implemented.
type memReader struct {
	ledger.Reader
	recs  []ledger.Record
	refs  map[ledger.Ref][]uint64
	finds int
}

func newMemReader(t testing.TB, entries []ledger.Entry) *memReader {
	t.Helper()
	m := &memReader{refs: make(map[ledger.Ref][]uint64)}
	for i := range entries {
		e := &entries[i]
		leaf, err := ledger.EncodeLeaf(e)
		if err != nil {
			t.Fatal(err)
		}
		idx := uint64(len(m.recs))
		m.recs = append(m.recs, ledger.Record{Index: idx, Leaf: leaf, LeafHash: ledger.LeafHash(leaf), Kind: e.Kind, TraceID: e.TraceID, Content: e.Content})
		for _, r := range ledger.RefsOf(e) {
			m.refs[r] = append(m.refs[r], idx)
		}
	}
	return m
}

func (m *memReader) Find(_ context.Context, ref ledger.Ref, from uint64, limit int) ([]uint64, error) {
	m.finds++
	all := m.refs[ref]
	i, _ := slices.BinarySearch(all, from)
	return slices.Clone(all[i:min(len(all), i+limit)]), nil
}

func (m *memReader) FindMany(_ context.Context, qs []ledger.FindQuery) ([]ledger.Found, error) {
	out := make([]ledger.Found, len(qs))
	for i, q := range qs {
		m.finds++
		all := m.refs[q.Ref]
		j, _ := slices.BinarySearch(all, q.From)
		examined := all[j:min(len(all), j+max(q.Limit, 0))]
		for _, idx := range examined {
			if len(q.Kinds) == 0 || slices.Contains(q.Kinds, m.recs[idx].Kind) {
				out[i].Indices = append(out[i].Indices, idx)
			}
		}
		if q.Limit > 0 && len(examined) == q.Limit {
			out[i].More, out[i].Next = true, examined[len(examined)-1]+1
		}
	}
	return out, nil
}

func (m *memReader) RecordsAt(_ context.Context, idx []uint64) ([]ledger.Record, error) {
	var out []ledger.Record
	for _, i := range idx {
		if i < uint64(len(m.recs)) {
			out = append(out, m.recs[i])
		}
	}
	return out, nil
}

// TestCredentialEventsBeyondScan finds the events of a credential named by
// more entries than are read to find them.
func TestCredentialEventsBeyondScan(t *testing.T) {
	var entries []ledger.Entry
	event := func(op string) ledger.Entry {
		return ledger.Entry{Kind: ledger.KindCredential, TraceID: traceA, SpanID: span(traceA, len(entries)+1), EventKey: "credential." + op,
			Name: "credential." + op, Start: epoch, Attrs: []ledger.Attr{{Key: "credential.id", Value: "busy"}, {Key: "credential.operation", Value: op}}}
	}
	entries = append(entries, event("issue"))
	for i := range eventScan + 500 {
		entries = append(entries, ledger.Entry{Kind: ledger.KindAPICall, TraceID: traceA, SpanID: span(traceA, i+2), Name: "GET", Start: epoch,
			Attrs: []ledger.Attr{{Key: "credential.id", Value: "busy"}}})
		if i == eventScan+100 {
			entries = append(entries, event("revoke"))
		}
	}
	m := newMemReader(t, entries)
	cr, err := credentialEvents(t.Context(), newFetcher(m), "busy")
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range cr.events {
		ops = append(ops, operation(n))
	}
	if fmt.Sprint(ops) != "[issue revoke]" || cr.truncated || cr.complete {
		t.Errorf("credentialEvents = %v, truncated %v, complete %v; want [issue revoke], false, false", ops, cr.truncated, cr.complete)
	}
}

// TestPaginateScanLimit checks that a listing stops after MaxScan entries
// with a cursor, and that the cursor continues where it stopped.
func TestPaginateScanLimit(t *testing.T) {
	m := &memReader{refs: map[ledger.Ref][]uint64{}}
	ref := ledger.Ref{Key: "k", Value: "v"}
	for i := range uint64(MaxScan + 300) {
		m.refs[ref] = append(m.refs[ref], i)
	}
	entries := make([]ledger.Entry, MaxScan+300)
	for i := range entries {
		entries[i] = ledger.Entry{Kind: ledger.KindSpan, TraceID: traceA, SpanID: span(traceA, i+1), Name: "s"}
	}
	entries[MaxScan+200].Kind = ledger.KindLLM
	mr := newMemReader(t, entries)
	mr.refs[ref] = m.refs[ref]
	want := func(n *node) verdict {
		if n.e.Kind == ledger.KindLLM {
			return take
		}
		return skip
	}
	f := newFetcher(mr)
	p, err := paginate(t.Context(), f, &refStream{f: f, ref: ref}, 10, want)
	if err != nil || len(p.nodes) != 0 || !p.more || p.next != MaxScan {
		t.Fatalf("first page = %d nodes, more %v, next %d, %v; want none, more from %d", len(p.nodes), p.more, p.next, err, MaxScan)
	}
	p, err = paginate(t.Context(), f, &refStream{f: f, ref: ref, from: p.next}, 10, want)
	if err != nil || len(p.nodes) != 1 || p.nodes[0].index() != MaxScan+200 || p.more {
		t.Errorf("second page = %d nodes, more %v, %v; want entry %d and the end", len(p.nodes), p.more, err, MaxScan+200)
	}
}

// TestPaginateKindsScanLimit checks a listing of a ref's entries of one
// kind: pages of the limit with a cursor at the next entry of the kind,
// and a stop with a cursor after MaxScan entries examined.
func TestPaginateKindsScanLimit(t *testing.T) {
	ref := ledger.Ref{Key: "k", Value: "v"}
	n := MaxScan + kindBatch + 300
	entries := make([]ledger.Entry, n)
	want := []int{3, 7, 8, 50, MaxScan + kindBatch + 200}
	for i := range entries {
		entries[i] = ledger.Entry{Kind: ledger.KindSpan, TraceID: traceA, SpanID: span(traceA, i+1), Name: "s"}
		if slices.Contains(want, i) {
			entries[i].Kind = ledger.KindAgent
		}
	}
	mr := newMemReader(t, entries)
	for i := range uint64(n) {
		mr.refs[ref] = append(mr.refs[ref], i)
	}
	agents := func(n *node) verdict {
		if n.e.Kind == ledger.KindAgent {
			return take
		}
		return skip
	}
	var got []uint64
	var cursors []uint64
	cursor := uint64(0)
	for page := 0; page < 10; page++ {
		f := newFetcher(mr)
		p, err := paginate(t.Context(), f, &refStream{f: f, ref: ref, kinds: []ledger.Kind{ledger.KindAgent}, from: cursor}, 2, agents)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range p.nodes {
			got = append(got, n.index())
		}
		if !p.more {
			break
		}
		cursor = p.next
		cursors = append(cursors, cursor)
	}
	if fmt.Sprint(got) != "[3 7 8 50 14296]" || fmt.Sprint(cursors) != "[8 12296]" {
		t.Errorf("pages = %v with cursors %v; want [3 7 8 50 14296] with cursors [8 12296]", got, cursors)
	}
}

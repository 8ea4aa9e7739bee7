package query

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// node is a decoded entry: the record as stored and the entry its leaf
// encodes, with the content still present that matches its commitment.
type node struct {
	rec *ledger.Record
	e   *ledger.Entry
	cms []ledger.Commitment
	// failing names the stored content that fails its commitment, or has
	// none; it is left out of e.Content, so that it is never served.
	failing []string
}

// decode decodes rec. A leaf that does not match its hash, or does not
// decode, fails with ErrCorrupt; content that fails its commitment is
// only set aside in failing, so that one bad piece of content does not
// take down the answers that hold its entry.
func decode(rec *ledger.Record) (*node, error) {
	bare := *rec
	bare.Content = nil
	e, cms, err := bare.Decode()
	if err != nil {
		return nil, err
	}
	n := &node{rec: rec, e: e, cms: cms}
	for _, c := range rec.Content {
		i := slices.IndexFunc(cms, func(cm ledger.Commitment) bool { return cm.Name == c.Name })
		if i < 0 || c.Commitment() != cms[i].Hash {
			n.failing = append(n.failing, c.Name)
			continue
		}
		e.Content = append(e.Content, c)
	}
	return n, nil
}

func (n *node) index() uint64 { return n.rec.Index }

func (n *node) attr(key string) string {
	v, _ := n.e.Attr(key)
	return v
}

// before orders nodes by start time, entries of unknown time last, then by
// index.
func (n *node) before(m *node) bool {
	a, b := n.e.Start, m.e.Start
	switch {
	case a.IsZero() != b.IsZero():
		return b.IsZero()
	case !a.Equal(b):
		return a.Before(b)
	}
	return n.index() < m.index()
}

func sortNodes(ns []*node) {
	slices.SortFunc(ns, func(a, b *node) int {
		switch {
		case a == b:
			return 0
		case a.before(b):
			return -1
		}
		return 1
	})
}

// hasRef reports whether n carries ref, as the stores index it.
func (n *node) hasRef(ref ledger.Ref) bool {
	switch ref.Key {
	case ledger.RefKind:
		return string(n.e.Kind) == ref.Value
	case ledger.RefTrace:
		return n.e.TraceID == ref.Value
	}
	return slices.Contains(ledger.RefsOf(n.e), ref)
}

// fetchBatch bounds the indices one RecordsAt call reads.
const fetchBatch = 1000

// fetcher reads and decodes entries for one request, and keeps those it
// read, so that an answer never reads an entry twice. It is safe for
// concurrent use.
type fetcher struct {
	r     entryReader
	mu    sync.Mutex
	cache map[uint64]*node
	// found keeps the answers of FindMany lookups, by findKey.
	found map[string]cachedFind
	// creds keeps the credentialRefs of each credential looked up.
	creds map[string]*credentialRefs
}

// entryReader is what a fetcher reads: entries by index, and the indices
// of the entries that carry a reference, one lookup or several at once.
type entryReader interface {
	RecordsAt(ctx context.Context, indices []uint64) ([]ledger.Record, error)
	Find(ctx context.Context, ref ledger.Ref, from uint64, limit int) ([]uint64, error)
	FindMany(ctx context.Context, qs []ledger.FindQuery) ([]ledger.Found, error)
}

func newFetcher(r entryReader) *fetcher {
	return &fetcher{r: r, cache: make(map[uint64]*node), found: make(map[string]cachedFind), creds: make(map[string]*credentialRefs)}
}

// findKey identifies a lookup in the fetcher's cache, but for its limit.
func findKey(q ledger.FindQuery) string {
	return fmt.Sprintf("%q %q %v %d", q.Ref.Key, q.Ref.Value, q.Kinds, q.From)
}

// cachedFind is an answer of the fetcher's cache, and the limit it was
// asked with.
type cachedFind struct {
	found ledger.Found
	limit int
}

// cached answers q from an earlier lookup of the same ref, kinds and
// start, asked with the same limit or, without kinds, a larger one.
// f.mu must be held.
func (f *fetcher) cached(q ledger.FindQuery) (ledger.Found, bool) {
	if q.Limit <= 0 {
		return ledger.Found{}, true
	}
	c, ok := f.found[findKey(q)]
	switch {
	case !ok:
		return ledger.Found{}, false
	case q.Limit == c.limit || q.Limit > c.limit && !c.found.More:
		return c.found, true
	case len(q.Kinds) > 0 || q.Limit > c.limit:
		return ledger.Found{}, false
	case len(c.found.Indices) < q.Limit:
		return c.found, true
	}
	idx := c.found.Indices[:q.Limit]
	return ledger.Found{Indices: idx, More: true, Next: idx[len(idx)-1] + 1}, true
}

// findMany answers qs, in order, with one FindMany for those not asked
// before in this request.
func (f *fetcher) findMany(ctx context.Context, qs []ledger.FindQuery) ([]ledger.Found, error) {
	out := make([]ledger.Found, len(qs))
	var ask []ledger.FindQuery
	var at []int
	f.mu.Lock()
	for i, q := range qs {
		if fd, ok := f.cached(q); ok {
			out[i] = fd
			continue
		}
		ask, at = append(ask, q), append(at, i)
	}
	f.mu.Unlock()
	if len(ask) == 0 {
		return out, nil
	}
	got, err := f.r.FindMany(ctx, ask)
	if err != nil {
		return nil, fail("find", err)
	}
	if len(got) != len(ask) {
		return nil, &internalError{op: "find", err: fmt.Errorf("%d answers to %d lookups", len(got), len(ask))}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for j, i := range at {
		out[i] = got[j]
		k := findKey(ask[j])
		if c, ok := f.found[k]; !ok || c.limit < ask[j].Limit {
			f.found[k] = cachedFind{found: got[j], limit: ask[j].Limit}
		}
	}
	return out, nil
}

// fetch returns the entries at indices, in the order given, skipping
// indices beyond the tree. Each entry's leaf hash and content are checked
// against its leaf (see decode).
func (f *fetcher) fetch(ctx context.Context, indices []uint64) ([]*node, error) {
	f.mu.Lock()
	var missing []uint64
	for _, i := range indices {
		if _, ok := f.cache[i]; !ok {
			missing = append(missing, i)
		}
	}
	f.mu.Unlock()
	slices.Sort(missing)
	missing = slices.Compact(missing)
	for len(missing) > 0 {
		chunk := missing[:min(len(missing), fetchBatch)]
		missing = missing[len(chunk):]
		recs, err := f.r.RecordsAt(ctx, chunk)
		if err != nil {
			return nil, fail("read entries", err)
		}
		decoded := make([]*node, len(recs))
		for i := range recs {
			n, err := decode(&recs[i])
			if err != nil {
				return nil, &internalError{op: "decode entry", err: err}
			}
			decoded[i] = n
		}
		f.mu.Lock()
		for _, n := range decoded {
			f.cache[n.index()] = n
		}
		f.mu.Unlock()
	}
	out := make([]*node, 0, len(indices))
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, i := range indices {
		if n, ok := f.cache[i]; ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// find returns up to limit indices ≥ from of entries that carry ref.
func (f *fetcher) find(ctx context.Context, ref ledger.Ref, from uint64, limit int) ([]uint64, error) {
	f.mu.Lock()
	fd, ok := f.cached(ledger.FindQuery{Ref: ref, From: from, Limit: limit})
	f.mu.Unlock()
	if ok {
		return fd.Indices, nil
	}
	idx, err := f.r.Find(ctx, ref, from, limit)
	if err != nil {
		return nil, fail("find "+ref.Key, err)
	}
	return idx, nil
}

// findAll looks up up to limit indices of each of refs in one FindMany
// and returns the results in the order of refs.
func (f *fetcher) findAll(ctx context.Context, refs []ledger.Ref, limit int) ([][]uint64, error) {
	qs := make([]ledger.FindQuery, len(refs))
	for i, ref := range refs {
		qs[i] = ledger.FindQuery{Ref: ref, Limit: limit}
	}
	found, err := f.findMany(ctx, qs)
	if err != nil {
		return nil, err
	}
	out := make([][]uint64, len(refs))
	for i, fd := range found {
		out[i] = fd.Indices
	}
	return out, nil
}

// stream yields ascending ledger indices.
type stream interface {
	next(ctx context.Context) (uint64, bool, error)
}

// streamBatch is how many indices a refStream asks a Find for at once.
const streamBatch = 256

// kindBatch is how many entries a refStream with kinds examines per
// lookup, through the index alone.
const kindBatch = 4096

// refStream yields the indices of the entries that carry ref, from a
// starting index on; with kinds, only those of the entries of those kinds,
// in lookups of kindBatch entries examined, none after MaxScan entries
// were.
type refStream struct {
	f     *fetcher
	ref   ledger.Ref
	kinds []ledger.Kind
	from  uint64
	buf   []uint64
	done  bool
	// examined counts the entries a stream with kinds examined; cut is
	// true when it stopped after MaxScan of them, before from.
	examined int
	cut      bool
}

func (s *refStream) next(ctx context.Context) (uint64, bool, error) {
	for len(s.buf) == 0 {
		if s.done {
			return 0, false, nil
		}
		if len(s.kinds) > 0 {
			if err := s.findKinds(ctx); err != nil {
				return 0, false, err
			}
			continue
		}
		idx, err := s.f.find(ctx, s.ref, s.from, streamBatch)
		if err != nil {
			return 0, false, err
		}
		s.buf, s.done = idx, len(idx) < streamBatch
		if len(idx) == 0 {
			return 0, false, nil
		}
		s.from = idx[len(idx)-1] + 1
	}
	i := s.buf[0]
	s.buf = s.buf[1:]
	return i, true, nil
}

// findKinds reads the next batch of a stream with kinds.
func (s *refStream) findKinds(ctx context.Context) error {
	if s.examined >= MaxScan {
		s.done, s.cut = true, true
		return nil
	}
	found, err := s.f.findMany(ctx, []ledger.FindQuery{{Ref: s.ref, Kinds: s.kinds, From: s.from, Limit: kindBatch}})
	if err != nil {
		return err
	}
	fd := found[0]
	s.buf, s.done, s.examined = fd.Indices, !fd.More, s.examined+kindBatch
	if fd.More {
		s.from = fd.Next
	}
	return nil
}

// resumeAt reports where a listing of st continues when st stopped before
// its end (a refStream with kinds that examined MaxScan entries).
func resumeAt(st stream) (uint64, bool) {
	if s, ok := st.(*refStream); ok && s.cut {
		return s.from, true
	}
	return 0, false
}

// unionStream yields every index any of its streams yields, once.
type unionStream struct {
	parts []stream
	heads []uint64
	ok    []bool
	init  bool
}

func newUnion(parts ...stream) *unionStream {
	return &unionStream{parts: parts, heads: make([]uint64, len(parts)), ok: make([]bool, len(parts))}
}

func (u *unionStream) next(ctx context.Context) (uint64, bool, error) {
	if !u.init {
		u.init = true
		for i, p := range u.parts {
			var err error
			if u.heads[i], u.ok[i], err = p.next(ctx); err != nil {
				return 0, false, err
			}
		}
	}
	var best uint64
	found := false
	for i := range u.parts {
		if u.ok[i] && (!found || u.heads[i] < best) {
			best, found = u.heads[i], true
		}
	}
	if !found {
		return 0, false, nil
	}
	for i, p := range u.parts {
		if u.ok[i] && u.heads[i] == best {
			var err error
			if u.heads[i], u.ok[i], err = p.next(ctx); err != nil {
				return 0, false, err
			}
		}
	}
	return best, true, nil
}

// rangeStream yields every index in [from, end).
type rangeStream struct{ from, end uint64 }

func (s *rangeStream) next(context.Context) (uint64, bool, error) {
	if s.from >= s.end {
		return 0, false, nil
	}
	s.from++
	return s.from - 1, true, nil
}

// verdict is what a pager's accept function decides about an entry.
type verdict int

const (
	skip verdict = iota // not wanted; go on
	take                // wanted; go on
	stop                // not taken; the page ends before it
)

// page is one page of a listing.
type page struct {
	nodes []*node
	// next is where the listing continues, valid when more is true.
	next uint64
	more bool
}

// paginate reads the entries st yields, in batches, and keeps those
// accept takes, until limit are taken, accept says stop, st ends or
// MaxScan entries were examined. The page's next index is where a
// following page starts.
func paginate(ctx context.Context, f *fetcher, st stream, limit int, accept func(*node) verdict) (page, error) {
	var p page
	scanned := 0
	for {
		var pending []uint64
		for len(pending) < streamBatch && scanned < MaxScan {
			i, ok, err := st.next(ctx)
			if err != nil {
				return p, err
			}
			if !ok {
				break
			}
			pending = append(pending, i)
			scanned++
		}
		if len(pending) == 0 {
			p.next, p.more = resumeAt(st)
			return p, nil
		}
		nodes, err := f.fetch(ctx, pending)
		if err != nil {
			return p, err
		}
		for _, n := range nodes {
			if len(p.nodes) == limit {
				p.next, p.more = n.index(), true
				return p, nil
			}
			switch accept(n) {
			case take:
				p.nodes = append(p.nodes, n)
			case stop:
				p.next, p.more = n.index(), true
				return p, nil
			}
		}
		if len(nodes) < len(pending) {
			return p, nil // the rest is beyond the tree
		}
		if len(p.nodes) == limit || scanned >= MaxScan {
			i, ok, err := st.next(ctx)
			if err != nil {
				return p, err
			}
			if !ok {
				p.next, p.more = resumeAt(st)
				return p, nil
			}
			p.next, p.more = i, true
			return p, nil
		}
	}
}

// refsOf returns the refs of key for each value, skipping empty and
// duplicate values.
func refsOf(key string, values ...string) []ledger.Ref {
	var out []ledger.Ref
	for _, v := range values {
		r := ledger.Ref{Key: key, Value: v}
		if v != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// fields splits a space-separated attribute value.
func fields(s string) []string { return strings.Fields(s) }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

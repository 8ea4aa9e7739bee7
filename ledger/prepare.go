package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentledger/agentledger/internal/ascii"
)

// PrepareRecords returns the records Append writes for entries, Index
// unset: each entry's leaf (validated while it is encoded), leaf hash,
// dedup key, references and content. The leaves share one buffer, so that
// a request's thousand leaves cost one allocation, not a thousand. It
// fails, naming the entry, as EncodeLeaf does.
func PrepareRecords(entries []Entry) ([]Record, error) {
	recs := make([]Record, len(entries))
	var p preparer
	// Most leaves are a few hundred bytes: start with room for them all,
	// and let append grow the buffer past that.
	slab := make([]byte, 0, 512*len(entries))
	for i := range entries {
		e := &entries[i]
		start := len(slab)
		var err error
		if slab, err = p.appendLeaf(slab, e); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		recs[i] = Record{
			Leaf:     slab[start:len(slab):len(slab)],
			LeafHash: p.leaves.Sum(slab[start:]),
			DedupKey: e.DedupKey(),
			Kind:     e.Kind,
			TraceID:  e.TraceID,
			Time:     e.Start,
			Refs:     RefsOf(e),
			Content:  e.Content,
		}
	}
	// A leaf taken before the buffer grew still points into the old one,
	// which append copied: each record's leaf is its own bytes either way.
	return recs, nil
}

// preparer holds what encoding one entry after another reuses.
type preparer struct {
	// order holds the places of an entry's attributes in the order of
	// their names: sorting places rather than the attributes writes no
	// pointers, which cost a write barrier each while the GC runs.
	order []int32
	cs    []Commitment
	h     hash.Hash
	sum   [sha256.Size]byte
	// leaves hashes the leaves.
	leaves LeafHasher
}

// commitment returns c.Commitment(), SHA-256(Salt ‖ Data).
func (p *preparer) commitment(c *Content) [CommitmentSize]byte {
	if p.h == nil {
		p.h = sha256.New()
	}
	p.h.Reset()
	p.h.Write(c.Salt)
	p.h.Write(c.Data)
	// Summing into p's own array, not a local one, keeps the result off
	// the heap: the interface call would make a local array escape.
	p.h.Sum(p.sum[:0])
	return p.sum
}

// sortAttrs sets p.order to the places of attrs sorted by name: by
// insertion for the few dozen attributes of most entries, which saves the
// calls of a comparison function, by slices.SortFunc beyond. Names are
// compared as strings.Compare does, so duplicates end up neighbours.
func (p *preparer) sortAttrs(attrs []Attr) {
	p.order = p.order[:0]
	for i := range attrs {
		p.order = append(p.order, int32(i))
	}
	o := p.order
	if len(o) > 32 {
		slices.SortFunc(o, func(x, y int32) int { return strings.Compare(attrs[x].Key, attrs[y].Key) })
		return
	}
	for i := 1; i < len(o); i++ {
		x := o[i]
		key := attrs[x].Key
		j := i
		for ; j > 0 && attrs[o[j-1]].Key > key; j-- {
			o[j] = o[j-1]
		}
		o[j] = x
	}
}

// appendLeaf appends e's leaf, as EncodeLeaf returns it, to dst. It
// validates e as Entry.Validate does while it encodes, in one pass: the
// attributes sorted once show duplicates as neighbours, and field names
// for error messages are built only when there is an error.
func (p *preparer) appendLeaf(dst []byte, e *Entry) ([]byte, error) {
	if err := e.validateHeader(); err != nil {
		return dst, err
	}
	p.sortAttrs(e.Attrs)
	size := 1 + 2*3 + len(e.Kind) + len(e.Source) + len(e.Submitter)
	for _, s := range [...]string{e.TraceID, e.SpanID, e.ParentSpanID, e.EventKey, e.Name} {
		size += 2 + len(s)
	}
	size += 8 + 8 + 2 + 2
	for i, k := range p.order {
		a := &e.Attrs[k]
		if a.Key == "" {
			return dst, errField("attribute", "empty name")
		}
		if i > 0 && e.Attrs[p.order[i-1]].Key == a.Key {
			return dst, errField("attribute", fmt.Sprintf("duplicate name %q", a.Key))
		}
		if !validString(a.Value) {
			return dst, checkString("attribute "+a.Key, a.Value)
		}
		if !validString(a.Key) {
			return dst, checkString("attribute name", a.Key)
		}
		size += 4 + len(a.Key) + len(a.Value)
	}
	p.cs = p.cs[:0]
	for i, c := range e.Content {
		if c.Name == "" {
			return dst, errField("content", "empty name")
		}
		for _, prev := range e.Content[:i] {
			if prev.Name == c.Name {
				return dst, errField("content", fmt.Sprintf("duplicate name %q", c.Name))
			}
		}
		if !validString(c.Name) {
			return dst, checkString("content name", c.Name)
		}
		if len(c.Salt) != SaltSize {
			return dst, errField("content "+c.Name, fmt.Sprintf("salt of %d bytes, want %d", len(c.Salt), SaltSize))
		}
		p.cs = append(p.cs, Commitment{Name: c.Name, Hash: p.commitment(&e.Content[i])})
		size += 2 + len(c.Name) + CommitmentSize
	}
	slices.SortFunc(p.cs, func(x, y Commitment) int { return strings.Compare(x.Name, y.Name) })
	if len(p.order) > 0xffff || len(p.cs) > 0xffff {
		return dst, fmt.Errorf("%w: more than 65535 attributes or commitments", ErrTooLarge)
	}
	if size > MaxLeafSize {
		return dst, fmt.Errorf("%w: leaf of %d bytes exceeds %d", ErrTooLarge, size, MaxLeafSize)
	}
	b := slices.Grow(dst, size)
	b = append(b, LeafVersion)
	for _, s := range [...]string{string(e.Kind), e.Source, e.Submitter, e.TraceID, e.SpanID, e.ParentSpanID, e.EventKey, e.Name} {
		b = appendString(b, s)
	}
	b = appendTime(b, e.Start)
	b = appendTime(b, e.End)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.order)))
	for _, k := range p.order {
		a := &e.Attrs[k]
		b = appendString(b, a.Key)
		b = appendString(b, a.Value)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.cs)))
	for _, c := range p.cs {
		b = appendString(b, c.Name)
		b = append(b, c.Hash[:]...)
	}
	return b, nil
}

// validString reports whether checkString accepts s. Most strings are
// ASCII without NUL, which ascii.Plain sees eight bytes at a time; any
// other string it checks as checkString does.
func validString(s string) bool {
	if len(s) > MaxLeafSize {
		return false
	}
	return ascii.Plain(s, false) || strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	var n uint64
	if !t.IsZero() {
		n = uint64(t.UnixNano())
	}
	return binary.BigEndian.AppendUint64(b, n)
}

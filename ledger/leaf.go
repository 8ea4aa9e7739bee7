package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"math/bits"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/agentledger/agentledger/internal/ascii"
)

// LeafVersion is the version byte that starts every leaf this code writes.
// DecodeLeaf also reads version 1 leaves, which have no source or
// submitter, so that a ledger begun by older code stays verifiable.
const LeafVersion = 2

// MaxLeafSize is the largest leaf the ledger accepts: C2SP tlog-tiles entry
// bundles prefix each entry with a 16-bit length.
const MaxLeafSize = 65535

// CommitmentSize is the size of a content commitment, a SHA-256 digest.
const CommitmentSize = 32

// SaltSize is the size of the random salt of a content commitment.
const SaltSize = 32

// Commitment is a named content commitment as it appears in a leaf.
type Commitment struct {
	Name string
	Hash [CommitmentSize]byte
}

// EncodeLeaf returns the leaf bytes of e as specified in FORMAT.md. Attributes
// and commitments are sorted by name; e is not modified. It fails with
// ErrInvalid for a malformed entry and ErrTooLarge when the leaf would exceed
// MaxLeafSize.
func EncodeLeaf(e *Entry) ([]byte, error) {
	var p preparer
	leaf, err := p.appendLeaf(nil, e)
	if err != nil {
		return nil, err
	}
	return leaf, nil
}

// Encode returns the leaf bytes of a decoded leaf, in the version it was
// decoded from: DecodeLeaf and Encode are inverses, since every entry has
// exactly one encoding in each version.
func (d *DecodedLeaf) Encode() ([]byte, error) {
	e := d.Entry
	e.Content = nil
	if err := e.Validate(); err != nil {
		return nil, err
	}
	version := d.Version
	if version == 0 {
		version = LeafVersion
	}
	if version == 1 && (e.Source != "" || e.Submitter != "") {
		return nil, errField("source", "a version 1 leaf has no source or submitter")
	}
	seen := make(map[string]bool, len(d.Commitments))
	for _, c := range d.Commitments {
		if c.Name == "" || seen[c.Name] {
			return nil, errField("commitment", fmt.Sprintf("empty or duplicate name %q", c.Name))
		}
		seen[c.Name] = true
		if err := checkString("commitment name", c.Name); err != nil {
			return nil, err
		}
	}
	return encode(&e, d.Commitments, version)
}

func encode(e *Entry, commitments []Commitment, version byte) ([]byte, error) {
	attrs := append([]Attr(nil), e.Attrs...)
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].Key < attrs[j].Key })
	cs := append([]Commitment(nil), commitments...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })

	var b bytes.Buffer
	b.Grow(256)
	b.WriteByte(version)
	putString(&b, string(e.Kind))
	if version >= 2 {
		putString(&b, e.Source)
		putString(&b, e.Submitter)
	}
	for _, s := range []string{e.TraceID, e.SpanID, e.ParentSpanID, e.EventKey, e.Name} {
		putString(&b, s)
	}
	putTime(&b, e.Start)
	putTime(&b, e.End)
	if len(attrs) > 0xffff || len(cs) > 0xffff {
		return nil, fmt.Errorf("%w: more than 65535 attributes or commitments", ErrTooLarge)
	}
	putUint16(&b, len(attrs))
	for _, a := range attrs {
		putString(&b, a.Key)
		putString(&b, a.Value)
	}
	putUint16(&b, len(cs))
	for _, c := range cs {
		putString(&b, c.Name)
		b.Write(c.Hash[:])
	}
	if b.Len() > MaxLeafSize {
		return nil, fmt.Errorf("%w: leaf of %d bytes exceeds %d", ErrTooLarge, b.Len(), MaxLeafSize)
	}
	return b.Bytes(), nil
}

// LeafHash returns the RFC 6962 leaf hash SHA-256(0x00 ‖ leaf).
func LeafHash(leaf []byte) [32]byte {
	var out [32]byte
	copy(out[:], rfc6962.DefaultHasher.HashLeaf(leaf))
	return out
}

// leafPrefix is the RFC 6962 domain separation byte of a leaf hash, in an
// array of its own: a slice literal passed to the digest would be
// allocated at every call.
var leafPrefix = [1]byte{rfc6962.RFC6962LeafHashPrefix}

// LeafHasher computes LeafHash with one digest it reuses, for callers that
// hash many leaves: no allocation per leaf, and the leaf is not copied.
// The zero LeafHasher is ready to use; it is not safe for concurrent use.
type LeafHasher struct {
	h   hash.Hash
	sum [HashSize]byte
}

// Sum returns LeafHash(leaf).
func (lh *LeafHasher) Sum(leaf []byte) [HashSize]byte {
	if lh.h == nil {
		lh.h = sha256.New()
	}
	lh.h.Reset()
	lh.h.Write(leafPrefix[:])
	lh.h.Write(leaf)
	// Summing into lh's own array keeps the result off the heap.
	lh.h.Sum(lh.sum[:0])
	return lh.sum
}

// DecodedLeaf is a leaf parsed back into its parts. Content appears only as
// commitments: the leaf never holds content.
type DecodedLeaf struct {
	// Version is the leaf's version byte: 1 or 2.
	Version     byte
	Entry       Entry // Content is nil
	Commitments []Commitment
}

// DecodeLeaf parses leaf bytes strictly: an unknown version, a truncated
// field, unsorted, duplicate or empty names or trailing bytes are errors
// wrapping ErrInvalid. It reads versions 1 and 2.
func DecodeLeaf(leaf []byte) (*DecodedLeaf, error) {
	d := new(DecodedLeaf)
	if err := DecodeLeafTo(d, leaf); err != nil {
		return nil, err
	}
	return d, nil
}

// DecodeLeafTo is DecodeLeaf into d, reusing the memory of d's attribute
// and commitment slices: for a caller that decodes many leaves one after
// the other, such as an audit. d is overwritten, also on error.
func DecodeLeafTo(d *DecodedLeaf, leaf []byte) error {
	if len(leaf) > MaxLeafSize {
		*d = DecodedLeaf{Entry: Entry{Attrs: d.Entry.Attrs[:0]}, Commitments: d.Commitments[:0]}
		return fmt.Errorf("%w: leaf of %d bytes exceeds %d", ErrInvalid, len(leaf), MaxLeafSize)
	}
	// The leaf's strings are substrings of one copy of it: one allocation
	// per leaf, not one per string.
	return DecodeLeafString(d, string(leaf))
}

// DecodeLeafString is DecodeLeafTo for a leaf held in a string, whose
// substrings the decoded strings are: nothing is copied. A caller that
// decodes many leaves can convert them to one string at once.
func DecodeLeafString(d *DecodedLeaf, leaf string) error {
	attrs, cms := d.Entry.Attrs[:0], d.Commitments[:0]
	*d = DecodedLeaf{Entry: Entry{Attrs: attrs}, Commitments: cms}
	if len(leaf) > MaxLeafSize {
		return fmt.Errorf("%w: leaf of %d bytes exceeds %d", ErrInvalid, len(leaf), MaxLeafSize)
	}
	r := leafReader{s: leaf}
	d.Version = r.byte()
	if r.err == nil && d.Version != 1 && d.Version != 2 {
		return fmt.Errorf("%w: leaf version %d, want 1 or 2", ErrInvalid, d.Version)
	}
	e := &d.Entry
	e.Kind = Kind(r.string())
	if d.Version >= 2 {
		e.Source = r.string()
		e.Submitter = r.string()
	}
	e.TraceID = r.string()
	e.SpanID = r.string()
	e.ParentSpanID = r.string()
	e.EventKey = r.string()
	e.Name = r.string()
	e.Start = r.time()
	e.End = r.time()
	n := r.uint16()
	if r.err == nil && n > 0 {
		if cap(attrs) < n {
			e.Attrs = make([]Attr, 0, min(n, len(r.s)/4))
		}
	}
	for i := 0; i < n && r.err == nil; i++ {
		k, v := r.string(), r.string()
		if k == "" {
			r.fail("empty attribute name")
		} else if i > 0 && k <= e.Attrs[i-1].Key {
			r.fail("attributes not in strictly ascending order at %q", k)
		}
		e.Attrs = append(e.Attrs, Attr{Key: k, Value: v})
	}
	n = r.uint16()
	if r.err == nil && n > 0 {
		if cap(cms) < n {
			d.Commitments = make([]Commitment, 0, min(n, len(r.s)/(2+CommitmentSize)))
		}
	}
	for i := 0; i < n && r.err == nil; i++ {
		c := Commitment{Name: r.string()}
		copy(c.Hash[:], r.take(CommitmentSize))
		if c.Name == "" {
			r.fail("empty commitment name")
		} else if i > 0 && c.Name <= d.Commitments[i-1].Name {
			r.fail("commitments not in strictly ascending order at %q", c.Name)
		}
		d.Commitments = append(d.Commitments, c)
	}
	if r.err == nil && len(r.s) != 0 {
		r.fail("%d trailing bytes", len(r.s))
	}
	if r.err != nil {
		return r.err
	}
	// Every string was checked as it was read (leafReader.string), as
	// validateHeader would check them again.
	return e.checkHeader(false)
}

// Validate checks that e can be encoded: a known kind, hex trace and span
// IDs of the right length, UTF-8 strings without NUL, unique non-empty
// attribute and content names, and 32-byte salts.
func (e *Entry) Validate() error {
	if err := e.validateHeader(); err != nil {
		return err
	}
	seen := make(map[string]bool, len(e.Attrs))
	for _, a := range e.Attrs {
		if a.Key == "" {
			return errField("attribute", "empty name")
		}
		if seen[a.Key] {
			return errField("attribute", fmt.Sprintf("duplicate name %q", a.Key))
		}
		seen[a.Key] = true
		if err := checkString("attribute "+a.Key, a.Value); err != nil {
			return err
		}
		if err := checkString("attribute name", a.Key); err != nil {
			return err
		}
	}
	clear(seen)
	for _, c := range e.Content {
		if c.Name == "" {
			return errField("content", "empty name")
		}
		if seen[c.Name] {
			return errField("content", fmt.Sprintf("duplicate name %q", c.Name))
		}
		seen[c.Name] = true
		if err := checkString("content name", c.Name); err != nil {
			return err
		}
		if len(c.Salt) != SaltSize {
			return errField("content "+c.Name, fmt.Sprintf("salt of %d bytes, want %d", len(c.Salt), SaltSize))
		}
	}
	return nil
}

func (e *Entry) validateHeader() error { return e.checkHeader(true) }

// checkHeader checks what validateHeader does; without strs, not that the
// submitter, event key and name are UTF-8 without NUL (checkString), for a
// caller that checked them already.
func (e *Entry) checkHeader(strs bool) error {
	if !e.Kind.Valid() {
		return errField("kind", fmt.Sprintf("unknown kind %q", e.Kind))
	}
	if e.Source != "" && !isToken(e.Source, 64) {
		return errField("source", "want 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")
	}
	if len(e.Submitter) > MaxSubmitter {
		return errField("submitter", fmt.Sprintf("%d bytes exceeds %d", len(e.Submitter), MaxSubmitter))
	}
	if strs {
		if err := checkString("submitter", e.Submitter); err != nil {
			return err
		}
	}
	if e.TraceID != "" && !isHex(e.TraceID, 32) {
		return errField("trace_id", "want 32 lowercase hex digits")
	}
	if e.SpanID != "" && !isHex(e.SpanID, 16) {
		return errField("span_id", "want 16 lowercase hex digits")
	}
	if e.ParentSpanID != "" && !isHex(e.ParentSpanID, 16) {
		return errField("parent_span_id", "want 16 lowercase hex digits")
	}
	if !strs {
		return nil
	}
	if err := checkString("event_key", e.EventKey); err != nil {
		return err
	}
	return checkString("name", e.Name)
}

func checkString(field, s string) error {
	if len(s) > MaxLeafSize {
		return fmt.Errorf("%w: %s: %d bytes exceeds %d", ErrTooLarge, field, len(s), MaxLeafSize)
	}
	if !utf8.ValidString(s) {
		return errField(field, "invalid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errField(field, "contains NUL")
	}
	return nil
}

// isHex reports whether s is n lowercase hex digits, eight bytes at a time.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for ; len(s) >= 8; s = s[8:] {
		if !hex8(ascii.Word(s)) {
			return false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// hex8 reports whether each of the eight bytes of x is a lowercase hex
// digit. For bytes below 0x80, adding 0x80-k to each sets its high bit
// exactly when it is at least k, without a carry into the next byte.
func hex8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	digits := (x + (0x80-'0')*ones) &^ (x + (0x80-'9'-1)*ones)
	letters := (x + (0x80-'a')*ones) &^ (x + (0x80-'f'-1)*ones)
	return x&highs == 0 && (digits|letters)&highs == highs
}

// isToken reports whether s is 1 to n bytes of a-z, 0-9, '.', '_' and '-'
// that start with a letter or digit.
func isToken(s string, n int) bool {
	if len(s) == 0 || len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func putUint16(b *bytes.Buffer, n int) {
	var x [2]byte
	binary.BigEndian.PutUint16(x[:], uint16(n))
	b.Write(x[:])
}

func putString(b *bytes.Buffer, s string) {
	putUint16(b, len(s))
	b.WriteString(s)
}

func putTime(b *bytes.Buffer, t time.Time) {
	var x [8]byte
	if !t.IsZero() {
		binary.BigEndian.PutUint64(x[:], uint64(t.UnixNano()))
	}
	b.Write(x[:])
}

// leafReader reads the fields of a leaf held in a string.
type leafReader struct {
	// s is the unread end of the leaf.
	s   string
	err error
}

// fail records the first error and drops the unread bytes, so that every
// later read finds none and returns its zero value.
func (r *leafReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: leaf: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	r.s = ""
}

// take returns the next n bytes, "" after an error.
func (r *leafReader) take(n int) string {
	if len(r.s) < n {
		r.fail("truncated")
		return ""
	}
	out := r.s[:n]
	r.s = r.s[n:]
	return out
}

func (r *leafReader) byte() byte {
	if len(r.s) < 1 {
		r.fail("truncated")
		return 0
	}
	b := r.s[0]
	r.s = r.s[1:]
	return b
}

func (r *leafReader) uint16() int {
	if len(r.s) < 2 {
		r.fail("truncated")
		return 0
	}
	n := int(r.s[0])<<8 | int(r.s[1])
	r.s = r.s[2:]
	return n
}

// string reads a length-prefixed string and checks it as checkString
// does, quickly for ASCII without NUL, which most strings are.
func (r *leafReader) string() string {
	rest := r.s
	if len(rest) < 2 {
		r.fail("truncated")
		return ""
	}
	n := int(rest[0])<<8 | int(rest[1])
	rest = rest[2:]
	if len(rest) < n {
		r.fail("truncated")
		return ""
	}
	s := rest[:n]
	r.s = rest[n:]
	if n > 0 && !ascii.Plain(s, false) {
		if err := checkString("string", s); err != nil {
			if r.err == nil {
				r.err = err
			}
			r.s = ""
		}
	}
	return s
}

func (r *leafReader) time() time.Time {
	b := r.take(8)
	if b == "" {
		return time.Time{}
	}
	n := int64(bits.ReverseBytes64(ascii.Word(b))) // big-endian
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

package index

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/transparency-dev/merkle/compact"

	"github.com/agentledger/agentledger/ledger"
)

// HashSize is the size of every hash of the index.
const HashSize = sha256.Size

// Label returns the map label of key: SHA-256 of "<name>:<value>".
func Label(key ledger.Ref) [HashSize]byte {
	// Most keys fit the array: hashing them allocates nothing.
	var buf [128]byte
	return sha256.Sum256(append(append(append(buf[:0], key.Key...), ':'), key.Value...))
}

// LabelBytes returns the Label of the key of name and value given as
// bytes, as a store's rows hold them, without converting them to strings.
func LabelBytes(name, value []byte) [HashSize]byte {
	var buf [128]byte
	return sha256.Sum256(append(append(append(buf[:0], name...), ':'), value...))
}

// ParseKey parses a key "<name>:<value>" (the name has no ':') and checks
// that it names an index key and that the value is one the index holds.
func ParseKey(s string) (ledger.Ref, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok || !ledger.IsIndexKey(name) {
		return ledger.Ref{}, fmt.Errorf("%w: index key %.80q: want <name>:<value> with name trace, credential, credential_parent, fingerprint, agent or target", ledger.ErrInvalid, s)
	}
	if value == "" || len(value) > ledger.MaxRefValue {
		return ledger.Ref{}, fmt.Errorf("%w: index key %.80q: value must be 1 to %d bytes", ledger.ErrInvalid, s, ledger.MaxRefValue)
	}
	return ledger.Ref{Key: name, Value: value}, nil
}

// Value returns the map value of a key whose list has count entries and
// root listRoot: SHA-256(uint64be(count) ‖ listRoot).
func Value(count uint64, listRoot [HashSize]byte) [HashSize]byte {
	var b [8 + HashSize]byte
	binary.BigEndian.PutUint64(b[:8], count)
	copy(b[8:], listRoot[:])
	return sha256.Sum256(b[:])
}

var ranges = &compact.RangeFactory{Hash: rangeHash}

// rangeHash is rfc6962.DefaultHasher.HashChildren (SHA-256(0x01 ‖ l ‖ r))
// of two 32-byte hashes with one allocation, the result's, not three: the
// Indexer appends to a list once per key of every entry.
func rangeHash(l, r []byte) []byte {
	h := hashChildren((*[HashSize]byte)(l), (*[HashSize]byte)(r))
	return h[:]
}

// listLeaf returns the RFC 6962 leaf hash of a list element: SHA-256(0x00 ‖
// uint64be(index)).
func listLeaf(index uint64) []byte {
	h := ListLeaf(index)
	return h[:]
}

// List is the state of one key's list: how many indices it holds and the
// compact range covering them, from which more can be appended.
type List struct {
	cr *compact.Range
}

// NewList returns an empty list.
func NewList() *List { return &List{cr: ranges.NewEmptyRange(0)} }

// ListFromRange returns the list of size entries whose compact range is the
// concatenated hashes of rng, as stored.
func ListFromRange(size uint64, rng []byte) (*List, error) {
	if len(rng)%HashSize != 0 {
		return nil, fmt.Errorf("%w: list range of %d bytes", ledger.ErrCorrupt, len(rng))
	}
	hashes := make([][]byte, 0, len(rng)/HashSize)
	for i := 0; i < len(rng); i += HashSize {
		hashes = append(hashes, rng[i:i+HashSize])
	}
	cr, err := ranges.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("%w: list range: %w", ledger.ErrCorrupt, err)
	}
	return &List{cr: cr}, nil
}

// Append adds ledger indices to the end of the list.
func (l *List) Append(indices ...uint64) {
	for _, i := range indices {
		if err := l.cr.Append(listLeaf(i), nil); err != nil {
			panic(fmt.Sprintf("index: append to list: %v", err)) // a range from 0 always accepts appends
		}
	}
}

// Size returns the number of indices in the list.
func (l *List) Size() uint64 { return l.cr.End() }

// Root returns the RFC 6962 root of the list.
func (l *List) Root() [HashSize]byte {
	var root [HashSize]byte
	if l.cr.End() == 0 {
		return sha256.Sum256(nil)
	}
	h, err := l.cr.GetRootHash(nil)
	if err != nil {
		panic(fmt.Sprintf("index: list root: %v", err)) // a range from 0 has a root
	}
	copy(root[:], h)
	return root
}

// Range returns the concatenated hashes of the list's compact range.
func (l *List) Range() []byte {
	var b []byte
	for _, h := range l.cr.Hashes() {
		b = append(b, h...)
	}
	return b
}

// Value returns the map value of the list.
func (l *List) Value() [HashSize]byte { return Value(l.Size(), l.Root()) }

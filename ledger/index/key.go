package index

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"

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

// List is the state of one key's list: how many indices it holds and the
// compact range covering them, from which more can be appended. The range
// grows in place (pushRange): one allocation per list, none per hash.
type List struct {
	size uint64
	rng  [][HashSize]byte
}

// NewList returns an empty list.
func NewList() *List { return &List{} }

// ListFromRange returns the list of size entries whose compact range is the
// concatenated hashes of rng, as stored.
func ListFromRange(size uint64, rng []byte) (*List, error) {
	return listWithRoom(size, rng, 0)
}

// listWithRoom is ListFromRange with room for more appends without
// reallocating the range: a compact range from 0 of n entries holds at most
// bits.Len64(n) hashes.
func listWithRoom(size uint64, rng []byte, more int) (*List, error) {
	if len(rng)%HashSize != 0 {
		return nil, fmt.Errorf("%w: list range of %d bytes", ledger.ErrCorrupt, len(rng))
	}
	if len(rng) != bits.OnesCount64(size)*HashSize {
		return nil, fmt.Errorf("%w: list range: %d hashes for %d entries, want %d", ledger.ErrCorrupt, len(rng)/HashSize, size, bits.OnesCount64(size))
	}
	l := &List{size: size}
	if n := bits.Len64(size + uint64(more)); n > 0 {
		l.rng = make([][HashSize]byte, 0, n)
		for i := 0; i < len(rng); i += HashSize {
			l.rng = append(l.rng, [HashSize]byte(rng[i:]))
		}
	}
	return l, nil
}

// Append adds ledger indices to the end of the list.
func (l *List) Append(indices ...uint64) {
	for _, i := range indices {
		l.push(ListLeaf(i))
	}
}

// push appends a leaf hash to the list.
func (l *List) push(h [HashSize]byte) {
	l.rng = pushRange(l.rng, l.size, h)
	l.size++
}

// Size returns the number of indices in the list.
func (l *List) Size() uint64 { return l.size }

// Root returns the RFC 6962 root of the list.
func (l *List) Root() [HashSize]byte { return rangeRoot(l.rng) }

// Range returns the concatenated hashes of the list's compact range.
func (l *List) Range() []byte { return concat(l.rng) }

// hashes returns the hashes of the list's compact range, left to right,
// sharing the list's memory.
func (l *List) hashes() [][]byte {
	out := make([][]byte, 0, len(l.rng))
	for i := range l.rng {
		out = append(out, l.rng[i][:])
	}
	return out
}

// Value returns the map value of the list.
func (l *List) Value() [HashSize]byte { return Value(l.Size(), l.Root()) }

package index

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	"github.com/agentledger/agentledger/ledger"
)

// Rebuild recomputes the index in memory from leaves, for audits, monitors
// and tests. Add the entries in index order; MapRoot gives the map root of
// those added so far.
//
// It is built to be cheap per entry: the keys' labels may be computed
// elsewhere (AddKeys, for callers that decode leaves in parallel), each
// list keeps its compact range as fixed-size hashes and appends to it in
// place, and MapRoot inserts into the map only the keys whose lists grew
// since the last call.
type Rebuild struct {
	size uint64
	keys map[[HashSize]byte]*RebuiltKey
	// pending are the keys whose lists grew since the last MapRoot.
	pending []*RebuiltKey
	// mark counts the calls of Mark, from 1 (NewRebuild marks the empty
	// index): a key whose mark is the current one grew since it and saved
	// its state as of it.
	mark uint64
	m    memMap
}

// RebuiltKey is one key of a rebuilt index and its list.
type RebuiltKey struct {
	// Key is the key, unless the rebuild was restored (RestoreRebuild)
	// from states, which name keys by label only.
	Key   ledger.Ref
	Label [HashSize]byte
	// Indices are the indices added to the list by this rebuild: all of
	// them, unless it was restored from states.
	Indices []uint64
	size    uint64
	// rng is the compact range of the list, its hashes left to right.
	rng     [][HashSize]byte
	pending bool
	// mark, markSize and markRng: the list as of the last Mark, saved the
	// first time the list grows after it.
	mark     uint64
	markSize uint64
	markRng  [][HashSize]byte
}

// Size returns the number of indices in the key's list.
func (k *RebuiltKey) Size() uint64 { return k.size }

// Range returns the concatenated hashes of the list's compact range.
func (k *RebuiltKey) Range() []byte { return concat(k.rng) }

// Root returns the RFC 6962 root of the key's list.
func (k *RebuiltKey) Root() [HashSize]byte { return rangeRoot(k.rng) }

// MarkedSize returns the size of the list as of the last Rebuild.Mark of
// rb (zero for a key added since).
func (k *RebuiltKey) MarkedSize(rb *Rebuild) uint64 {
	if k.mark == rb.mark {
		return k.markSize
	}
	return k.Size()
}

// MarkedRange returns the concatenated hashes of the list's compact range
// as of the last Rebuild.Mark of rb.
func (k *RebuiltKey) MarkedRange(rb *Rebuild) []byte {
	if k.mark == rb.mark {
		return concat(k.markRng)
	}
	return k.Range()
}

func concat(hs [][HashSize]byte) []byte {
	b := make([]byte, 0, len(hs)*HashSize)
	for i := range hs {
		b = append(b, hs[i][:]...)
	}
	return b
}

// rangeRoot returns the root of a compact range that starts at 0: its
// hashes folded from the right.
func rangeRoot(hs [][HashSize]byte) [HashSize]byte {
	if len(hs) == 0 {
		return sha256.Sum256(nil)
	}
	h := hs[len(hs)-1]
	for i := len(hs) - 2; i >= 0; i-- {
		h = hashChildren(&hs[i], &h)
	}
	return h
}

// hashChildren returns the RFC 6962 hash of an inner node.
func hashChildren(l, r *[HashSize]byte) [HashSize]byte {
	var b [1 + 2*HashSize]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[1+HashSize:], r[:])
	return sha256.Sum256(b[:])
}

// ListLeaf returns the RFC 6962 leaf hash of a list element: SHA-256(0x00
// ‖ uint64be(index)).
func ListLeaf(index uint64) [HashSize]byte {
	var b [9]byte
	binary.BigEndian.PutUint64(b[1:], index)
	return sha256.Sum256(b[:])
}

// push appends a leaf hash to the key's list.
func (k *RebuiltKey) push(index uint64, leaf [HashSize]byte) {
	k.rng = pushRange(k.rng, k.size, leaf)
	k.size++
	k.Indices = append(k.Indices, index)
}

// pushRange appends the leaf hash h to rng, the compact range from 0 of
// size entries, merging the perfect subtrees h completes, and returns the
// range of size+1 entries.
func pushRange(rng [][HashSize]byte, size uint64, h [HashSize]byte) [][HashSize]byte {
	for s := size; s&1 == 1; s >>= 1 {
		n := len(rng) - 1
		h = hashChildren(&rng[n], &h)
		rng = rng[:n]
	}
	return append(rng, h)
}

// NewRebuild returns an empty rebuild.
func NewRebuild() *Rebuild {
	return &Rebuild{keys: make(map[[HashSize]byte]*RebuiltKey), mark: 1}
}

// Size returns the number of entries added.
func (rb *Rebuild) Size() uint64 { return rb.size }

// AddLeaf adds the entry of the next index, from its leaf bytes.
func (rb *Rebuild) AddLeaf(leaf []byte) error {
	d, err := ledger.DecodeLeaf(leaf)
	if err != nil {
		return fmt.Errorf("entry %d: %w", rb.size, err)
	}
	rb.Add(&d.Entry)
	return nil
}

// Add adds the entry of the next index.
func (rb *Rebuild) Add(e *ledger.Entry) {
	keys := ledger.IndexKeys(e)
	var buf [8][HashSize]byte
	labels := buf[:0]
	for _, k := range keys {
		labels = append(labels, Label(k))
	}
	rb.AddKeys(keys, labels)
}

// AddKeys adds the entry of the next index, given its keys
// (ledger.IndexKeys) and their labels (Label), as a caller that decodes
// leaves in parallel computes them.
func (rb *Rebuild) AddKeys(keys []ledger.Ref, labels [][HashSize]byte) {
	if len(keys) > 0 {
		leaf := ListLeaf(rb.size)
		for i, k := range keys {
			rk := rb.keys[labels[i]]
			if rk == nil {
				rk = &RebuiltKey{Key: k, Label: labels[i]}
				rb.keys[labels[i]] = rk
			}
			if rk.mark != rb.mark {
				rk.mark, rk.markSize, rk.markRng = rb.mark, rk.size, slices.Clone(rk.rng)
			}
			rk.push(rb.size, leaf)
			if !rk.pending {
				rk.pending = true
				rb.pending = append(rb.pending, rk)
			}
		}
	}
	rb.size++
}

// Mark saves the state of every list as it is now (NewRebuild marks the
// empty index), for MarkedSize and MarkedRange: an audit compares the stored lists at the size of the
// latest note while it goes on adding the entries beyond it. Saving is
// lazy: a list is copied only when it next grows.
func (rb *Rebuild) Mark() { rb.mark++ }

// MapRoot returns the map root of the entries added so far.
func (rb *Rebuild) MapRoot() [HashSize]byte {
	for _, k := range rb.pending {
		if err := rb.m.insert(k.Label, Value(k.Size(), k.Root())); err != nil {
			panic(fmt.Sprintf("index: rebuild: %v", err)) // in memory, every node is loaded
		}
		k.pending = false
	}
	rb.pending = rb.pending[:0]
	return rb.m.root()
}

// Key returns the rebuilt key of label, or nil.
func (rb *Rebuild) Key(label [HashSize]byte) *RebuiltKey { return rb.keys[label] }

// Len returns the number of keys rebuilt.
func (rb *Rebuild) Len() int { return len(rb.keys) }

// Keys returns the labels of every rebuilt key, in ascending order.
func (rb *Rebuild) Keys() [][HashSize]byte {
	out := make([][HashSize]byte, 0, len(rb.keys))
	for l := range rb.keys {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b [HashSize]byte) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// Nodes returns the map's nodes as of the last MapRoot, in no particular
// order, as a store holds them.
func (rb *Rebuild) Nodes() []Node { return rb.m.nodes() }

// States returns the state of every key's list, its label, size and
// compact range, in ascending label order: what RestoreRebuild needs to
// continue the rebuild (a monitor keeps it between runs).
func (rb *Rebuild) States() []KeyState {
	out := make([]KeyState, 0, len(rb.keys))
	for _, l := range rb.Keys() {
		k := rb.keys[l]
		out = append(out, KeyState{Label: l, Size: k.size, Range: k.Range()})
	}
	return out
}

// RestoreRebuild returns the rebuild of the first size entries whose keys'
// lists are states, as States returned them, so that adding the entries
// from index size on continues it. The restored keys have no Key and no
// Indices. It fails with ledger.ErrCorrupt if a state is malformed.
func RestoreRebuild(size uint64, states []KeyState) (*Rebuild, error) {
	rb := NewRebuild()
	rb.size = size
	for _, st := range states {
		if st.Size == 0 || st.Size > size || len(st.Range) != bits.OnesCount64(st.Size)*HashSize {
			return nil, fmt.Errorf("%w: key state %x: %d entries with a range of %d bytes", ledger.ErrCorrupt, st.Label, st.Size, len(st.Range))
		}
		if rb.keys[st.Label] != nil {
			return nil, fmt.Errorf("%w: key state %x given twice", ledger.ErrCorrupt, st.Label)
		}
		k := &RebuiltKey{Label: st.Label, size: st.Size, rng: make([][HashSize]byte, len(st.Range)/HashSize)}
		for i := range k.rng {
			copy(k.rng[i][:], st.Range[i*HashSize:])
		}
		rb.keys[st.Label] = k
		k.pending = true
		rb.pending = append(rb.pending, k)
	}
	rb.MapRoot()
	return rb, nil
}

package index

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"filippo.io/torchwood/prefix"

	"github.com/agentledger/agentledger/ledger"
)

// Rebuild recomputes the index in memory from leaves, for audits and
// tests. Add the entries in index order; MapRoot gives the map root of
// those added so far.
type Rebuild struct {
	size    uint64
	keys    map[[HashSize]byte]*RebuiltKey
	pending map[[HashSize]byte]bool
	ov      *overlay
	tree    *prefix.Tree
}

// RebuiltKey is one key of a rebuilt index and its list.
type RebuiltKey struct {
	Key     ledger.Ref
	Indices []uint64
	list    *List
}

// Size returns the number of indices in the key's list.
func (k *RebuiltKey) Size() uint64 { return k.list.Size() }

// Range returns the concatenated hashes of the list's compact range.
func (k *RebuiltKey) Range() []byte { return k.list.Range() }

// NewRebuild returns an empty rebuild.
func NewRebuild() *Rebuild {
	ov := newOverlay(nil)
	if err := prefix.InitStorage(context.Background(), hashFunc, ov); err != nil {
		panic(fmt.Sprintf("index: empty map: %v", err))
	}
	return &Rebuild{
		keys:    make(map[[HashSize]byte]*RebuiltKey),
		pending: make(map[[HashSize]byte]bool),
		ov:      ov,
		tree:    prefix.NewTree(hashFunc, ov),
	}
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
	for _, k := range ledger.IndexKeys(e) {
		l := Label(k)
		rk := rb.keys[l]
		if rk == nil {
			rk = &RebuiltKey{Key: k, list: NewList()}
			rb.keys[l] = rk
		}
		rk.Indices = append(rk.Indices, rb.size)
		rk.list.Append(rb.size)
		rb.pending[l] = true
	}
	rb.size++
}

// MapRoot returns the map root of the entries added so far.
func (rb *Rebuild) MapRoot() [HashSize]byte {
	labels := make([][HashSize]byte, 0, len(rb.pending))
	for l := range rb.pending {
		labels = append(labels, l)
	}
	slices.SortFunc(labels, func(a, b [HashSize]byte) int { return bytes.Compare(a[:], b[:]) })
	ctx := context.Background()
	for _, l := range labels {
		if err := rb.tree.Insert(ctx, l, rb.keys[l].list.Value()); err != nil {
			panic(fmt.Sprintf("index: rebuild: insert: %v", err)) // in memory, labels distinct
		}
	}
	clear(rb.pending)
	clear(rb.ov.dirty)
	return rb.ov.nodes[prefix.RootLabel].Hash
}

// Key returns the rebuilt key of label, or nil.
func (rb *Rebuild) Key(label [HashSize]byte) *RebuiltKey { return rb.keys[label] }

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
func (rb *Rebuild) Nodes() []Node {
	out := make([]Node, 0, len(rb.ov.nodes))
	for _, n := range rb.ov.nodes {
		out = append(out, fromPrefix(n))
	}
	return out
}

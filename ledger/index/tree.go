package index

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"filippo.io/torchwood/prefix"

	"github.com/agentledger/agentledger/ledger"
)

// hashFunc is the map's hash: SHA-256.
func hashFunc(b []byte) [HashSize]byte { return sha256.Sum256(b) }

// EmptyMapRoot returns the root of a map with no keys.
func EmptyMapRoot() [HashSize]byte {
	s := newOverlay(nil)
	if err := prefix.InitStorage(context.Background(), hashFunc, s); err != nil {
		panic(fmt.Sprintf("index: empty map: %v", err))
	}
	return s.nodes[prefix.RootLabel].Hash
}

// idOf returns the NodeID of a label.
func idOf(l prefix.Label) NodeID {
	var id NodeID
	binary.BigEndian.PutUint16(id[:2], uint16(l.BitLen()))
	copy(id[2:], l.Bytes())
	return id
}

// labelOf returns the label a NodeID names.
func labelOf(id NodeID) (prefix.Label, error) {
	l, err := prefix.NewLabel(uint32(binary.BigEndian.Uint16(id[:2])), id[2:])
	if err != nil {
		return prefix.Label{}, fmt.Errorf("%w: map node %x: %w", ledger.ErrCorrupt, id, err)
	}
	return l, nil
}

func isInner(l prefix.Label) bool { return !l.IsLeaf() && l != prefix.EmptyNodeLabel }

func fromPrefix(n *prefix.Node) Node {
	out := Node{ID: idOf(n.Label), Hash: n.Hash, Inner: isInner(n.Label)}
	if out.Inner {
		out.Left, out.Right = idOf(n.Left), idOf(n.Right)
	}
	return out
}

func toPrefix(n Node) (*prefix.Node, error) {
	out := new(prefix.Node)
	if err := toPrefixInto(out, n); err != nil {
		return nil, err
	}
	return out, nil
}

// toPrefixInto is toPrefix into out.
func toPrefixInto(out *prefix.Node, n Node) error {
	l, err := labelOf(n.ID)
	if err != nil {
		return err
	}
	*out = prefix.Node{Label: l, Hash: n.Hash}
	if isInner(l) != n.Inner {
		return fmt.Errorf("%w: map node %s: inner %v", ledger.ErrCorrupt, l, n.Inner)
	}
	if n.Inner {
		if out.Left, err = labelOf(n.Left); err != nil {
			return err
		}
		if out.Right, err = labelOf(n.Right); err != nil {
			return err
		}
	}
	return nil
}

// nodeLoader reads stored nodes (Tx.IndexNodes, Reader.IndexNodes).
type nodeLoader func(ctx context.Context, ids []NodeID) (map[NodeID]Node, error)

// overlay is a prefix.Storage that caches the nodes it loads from the store
// and keeps the nodes the tree stores in memory, to be written in one batch.
type overlay struct {
	load  nodeLoader
	nodes map[prefix.Label]*prefix.Node
	dirty map[prefix.Label]bool
	// absent are the labels the store was asked for and does not hold.
	absent map[prefix.Label]bool
}

func newOverlay(load nodeLoader) *overlay { return newOverlaySize(load, 0) }

// newOverlaySize returns an overlay whose cache is sized for about n nodes,
// so that it does not grow step by step while it loads them.
func newOverlaySize(load nodeLoader, n int) *overlay {
	return &overlay{load: load, nodes: make(map[prefix.Label]*prefix.Node, n), dirty: make(map[prefix.Label]bool),
		absent: make(map[prefix.Label]bool)}
}

// fetch loads the nodes of ids that are not cached, in one call.
func (o *overlay) fetch(ctx context.Context, ids []NodeID) error {
	var want []NodeID
	asked := make(map[prefix.Label]bool, len(ids))
	for _, id := range ids {
		l, err := labelOf(id)
		if err != nil {
			return err
		}
		if _, ok := o.nodes[l]; !ok && !o.absent[l] && !asked[l] {
			asked[l] = true
			want = append(want, id)
		}
	}
	if len(want) == 0 || o.load == nil {
		return nil
	}
	got, err := o.load(ctx, want)
	if err != nil {
		return fmt.Errorf("load map nodes: %w", err)
	}
	// The nodes loaded, in one allocation.
	slab := make([]prefix.Node, len(got))
	i := 0
	for id, n := range got {
		if n.ID != id {
			return fmt.Errorf("%w: map node %x read as %x", ledger.ErrCorrupt, id, n.ID)
		}
		pn := &slab[i]
		i++
		if err := toPrefixInto(pn, n); err != nil {
			return err
		}
		o.nodes[pn.Label] = pn
	}
	for l := range asked {
		if _, ok := o.nodes[l]; !ok {
			o.absent[l] = true
		}
	}
	return nil
}

// Load implements prefix.Storage.
func (o *overlay) Load(ctx context.Context, l prefix.Label) (*prefix.Node, error) {
	if n, ok := o.nodes[l]; ok {
		return n, nil
	}
	if err := o.fetch(ctx, []NodeID{idOf(l)}); err != nil {
		return nil, err
	}
	if n, ok := o.nodes[l]; ok {
		return n, nil
	}
	return nil, prefix.ErrNodeNotFound
}

// Store implements prefix.Storage.
func (o *overlay) Store(_ context.Context, nodes ...*prefix.Node) error {
	for _, n := range nodes {
		o.nodes[n.Label] = n
		o.dirty[n.Label] = true
	}
	return nil
}

// changed returns the nodes stored since the overlay was made.
func (o *overlay) changed() []Node {
	out := make([]Node, 0, len(o.dirty))
	for l := range o.dirty {
		out = append(out, fromPrefix(o.nodes[l]))
	}
	return out
}

// prefetch loads, level by level (one store call per level of the trie),
// every node that inserting labels reads: the root and both children of
// each node on the path to each label. The root's children are loaded even
// with no labels, since memFromOverlay needs them (a step whose entries
// carry no index key still signs the map's root). If the map has no root
// yet, it initialises an empty one. With labels in ascending order, as an
// Indexer's are, the labels whose paths share a node are adjacent: each
// node's children are asked for once.
func (o *overlay) prefetch(ctx context.Context, labels [][HashSize]byte) error {
	if err := o.fetch(ctx, []NodeID{idOf(prefix.RootLabel)}); err != nil {
		return err
	}
	root, ok := o.nodes[prefix.RootLabel]
	if !ok {
		return prefix.InitStorage(ctx, hashFunc, o)
	}
	if err := o.fetch(ctx, []NodeID{idOf(root.Left), idOf(root.Right)}); err != nil {
		return err
	}
	type walk struct {
		target prefix.Label
		at     prefix.Label
	}
	active := make([]walk, 0, len(labels))
	for _, l := range labels {
		active = append(active, walk{target: leafLabel(l), at: prefix.RootLabel})
	}
	for len(active) > 0 {
		next := make([]NodeID, 0, 2*len(active))
		var prev *prefix.Node
		live := active[:0]
		for _, w := range active {
			n, ok := o.nodes[w.at]
			if !ok || !isInner(n.Label) || !w.target.HasPrefix(n.Label) {
				continue
			}
			if n != prev { // labels share the top of their paths
				prev = n
				next = append(next, idOf(n.Left), idOf(n.Right))
			}
			if w.target.SideOf(n.Label) == prefix.Left {
				w.at = n.Left
			} else {
				w.at = n.Right
			}
			live = append(live, w)
		}
		active = live
		if err := o.fetch(ctx, next); err != nil {
			return err
		}
	}
	return nil
}

func leafLabel(l [HashSize]byte) prefix.Label {
	pl, err := prefix.NewLabel(256, l[:])
	if err != nil {
		panic(fmt.Sprintf("index: leaf label: %v", err)) // 32 bytes, 256 bits: always valid
	}
	return pl
}

// prefixIDs returns the ids of every prefix of l, from the root (length 0)
// to l itself.
func prefixIDs(l [HashSize]byte) []NodeID {
	ids := make([]NodeID, 0, 257)
	for n := 0; n <= 256; n++ {
		var id NodeID
		binary.BigEndian.PutUint16(id[:2], uint16(n))
		copy(id[2:], l[:(n+7)/8])
		if n%8 != 0 {
			id[2+n/8] &= byte(0xFF << (8 - n%8))
		}
		ids = append(ids, id)
	}
	return ids
}

// pathReader is a read-only prefix.Storage for lookups: it reads the paths
// to labels and the paths' siblings, usually in two store calls for any
// number of labels.
type pathReader struct {
	*overlay
}

// guessDepth is the label length down to which loadPaths first reads the
// nodes on the paths: a map of n random labels has inner nodes of about
// 2·log2(n) bits at most, so one store call usually reads a whole path.
const guessDepth = 48

// loadPaths reads the paths to labels and the paths' siblings: first the
// nodes whose labels are prefixes of labels down to guessDepth bits, and
// the leaves, in one store call for all labels; then, level by level, the
// children of the path nodes read, usually in one more call.
func (p pathReader) loadPaths(ctx context.Context, labels []prefix.Label) error {
	ids := make([]NodeID, 0, (guessDepth+2)*len(labels))
	for _, label := range labels {
		if !label.IsLeaf() {
			return errors.New("index: load path: not a leaf label")
		}
		var l [HashSize]byte
		copy(l[:], label.Bytes())
		all := prefixIDs(l)
		ids = append(ids, all[:guessDepth+1]...)
		ids = append(ids, all[len(all)-1])
	}
	if err := p.fetch(ctx, ids); err != nil {
		return err
	}
	for {
		var want []NodeID
		for _, label := range labels {
			for at := prefix.RootLabel; ; {
				n, ok := p.nodes[at]
				if !ok && at == prefix.RootLabel {
					return fmt.Errorf("%w: the map has no root", ledger.ErrCorrupt)
				}
				if !ok || !isInner(n.Label) || !label.HasPrefix(n.Label) {
					break // off the path, or not read yet: the next round reads it
				}
				for _, c := range []prefix.Label{n.Left, n.Right} {
					if _, ok := p.nodes[c]; !ok && !p.absent[c] {
						want = append(want, idOf(c))
					}
				}
				if label.SideOf(n.Label) == prefix.Left {
					at = n.Left
				} else {
					at = n.Right
				}
			}
		}
		if len(want) == 0 {
			return nil
		}
		if err := p.fetch(ctx, want); err != nil {
			return err
		}
	}
}

// LoadPath implements the optional prefix.Storage method that Tree.Lookup
// uses, with the semantics of torchwood's own loadPath.
func (p pathReader) LoadPath(ctx context.Context, label prefix.Label) ([]*prefix.Node, error) {
	if err := p.loadPaths(ctx, []prefix.Label{label}); err != nil {
		return nil, err
	}
	var path []*prefix.Node
	node := p.nodes[prefix.RootLabel]
	for node.Label != label {
		if !label.HasPrefix(node.Label) {
			if node.Label != prefix.EmptyNodeLabel {
				path = append(path, node)
			}
			break
		}
		left, right := p.nodes[node.Left], p.nodes[node.Right]
		if left == nil || right == nil {
			return nil, fmt.Errorf("%w: a child of map node %s is missing", ledger.ErrCorrupt, node.Label)
		}
		if label.SideOf(node.Label) == prefix.Left {
			path, node = append(path, right), left
		} else {
			path, node = append(path, left), right
		}
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return path, nil
}

// Store implements prefix.Storage: a lookup never stores.
func (p pathReader) Store(context.Context, ...*prefix.Node) error {
	return errors.New("index: the lookup's map is read-only")
}

// Load implements prefix.Storage. Tree.Lookup first loads the leaf itself:
// that call reads the whole path to it and its siblings (loadPaths), so
// that LoadPath then reads nothing more.
func (p pathReader) Load(ctx context.Context, l prefix.Label) (*prefix.Node, error) {
	if n, ok := p.nodes[l]; ok {
		return n, nil
	}
	if l.IsLeaf() {
		if err := p.loadPaths(ctx, []prefix.Label{l}); err != nil {
			return nil, err
		}
		if n, ok := p.nodes[l]; ok {
			return n, nil
		}
		return nil, prefix.ErrNodeNotFound
	}
	return p.overlay.Load(ctx, l)
}

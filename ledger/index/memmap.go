package index

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"filippo.io/torchwood/prefix"

	"github.com/agentledger/agentledger/ledger"
)

// memMap is the map of a Rebuild: the same compressed binary trie as
// torchwood's prefix.Tree (FORMAT.md), held in memory as linked nodes.
// Inserts only mark the paths they change; root rehashes the marked nodes
// once each, bottom-up, so that a batch of inserts that share the top of
// their paths hashes it once, and each node keeps the hash of its label.
type memMap struct {
	// left and right are the root's children: the subtries of the labels
	// whose first bit is 0 and 1; nil is the empty node.
	left, right *memNode
	hash        [HashSize]byte
	dirty       bool
	// marked counts the nodes marked since the last rehash, for the
	// changed list of rootChanged to be allocated once.
	marked int
}

// memNode is a leaf (no children) or an inner node of a memMap.
type memNode struct {
	bits  int // label length: 256 for a leaf
	label [HashSize]byte
	// labelHash is SHA-256(uint32be(bits) ‖ label), once hasLabelHash.
	labelHash    [HashSize]byte
	hasLabelHash bool
	value        [HashSize]byte // of a leaf
	hash         [HashSize]byte
	left, right  *memNode
	dirty        bool
	// stub says the node's children are not loaded (an Indexer's map holds
	// only the paths it changes and their siblings): its hash is known.
	stub bool
}

func (n *memNode) lh() *[HashSize]byte {
	if !n.hasLabelHash {
		n.labelHash, n.hasLabelHash = labelHash(n.bits, n.label), true
	}
	return &n.labelHash
}

var (
	emptyLabel    = [HashSize]byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	rootLabelHash = labelHash(0, [HashSize]byte{})
	emptyNodeHash = func() [HashSize]byte {
		lh := labelHash(0, emptyLabel)
		return nodeHashOf(nodeHashOf(sha256.Sum256([]byte{0}), &lh), &lh)
	}()
)

func labelHash(n int, label [HashSize]byte) [HashSize]byte {
	var b [4 + HashSize]byte
	binary.BigEndian.PutUint32(b[:4], uint32(n))
	copy(b[4:], label[:])
	return sha256.Sum256(b[:])
}

// nodeHashOf returns SHA-256(value ‖ labelHash).
func nodeHashOf(value [HashSize]byte, labelHash *[HashSize]byte) [HashSize]byte {
	var b [2 * HashSize]byte
	copy(b[:], value[:])
	copy(b[HashSize:], labelHash[:])
	return sha256.Sum256(b[:])
}

func pairHash(l, r *[HashSize]byte) [HashSize]byte {
	var b [2 * HashSize]byte
	copy(b[:], l[:])
	copy(b[HashSize:], r[:])
	return sha256.Sum256(b[:])
}

func bitOf(l *[HashSize]byte, i int) int { return int(l[i/8]>>(7-i%8)) & 1 }

// commonBits returns the length of the common prefix of a and b, at most
// n bits.
func commonBits(a, b *[HashSize]byte, n int) int {
	for i := range HashSize {
		if x := a[i] ^ b[i]; x != 0 {
			return min(8*i+bits.LeadingZeros8(x), n)
		}
	}
	return n
}

func prefixOf(l [HashSize]byte, n int) [HashSize]byte {
	var p [HashSize]byte
	copy(p[:(n+7)/8], l[:])
	if n%8 != 0 {
		p[n/8] &= byte(0xFF << (8 - n%8))
	}
	return p
}

func newMemNode(n int, label [HashSize]byte) *memNode {
	return &memNode{bits: n, label: label, dirty: true}
}

// errNotLoaded is insert's error for a path through a node whose children
// are not loaded.
var errNotLoaded = errors.New("index: the map node on the path is not loaded")

// insert sets the value of label.
func (m *memMap) insert(label, value [HashSize]byte) error {
	m.dirty = true
	slot := &m.left
	if bitOf(&label, 0) == 1 {
		slot = &m.right
	}
	for {
		n := *slot
		if n == nil {
			leaf := newMemNode(256, label)
			leaf.value = value
			*slot = leaf
			m.marked++
			return nil
		}
		c := commonBits(&n.label, &label, n.bits)
		if c == n.bits {
			if n.bits == 256 { // the leaf of label
				m.mark(n)
				n.stub = false
				n.value = value
				return nil
			}
			if n.stub {
				return errNotLoaded
			}
			m.mark(n)
			if bitOf(&label, n.bits) == 0 {
				slot = &n.left
			} else {
				slot = &n.right
			}
			continue
		}
		leaf := newMemNode(256, label)
		leaf.value = value
		parent := newMemNode(c, prefixOf(label, c))
		if bitOf(&label, c) == 0 {
			parent.left, parent.right = leaf, n
		} else {
			parent.left, parent.right = n, leaf
		}
		*slot = parent
		m.marked += 2
		return nil
	}
}

// mark marks n for rehashing.
func (m *memMap) mark(n *memNode) {
	if !n.dirty {
		n.dirty = true
		m.marked++
	}
}

// rehash recomputes the hashes of the marked nodes under n, and appends
// them to changed if it is not nil.
func (n *memNode) rehash(changed *[]Node) {
	if !n.dirty {
		return
	}
	n.dirty = false
	if n.bits == 256 {
		n.hash = nodeHashOf(n.value, n.lh())
	} else {
		n.left.rehash(changed)
		n.right.rehash(changed)
		n.hash = nodeHashOf(pairHash(&n.left.hash, &n.right.hash), n.lh())
	}
	if changed != nil {
		*changed = append(*changed, n.node())
	}
}

// node returns the node as a store holds it.
func (n *memNode) node() Node {
	nd := Node{ID: memID(n.bits, n.label), Hash: n.hash}
	if n.bits < 256 {
		nd.Inner, nd.Left, nd.Right = true, childID(n.left), childID(n.right)
	}
	return nd
}

func childHash(n *memNode, changed *[]Node) [HashSize]byte {
	if n == nil {
		return emptyNodeHash
	}
	n.rehash(changed)
	return n.hash
}

// root returns the map's root hash.
func (m *memMap) root() [HashSize]byte { return m.rootChanged(nil) }

// rootChanged returns the map's root hash, and appends the nodes it
// rehashed (the root among them) to changed if it is not nil.
func (m *memMap) rootChanged(changed *[]Node) [HashSize]byte {
	if m.left == nil && m.right == nil {
		return nodeHashOf(sha256.Sum256([]byte{0}), &rootLabelHash)
	}
	if m.dirty {
		if changed != nil {
			*changed = slices.Grow(*changed, m.marked+1)
		}
		m.marked = 0
		l, r := childHash(m.left, changed), childHash(m.right, changed)
		m.hash = nodeHashOf(pairHash(&l, &r), &rootLabelHash)
		m.dirty = false
		if changed != nil {
			*changed = append(*changed, m.rootNode())
		}
	}
	return m.hash
}

func (m *memMap) rootNode() Node {
	return Node{ID: memID(0, [HashSize]byte{}), Hash: m.hash, Inner: true, Left: childID(m.left), Right: childID(m.right)}
}

// memFromOverlay returns the part of the map ov holds: from the root, each
// inner node whose two children ov holds is expanded, and any other node a
// stub of known hash. ov must hold the root.
func memFromOverlay(ov *overlay) (*memMap, error) {
	root, ok := ov.nodes[prefix.RootLabel]
	if !ok {
		return nil, fmt.Errorf("%w: the map has no root", ledger.ErrCorrupt)
	}
	// The nodes converted, in one allocation: at most one per node held.
	slab := make([]memNode, 0, len(ov.nodes))
	var conv func(pn *prefix.Node) (*memNode, error)
	conv = func(pn *prefix.Node) (*memNode, error) {
		slab = append(slab, memNode{bits: int(pn.Label.BitLen()), hash: pn.Hash})
		n := &slab[len(slab)-1]
		copy(n.label[:], pn.Label.Bytes())
		if n.bits == 256 {
			return n, nil
		}
		l, lok := ov.nodes[pn.Left]
		r, rok := ov.nodes[pn.Right]
		if !lok || !rok {
			n.stub = true
			return n, nil
		}
		if pn.Left == prefix.EmptyNodeLabel || pn.Right == prefix.EmptyNodeLabel {
			return nil, fmt.Errorf("%w: map node %s has an empty child", ledger.ErrCorrupt, pn.Label)
		}
		var err error
		if n.left, err = conv(l); err != nil {
			return nil, err
		}
		if n.right, err = conv(r); err != nil {
			return nil, err
		}
		return n, nil
	}
	// child converts a child of the root, nil for the empty node.
	child := func(l prefix.Label) (*memNode, error) {
		if l == prefix.EmptyNodeLabel {
			return nil, nil
		}
		pn, ok := ov.nodes[l]
		if !ok {
			return nil, fmt.Errorf("index: map node %s is not loaded", l)
		}
		return conv(pn)
	}
	m := &memMap{hash: root.Hash}
	var err error
	if m.left, err = child(root.Left); err != nil {
		return nil, err
	}
	if m.right, err = child(root.Right); err != nil {
		return nil, err
	}
	return m, nil
}

func memID(n int, label [HashSize]byte) NodeID {
	var id NodeID
	binary.BigEndian.PutUint16(id[:2], uint16(n))
	copy(id[2:], label[:])
	return id
}

var emptyID = memID(0, emptyLabel)

func childID(n *memNode) NodeID {
	if n == nil {
		return emptyID
	}
	return memID(n.bits, n.label)
}

// nodes returns every node of the map, as a store holds them (the empty
// node included), after the last root.
func (m *memMap) nodes() []Node {
	out := []Node{{ID: emptyID, Hash: emptyNodeHash}}
	out = append(out, Node{ID: memID(0, [HashSize]byte{}), Hash: m.root(), Inner: true, Left: childID(m.left), Right: childID(m.right)})
	var walk func(n *memNode)
	walk = func(n *memNode) {
		if n == nil {
			return
		}
		if n.bits < 256 {
			walk(n.left)
			walk(n.right)
		}
		out = append(out, n.node())
	}
	walk(m.left)
	walk(m.right)
	return out
}

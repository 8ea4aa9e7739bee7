package index

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
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
}

// memNode is a leaf (no children) or an inner node of a memMap.
type memNode struct {
	bits        int // label length: 256 for a leaf
	label       [HashSize]byte
	labelHash   [HashSize]byte // SHA-256(uint32be(bits) ‖ label)
	value       [HashSize]byte // of a leaf
	hash        [HashSize]byte
	left, right *memNode
	dirty       bool
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
	return &memNode{bits: n, label: label, labelHash: labelHash(n, label), dirty: true}
}

// insert sets the value of label.
func (m *memMap) insert(label, value [HashSize]byte) {
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
			return
		}
		c := commonBits(&n.label, &label, n.bits)
		if c == n.bits {
			n.dirty = true
			if n.bits == 256 { // the leaf of label
				n.value = value
				return
			}
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
		return
	}
}

// rehash recomputes the hashes of the marked nodes under n.
func (n *memNode) rehash() {
	if !n.dirty {
		return
	}
	n.dirty = false
	if n.bits == 256 {
		n.hash = nodeHashOf(n.value, &n.labelHash)
		return
	}
	n.left.rehash()
	n.right.rehash()
	n.hash = nodeHashOf(pairHash(&n.left.hash, &n.right.hash), &n.labelHash)
}

func childHash(n *memNode) [HashSize]byte {
	if n == nil {
		return emptyNodeHash
	}
	n.rehash()
	return n.hash
}

// root returns the map's root hash.
func (m *memMap) root() [HashSize]byte {
	if m.left == nil && m.right == nil {
		return nodeHashOf(sha256.Sum256([]byte{0}), &rootLabelHash)
	}
	if m.dirty {
		l, r := childHash(m.left), childHash(m.right)
		m.hash = nodeHashOf(pairHash(&l, &r), &rootLabelHash)
		m.dirty = false
	}
	return m.hash
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
		nd := Node{ID: memID(n.bits, n.label), Hash: n.hash}
		if n.bits < 256 {
			nd.Inner, nd.Left, nd.Right = true, childID(n.left), childID(n.right)
			walk(n.left)
			walk(n.right)
		}
		out = append(out, nd)
	}
	walk(m.left)
	walk(m.right)
	return out
}

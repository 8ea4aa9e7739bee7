package index_test

// An implementation of the verifiable index from ledger/FORMAT.md alone
// ("Verifiable index (version 2)"), sharing no code with package index or
// torchwood: what an independent auditor would write. The tests in
// vectors_test.go hold the real index to it.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"strings"

	"github.com/agentledger/agentledger/ledger"
)

func specH(parts ...[]byte) [32]byte {
	return sha256.Sum256(bytes.Join(parts, nil))
}

// specKeys returns the keys of a leaf's entry, per the table of FORMAT.md.
func specKeys(e *ledger.Entry) []string {
	attrs := make(map[string]string)
	for _, a := range e.Attrs {
		attrs[a.Key] = a.Value
	}
	var keys []string
	add := func(name, value string) {
		if value == "" || len(value) > 512 {
			return
		}
		k := name + ":" + value
		for _, have := range keys {
			if have == k {
				return
			}
		}
		keys = append(keys, k)
	}
	add("trace", e.TraceID)
	add("credential", attrs["credential.id"])
	add("credential_parent", attrs["credential.parent_id"])
	for _, f := range strings.FieldsFunc(attrs["credential.fingerprint"], func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v'
	}) {
		add("fingerprint", f)
	}
	for _, a := range []string{"gen_ai.agent.id", "gen_ai.agent.name", "agent.name", "traceloop.workflow.name"} {
		add("agent", attrs[a])
	}
	add("target", attrs["server.address"])
	return keys
}

// specListRoot is the RFC 6962 root of a list of ledger indices.
func specListRoot(indices []uint64) [32]byte {
	switch len(indices) {
	case 0:
		return specH()
	case 1:
		return specH([]byte{0}, binary.BigEndian.AppendUint64(nil, indices[0]))
	}
	k := 1
	for k*2 < len(indices) {
		k *= 2
	}
	l, r := specListRoot(indices[:k]), specListRoot(indices[k:])
	return specH([]byte{1}, l[:], r[:])
}

func specValue(count uint64, root [32]byte) [32]byte {
	return specH(binary.BigEndian.AppendUint64(nil, count), root[:])
}

// specLabel is a node label: bits bits of b.
type specLabel struct {
	bits int
	b    [32]byte
}

func (l specLabel) bit(i int) int { return int(l.b[i/8]>>(7-i%8)) & 1 }

func (l specLabel) enc() []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(l.bits)), l.b[:]...)
}

func specNodeHash(l specLabel, v [32]byte) [32]byte {
	lh := specH(l.enc())
	return specH(v[:], lh[:])
}

func specEmpty() [32]byte {
	var e [32]byte
	for i := range e {
		e[i] = 1
	}
	empty := []byte(nil)
	empty = append(binary.BigEndian.AppendUint32(empty, 0), e[:]...)
	h := func(v [32]byte) [32]byte { lh := specH(empty); return specH(v[:], lh[:]) }
	return h(h(specH([]byte{0})))
}

// specPrefix returns the first n bits of l.
func specPrefix(l [32]byte, n int) specLabel {
	p := specLabel{bits: n}
	copy(p.b[:], l[:(n+7)/8])
	if n%8 != 0 {
		p.b[n/8] &= byte(0xFF << (8 - n%8))
	}
	return p
}

// specSub is sub(S) of FORMAT.md; labels are sorted and distinct.
func specSub(labels [][32]byte, values map[[32]byte][32]byte) [32]byte {
	if len(labels) == 1 {
		return specNodeHash(specLabel{bits: 256, b: labels[0]}, values[labels[0]])
	}
	first, last := specLabel{256, labels[0]}, specLabel{256, labels[len(labels)-1]}
	n := 0
	for n < 256 && first.bit(n) == last.bit(n) {
		n++
	}
	split := sort.Search(len(labels), func(i int) bool { return (specLabel{256, labels[i]}).bit(n) == 1 })
	a, b := specSub(labels[:split], values), specSub(labels[split:], values)
	return specNodeHash(specPrefix(labels[0], n), specH(a[:], b[:]))
}

// specMapRoot is the map root of FORMAT.md for the given keys and lists.
func specMapRoot(lists map[string][]uint64) [32]byte {
	values := make(map[[32]byte][32]byte)
	var labels [][32]byte
	for k, l := range lists {
		label := specH([]byte(k))
		values[label] = specValue(uint64(len(l)), specListRoot(l))
		labels = append(labels, label)
	}
	root := specLabel{}
	if len(labels) == 0 {
		return specNodeHash(root, specH([]byte{0}))
	}
	sort.Slice(labels, func(i, j int) bool { return bytes.Compare(labels[i][:], labels[j][:]) < 0 })
	split := sort.Search(len(labels), func(i int) bool { return labels[i][0]&0x80 != 0 })
	child := func(s [][32]byte) [32]byte {
		if len(s) == 0 {
			return specEmpty()
		}
		return specSub(s, values)
	}
	a, b := child(labels[:split]), child(labels[split:])
	return specNodeHash(root, specH(a[:], b[:]))
}

// specIndex computes every key's list from leaves, in index order.
func specIndex(leaves [][]byte) (map[string][]uint64, error) {
	lists := make(map[string][]uint64)
	for i, leaf := range leaves {
		d, err := ledger.DecodeLeaf(leaf)
		if err != nil {
			return nil, err
		}
		for _, k := range specKeys(&d.Entry) {
			lists[k] = append(lists[k], uint64(i))
		}
	}
	return lists, nil
}

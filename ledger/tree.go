package ledger

import (
	"bytes"
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

var (
	hasher = rfc6962.DefaultHasher
	ranges = &compact.RangeFactory{Hash: hasher.HashChildren}
)

// EmptyRoot is the RFC 6962 root of the empty tree, SHA-256("").
func EmptyRoot() [HashSize]byte {
	var r [HashSize]byte
	copy(r[:], hasher.EmptyRoot())
	return r
}

// EmptyHead returns the head of an empty tree.
func EmptyHead() TreeHead {
	return TreeHead{Root: EmptyRoot()}
}

// grow appends leaf hashes to the tree that head describes. It returns the
// new head and the tile hashes the append completed: the leaves, and every
// perfect node on a tile level (a multiple of TileHeight). Nodes inside a
// tile are recomputed from its level's hashes when a proof needs them.
func grow(head TreeHead, leaves [][HashSize]byte) (TreeHead, []TileSegment, error) {
	cr, err := ranges.NewRange(0, head.Size, head.Range)
	if err != nil {
		return TreeHead{}, nil, fmt.Errorf("%w: tree head range: %v", ErrCorrupt, err)
	}
	if root := rootOf(cr); root != head.Root {
		return TreeHead{}, nil, fmt.Errorf("%w: tree head root %x does not match its range (%x)", ErrCorrupt, head.Root, root)
	}
	var segs []TileSegment
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level%TileHeight != 0 {
			return
		}
		tile := TileID{Level: uint8(id.Level / TileHeight), Index: id.Index / TileWidth}
		pos := int(id.Index % TileWidth)
		for i := len(segs) - 1; i >= 0; i-- {
			s := &segs[i]
			if s.Tile == tile && s.Start+len(s.Hashes)/HashSize == pos {
				s.Hashes = append(s.Hashes, hash...)
				return
			}
		}
		segs = append(segs, TileSegment{Tile: tile, Start: pos, Hashes: append([]byte(nil), hash...)})
	}
	for i := range leaves {
		if err := cr.Append(leaves[i][:], visit); err != nil {
			return TreeHead{}, nil, fmt.Errorf("append leaf: %w", err)
		}
	}
	next := head
	next.Size = cr.End()
	next.Root = rootOf(cr)
	next.Range = cr.Hashes()
	return next, segs, nil
}

func rootOf(cr *compact.Range) [HashSize]byte {
	if cr.End() == 0 {
		return EmptyRoot()
	}
	h, err := cr.GetRootHash(nil)
	if err != nil {
		panic(fmt.Sprintf("compact range root: %v", err)) // only fails for a range not starting at 0
	}
	var r [HashSize]byte
	copy(r[:], h)
	return r
}

// TileReader is what the tree math reads of the tree's hashes: the stored
// tiles (Reader.Tiles).
type TileReader interface {
	Tiles(ctx context.Context, ids []TileID) (map[TileID][]byte, error)
}

// TreeReader is what the tree math reads to prove a tree size: the tiles,
// and the tree head that bounds the sizes there are tiles for.
type TreeReader interface {
	TileReader
	Head(ctx context.Context) (TreeHead, error)
}

// nodeHashes returns the hashes of the perfect nodes ids, read from the
// stored tiles: a node at level l lives in tile level l/8, and is rebuilt
// from the 2^(l mod 8) hashes below it on that tile level.
func nodeHashes(ctx context.Context, r TileReader, ids []compact.NodeID) ([][]byte, error) {
	type loc struct {
		tile         TileID
		first, count uint64
	}
	locs := make([]loc, len(ids))
	need := make([]TileID, 0, len(ids))
	seen := make(map[TileID]bool)
	for i, id := range ids {
		base := id.Level / TileHeight * TileHeight
		shift := id.Level - base
		first := id.Index << shift
		l := loc{tile: TileID{Level: uint8(base / TileHeight), Index: first / TileWidth}, first: first % TileWidth, count: 1 << shift}
		locs[i] = l
		if !seen[l.tile] {
			seen[l.tile] = true
			need = append(need, l.tile)
		}
	}
	tiles, err := r.Tiles(ctx, need)
	if err != nil {
		return nil, fmt.Errorf("read tiles: %w", err)
	}
	out := make([][]byte, len(ids))
	for i, l := range locs {
		t := tiles[l.tile]
		end := (l.first + l.count) * HashSize
		if uint64(len(t)) < end {
			return nil, fmt.Errorf("%w: node %d/%d: tile %d/%d has %d hashes, need %d", ErrNotFound,
				ids[i].Level, ids[i].Index, l.tile.Level, l.tile.Index, len(t)/HashSize, end/HashSize)
		}
		out[i] = hashUp(t[l.first*HashSize : end])
	}
	return out, nil
}

// hashUp returns the root of the perfect subtree whose level-0 hashes are
// the concatenated hashes in b (a power of two of them).
func hashUp(b []byte) []byte {
	n := len(b) / HashSize
	if n == 1 {
		return append([]byte(nil), b...)
	}
	level := make([][]byte, n)
	for i := range level {
		level[i] = b[i*HashSize : (i+1)*HashSize]
	}
	for len(level) > 1 {
		next := level[:len(level)/2]
		for i := range next {
			next[i] = hasher.HashChildren(level[2*i], level[2*i+1])
		}
		level = next
	}
	return level[0]
}

// TileHashes returns the hashes of a tile of the given width (1–256), as
// C2SP tlog-tiles serves it: width·32 bytes. It fails with ErrNotFound if
// fewer hashes are stored.
func TileHashes(ctx context.Context, r TileReader, id TileID, width int) ([]byte, error) {
	if width < 1 || width > TileWidth {
		return nil, fmt.Errorf("%w: tile width %d", ErrInvalid, width)
	}
	tiles, err := r.Tiles(ctx, []TileID{id})
	if err != nil {
		return nil, fmt.Errorf("read tile: %w", err)
	}
	t := tiles[id]
	if len(t) < width*HashSize {
		return nil, fmt.Errorf("%w: tile %d/%d has %d hashes, want %d", ErrNotFound, id.Level, id.Index, len(t)/HashSize, width)
	}
	return t[:width*HashSize], nil
}

// RootAt returns the root hash of the tree at size, computed from the stored
// tiles. size must not exceed the current tree size.
func RootAt(ctx context.Context, r TreeReader, size uint64) ([HashSize]byte, error) {
	if size == 0 {
		return EmptyRoot(), nil
	}
	if err := checkSize(ctx, r, size); err != nil {
		return [HashSize]byte{}, err
	}
	hashes, err := nodeHashes(ctx, r, compact.RangeNodes(0, size, nil))
	if err != nil {
		return [HashSize]byte{}, err
	}
	cr, err := ranges.NewRange(0, size, hashes)
	if err != nil {
		return [HashSize]byte{}, fmt.Errorf("%w: range at size %d: %v", ErrCorrupt, size, err)
	}
	return rootOf(cr), nil
}

// InclusionProof returns the RFC 6962 inclusion proof of the leaf at index
// in the tree of the given size, read from the stored tiles.
func InclusionProof(ctx context.Context, r TreeReader, index, size uint64) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: index %d is not below tree size %d", ErrInvalid, index, size)
	}
	if err := checkSize(ctx, r, size); err != nil {
		return nil, err
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: inclusion proof: %v", ErrInvalid, err)
	}
	return rehash(ctx, r, nodes)
}

// CheckpointInclusionProof is InclusionProof for the tree of a stored
// checkpoint, which the tree is known to have reached: it reads only the
// tiles, one round trip fewer.
func CheckpointInclusionProof(ctx context.Context, r TileReader, index uint64, cp Checkpoint) ([][]byte, error) {
	if index >= cp.Size {
		return nil, fmt.Errorf("%w: index %d is not below tree size %d", ErrInvalid, index, cp.Size)
	}
	nodes, err := proof.Inclusion(index, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("%w: inclusion proof: %v", ErrInvalid, err)
	}
	return rehash(ctx, r, nodes)
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees
// of size1 and size2, read from the stored tiles. A proof from the empty tree
// proves nothing, so size1 must be at least 1.
func ConsistencyProof(ctx context.Context, r TreeReader, size1, size2 uint64) ([][]byte, error) {
	if size1 == 0 {
		return nil, fmt.Errorf("%w: consistency proof from size 0: every tree extends the empty tree", ErrInvalid)
	}
	if size1 > size2 {
		return nil, fmt.Errorf("%w: consistency proof from size %d to smaller size %d", ErrInvalid, size1, size2)
	}
	if err := checkSize(ctx, r, size2); err != nil {
		return nil, err
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("%w: consistency proof: %v", ErrInvalid, err)
	}
	return rehash(ctx, r, nodes)
}

func rehash(ctx context.Context, r TileReader, nodes proof.Nodes) ([][]byte, error) {
	hashes, err := nodeHashes(ctx, r, nodes.IDs)
	if err != nil {
		return nil, err
	}
	p, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("rehash proof: %w", err)
	}
	return p, nil
}

func checkSize(ctx context.Context, r TreeReader, size uint64) error {
	head, err := r.Head(ctx)
	if err != nil {
		return fmt.Errorf("read tree head: %w", err)
	}
	if size > head.Size {
		return fmt.Errorf("%w: tree size %d is beyond the current size %d", ErrNotFound, size, head.Size)
	}
	return nil
}

// VerifyInclusion checks that leaf is at index in the tree of size and root.
// It hashes the leaf itself: a verifier must never accept a leaf hash from
// the party it is checking. size and root must come from a verified
// checkpoint.
func VerifyInclusion(leaf []byte, index, size uint64, root []byte, p [][]byte) error {
	if index >= size {
		return fmt.Errorf("index %d is not below tree size %d", index, size)
	}
	lh := hasher.HashLeaf(leaf)
	if err := proof.VerifyInclusion(hasher, index, size, lh, p, root); err != nil {
		return fmt.Errorf("inclusion of leaf %d in tree of size %d: %w", index, size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size2 and root2 extends the tree
// of size1 and root1. Unlike transparency-dev/merkle v0.0.2 it rejects
// size1 = 0, for which that library accepts any proof and any roots.
func VerifyConsistency(size1, size2 uint64, root1, root2 []byte, p [][]byte) error {
	switch {
	case size1 == 0:
		return fmt.Errorf("consistency from size 0 proves nothing")
	case size1 > size2:
		return fmt.Errorf("tree shrank from size %d to %d", size1, size2)
	case size1 == size2:
		if len(p) != 0 || !bytes.Equal(root1, root2) {
			return fmt.Errorf("two different roots at size %d: %x and %x", size1, root1, root2)
		}
		return nil
	}
	if err := proof.VerifyConsistency(hasher, size1, size2, p, root1, root2); err != nil {
		return fmt.Errorf("consistency from size %d to %d: %w", size1, size2, err)
	}
	return nil
}

package ledger

import (
	"fmt"
	"math"
	"math/bits"
)

// Check checks that b can follow head, the tree head its transaction
// locked: records numbered on from the head's size, each with a leaf, a
// known kind and well-formed content; a new head that counts them, with a
// compact range of the shape of its size and, at an unchanged size, the
// same root; well-formed tile segments; a checkpoint that the new head
// records, or else the head's checkpoint unchanged; and for content to
// erase, targets before the head and exactly one erasure entry. Every store
// calls it before it writes; a violation wraps ErrInvalid (it is the
// caller's bug, and retrying cannot help).
func (b *Batch) Check(head TreeHead) error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("batch: %w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	for i := range b.Records {
		r := &b.Records[i]
		if want := head.Size + uint64(i); r.Index != want {
			return invalid("record %d has index %d, want %d", i, r.Index, want)
		}
		if len(r.Leaf) == 0 || !r.Kind.Valid() {
			return invalid("record %d has an empty leaf or an unknown kind %q", r.Index, r.Kind)
		}
		for _, c := range r.Content {
			if c.Name == "" || len(c.Salt) != SaltSize {
				return invalid("record %d: content %q has an empty name or a salt of %d bytes", r.Index, c.Name, len(c.Salt))
			}
		}
	}
	h := b.Head
	if want := head.Size + uint64(len(b.Records)); h.Size != want {
		return invalid("new head has size %d, want %d (head %d + %d records)", h.Size, want, head.Size, len(b.Records))
	}
	if h.Size > math.MaxInt64 {
		return invalid("tree size %d exceeds %d", h.Size, int64(math.MaxInt64))
	}
	if h.Size == head.Size && h.Root != head.Root {
		return invalid("new head changes the root of tree size %d", h.Size)
	}
	if want := bits.OnesCount64(h.Size); len(h.Range) != want {
		return invalid("compact range of tree size %d has %d hashes, want %d", h.Size, len(h.Range), want)
	}
	for i, r := range h.Range {
		if len(r) != HashSize {
			return invalid("compact range hash %d has %d bytes, want %d", i, len(r), HashSize)
		}
	}
	for _, t := range b.Tiles {
		n := len(t.Hashes) / HashSize
		if t.Start < 0 || n == 0 || len(t.Hashes)%HashSize != 0 || t.Start+n > TileWidth || t.Tile.Index > math.MaxInt64 {
			return invalid("tile %d/%d: segment of %d bytes at %d", t.Tile.Level, t.Tile.Index, len(t.Hashes), t.Start)
		}
	}
	if cp := b.Checkpoint; cp != nil {
		if cp.Size > h.Size || cp.Size == h.Size && cp.Root != h.Root {
			return invalid("checkpoint of size %d does not match the new head of size %d", cp.Size, h.Size)
		}
		if !h.Checkpointed || h.CheckpointSize != cp.Size || !h.CheckpointTime.Equal(cp.Time) {
			return invalid("new head does not record the checkpoint of size %d", cp.Size)
		}
	} else if h.Checkpointed != head.Checkpointed || h.CheckpointSize != head.CheckpointSize ||
		!h.CheckpointTime.Equal(head.CheckpointTime) {
		return invalid("new head changes the latest checkpoint without storing one")
	}
	erasures := 0
	for i := range b.Records {
		if b.Records[i].Kind == KindErasure {
			erasures++
		}
	}
	if len(b.Erase) > 0 && erasures != 1 {
		return invalid("content to erase and %d erasure entries, want 1", erasures)
	}
	for _, e := range b.Erase {
		if e.Index >= head.Size {
			return invalid("erase content of entry %d: tree size is %d", e.Index, head.Size)
		}
	}
	return nil
}

// ErasureIndex returns the index of the batch's erasure entry, which a
// checked batch that erases content has exactly one of, or -1 if it has
// none.
func (b *Batch) ErasureIndex() int64 {
	for i := range b.Records {
		if b.Records[i].Kind == KindErasure {
			return int64(b.Records[i].Index)
		}
	}
	return -1
}

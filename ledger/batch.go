package ledger

import (
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
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

// WritesKeys reports whether b writes an entry of each of keys, in their
// order, and no other: then a store's unique index on dedup keys refuses b
// if any of keys is stored. A nil batch writes none.
func (b *Batch) WritesKeys(keys [][HashSize]byte) bool {
	if b == nil || len(b.Records) != len(keys) {
		return false
	}
	for i := range keys {
		if b.Records[i].DedupKey != keys[i] {
			return false
		}
	}
	return true
}

// probeAfterDuplicate is how many transactions probe dedup keys after one
// found a stored key: duplicates come in bursts (an exporter retrying a
// request, a collector re-sending its queue), and each one a store finds
// without the probe costs it a transaction.
const probeAfterDuplicate = 64

// DedupProbes decides for a store whether a write transaction looks up its
// dedup keys before it calls the UpdateFunc. Most keys are new, and the
// unique index on dedup keys looks each up again when the entries are
// written; so a store may skip the lookup while no duplicate arrives, give
// the UpdateFunc no stored keys, and write its batch if the batch writes
// every key (Batch.WritesKeys): the unique index refuses it if any is
// stored, and the store runs the transaction again with the lookup.
// DedupProbes says to look up keys within probeAfterDuplicate transactions
// after one that found a stored key or skipped the lookup in vain. The zero value skips the lookup. It
// is safe for concurrent use.
type DedupProbes struct {
	left atomic.Int64 // transactions that still look up keys
}

// Probe reports whether the next transaction looks up its dedup keys.
func (p *DedupProbes) Probe() bool { return p.left.Load() > 0 }

// Probed counts a transaction that looked up its keys, and whether it found
// one stored.
func (p *DedupProbes) Probed(found bool) {
	if found {
		p.left.Store(probeAfterDuplicate)
		return
	}
	p.left.Add(-1)
}

// Conflict counts a transaction that skipped the lookup in vain: the unique
// index refused its batch, or its batch did not write every key (a key
// repeated in one batch, as a re-delivery within one group commit has).
func (p *DedupProbes) Conflict() { p.left.Store(probeAfterDuplicate) }

package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// DefaultMaxStep is how many entries one index transaction covers at most,
// unless the next checkpoint is further: each transaction indexes up to a
// checkpoint.
const DefaultMaxStep = 1 << 16

// recordPage is how many entries one Records call reads.
const recordPage = 4096

// Indexer maintains the index of a store: after each checkpoint it indexes
// the entries the index does not cover yet and signs a note for the
// checkpoint's size. Several Indexers, in one process or many, may run on
// one database; the database serialises them. It implements
// ledger.Follower.
type Indexer struct {
	store   Store
	signer  *ledger.Signer
	maxStep uint64
	now     func() time.Time
	// fed holds the keys of the entries the Log committed (Appended).
	fed feed
}

// NewIndexer returns an Indexer of store that signs notes with signer, the
// log's checkpoint signer.
func NewIndexer(store Store, signer *ledger.Signer) *Indexer {
	return &Indexer{store: store, signer: signer, maxStep: DefaultMaxStep, now: time.Now}
}

// Follow implements ledger.Follower: it brings the index up to the latest
// checkpoint.
func (x *Indexer) Follow(ctx context.Context) error {
	_, err := x.Update(ctx)
	return err
}

// Appended implements ledger.AppendFollower: the Indexer keeps the index
// keys of the records a Log of its store committed, so that indexing them
// reads nothing back. The Log must be of the Indexer's store.
func (x *Indexer) Appended(recs []ledger.Record) { x.fed.add(recs) }

// Update indexes the entries up to the latest checkpoint, one transaction
// per step, and returns the latest note. With no checkpoint yet it does
// nothing and returns ledger.ErrNotFound.
func (x *Indexer) Update(ctx context.Context) (Note, error) {
	for {
		note, done, err := x.step(ctx)
		if err != nil || done {
			return note, err
		}
	}
}

// step indexes up to one checkpoint. It reports done when the index
// already covers the latest checkpoint.
func (x *Indexer) step(ctx context.Context) (Note, bool, error) {
	latest, err := x.store.LatestIndexNote(ctx)
	indexed := err == nil
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return Note{}, false, fmt.Errorf("index: read latest note: %w", err)
	}
	cp, err := x.store.LatestCheckpoint(ctx)
	if err != nil {
		return latest, false, fmt.Errorf("index: read latest checkpoint: %w", err)
	}
	from, upgrade := latest.Size, false
	if indexed && IsV1(latest) {
		// The version-2 index is built from index 0 beside the version-1
		// notes, in one transaction up to a checkpoint beyond the latest of
		// them: the index head only grows.
		if cp.Size <= latest.Size {
			return latest, false, fmt.Errorf("%w: the latest index note (size %d) is of version 1; the version-2 index is built at the next checkpoint beyond it",
				ErrIndexVersion, latest.Size)
		}
		from, upgrade = 0, true
	} else if indexed {
		if err := checkVersion(latest); err != nil {
			return latest, false, err
		}
		x.fed.drop(latest.Size) // indexed, by this Indexer or another
	}
	if indexed && cp.Size <= from {
		return latest, true, nil
	}
	if !upgrade && cp.Size-from > x.maxStep {
		if cp, err = x.nextCheckpoint(ctx, from, indexed); err != nil {
			return latest, false, err
		}
	}
	lists, err := x.read(ctx, from, cp.Size)
	if err != nil {
		return latest, false, err
	}
	leaves := newLeafCache(from, cp.Size)
	var note Note
	conflict := false
	err = x.store.UpdateIndex(ctx, func(tx Tx, size uint64, ok bool) (*Batch, error) {
		// Another indexer got there first: step again from its note.
		if conflict = size != latest.Size || ok != indexed; conflict {
			return nil, nil
		}
		b, err := x.apply(ctx, tx, lists, leaves, cp, upgrade)
		if err != nil {
			return nil, err
		}
		note = b.Note
		return b, nil
	})
	if err != nil {
		return latest, false, fmt.Errorf("index: index entries [%d, %d): %w", from, cp.Size, err)
	}
	if conflict {
		return latest, false, nil
	}
	return note, false, nil
}

// nextCheckpoint returns the checkpoint of the largest size at most
// maxStep entries beyond from, or else the first one beyond from.
func (x *Indexer) nextCheckpoint(ctx context.Context, from uint64, indexed bool) (ledger.Checkpoint, error) {
	start := from + 1
	if !indexed {
		start = from
	}
	cps, err := x.store.Checkpoints(ctx, start, 1024)
	if err != nil {
		return ledger.Checkpoint{}, fmt.Errorf("index: read checkpoints from %d: %w", start, err)
	}
	if len(cps) == 0 {
		return ledger.Checkpoint{}, fmt.Errorf("%w: index: no checkpoint of size %d or more", ledger.ErrCorrupt, start)
	}
	best := cps[0]
	for _, c := range cps[1:] {
		if c.Size-from <= x.maxStep {
			best = c
		}
	}
	return best, nil
}

// keyList is what one step adds to one key's list.
type keyList struct {
	label   [HashSize]byte
	key     ledger.Ref
	indices []uint64
}

// read returns, for each key the leaves [from, to) carry, the new
// indices, in label order. It takes the keys of the entries the Log handed
// over (Appended) and reads the others' leaves from the store. Each key's
// label is computed once, when the key first occurs.
func (x *Indexer) read(ctx context.Context, from, to uint64) ([]*keyList, error) {
	byKey := make(map[ledger.Ref]*keyList)
	add := func(key ledger.Ref, index uint64) {
		kl := byKey[key]
		if kl == nil {
			kl = &keyList{label: Label(key), key: key}
			byKey[key] = kl
		}
		kl.indices = append(kl.indices, index)
	}
	for at := from; at < to; {
		keys, next := x.fed.take(at, to)
		for i, ks := range keys {
			for _, k := range ks {
				add(k, at+uint64(i))
			}
		}
		if len(keys) > 0 {
			at += uint64(len(keys))
			continue
		}
		if err := eachKey(ctx, x.store, at, next, add); err != nil {
			return nil, err
		}
		at = next
	}
	out := make([]*keyList, 0, len(byKey))
	for _, kl := range byKey {
		out = append(out, kl)
	}
	slices.SortFunc(out, func(a, b *keyList) int { return bytes.Compare(a.label[:], b.label[:]) })
	return out, nil
}

// recordReader reads entries by index range (ledger.Reader.Records).
type recordReader interface {
	Records(ctx context.Context, start, end uint64) ([]ledger.Record, error)
}

// eachKey calls fn, in index order, with each key of each leaf in [from,
// to), derived from the leaf bytes alone.
func eachKey(ctx context.Context, r recordReader, from, to uint64, fn func(key ledger.Ref, index uint64)) error {
	// One digest for the leaf hashes and one decoded leaf whose memory each
	// leaf reuses: the keys' strings are the leaf's own copy, not d's.
	var lh ledger.LeafHasher
	var d ledger.DecodedLeaf
	for start := from; start < to; start += recordPage {
		end := min(start+recordPage, to)
		recs, err := r.Records(ctx, start, end)
		if err != nil {
			return fmt.Errorf("read entries [%d, %d): %w", start, end, err)
		}
		if uint64(len(recs)) != end-start {
			return fmt.Errorf("%w: read entries [%d, %d): got %d", ledger.ErrCorrupt, start, end, len(recs))
		}
		for i := range recs {
			idx := start + uint64(i)
			if recs[i].Index != idx || lh.Sum(recs[i].Leaf) != recs[i].LeafHash {
				return fmt.Errorf("%w: entry %d: stored leaf does not match its leaf hash", ledger.ErrCorrupt, idx)
			}
			if err := ledger.DecodeLeafTo(&d, recs[i].Leaf); err != nil {
				return fmt.Errorf("entry %d: %w", idx, err)
			}
			for _, k := range ledger.IndexKeys(&d.Entry) {
				fn(k, idx)
			}
		}
	}
	return nil
}

// apply computes, inside the index transaction, the new key states and map
// nodes and signs the note for cp.
// With fresh, the step builds the version-2 index from index 0 over a
// version-1 one, whose key states and map nodes the batch removes (Reset).
func (x *Indexer) apply(ctx context.Context, tx Tx, lists []*keyList, leaves *leafCache, cp ledger.Checkpoint, fresh bool) (*Batch, error) {
	labels := make([][HashSize]byte, len(lists))
	for i, kl := range lists {
		labels[i] = kl.label
	}
	states, load := map[[HashSize]byte]KeyState(nil), nodeLoader(tx.IndexNodes)
	if fresh {
		load = func(context.Context, []NodeID) (map[NodeID]Node, error) { return nil, nil }
	} else {
		var err error
		if states, err = tx.IndexKeys(ctx, labels); err != nil {
			return nil, fmt.Errorf("read key states: %w", err)
		}
	}
	// A step loads about three nodes per key and their siblings; a fresh
	// map loads none.
	hint := 6*len(labels) + 16
	if fresh {
		hint = 0
	}
	ov := newOverlaySize(load, hint)
	if err := ov.prefetch(ctx, labels); err != nil {
		return nil, err
	}
	m, err := memFromOverlay(ov)
	if err != nil {
		return nil, err
	}
	b := &Batch{Keys: make([]KeyState, 0, len(lists)), Reset: fresh}
	agents := 0
	for _, kl := range lists {
		if kl.key.Key == ledger.RefAgent {
			agents += len(kl.indices)
		}
	}
	if agents > 0 {
		b.AgentRefs = make([]RefAt, 0, agents)
	}
	for _, kl := range lists {
		var size uint64
		var rng []byte
		if st, ok := states[kl.label]; ok {
			size, rng = st.Size, st.Range
		}
		l, err := listWithRoom(size, rng, len(kl.indices))
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", kl.key, err)
		}
		for _, idx := range kl.indices {
			l.push(leaves.leaf(idx))
		}
		if kl.key.Key == ledger.RefAgent {
			for _, idx := range kl.indices {
				b.AgentRefs = append(b.AgentRefs, RefAt{Ref: kl.key, Index: idx})
			}
		}
		b.Keys = append(b.Keys, KeyState{Label: kl.label, Size: l.size, Range: l.Range()})
		if err := m.insert(kl.label, l.Value()); err != nil {
			return nil, fmt.Errorf("key %s: insert into map: %w", kl.key, err)
		}
	}
	var changed []Node
	root := m.rootChanged(&changed)
	b.Nodes = changed
	for _, n := range ov.changed() { // the empty node and root of a new map
		if !slices.ContainsFunc(changed, func(c Node) bool { return c.ID == n.ID }) {
			b.Nodes = append(b.Nodes, n)
		}
	}
	if b.Note, err = SignNote(x.signer, cp.Size, cp.Root, root); err != nil {
		return nil, err
	}
	b.Note.Time = x.now().UTC()
	return b, nil
}

// maxLeafCache is the largest step, in entries, whose list leaves a
// leafCache keeps: 32 MiB of hashes.
const maxLeafCache = 1 << 20

// leafCache holds the list leaf hashes (ListLeaf) of the entries of one
// step: an entry's index is appended to the list of each of its keys, and
// its leaf is hashed once. A step beyond maxLeafCache entries (the first
// of a version-2 index over a long ledger) hashes each time instead.
type leafCache struct {
	from   uint64
	leaves [][HashSize]byte
}

func newLeafCache(from, to uint64) *leafCache {
	c := &leafCache{from: from}
	if to > from && to-from <= maxLeafCache {
		c.leaves = make([][HashSize]byte, to-from)
	}
	return c
}

// leaf returns ListLeaf(index). A zero slot is one not hashed yet: no
// SHA-256 output is known to be zero, and if one were it would only be
// hashed again.
func (c *leafCache) leaf(index uint64) [HashSize]byte {
	i := index - c.from
	if index < c.from || i >= uint64(len(c.leaves)) {
		return ListLeaf(index)
	}
	if c.leaves[i] == ([HashSize]byte{}) {
		c.leaves[i] = ListLeaf(index)
	}
	return c.leaves[i]
}

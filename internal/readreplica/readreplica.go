// Package readreplica serves the query API's reads from a streaming replica
// of the ledger's database without ever answering from half-replicated
// state: each request reads the replica's latest checkpoint first and every
// read of the request is bounded by that checkpoint's size.
//
// A replica replays the primary's commits in order, so once it holds the
// checkpoint of size N it holds every entry, tile and reference below N;
// entries beyond it (appended but not yet signed, or replayed while the
// request ran) are left out. A replica that lags answers from the newest
// checkpoint it has, and says so: Middleware sets the response header
// CheckpointHeader to the size the answer is complete to.
package readreplica

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// CheckpointHeader is the response header that names the tree size of
// the checkpoint an answer read from the replica is bounded by.
const CheckpointHeader = "Agentledger-Checkpoint-Size"

// Source is what Reader reads: the replica's ledger and verifiable index.
type Source interface {
	ledger.Reader
	index.Reader
}

// Reader reads a Source bounded by its latest checkpoint: one checkpoint
// per request when the request went through Middleware, else one per
// call. It is safe for concurrent use.
type Reader struct {
	src Source
}

var (
	_ ledger.Reader = (*Reader)(nil)
	_ index.Reader  = (*Reader)(nil)
)

// NewReader returns a Reader of src.
func NewReader(src Source) *Reader { return &Reader{src: src} }

// pin is the checkpoint one request is bounded by, read once.
type pin struct {
	once  sync.Once
	cp    ledger.Checkpoint
	found bool
	err   error
	// header, if set, receives CheckpointHeader.
	header http.Header
}

type pinKey struct{}

// Middleware makes the reads of each request through next see one
// checkpoint of the replica, the latest when the request first reads, and
// names its size in CheckpointHeader.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &pin{header: w.Header()}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), pinKey{}, p)))
	})
}

// bound returns the checkpoint the reads of ctx are bounded by, and false
// when the replica has none yet (nothing is visible then).
func (r *Reader) bound(ctx context.Context) (ledger.Checkpoint, bool, error) {
	p, ok := ctx.Value(pinKey{}).(*pin)
	if !ok {
		p = &pin{}
	}
	p.once.Do(func() {
		p.cp, p.err = r.src.LatestCheckpoint(ctx)
		switch {
		case p.err == nil:
			p.found = true
		case errors.Is(p.err, ledger.ErrNotFound):
			p.err = nil
		default:
			p.err = fmt.Errorf("replica's latest checkpoint: %w", p.err)
		}
		if p.err == nil && p.header != nil {
			p.header.Set(CheckpointHeader, strconv.FormatUint(p.cp.Size, 10))
		}
	})
	return p.cp, p.found, p.err
}

// size returns the tree size the reads of ctx are bounded by.
func (r *Reader) size(ctx context.Context) (uint64, error) {
	cp, _, err := r.bound(ctx)
	return cp.Size, err
}

// Head implements ledger.Reader: the tree at the bounding checkpoint.
func (r *Reader) Head(ctx context.Context) (ledger.TreeHead, error) {
	cp, found, err := r.bound(ctx)
	if err != nil || !found {
		return ledger.TreeHead{}, err
	}
	return ledger.TreeHead{Size: cp.Size, Root: cp.Root, Checkpointed: true, CheckpointSize: cp.Size, CheckpointTime: cp.Time}, nil
}

// Tiles implements ledger.Reader. Each tile is cut to the hashes the tree
// at the bounding checkpoint has.
func (r *Reader) Tiles(ctx context.Context, ids []ledger.TileID) (map[ledger.TileID][]byte, error) {
	size, err := r.size(ctx)
	if err != nil {
		return nil, err
	}
	tiles, err := r.src.Tiles(ctx, ids)
	if err != nil {
		return nil, err
	}
	for id, t := range tiles {
		n := tileHashes(id, size)
		switch {
		case n == 0:
			delete(tiles, id)
		case uint64(len(t)) > n*ledger.HashSize:
			tiles[id] = t[:n*ledger.HashSize]
		}
	}
	return tiles, nil
}

// tileHashes returns how many hashes of tile id a tree of size has.
func tileHashes(id ledger.TileID, size uint64) uint64 {
	shift := 8 * uint(id.Level)
	if shift >= 64 {
		return 0
	}
	nodes := size >> shift // complete nodes of the tile's level
	first := id.Index * ledger.TileWidth
	if id.Index > nodes/ledger.TileWidth || nodes <= first {
		return 0
	}
	return min(nodes-first, ledger.TileWidth)
}

// Records implements ledger.Reader.
func (r *Reader) Records(ctx context.Context, start, end uint64) ([]ledger.Record, error) {
	size, err := r.size(ctx)
	if err != nil {
		return nil, err
	}
	end = min(end, size)
	if start >= end {
		return nil, nil
	}
	return r.src.Records(ctx, start, end)
}

// RecordsAt implements ledger.Reader.
func (r *Reader) RecordsAt(ctx context.Context, indices []uint64) ([]ledger.Record, error) {
	size, err := r.size(ctx)
	if err != nil {
		return nil, err
	}
	in := slices.DeleteFunc(slices.Clone(indices), func(i uint64) bool { return i >= size })
	if len(in) == 0 {
		return nil, nil
	}
	return r.src.RecordsAt(ctx, in)
}

// Find implements ledger.Reader.
func (r *Reader) Find(ctx context.Context, ref ledger.Ref, from uint64, limit int) ([]uint64, error) {
	size, err := r.size(ctx)
	if err != nil || from >= size {
		return nil, err
	}
	idx, err := r.src.Find(ctx, ref, from, limit)
	if err != nil {
		return nil, err
	}
	// Ascending: what is beyond the bound is a tail.
	for i, v := range idx {
		if v >= size {
			idx = idx[:i]
			break
		}
	}
	if len(idx) == 0 {
		return nil, nil
	}
	return idx, nil
}

// FindMany implements ledger.Reader. A lookup whose examined entries
// reach the bound ends there, with More false: nothing beyond it is
// visible.
func (r *Reader) FindMany(ctx context.Context, qs []ledger.FindQuery) ([]ledger.Found, error) {
	size, err := r.size(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Found, len(qs))
	var (
		ask []ledger.FindQuery
		at  []int
	)
	for i, q := range qs {
		if q.From >= size || q.Limit <= 0 {
			continue
		}
		ask, at = append(ask, q), append(at, i)
	}
	if len(ask) == 0 {
		return out, nil
	}
	found, err := r.src.FindMany(ctx, ask)
	if err != nil {
		return nil, err
	}
	for k, f := range found {
		if n := slices.IndexFunc(f.Indices, func(v uint64) bool { return v >= size }); n >= 0 {
			f.Indices = f.Indices[:n]
			f.More, f.Next = false, 0
		}
		if f.More && f.Next >= size {
			f.More, f.Next = false, 0
		}
		out[at[k]] = f
	}
	return out, nil
}

// Checkpoint implements ledger.Reader: ledger.ErrNotFound beyond the bound.
func (r *Reader) Checkpoint(ctx context.Context, size uint64) (ledger.Checkpoint, error) {
	bound, err := r.size(ctx)
	if err != nil {
		return ledger.Checkpoint{}, err
	}
	if size > bound {
		return ledger.Checkpoint{}, fmt.Errorf("checkpoint of size %d, beyond the replica's %d: %w", size, bound, ledger.ErrNotFound)
	}
	return r.src.Checkpoint(ctx, size)
}

// LatestCheckpoint implements ledger.Reader: the bounding checkpoint.
func (r *Reader) LatestCheckpoint(ctx context.Context) (ledger.Checkpoint, error) {
	cp, found, err := r.bound(ctx)
	if err != nil {
		return ledger.Checkpoint{}, err
	}
	if !found {
		return ledger.Checkpoint{}, fmt.Errorf("replica's latest checkpoint: %w", ledger.ErrNotFound)
	}
	return cp, nil
}

// Checkpoints implements ledger.Reader.
func (r *Reader) Checkpoints(ctx context.Context, from uint64, limit int) ([]ledger.Checkpoint, error) {
	size, err := r.size(ctx)
	if err != nil || from > size {
		return nil, err
	}
	cps, err := r.src.Checkpoints(ctx, from, limit)
	if err != nil {
		return nil, err
	}
	cps = slices.DeleteFunc(cps, func(cp ledger.Checkpoint) bool { return cp.Size > size })
	if len(cps) == 0 {
		return nil, nil
	}
	return cps, nil
}

// LatestIndexNote implements index.Reader. An index note beyond the bound
// (replayed after the request's first read) is not served: the answer
// then has no completeness block rather than one for entries it does not
// list.
func (r *Reader) LatestIndexNote(ctx context.Context) (index.Note, error) {
	size, err := r.size(ctx)
	if err != nil {
		return index.Note{}, err
	}
	n, err := r.src.LatestIndexNote(ctx)
	if err != nil {
		return index.Note{}, err
	}
	if n.Size > size {
		return index.Note{}, fmt.Errorf("index note of size %d, beyond the replica's checkpoint %d: %w", n.Size, size, ledger.ErrNotFound)
	}
	return n, nil
}

// IndexNotes implements index.Reader.
func (r *Reader) IndexNotes(ctx context.Context, from uint64, limit int) ([]index.Note, error) {
	size, err := r.size(ctx)
	if err != nil || from > size {
		return nil, err
	}
	ns, err := r.src.IndexNotes(ctx, from, limit)
	if err != nil {
		return nil, err
	}
	ns = slices.DeleteFunc(ns, func(n index.Note) bool { return n.Size > size })
	if len(ns) == 0 {
		return nil, nil
	}
	return ns, nil
}

// IndexKeys implements index.Reader. Key states belong to the latest
// index note, which LatestIndexNote bounds; index.Lookup checks that they
// agree with the note it read.
func (r *Reader) IndexKeys(ctx context.Context, labels [][index.HashSize]byte) (map[[index.HashSize]byte]index.KeyState, error) {
	return r.src.IndexKeys(ctx, labels)
}

// IndexKeysFrom implements index.Reader.
func (r *Reader) IndexKeysFrom(ctx context.Context, from [index.HashSize]byte, limit int) ([]index.KeyState, error) {
	return r.src.IndexKeysFrom(ctx, from, limit)
}

// IndexNodes implements index.Reader.
func (r *Reader) IndexNodes(ctx context.Context, ids []index.NodeID) (map[index.NodeID]index.Node, error) {
	return r.src.IndexNodes(ctx, ids)
}

package verify

import (
	"bytes"
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/agentledger/agentledger/ledger"
)

// fetchAhead is how many entry bundles VerifyAll fetches ahead of the one
// it checks.
const fetchAhead = 4

var (
	hasher = rfc6962.DefaultHasher
	ranges = &compact.RangeFactory{Hash: hasher.HashChildren}
)

// AllOptions configures VerifyAll.
type AllOptions struct {
	// Progress, if set, is called after each entry bundle with the number
	// of entries read.
	Progress func(entries uint64)
	// Content also reads the content of every entry whose leaf commits to
	// content, through /v1/entries/{index} (the server records each read
	// with an access entry), and checks each piece the token may read
	// against its commitment.
	Content bool
}

// AllReport is what VerifyAll checked.
type AllReport struct {
	// Checkpoint is the checkpoint the log was verified against.
	Checkpoint *ledger.VerifiedCheckpoint
	// Entries is the number of entries read and hashed; Tiles the number of
	// tiles compared.
	Entries uint64
	Tiles   int
	// With AllOptions.Content: Content is the number of pieces of content
	// that match their commitments; Unread the number the server did not
	// return to this token; Erased the pieces erased, each with the
	// erasure entry that names it.
	Content int
	Unread  int
	Erased  []ErasedContent
}

// VerifyAll follows the whole log through the tlog-tiles API as a witness
// or monitor would: it verifies the latest checkpoint, reads every entry
// bundle, hashes each entry, checks that each decodes as a leaf, recomputes
// every tile, compares it with the tile the server serves, and checks that
// the entries make the checkpoint's root. With opts.Content it also checks
// content against its commitments, and that every piece of content the
// server reports erased is named by an erasure entry of the verified tree.
func (c *Client) VerifyAll(ctx context.Context, opts AllOptions) (*AllReport, error) {
	cp, _, err := c.VerifiedCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	rep := &AllReport{Checkpoint: cp}
	size := cp.Size
	type bundle struct {
		leaves [][]byte
		tile   []byte
		err    error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bundles := (size + ledger.TileWidth - 1) / ledger.TileWidth
	queue := make(chan chan bundle, fetchAhead)
	go func() {
		defer close(queue)
		for n := uint64(0); n < bundles; n++ {
			w := int(min(ledger.TileWidth, size-n*ledger.TileWidth))
			ch := make(chan bundle, 1)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
			go func() {
				var b bundle
				if b.leaves, b.err = c.EntryBundle(ctx, n, w); b.err == nil {
					b.tile, b.err = c.Tile(ctx, 0, n, w)
				}
				ch <- b
			}()
		}
	}()

	// expect holds the recomputed hashes of the tiles above level 0 that
	// are not yet compared.
	expect := make(map[ledger.TileID][]byte)
	var nodeErr error
	visit := func(id compact.NodeID, h []byte) {
		if id.Level == 0 || id.Level%ledger.TileHeight != 0 || nodeErr != nil {
			return
		}
		tid := ledger.TileID{Level: uint8(id.Level / ledger.TileHeight), Index: id.Index / ledger.TileWidth}
		expect[tid] = append(expect[tid], h...)
		if id.Index%ledger.TileWidth == ledger.TileWidth-1 {
			nodeErr = c.compareTile(ctx, tid, expect[tid])
			delete(expect, tid)
			rep.Tiles++
		}
	}
	cr := ranges.NewEmptyRange(0)
	n := uint64(0)
	erased := make(erasures)
	var withContent []entryLeaf
	for ch := range queue {
		b := <-ch
		if b.err != nil {
			return rep, b.err
		}
		withContent = withContent[:0]
		for i, leaf := range b.leaves {
			idx := n*ledger.TileWidth + uint64(i)
			lh := ledger.LeafHash(leaf)
			d, err := ledger.DecodeLeaf(leaf)
			if err != nil {
				return rep, fmt.Errorf("entry %d: leaf does not decode: %w", idx, err)
			}
			if opts.Content && d.Entry.Kind == ledger.KindErasure {
				if err := erased.add(idx, d); err != nil {
					return rep, err
				}
			}
			if opts.Content && len(d.Commitments) > 0 {
				withContent = append(withContent, entryLeaf{index: idx, leaf: leaf, d: d})
			}
			if served := b.tile[i*ledger.HashSize : (i+1)*ledger.HashSize]; !bytes.Equal(served, lh[:]) {
				return rep, fmt.Errorf("tile 0/%d hash %d (entry %d): served %s, but entry bundle %d's entry %d hashes to %s",
					n, i, idx, b64(served), n, i, b64(lh[:]))
			}
			if err := cr.Append(lh[:], visit); err != nil {
				return rep, fmt.Errorf("entry %d: %w", idx, err)
			}
			if nodeErr != nil {
				return rep, nodeErr
			}
			rep.Entries++
		}
		if len(withContent) > 0 {
			cc, err := c.checkContents(ctx, withContent)
			if err != nil {
				return rep, err
			}
			rep.Content += cc.checked
			rep.Unread += cc.unread
			for _, r := range cc.erased {
				rep.Erased = append(rep.Erased, ErasedContent{Entry: r.index, Name: r.name})
			}
		}
		rep.Tiles++
		n++
		if opts.Progress != nil {
			opts.Progress(rep.Entries)
		}
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if rep.Entries != size {
		return rep, fmt.Errorf("read %d entries, want %d", rep.Entries, size)
	}
	// The partial tiles above level 0.
	for tid, want := range expect {
		if err := c.compareTile(ctx, tid, want); err != nil {
			return rep, err
		}
		rep.Tiles++
	}
	root := ledger.EmptyRoot()
	if size > 0 {
		h, err := cr.GetRootHash(nil)
		if err != nil {
			return rep, err
		}
		copy(root[:], h)
	}
	if root != cp.Root {
		return rep, fmt.Errorf("the log's %d entries make root %s, but checkpoint %s says %s", size, b64(root[:]), describe(cp), b64(cp.Root[:]))
	}
	for i, e := range rep.Erased {
		by, ok := erased.by(e.Entry, e.Name)
		if !ok {
			return rep, fmt.Errorf("entry %d: the server reports content %q erased, but no erasure entry of checkpoint %s names it (if it was erased since, verify again after the next checkpoint)",
				e.Entry, e.Name, describe(cp))
		}
		rep.Erased[i].By = by
	}
	return rep, nil
}

// compareTile fetches a tile above level 0 and compares it with the hashes
// recomputed from the entries.
func (c *Client) compareTile(ctx context.Context, id ledger.TileID, want []byte) error {
	w := len(want) / ledger.HashSize
	got, err := c.Tile(ctx, id.Level, id.Index, w)
	if err != nil {
		return err
	}
	for i := 0; i < w; i++ {
		g, x := got[i*ledger.HashSize:(i+1)*ledger.HashSize], want[i*ledger.HashSize:(i+1)*ledger.HashSize]
		if !bytes.Equal(g, x) {
			first := (id.Index*ledger.TileWidth + uint64(i)) << (ledger.TileHeight * uint(id.Level))
			last := first + 1<<(ledger.TileHeight*uint(id.Level)) - 1
			return fmt.Errorf("tile %d/%d hash %d (entries %d–%d): served %s, but the entries give %s",
				id.Level, id.Index, i, first, last, b64(g), b64(x))
		}
	}
	return nil
}

package verify

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// IndexMisbehavior is an index note the log signed that its own leaves
// contradict: a map root other than the one the leaves give, or an index
// that went back. The note is the evidence, checkable with the log's key.
type IndexMisbehavior struct {
	Note   index.Note
	Reason string
}

func (m *IndexMisbehavior) Error() string {
	return fmt.Sprintf("index note for tree size %d: %s", m.Note.Size, m.Reason)
}

// IndexReplayer replays the verifiable index from the log's entry bundles,
// keeping it in memory between calls, and checks every index note the
// server signs against it.
type IndexReplayer struct {
	// Client fetches the notes and entry bundles; its VerifierKey verifies
	// them. Both need a token with the auditor role.
	Client *Client

	rb   *index.Rebuild
	cr   *compact.Range
	last *index.Note
}

// Check fetches the latest index note, replays the entries up to its size,
// and checks that the note's tree root is that of the served entries and
// its map root the one they give. It returns the note, or an
// *IndexMisbehavior.
func (r *IndexReplayer) Check(ctx context.Context) (*index.Note, error) {
	b, err := r.Client.get(ctx, "v1/index/note", maxBody)
	if err != nil {
		return nil, err
	}
	n, err := index.OpenNote(b, r.Client.VerifierKey)
	if err != nil {
		return nil, fmt.Errorf("index note: %w", err)
	}
	if r.last != nil {
		switch {
		case n.Size < r.last.Size:
			return nil, &IndexMisbehavior{Note: n, Reason: fmt.Sprintf("the index went back from tree size %d", r.last.Size)}
		case n.Size == r.last.Size && n.MapRoot != r.last.MapRoot:
			return nil, &IndexMisbehavior{Note: n, Reason: fmt.Sprintf("map root %s, but the log signed %s for this size before", b64(n.MapRoot[:]), b64(r.last.MapRoot[:]))}
		}
	}
	if r.rb == nil {
		r.rb = index.NewRebuild()
		r.cr = ranges.NewEmptyRange(0)
	}
	for from := r.rb.Size(); from < n.Size; {
		tile := from / ledger.TileWidth
		width := int(min(ledger.TileWidth, n.Size-tile*ledger.TileWidth))
		leaves, err := r.Client.EntryBundle(ctx, tile, width)
		if err != nil {
			return nil, err
		}
		for _, leaf := range leaves[from-tile*ledger.TileWidth:] {
			lh := ledger.LeafHash(leaf)
			if err := r.cr.Append(lh[:], nil); err != nil {
				return nil, fmt.Errorf("entry %d: %w", from, err)
			}
			if err := r.rb.AddLeaf(leaf); err != nil {
				return nil, err
			}
			from++
		}
	}
	root := ledger.EmptyRoot()
	if n.Size > 0 {
		h, err := r.cr.GetRootHash(nil)
		if err != nil {
			return nil, err
		}
		copy(root[:], h)
	}
	if root != n.TreeRoot {
		return nil, &IndexMisbehavior{Note: n, Reason: fmt.Sprintf("tree root %s, but the served entries make %s", b64(n.TreeRoot[:]), b64(root[:]))}
	}
	if got := r.rb.MapRoot(); got != n.MapRoot {
		return nil, &IndexMisbehavior{Note: n, Reason: fmt.Sprintf("map root %s, but the log's entries give %s", b64(n.MapRoot[:]), b64(got[:]))}
	}
	r.last = &n
	return &n, nil
}

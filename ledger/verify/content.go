package verify

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// contentFetches bounds the entries whose content VerifyAll reads at once.
const contentFetches = 8

// ErasedContent is a piece of content the server reports erased, and the
// erasure entry in the verified tree that names it.
type ErasedContent struct {
	Entry uint64
	Name  string
	By    uint64
}

// contentRef names a piece of content, or all of an entry's content when
// Name is empty, as an erasure entry's targets do.
type contentRef struct {
	index uint64
	name  string
}

// erasures maps what the erasure entries of the verified tree erased to
// the index of the first erasure entry that names it.
type erasures map[contentRef]uint64

// add records the targets of erasure entry at index: the space-separated
// "<index>" or "<index>/<name>" of its erasure.targets attribute.
func (m erasures) add(index uint64, d *ledger.DecodedLeaf) error {
	targets, _ := d.Entry.Attr(ledger.AttrErasureTargets)
	for _, t := range strings.Fields(targets) {
		i, name, _ := strings.Cut(t, "/")
		n, err := strconv.ParseUint(i, 10, 64)
		if err != nil || n >= index {
			return fmt.Errorf("erasure entry %d: target %q is not an earlier entry", index, t)
		}
		ref := contentRef{n, name}
		if _, ok := m[ref]; !ok {
			m[ref] = index
		}
	}
	return nil
}

// by returns the erasure entry that erased content name of entry index.
func (m erasures) by(index uint64, name string) (uint64, bool) {
	if e, ok := m[contentRef{index, name}]; ok {
		return e, true
	}
	e, ok := m[contentRef{index, ""}]
	return e, ok
}

// contentCheck is what checking the content of some entries found.
type contentCheck struct {
	checked, unread int
	erased          []contentRef
}

// entryLeaf is an entry of the verified tree whose leaf holds commitments.
type entryLeaf struct {
	index uint64
	leaf  []byte
	d     *ledger.DecodedLeaf
}

// checkContents fetches the content of entries and checks each piece the
// server returns against the commitment in the verified leaf.
func (c *Client) checkContents(ctx context.Context, entries []entryLeaf) (contentCheck, error) {
	results := make([]contentCheck, len(entries))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(contentFetches)
	for i, e := range entries {
		g.Go(func() error {
			r, err := c.checkContent(ctx, e)
			results[i] = r
			return err
		})
	}
	var out contentCheck
	if err := g.Wait(); err != nil {
		return out, err
	}
	for _, r := range results {
		out.checked += r.checked
		out.unread += r.unread
		out.erased = append(out.erased, r.erased...)
	}
	return out, nil
}

func (c *Client) checkContent(ctx context.Context, el entryLeaf) (contentCheck, error) {
	var out contentCheck
	e, leaf, err := c.EntryContent(ctx, el.index)
	if err != nil {
		return out, fmt.Errorf("entry %d: %w", el.index, err)
	}
	if !bytes.Equal(leaf, el.leaf) {
		return out, fmt.Errorf("entry %d: /v1/entries serves a leaf other than the entry bundle's", el.index)
	}
	for _, cm := range el.d.Commitments {
		i := slices.IndexFunc(e.Content, func(ct api.Content) bool { return ct.Name == cm.Name })
		if i < 0 {
			return out, fmt.Errorf("entry %d: no content %q, but its leaf commits to it", el.index, cm.Name)
		}
		ct := e.Content[i]
		switch {
		case ct.Commitment != hex.EncodeToString(cm.Hash[:]):
			return out, fmt.Errorf("entry %d: content %q has commitment %s, but its leaf commits to %x", el.index, ct.Name, ct.Commitment, cm.Hash)
		case ct.FailsCommitment:
			return out, fmt.Errorf("entry %d: the server finds that its content %q does not match its commitment %x", el.index, ct.Name, cm.Hash)
		case ct.Erased:
			out.erased = append(out.erased, contentRef{el.index, ct.Name})
			continue
		case ct.Data == nil:
			out.unread++
			continue
		}
		sum, err := contentHash(ct)
		if err != nil {
			return out, fmt.Errorf("entry %d: content %q: %v", el.index, ct.Name, err)
		}
		if !bytes.Equal(sum, cm.Hash[:]) {
			return out, fmt.Errorf("entry %d: content %q does not match its commitment %x", el.index, ct.Name, cm.Hash)
		}
		out.checked++
	}
	return out, nil
}

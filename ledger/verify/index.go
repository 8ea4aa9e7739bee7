package verify

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// IndexLookup fetches the server's answer for an index key from position
// since on (/v1/index), unverified.
func (c *Client) IndexLookup(ctx context.Context, key ledger.Ref, since uint64) (*index.Proof, error) {
	var p index.Proof
	path := fmt.Sprintf("v1/index?key=%s&since=%d", url.QueryEscape(key.String()), since)
	if err := c.getJSON(ctx, path, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// VerifyIndex fetches the answer for key and verifies it against the
// checkpoint cp the client verified: the index note's signature, that the
// note's tree is the log's (a consistency proof between the note's size and
// cp's), and that the list the answer gives extends known to exactly the
// list the signed map holds (index.Proof.Verify).
func (c *Client) VerifyIndex(ctx context.Context, cp *ledger.VerifiedCheckpoint, key ledger.Ref, known index.Known) (*index.Verified, error) {
	p, err := c.IndexLookup(ctx, key, known.Count)
	if err != nil {
		return nil, err
	}
	v, err := p.Verify(c.VerifierKey, key, known)
	if err != nil {
		return nil, err
	}
	n := v.Note
	switch {
	case n.Size == cp.Size:
		if n.TreeRoot != cp.Root {
			return nil, fmt.Errorf("the index note for tree size %d has root %x, the checkpoint %x", n.Size, n.TreeRoot, cp.Root)
		}
	case n.Size < cp.Size:
		proof, err := c.ConsistencyProof(ctx, n.Size, cp.Size)
		if err != nil {
			return nil, err
		}
		if err := ledger.VerifyConsistency(n.Size, cp.Size, n.TreeRoot[:], cp.Root[:], proof); err != nil {
			return nil, fmt.Errorf("the index note's tree (size %d) is not a prefix of checkpoint %d: %v", n.Size, cp.Size, err)
		}
	default:
		proof, err := c.ConsistencyProof(ctx, cp.Size, n.Size)
		if err != nil {
			return nil, err
		}
		if err := ledger.VerifyConsistency(cp.Size, n.Size, cp.Root[:], n.TreeRoot[:], proof); err != nil {
			return nil, fmt.Errorf("checkpoint %d is not a prefix of the index note's tree (size %d): %v", cp.Size, n.Size, err)
		}
	}
	return v, nil
}

// Completeness is what the verifiable index proved about an answer: for
// each key the answer was built from, the entries the signed index lists,
// and those of them the answer left out.
type Completeness struct {
	// Size is the tree size of the index note: the answer is complete as
	// of the checkpoint of that size, or names what is missing.
	Size uint64
	// Keys are the keys checked, "<name>:<value>".
	Keys []string
	// Indexed is, per key, the number of entries the signed index lists.
	Indexed map[string]int
	// Missing is, per key, the entries the signed index lists for it that
	// the answer does not report.
	Missing map[string][]uint64
}

// Complete reports whether the answer reports every entry the index lists.
func (c *Completeness) Complete() bool { return len(c.Missing) == 0 }

func (c *Completeness) String() string {
	if c.Complete() {
		return fmt.Sprintf("complete as of checkpoint %d (%s)", c.Size, strings.Join(c.Keys, ", "))
	}
	var parts []string
	for _, k := range c.Keys {
		if m := c.Missing[k]; len(m) > 0 {
			parts = append(parts, fmt.Sprintf("%s: entries %v", k, m))
		}
	}
	return fmt.Sprintf("incomplete as of checkpoint %d: the answer omits %s", c.Size, strings.Join(parts, "; "))
}

// checkComplete verifies the index's list of each key and compares it with
// the entries an answer reported.
// The index must cover cp, the checkpoint the answer's entries were
// verified against: it lags by at most one checkpoint interval, so
// checkComplete waits for it up to wait. An index that stays behind is an
// error, since an entry hidden beyond its size would go unnoticed.
func (c *Client) checkComplete(ctx context.Context, cp *ledger.VerifiedCheckpoint, keys []ledger.Ref, reported map[uint64][]reported, wait time.Duration) (*Completeness, error) {
	out := &Completeness{Indexed: make(map[string]int), Missing: make(map[string][]uint64)}
	deadline := time.Now().Add(wait)
	for i, k := range keys {
		v, err := c.VerifyIndex(ctx, cp, k, index.Known{})
		for err == nil && v.Note.Size < cp.Size {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("completeness of %s: the index covers the first %d entries, checkpoint %d more; verify again after the next checkpoint", k, v.Note.Size, cp.Size)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
			v, err = c.VerifyIndex(ctx, cp, k, index.Known{})
		}
		if err != nil {
			return nil, fmt.Errorf("completeness of %s: %w", k, err)
		}
		if i > 0 && v.Note.Size != out.Size {
			return nil, fmt.Errorf("completeness: the index advanced from %d to %d while it was read; verify again", out.Size, v.Note.Size)
		}
		out.Size = v.Note.Size
		out.Keys = append(out.Keys, k.String())
		out.Indexed[k.String()] = len(v.Indices)
		for _, idx := range v.Indices {
			if _, ok := reported[idx]; !ok {
				out.Missing[k.String()] = append(out.Missing[k.String()], idx)
			}
		}
	}
	slices.Sort(out.Keys)
	return out, nil
}

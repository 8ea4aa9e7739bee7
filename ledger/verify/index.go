package verify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/agentledger/agentledger/api"
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
	if err := noteInLog(ctx, c, cp, v.Note); err != nil {
		return nil, err
	}
	return v, nil
}

// noteInLog checks that the tree an index note commits to is the log's:
// the checkpoint cp's tree, or a prefix or an extension of it, by a
// consistency proof from src.
func noteInLog(ctx context.Context, src proofSource, cp *ledger.VerifiedCheckpoint, n index.Note) error {
	switch {
	case n.Size == 0 && cp.Size > 0:
		// The empty tree is a prefix of every tree: there is no proof to ask.
		if n.TreeRoot != ledger.EmptyRoot() {
			return fmt.Errorf("the index note for the empty tree has root %x, not the empty tree's %x", n.TreeRoot, ledger.EmptyRoot())
		}
	case n.Size == cp.Size:
		if n.TreeRoot != cp.Root {
			return fmt.Errorf("the index note for tree size %d has root %x, the checkpoint %x", n.Size, n.TreeRoot, cp.Root)
		}
	case n.Size < cp.Size:
		proof, err := src.consistencyProof(ctx, n.Size, cp.Size)
		if err != nil {
			return err
		}
		if err := ledger.VerifyConsistency(n.Size, cp.Size, n.TreeRoot[:], cp.Root[:], proof); err != nil {
			return fmt.Errorf("the index note's tree (size %d) is not a prefix of checkpoint %d: %v", n.Size, cp.Size, err)
		}
	default:
		proof, err := src.consistencyProof(ctx, cp.Size, n.Size)
		if err != nil {
			return err
		}
		if err := ledger.VerifyConsistency(cp.Size, n.Size, cp.Root[:], n.TreeRoot[:], proof); err != nil {
			return fmt.Errorf("checkpoint %d is not a prefix of the index note's tree (size %d): %v", cp.Size, n.Size, err)
		}
	}
	return nil
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
	// Unindexed are the entries the answer reports at or beyond Size:
	// newer than the index, so not covered by its proofs.
	Unindexed []uint64
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

// errIndexBehind says an answer's block is for an index note older than the
// checkpoint its entries were verified against.
var errIndexBehind = errors.New("the index is behind the checkpoint")

// checkComplete verifies an answer's own completeness block against the
// checkpoint cp its entries were verified against, and compares each key's
// list with the entries the answer reported. Every key of need must be in
// the block: an answer that leaves out a key it used is not proved
// complete. The block's note must cover cp (the index lags by at most one
// checkpoint interval): if it does not, checkComplete returns
// errIndexBehind and the caller reads the answer again. unreported, for a
// listed entry the answer does not report, says whether that is an
// omission; nil means always. vkey is the log's verifier key; src serves
// the consistency proof between the block's note and cp.
func checkComplete(ctx context.Context, src proofSource, vkey string, cp *ledger.VerifiedCheckpoint, b *api.Completeness, need []ledger.Ref, reported map[uint64][]reported,
	unreported func(key ledger.Ref, idx uint64) (bool, error)) (*Completeness, error) {
	if b == nil {
		return nil, errors.New("the answer carries no completeness block: the server has no index, or no index note yet")
	}
	out := &Completeness{Size: b.Size, Indexed: make(map[string]int), Missing: make(map[string][]uint64)}
	byKey := make(map[string]*index.Proof, len(b.Keys))
	for i := range b.Keys {
		byKey[b.Keys[i].Key] = &b.Keys[i]
	}
	for _, k := range need {
		if byKey[k.String()] == nil {
			return nil, fmt.Errorf("completeness: the answer used index key %s but its block does not prove it", k)
		}
	}
	bcp, err := ledger.OpenCheckpoint([]byte(b.Checkpoint), vkey)
	if err != nil {
		return nil, fmt.Errorf("completeness: the block's checkpoint: %w", err)
	}
	if bcp.Size != b.Size {
		return nil, fmt.Errorf("completeness: the block is for tree size %d, its checkpoint for %d", b.Size, bcp.Size)
	}
	for i := range b.Keys {
		p := &b.Keys[i]
		k, err := index.ParseKey(p.Key)
		if err != nil {
			return nil, fmt.Errorf("completeness: the block names key %q: %w", p.Key, err)
		}
		v, err := p.Verify(vkey, k, index.Known{})
		if err != nil {
			return nil, fmt.Errorf("completeness of %s: %w", k, err)
		}
		n := v.Note
		if n.Size != b.Size || n.TreeRoot != bcp.Root {
			return nil, fmt.Errorf("completeness of %s: its index note is for tree size %d, the block's checkpoint %d with another root", k, n.Size, bcp.Size)
		}
		if i == 0 {
			if err := noteInLog(ctx, src, cp, n); err != nil {
				return nil, fmt.Errorf("completeness: %w", err)
			}
			if n.Size < cp.Size {
				return nil, fmt.Errorf("completeness: the index covers the first %d entries, checkpoint %d more: %w", n.Size, cp.Size, errIndexBehind)
			}
		}
		out.Keys = append(out.Keys, k.String())
		out.Indexed[k.String()] = len(v.Indices)
		for _, idx := range v.Indices {
			if _, ok := reported[idx]; ok {
				continue
			}
			omitted := true
			if unreported != nil {
				if omitted, err = unreported(k, idx); err != nil {
					return nil, fmt.Errorf("completeness of %s: %w", k, err)
				}
			}
			if omitted {
				out.Missing[k.String()] = append(out.Missing[k.String()], idx)
			}
		}
	}
	for idx := range reported {
		if idx >= b.Size {
			out.Unindexed = append(out.Unindexed, idx)
		}
	}
	slices.Sort(out.Unindexed)
	slices.Sort(out.Keys)
	return out, nil
}

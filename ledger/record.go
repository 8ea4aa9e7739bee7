package ledger

import "fmt"

// Decode parses rec's leaf and returns the entry it encodes with rec's
// content attached, and the leaf's commitments. It checks that the leaf
// hash matches the leaf and that every piece of content matches its
// commitment; a mismatch wraps ErrCorrupt.
func (rec *Record) Decode() (*Entry, []Commitment, error) {
	if LeafHash(rec.Leaf) != rec.LeafHash {
		return nil, nil, fmt.Errorf("%w: entry %d: leaf hash does not match leaf", ErrCorrupt, rec.Index)
	}
	d, err := DecodeLeaf(rec.Leaf)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: entry %d: %v", ErrCorrupt, rec.Index, err)
	}
	for _, c := range rec.Content {
		found := false
		for _, cm := range d.Commitments {
			if cm.Name == c.Name {
				found = true
				if c.Commitment() != cm.Hash {
					return nil, nil, fmt.Errorf("%w: entry %d: content %q does not match its commitment", ErrCorrupt, rec.Index, c.Name)
				}
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("%w: entry %d: content %q has no commitment", ErrCorrupt, rec.Index, c.Name)
		}
	}
	e := d.Entry
	e.Content = rec.Content
	return &e, d.Commitments, nil
}

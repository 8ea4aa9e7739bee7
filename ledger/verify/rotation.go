package verify

import (
	"encoding/json"
	"fmt"

	"github.com/agentledger/agentledger/ledger"
)

// RotationBundle is the evidence of a key rotation that agentledger
// rotate-key writes: the rotation entry's leaf, a checkpoint signed by the
// old key whose tree holds it, and the inclusion proof.
type RotationBundle struct {
	Index      uint64   `json:"index"`
	Leaf       []byte   `json:"leaf"`
	Checkpoint string   `json:"checkpoint"`
	Proof      [][]byte `json:"proof"`
}

// Rotation verifies a rotation bundle (JSON) against the log's current key
// oldKey: the checkpoint is signed by oldKey, the leaf is in its tree, and
// the leaf carries a key rotation statement from oldKey signed by it and by
// the new key. It returns the statement, whose NewKey then signs the log.
func Rotation(bundle []byte, oldKey string) (*ledger.Rotation, error) {
	var b RotationBundle
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, fmt.Errorf("key rotation bundle: %w", err)
	}
	if err := Inclusion([]byte(b.Checkpoint), oldKey, b.Leaf, b.Index, b.Proof); err != nil {
		return nil, fmt.Errorf("key rotation entry: %w", err)
	}
	r, err := ledger.RotationFromLeaf(b.Leaf, b.Index, oldKey)
	if err != nil {
		return nil, err
	}
	return r, nil
}

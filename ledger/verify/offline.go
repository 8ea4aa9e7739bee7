package verify

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/merkle/proof"

	"github.com/agentledger/agentledger/ledger"
)

// Checkpoint verifies a signed checkpoint note with the verifier key vkey
// ("<name>+<hash>+<key>") and returns its origin, size and root.
func Checkpoint(note []byte, vkey string) (*ledger.VerifiedCheckpoint, error) {
	cp, err := ledger.OpenCheckpoint(note, vkey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return cp, nil
}

// Inclusion checks that leaf is entry index of the tree that the signed
// checkpoint note commits to. It verifies the checkpoint's signature with
// vkey, takes the tree size and root only from it, and hashes the leaf
// itself: nothing the server says about the leaf's hash or the tree is
// trusted.
func Inclusion(checkpointNote []byte, vkey string, leaf []byte, index uint64, proof [][]byte) error {
	cp, err := Checkpoint(checkpointNote, vkey)
	if err != nil {
		return err
	}
	return inclusion(cp, leaf, index, proof)
}

func inclusion(cp *ledger.VerifiedCheckpoint, leaf []byte, index uint64, p [][]byte) error {
	if index >= cp.Size {
		return fmt.Errorf("entry %d is not in the checkpoint's tree of size %d", index, cp.Size)
	}
	lh := ledger.LeafHash(leaf)
	if err := ledger.VerifyInclusion(leaf, index, cp.Size, cp.Root[:], p); err != nil {
		return fmt.Errorf("entry %d (leaf hash %x) is not in the tree of checkpoint %s: %w",
			index, lh, describe(cp), explain(err))
	}
	return nil
}

// Consistency checks that the tree of the signed checkpoint newNote extends
// the tree of the signed checkpoint oldNote, both verified with vkey. A
// checkpoint of the empty tree is extended by every tree, with an empty
// proof; two checkpoints of one size must have one root.
func Consistency(oldNote, newNote []byte, vkey string, proof [][]byte) error {
	old, err := Checkpoint(oldNote, vkey)
	if err != nil {
		return fmt.Errorf("old %w", err)
	}
	cur, err := Checkpoint(newNote, vkey)
	if err != nil {
		return fmt.Errorf("new %w", err)
	}
	return consistency(old, cur, proof)
}

func consistency(old, cur *ledger.VerifiedCheckpoint, p [][]byte) error {
	if old.Origin != cur.Origin {
		return fmt.Errorf("checkpoints of two logs: %q and %q", old.Origin, cur.Origin)
	}
	if old.Size == 0 {
		if old.Root != ledger.EmptyRoot() {
			return fmt.Errorf("checkpoint %s: the empty tree's root is %x", describe(old), ledger.EmptyRoot())
		}
		if len(p) != 0 {
			return fmt.Errorf("a consistency proof from the empty tree must be empty, got %d hashes", len(p))
		}
		return nil
	}
	if err := ledger.VerifyConsistency(old.Size, cur.Size, old.Root[:], cur.Root[:], p); err != nil {
		return fmt.Errorf("checkpoint %s does not extend checkpoint %s: %w", describe(cur), describe(old), explain(err))
	}
	return nil
}

// describe names a checkpoint in messages: origin, size and root.
func describe(cp *ledger.VerifiedCheckpoint) string {
	return fmt.Sprintf("%s@%d (root %s)", cp.Origin, cp.Size, b64(cp.Root[:]))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// explain rewrites a proof library error into one line.
func explain(err error) error {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		prefix := strings.TrimSuffix(err.Error(), rm.Error())
		return fmt.Errorf("%sthe proof leads to root %s, not %s", prefix, b64(rm.CalculatedRoot), b64(rm.ExpectedRoot))
	}
	return err
}

// ParseProof parses a proof as the API serves it, a JSON object with
// "hashes" (base64), or as one base64 hash per line. Blank lines and lines
// starting with '#' are skipped.
func ParseProof(b []byte) ([][]byte, error) {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var p struct {
			Hashes *[]string `json:"hashes"`
		}
		if err := json.Unmarshal(t, &p); err != nil {
			return nil, fmt.Errorf("proof: %w", err)
		}
		if p.Hashes == nil {
			return nil, errors.New(`proof: JSON without "hashes"`)
		}
		return decodeHashes(*p.Hashes)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	return decodeHashes(lines)
}

func decodeHashes(ss []string) ([][]byte, error) {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(h) != ledger.HashSize {
			return nil, fmt.Errorf("proof hash %d: %q is not a base64 SHA-256 hash", i, s)
		}
		out[i] = h
	}
	return out, nil
}

// ParseLeaf returns leaf bytes from a file's contents: the raw leaf, or the
// JSON of an entry as /v1/entries/{index} serves it, whose "leaf" field is
// the leaf in base64. A raw leaf starts with its version byte, never '{'.
func ParseLeaf(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("leaf: empty")
	}
	if b[0] != '{' {
		return b, nil
	}
	var e struct {
		Leaf *string `json:"leaf"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("leaf: %w", err)
	}
	if e.Leaf == nil {
		return nil, errors.New(`leaf: JSON without "leaf"`)
	}
	leaf, err := base64.StdEncoding.DecodeString(*e.Leaf)
	if err != nil {
		return nil, fmt.Errorf("leaf: %w", err)
	}
	return leaf, nil
}

package verify_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
)

// storeTiles is a tlog.TileReader over the tiles a store holds, read the
// way the tlog-tiles API serves them.
type storeTiles struct {
	ctx context.Context
	r   ledger.Reader
}

func (s storeTiles) Height() int { return ledger.TileHeight }

func (s storeTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if t.H != ledger.TileHeight || t.L < 0 {
			return nil, fmt.Errorf("tile %v: not a hash tile of height 8", t)
		}
		b, err := ledger.TileHashes(s.ctx, s.r, ledger.TileID{Level: uint8(t.L), Index: uint64(t.N)}, t.W)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (s storeTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// TestInterop checks the log with independent implementations: checkpoints
// parse with transparency-dev/formats and verify with sumdb/note, and
// golang.org/x/mod/sumdb/tlog, reading the stored tiles, computes the same
// roots and inclusion proofs as the ledger.
func TestInterop(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 600, 200) // 601 entries: two full level-0 tiles and a partial one
	ctx := t.Context()
	v, err := note.NewVerifier(l.Keys.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range l.Checkpoints {
		n, err := note.Open(cp.Note, note.VerifierList(v))
		if err != nil {
			t.Fatalf("note.Open(checkpoint %d): %v", cp.Size, err)
		}
		var c log.Checkpoint
		if rest, err := c.Unmarshal([]byte(n.Text)); err != nil || len(rest) != 0 {
			t.Fatalf("log.Checkpoint.Unmarshal(%q) = %q, %v", n.Text, rest, err)
		}
		if c.Origin != audittest.Origin || c.Size != cp.Size || !bytes.Equal(c.Hash, cp.Root[:]) {
			t.Errorf("checkpoint %d parses as %s/%d/%x, want %s/%d/%x", cp.Size, c.Origin, c.Size, c.Hash, audittest.Origin, cp.Size, cp.Root)
		}
		if _, _, _, err := log.ParseCheckpoint(cp.Note, v.Name(), v); err != nil {
			t.Errorf("log.ParseCheckpoint(checkpoint %d): %v", cp.Size, err)
		}

		tree := tlog.Tree{N: int64(cp.Size)}
		copy(tree.Hash[:], cp.Root[:])
		hr := tlog.TileHashReader(tree, storeTiles{ctx: ctx, r: l.Store})
		root, err := tlog.TreeHash(tree.N, hr)
		if err != nil {
			t.Fatalf("tlog.TreeHash(%d): %v", tree.N, err)
		}
		if root != tree.Hash {
			t.Errorf("tlog.TreeHash(%d) = %x, want %x", tree.N, root, cp.Root)
		}
		for _, i := range []int64{0, 1, 255, 256, 257, tree.N / 2, tree.N - 1} {
			if i >= tree.N {
				continue
			}
			want := inclusionProof(t, l.Store, uint64(i), cp.Size)
			got, err := tlog.ProveRecord(tree.N, i, hr)
			if err != nil {
				t.Fatalf("tlog.ProveRecord(%d, %d): %v", tree.N, i, err)
			}
			if len(got) != len(want) {
				t.Fatalf("tlog.ProveRecord(%d, %d) = %d hashes, want %d", tree.N, i, len(got), len(want))
			}
			for k := range got {
				if !bytes.Equal(got[k][:], want[k]) {
					t.Errorf("tlog.ProveRecord(%d, %d)[%d] = %x, want %x", tree.N, i, k, got[k], want[k])
				}
			}
			leaf := leafAt(t, l.Store, uint64(i))
			if err := tlog.CheckRecord(got, tree.N, tree.Hash, i, tlog.RecordHash(leaf)); err != nil {
				t.Errorf("tlog.CheckRecord(%d, %d): %v", tree.N, i, err)
			}
		}
	}
}

package verify

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"

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
// keeping it in memory between calls and, with StatePath, in a file
// between runs, and checks every index note the server signs against it.
type IndexReplayer struct {
	// Client fetches the notes and entry bundles; its VerifierKey verifies
	// them. Both need a token with the auditor role.
	Client *Client
	// StatePath, if set, is the file that keeps the replayed index after
	// each note verified (written atomically, mode 0600, as SaveState
	// does): the last note, the tree's compact range and each key's list
	// size and compact range. The next run continues from its size.
	StatePath string

	rb   *index.Rebuild
	cr   *compact.Range
	last *index.Note
	// From is the tree size the last Check replayed from.
	From uint64
}

// Check fetches the latest index note, replays the entries up to its size,
// and checks that the note's tree root is that of the served entries and
// its map root the one they give. It returns the note, or an
// *IndexMisbehavior.
func (r *IndexReplayer) Check(ctx context.Context) (*index.Note, error) {
	if r.rb == nil && r.StatePath != "" {
		if err := r.load(); err != nil {
			return nil, err
		}
	}
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
	r.From = r.rb.Size()
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
	if root := r.treeRoot(); root != n.TreeRoot {
		return nil, &IndexMisbehavior{Note: n, Reason: fmt.Sprintf("tree root %s, but the served entries make %s", b64(n.TreeRoot[:]), b64(root[:]))}
	}
	if got := r.rb.MapRoot(); got != n.MapRoot {
		return nil, &IndexMisbehavior{Note: n, Reason: fmt.Sprintf("map root %s, but the log's entries give %s", b64(n.MapRoot[:]), b64(got[:]))}
	}
	grew := r.last == nil || r.last.Size != n.Size
	r.last = &n
	if grew && r.StatePath != "" {
		if err := SaveState(r.StatePath, r.encode()); err != nil {
			return nil, fmt.Errorf("index state: %w", err)
		}
	}
	return &n, nil
}

func (r *IndexReplayer) treeRoot() [ledger.HashSize]byte {
	root := ledger.EmptyRoot()
	if r.cr.End() > 0 {
		h, err := r.cr.GetRootHash(nil)
		if err != nil {
			panic(fmt.Sprintf("verify: tree root: %v", err)) // a range from 0 has a root
		}
		copy(root[:], h)
	}
	return root
}

// indexStateHeader is the first line of an index state file.
const indexStateHeader = "agentledger-monitor-index/v1\n"

// encode returns the replayer's state: the header, then the last note, the
// tree's compact range and each key's state, as uvarint lengths and counts
// and raw hashes.
func (r *IndexReplayer) encode() []byte {
	b := []byte(indexStateHeader)
	b = binary.AppendUvarint(b, uint64(len(r.last.Note)))
	b = append(b, r.last.Note...)
	b = binary.AppendUvarint(b, r.cr.End())
	for _, h := range r.cr.Hashes() {
		b = append(b, h...)
	}
	states := r.rb.States()
	b = binary.AppendUvarint(b, uint64(len(states)))
	for _, st := range states {
		b = append(b, st.Label[:]...)
		b = binary.AppendUvarint(b, st.Size)
		b = append(b, st.Range...)
	}
	return b
}

// load reads the state file, if there is one, and checks it: the note must
// verify with the log's key and the tree and map rebuilt from the state
// must have the note's roots.
func (r *IndexReplayer) load() error {
	b, err := os.ReadFile(r.StatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read index state: %w", err)
	}
	bad := func(what string) error {
		return fmt.Errorf("index state %s: %s; remove it to replay the index from the start", r.StatePath, what)
	}
	rest, ok := bytes.CutPrefix(b, []byte(indexStateHeader))
	if !ok {
		return bad("not an index state file")
	}
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return 0, false
		}
		rest = rest[n:]
		return v, true
	}
	take := func(n uint64) ([]byte, bool) {
		if n > uint64(len(rest)) {
			return nil, false
		}
		out := rest[:n]
		rest = rest[n:]
		return out, true
	}
	nl, ok := uvarint()
	if !ok {
		return bad("truncated")
	}
	msg, ok := take(nl)
	if !ok {
		return bad("truncated")
	}
	if index.IsV1(index.Note{Note: msg}) {
		// Replayed with the key function of version 1: the index of
		// version 2 is replayed from the start (ledger/FORMAT.md,
		// "Upgrading from version 1").
		return nil
	}
	note, err := index.OpenNote(msg, r.Client.VerifierKey)
	if err != nil {
		return bad(err.Error())
	}
	size, ok := uvarint()
	if !ok || size != note.Size {
		return bad("its tree size is not its note's")
	}
	var hashes [][]byte
	for range bits.OnesCount64(size) {
		h, ok := take(ledger.HashSize)
		if !ok {
			return bad("truncated")
		}
		hashes = append(hashes, h)
	}
	if r.cr, err = ranges.NewRange(0, size, hashes); err != nil {
		return bad(err.Error())
	}
	nk, ok := uvarint()
	if !ok || nk > uint64(len(rest))/(index.HashSize+1) {
		return bad("truncated")
	}
	states := make([]index.KeyState, 0, nk)
	for range nk {
		label, ok := take(index.HashSize)
		if !ok {
			return bad("truncated")
		}
		n, ok := uvarint()
		if !ok || n > size {
			return bad("a key's list is longer than the tree")
		}
		rng, ok := take(uint64(bits.OnesCount64(n)) * index.HashSize)
		if !ok {
			return bad("truncated")
		}
		states = append(states, index.KeyState{Label: [index.HashSize]byte(label), Size: n, Range: rng})
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	if r.rb, err = index.RestoreRebuild(size, states); err != nil {
		return bad(err.Error())
	}
	if r.treeRoot() != note.TreeRoot || r.rb.MapRoot() != note.MapRoot {
		return bad("its lists do not give its note's roots")
	}
	r.last = &note
	return nil
}

package index

import (
	"bytes"
	"context"
	"fmt"

	"filippo.io/torchwood/prefix"

	"github.com/agentledger/agentledger/ledger"
)

// Proof is the answer to a lookup of one key: the key's list at the size of
// the latest index note, from position Since on, and what proves it
// complete. It is the JSON the query API serves.
type Proof struct {
	// Key is the key looked up, "<name>:<value>".
	Key string `json:"key"`
	// Note is the signed index note the answer is for.
	Note string `json:"note"`
	// Size is the tree size the note commits to.
	Size uint64 `json:"size"`
	// Count and ListRoot are the key's list as the map holds it: its
	// number of indices and RFC 6962 root. Count is zero, and ListRoot
	// empty, for a key no entry carries.
	Count    uint64 `json:"count"`
	ListRoot []byte `json:"list_root,omitempty"`
	// Since is the position in the list the answer starts at; Range is the
	// compact range of the list's first Since elements, so that a client
	// that knows the list's root at Since can check the answer extends it.
	Since uint64   `json:"since"`
	Range [][]byte `json:"range"`
	// Indices are the list's elements from position Since on.
	Indices []uint64 `json:"indices"`
	// Found says whether the map holds the key; MapProof is its membership
	// or non-membership proof against the note's map root.
	Found    bool        `json:"found"`
	MapProof []ProofNode `json:"map_proof"`
}

// ProofNode is one node of a map proof: its label (Bits bits of Label) and
// hash.
type ProofNode struct {
	Bits  uint32 `json:"bits"`
	Label []byte `json:"label"`
	Hash  []byte `json:"hash"`
}

// LookupReader is what Lookup reads: the latest index note and the map's
// keys and nodes, and the key's list from the ledger's references.
type LookupReader interface {
	LatestIndexNote(ctx context.Context) (Note, error)
	IndexKeys(ctx context.Context, labels [][HashSize]byte) (map[[HashSize]byte]KeyState, error)
	IndexNodes(ctx context.Context, ids []NodeID) (map[NodeID]Node, error)
	finder
}

// finder finds the entries that carry a reference (ledger.Reader.Find).
type finder interface {
	Find(ctx context.Context, ref ledger.Ref, from uint64, limit int) ([]uint64, error)
}

// lookupAttempts bounds how often Lookup retries when the index advanced
// while it read.
const lookupAttempts = 5

// Lookup answers key from the latest index note, listing the key's indices
// from position since on. The list is read from the stores' references
// (Find): the proof lets the client check that it is the list the index
// committed to. It fails with ledger.ErrNotFound if the index has no note
// yet (or only one of another index version, ErrIndexVersion) and
// ledger.ErrInvalid if since is beyond the list.
func Lookup(ctx context.Context, r LookupReader, key ledger.Ref, since uint64) (*Proof, error) {
	ps, err := LookupKeys(ctx, r, []ledger.Ref{key}, []uint64{since})
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// LookupKeys answers each of keys as Lookup does, all from the same index
// note, keys[i] from position since[i] on. It reads the map once for all
// keys: the store calls do not grow with the number of keys but for each
// key's list.
func LookupKeys(ctx context.Context, r LookupReader, keys []ledger.Ref, since []uint64) ([]*Proof, error) {
	a, err := LookupKeysBeyond(ctx, r, keys, since, 0)
	if err != nil {
		return nil, err
	}
	return a.Proofs, nil
}

// Answer is what LookupKeysBeyond found: the proofs of the keys, and what
// a store that reads a Snapshot read with them at no extra round trip.
type Answer struct {
	Proofs []*Proof
	// Checkpoint is the signed checkpoint at the size of the proofs' index
	// note, or nil when the store did not read it with the lookup.
	Checkpoint *ledger.Checkpoint
	// Beyond lists, for each key, up to the asked number of its indices at
	// or past the note's size, ascending: the entries the index does not
	// cover yet. It is nil when the store did not read them with the
	// lookup.
	Beyond [][]uint64
}

// LookupKeysBeyond is LookupKeys that also asks for up to beyond indices of
// each key past the index note's size and for the note's checkpoint: a
// SnapshotReader reads them in the same round trip as the proofs; other
// stores leave Answer.Checkpoint and Answer.Beyond nil.
func LookupKeysBeyond(ctx context.Context, r LookupReader, keys []ledger.Ref, since []uint64, beyond int) (*Answer, error) {
	if len(since) != len(keys) {
		return nil, fmt.Errorf("index: lookup of %d keys with %d since positions", len(keys), len(since))
	}
	if sr, ok := r.(SnapshotReader); ok {
		return lookupSnapshot(ctx, sr, r, keys, since, beyond)
	}
	for range lookupAttempts {
		ps, note, err := lookupOnce(ctx, r, keys)
		if err != nil {
			return nil, err
		}
		again, err := r.LatestIndexNote(ctx)
		if err != nil {
			return nil, fmt.Errorf("index: lookup: read latest note: %w", err)
		}
		if again.Size != note.Size {
			continue // the index advanced while the proofs were read
		}
		for i, p := range ps {
			if err := fillList(ctx, r, p, keys[i], note.Size, since[i]); err != nil {
				return nil, err
			}
		}
		return &Answer{Proofs: ps}, nil
	}
	return nil, fmt.Errorf("index: lookup of %d keys: the index kept advancing: %w", len(keys), ledger.ErrConflict)
}

// Snapshot is what one consistent read of the index holds for a lookup:
// the latest note, the states of the labels asked, the map nodes asked and
// the children of those that are inner nodes, and each key's list below
// the note's size.
type Snapshot struct {
	Note  Note
	Keys  map[[HashSize]byte]KeyState
	Nodes map[NodeID]Node
	// Lists are the keys' indices below Note.Size, ascending, in the order
	// of the keys asked.
	Lists [][]uint64
	// Beyond are, in the same order, up to the number asked of the keys'
	// indices at or past Note.Size, ascending.
	Beyond [][]uint64
	// Checkpoint is the signed checkpoint of Note.Size, nil if the store
	// holds none.
	Checkpoint *ledger.Checkpoint
}

// SnapshotReader is a Reader that reads a Snapshot in one round trip to
// its database; LookupKeys uses it when the store implements it. The
// snapshot is consistent: every part is of the index as of its note. It
// holds up to beyond indices of each key past the note (none for 0).
type SnapshotReader interface {
	IndexSnapshot(ctx context.Context, keys []ledger.Ref, labels [][HashSize]byte, ids []NodeID, beyond int) (*Snapshot, error)
}

// lookupSnapshot answers keys from one snapshot: the note, the key states,
// the nodes on the paths to the keys' labels down to guessDepth bits, their
// children, and the lists, all read at once.
func lookupSnapshot(ctx context.Context, sr SnapshotReader, r LookupReader, keys []ledger.Ref, since []uint64, beyond int) (*Answer, error) {
	labels := make([][HashSize]byte, len(keys))
	ids := make([]NodeID, 0, (guessDepth+2)*len(keys))
	for i, k := range keys {
		labels[i] = Label(k)
		all := prefixIDs(labels[i])
		ids = append(ids, all[:guessDepth+1]...)
		ids = append(ids, all[len(all)-1])
	}
	for range lookupAttempts {
		snap, err := sr.IndexSnapshot(ctx, keys, labels, ids, beyond)
		if err != nil {
			return nil, fmt.Errorf("index: lookup: %w", err)
		}
		if err := checkVersion(snap.Note); err != nil {
			return nil, fmt.Errorf("index: lookup: %w: %w", ledger.ErrNotFound, err)
		}
		ov := newOverlay(r.IndexNodes)
		for _, n := range snap.Nodes {
			pn, err := toPrefix(n)
			if err != nil {
				return nil, err
			}
			ov.nodes[pn.Label] = pn
		}
		for _, id := range ids {
			if l, err := labelOf(id); err == nil {
				if _, ok := ov.nodes[l]; !ok {
					ov.absent[l] = true
				}
			}
		}
		loads := 0
		load := ov.load
		ov.load = func(ctx context.Context, ids []NodeID) (map[NodeID]Node, error) {
			loads++ // a path deeper than guessDepth: read beyond the snapshot
			return load(ctx, ids)
		}
		ps, err := proofs(ctx, pathReader{ov}, snap.Note, keys, labels, snap.Keys)
		if err != nil {
			return nil, err
		}
		if loads > 0 {
			again, err := r.LatestIndexNote(ctx)
			if err != nil {
				return nil, fmt.Errorf("index: lookup: read latest note: %w", err)
			}
			if again.Size != snap.Note.Size {
				continue // the index advanced while the deeper nodes were read
			}
		}
		for i, p := range ps {
			if err := setList(p, snap.Lists[i], since[i]); err != nil {
				return nil, err
			}
		}
		a := &Answer{Proofs: ps, Beyond: snap.Beyond}
		if cp := snap.Checkpoint; cp != nil && cp.Size == snap.Note.Size {
			a.Checkpoint = cp
		}
		return a, nil
	}
	return nil, fmt.Errorf("index: lookup of %d keys: the index kept advancing: %w", len(keys), ledger.ErrConflict)
}

func lookupOnce(ctx context.Context, r LookupReader, keys []ledger.Ref) ([]*Proof, Note, error) {
	note, err := r.LatestIndexNote(ctx)
	if err != nil {
		return nil, Note{}, fmt.Errorf("index: lookup: read latest note: %w", err)
	}
	if err := checkVersion(note); err != nil {
		// Served as no index note at all: a client cannot check a note of
		// another version against this key function.
		return nil, Note{}, fmt.Errorf("%w: %w", ledger.ErrNotFound, err)
	}
	labels := make([][HashSize]byte, len(keys))
	for i, k := range keys {
		labels[i] = Label(k)
	}
	states, err := r.IndexKeys(ctx, labels)
	if err != nil {
		return nil, Note{}, fmt.Errorf("index: lookup: %w", err)
	}
	ps, err := proofs(ctx, pathReader{newOverlay(r.IndexNodes)}, note, keys, labels, states)
	return ps, note, err
}

// proofs builds the map proofs of keys at note from the key states and the
// map pr reads.
func proofs(ctx context.Context, pr pathReader, note Note, keys []ledger.Ref, labels [][HashSize]byte, states map[[HashSize]byte]KeyState) ([]*Proof, error) {
	leaves := make([]prefix.Label, len(keys))
	for i := range keys {
		leaves[i] = leafLabel(labels[i])
	}
	if len(keys) > 0 {
		if err := pr.loadPaths(ctx, leaves); err != nil {
			return nil, fmt.Errorf("index: lookup: %w", err)
		}
	}
	tree := prefix.NewTree(hashFunc, pr)
	out := make([]*Proof, len(keys))
	for i, key := range keys {
		label := labels[i]
		st, hasState := states[label]
		found, proof, err := tree.Lookup(ctx, label)
		if err != nil {
			return nil, fmt.Errorf("index: lookup %s: %w", key, err)
		}
		if found != hasState {
			return nil, fmt.Errorf("%w: index key %s: in the map %v, stored state %v", ledger.ErrCorrupt, key, found, hasState)
		}
		p := &Proof{Key: key.String(), Note: string(note.Note), Size: note.Size, Found: found, Range: [][]byte{}, Indices: []uint64{}}
		for _, n := range proof {
			p.MapProof = append(p.MapProof, ProofNode{Bits: n.Label.BitLen(), Label: bytes.Clone(n.Label.Bytes()), Hash: bytes.Clone(n.Hash[:])})
		}
		if found {
			l, err := ListFromRange(st.Size, st.Range)
			if err != nil {
				return nil, fmt.Errorf("index key %s: %w", key, err)
			}
			root := l.Root()
			p.Count, p.ListRoot = l.Size(), root[:]
		}
		out[i] = p
	}
	return out, nil
}

// fillList reads the key's indices below size and fills in the answer's
// range and indices from since on.
func fillList(ctx context.Context, r finder, p *Proof, key ledger.Ref, size, since uint64) error {
	if since > p.Count {
		return fmt.Errorf("%w: since %d is beyond the %d indices of %s", ledger.ErrInvalid, since, p.Count, key)
	}
	p.Since = since
	if p.Count == 0 {
		return nil
	}
	all, err := r.Find(ctx, key, 0, int(p.Count))
	if err != nil {
		return fmt.Errorf("index: lookup %s: %w", key, err)
	}
	for len(all) > 0 && all[len(all)-1] >= size {
		all = all[:len(all)-1]
	}
	return setList(p, all, since)
}

// setList fills in the answer's range and indices from since on, from the
// key's indices below the note's size (at most Count of them are used).
func setList(p *Proof, all []uint64, since uint64) error {
	if since > p.Count {
		return fmt.Errorf("%w: since %d is beyond the %d indices of %s", ledger.ErrInvalid, since, p.Count, p.Key)
	}
	p.Since = since
	if p.Count == 0 {
		return nil
	}
	all = all[:min(uint64(len(all)), p.Count)]
	head := all[:min(uint64(len(all)), since)]
	l := NewList()
	l.Append(head...)
	p.Range = l.hashes()
	p.Indices = append(p.Indices, all[len(head):]...)
	return nil
}

// Known is what a client already verified of a key's list: its count and
// root. The zero Known is the empty list.
type Known struct {
	Count uint64
	Root  [HashSize]byte
}

// Verified is a lookup answer that Verify accepted.
type Verified struct {
	// Note is the verified index note.
	Note Note
	// List is the key's list as the answer completes it.
	List Known
	// Indices are the indices the answer adds to what the client knew.
	Indices []uint64
}

// IncompleteError reports an answer whose list is not the one the signed
// index holds for the key.
type IncompleteError struct {
	Key string
	// Size is the tree size of the index note.
	Size uint64
	// Want is the number of indices the signed index holds; Got the number
	// the answer gives.
	Want, Got uint64
	Reason    string
}

func (e *IncompleteError) Error() string {
	if e.Want != e.Got {
		return fmt.Sprintf("index key %s is incomplete as of checkpoint %d: the signed index holds %d entries, the answer %d (%d missing)%s",
			e.Key, e.Size, e.Want, e.Got, int64(e.Want)-int64(e.Got), e.Reason)
	}
	return fmt.Sprintf("index key %s as of checkpoint %d: the answer's %d entries are not those the signed index holds%s", e.Key, e.Size, e.Got, e.Reason)
}

// Verify checks an answer for key against the log key vkey, given what the
// client already knows of the key's list. It checks the note's signature,
// that the map holds the count and root the answer claims (or, for a count
// of zero, that it holds no such key), that the range matches known and
// that the indices, ascending and below the note's size, extend it to that
// count and root. The caller checks the note's tree size and root against
// a checkpoint it verified.
func (p *Proof) Verify(vkey string, key ledger.Ref, known Known) (*Verified, error) {
	if p.Key != key.String() {
		return nil, fmt.Errorf("index answer is for key %q, want %q", p.Key, key)
	}
	note, err := OpenNote([]byte(p.Note), vkey)
	if err != nil {
		return nil, err
	}
	if p.Size != note.Size {
		return nil, fmt.Errorf("index answer: size %d but the note's is %d", p.Size, note.Size)
	}
	label := Label(key)
	mp := make([]prefix.ProofNode, len(p.MapProof))
	for i, n := range p.MapProof {
		if len(n.Label) != HashSize || len(n.Hash) != HashSize {
			return nil, fmt.Errorf("index answer: map proof node %d is malformed", i)
		}
		l, err := prefix.NewLabel(n.Bits, n.Label)
		if err != nil {
			return nil, fmt.Errorf("index answer: map proof node %d: %w", i, err)
		}
		mp[i] = prefix.ProofNode{Label: l, Hash: [HashSize]byte(n.Hash)}
	}
	var listRoot [HashSize]byte
	if p.Count == 0 {
		if err := prefix.VerifyNonMembershipProof(hashFunc, label, mp, note.MapRoot); err != nil {
			return nil, fmt.Errorf("index key %s: the answer says no entry carries it, but the map does not prove it: %w", key, err)
		}
	} else {
		if len(p.ListRoot) != HashSize {
			return nil, fmt.Errorf("index answer: list root of %d bytes", len(p.ListRoot))
		}
		listRoot = [HashSize]byte(p.ListRoot)
		if err := prefix.VerifyMembershipProof(hashFunc, label, Value(p.Count, listRoot), mp, note.MapRoot); err != nil {
			return nil, fmt.Errorf("index key %s: the signed map does not hold %d entries with list root %x: %w", key, p.Count, listRoot[:6], err)
		}
	}
	incomplete := func(got uint64, reason string) error {
		return &IncompleteError{Key: key.String(), Size: note.Size, Want: p.Count, Got: got, Reason: reason}
	}
	if p.Since != known.Count {
		return nil, fmt.Errorf("index answer starts at %d, the client knows %d", p.Since, known.Count)
	}
	if known.Count > p.Count {
		return nil, incomplete(known.Count, ": the list shrank since the client's last look")
	}
	rng := make([]byte, 0, len(p.Range)*HashSize)
	for _, h := range p.Range {
		if len(h) != HashSize {
			return nil, fmt.Errorf("index answer: range: a hash of %d bytes", len(h))
		}
		rng = append(rng, h...)
	}
	l, err := listWithRoom(p.Since, rng, len(p.Indices))
	if err != nil {
		return nil, fmt.Errorf("index answer: range: %w", err)
	}
	if p.Since > 0 && l.Root() != known.Root {
		return nil, incomplete(p.Since, ": its range does not match the list the client verified before")
	}
	got := p.Since + uint64(len(p.Indices))
	for i, idx := range p.Indices {
		if idx >= note.Size {
			return nil, incomplete(got, fmt.Sprintf(": entry %d is beyond the indexed size", idx))
		}
		if i > 0 && idx <= p.Indices[i-1] {
			return nil, incomplete(got, ": its indices are not ascending")
		}
	}
	if got != p.Count {
		return nil, incomplete(got, "")
	}
	l.Append(p.Indices...)
	if p.Count > 0 && l.Root() != listRoot {
		return nil, incomplete(got, "")
	}
	return &Verified{Note: note, List: Known{Count: l.Size(), Root: listRoot}, Indices: p.Indices}, nil
}

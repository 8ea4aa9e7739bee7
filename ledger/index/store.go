package index

import (
	"context"
	"fmt"

	"github.com/agentledger/agentledger/ledger"
)

// NodeIDSize is the size of a NodeID.
const NodeIDSize = 2 + HashSize

// NodeID names a node of the map: its label's bit length as a 16-bit
// big-endian number, then the label's 32 bytes (bits beyond the length are
// zero; the empty node is length 0 with every byte 0x01).
type NodeID [NodeIDSize]byte

// Node is a stored node of the map. Inner nodes (the root and the nodes
// between it and the leaves) name their two children.
type Node struct {
	ID          NodeID
	Hash        [HashSize]byte
	Inner       bool
	Left, Right NodeID
}

// KeyState is the stored state of one key: the size and compact range of
// its list.
type KeyState struct {
	Label [HashSize]byte
	Size  uint64
	// Range is the compact range covering the list, its hashes concatenated.
	Range []byte
}

// Batch is what one index transaction writes: the changed key states and
// map nodes (replacing those stored) and the new note, appended.
type Batch struct {
	Keys  []KeyState
	Nodes []Node
	Note  Note
	// Reset removes every stored key state and map node before the batch
	// writes its own: the batch is the first of the index of version 2,
	// built from index 0 over the notes of version 1 (NoteHeaderV1), whose
	// derived state it replaces. The store refuses it unless the latest
	// note is of version 1.
	Reset bool
	// AgentRefs are the agent keys (ledger.RefAgent) of the entries the
	// batch indexes. The store writes those of entries stored before
	// migration 0008 that it lacks: entries written before the key
	// function of version 2 miss the entry_refs rows of their other agent
	// names. Entries written since have them all.
	AgentRefs []RefAt
}

// RefAt is a reference of the entry of index Index.
type RefAt struct {
	Ref   ledger.Ref
	Index uint64
}

// Reader is the read side of an index store.
type Reader interface {
	// LatestIndexNote returns the index note of the largest size, or
	// ledger.ErrNotFound if the index is empty.
	LatestIndexNote(ctx context.Context) (Note, error)
	// IndexNotes returns up to limit index notes of size greater than or
	// equal to from, in ascending size order.
	IndexNotes(ctx context.Context, from uint64, limit int) ([]Note, error)
	// IndexKeys returns the stored state of each of labels that has one.
	IndexKeys(ctx context.Context, labels [][HashSize]byte) (map[[HashSize]byte]KeyState, error)
	// IndexKeysFrom returns up to limit key states of label greater than or
	// equal to from, in ascending label order.
	IndexKeysFrom(ctx context.Context, from [HashSize]byte, limit int) ([]KeyState, error)
	// IndexNodes returns the stored nodes among ids.
	IndexNodes(ctx context.Context, ids []NodeID) (map[NodeID]Node, error)
}

// Tx is what UpdateIndex passes its function to read with: the index write
// transaction, or a snapshot of the database whose index head is the size
// it passes.
type Tx interface {
	// IndexKeys and IndexNodes read as Reader's do, inside the transaction
	// or snapshot.
	IndexKeys(ctx context.Context, labels [][HashSize]byte) (map[[HashSize]byte]KeyState, error)
	IndexNodes(ctx context.Context, ids []NodeID) (map[NodeID]Node, error)
}

// Store is what the index needs of a database, beside the ledger's own
// reads. Both ledger stores implement it and pass ledger/storetest.
type Store interface {
	ledger.Reader
	Reader
	// UpdateIndex runs one index write transaction. It calls fn with the
	// size the index covers (zero, with indexed false, before the first
	// note); if fn returns a batch it is written and committed: the note
	// must be of a larger size than that one. Index writers of one
	// database are serialised by the database: a store either locks the
	// index head while fn runs, or runs fn on a snapshot and writes its
	// batch only if the index head has not moved since, and otherwise
	// calls fn again on a newer snapshot; fn must therefore be free of
	// effects beyond what it returns, until UpdateIndex returns. Entries
	// are not locked: appends go on meanwhile.
	UpdateIndex(ctx context.Context, fn func(tx Tx, size uint64, indexed bool) (*Batch, error)) error
	// ScanRefs calls fn with every stored reference whose name is an index
	// key (ledger.IsIndexKey), in no particular order, for audits.
	ScanRefs(ctx context.Context, fn func(ref ledger.Ref, index uint64) error) error
}

// Scanner is a Store that can read its whole index state in one pass per
// table, for audits: a few sequential scans instead of a read per key or
// per node. The order of rows is unspecified.
type Scanner interface {
	// ScanIndexKeys calls fn with every stored key state.
	ScanIndexKeys(ctx context.Context, fn func(KeyState) error) error
	// ScanIndexNodes calls fn with every stored map node.
	ScanIndexNodes(ctx context.Context, fn func(Node) error) error
	// ScanIndexRefs calls fn with every stored reference whose name is an
	// index key (ledger.IsIndexKey) and whose index is below size. key and
	// value are valid only until fn returns.
	ScanIndexRefs(ctx context.Context, size uint64, fn func(key, value []byte, index uint64) error) error
}

// EncodeNode returns a node's stored columns: its hash, and for an inner
// node its children's ids concatenated (nil otherwise).
func EncodeNode(n Node) (hash, children []byte) {
	if n.Inner {
		children = append(append(make([]byte, 0, 2*NodeIDSize), n.Left[:]...), n.Right[:]...)
	}
	return n.Hash[:], children
}

// DecodeNode parses a node's stored columns, as EncodeNode returns them.
func DecodeNode(id, hash, children []byte) (Node, error) {
	if len(id) != NodeIDSize || len(hash) != HashSize || (len(children) != 0 && len(children) != 2*NodeIDSize) {
		return Node{}, fmt.Errorf("%w: map node %x: malformed row", ledger.ErrCorrupt, id)
	}
	n := Node{ID: NodeID(id), Hash: [HashSize]byte(hash), Inner: len(children) != 0}
	if n.Inner {
		n.Left, n.Right = NodeID(children[:NodeIDSize]), NodeID(children[NodeIDSize:])
	}
	return n, nil
}

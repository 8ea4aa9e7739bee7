package ledger

import (
	"context"
	"time"
)

// TileHeight is the height of a C2SP tlog-tiles tile: a full tile holds
// 2^8 = 256 hashes.
const TileHeight = 8

// TileWidth is the number of hashes in a full tile.
const TileWidth = 1 << TileHeight

// HashSize is the size of a tree node hash.
const HashSize = 32

// TreeHead is the state of the tree that every write transaction locks and
// advances: the tree size and root, the compact range that covers
// [0, Size) (the roots of its perfect subtrees, left to right), and the
// size of the latest signed checkpoint.
type TreeHead struct {
	Size  uint64
	Root  [HashSize]byte
	Range [][]byte
	// Checkpointed reports whether any checkpoint was signed; CheckpointSize
	// and CheckpointTime describe the latest one.
	Checkpointed   bool
	CheckpointSize uint64
	CheckpointTime time.Time
}

// TileID names a tile: Level L holds the hashes of tree level 8·L, and tile
// Index N holds nodes 256·N to 256·N+255 of that level.
type TileID struct {
	Level uint8
	Index uint64
}

// TileSegment is a run of consecutive hashes of one tile, starting at
// position Start (0–255). Tiles are stored as insert-only segments: a full
// tile never changes and a partial tile only grows.
type TileSegment struct {
	Tile   TileID
	Start  int
	Hashes []byte // a multiple of HashSize
}

// Ref is an indexed fact of an entry, used to find entries without a scan:
// ("trace", trace ID), ("credential", credential ID), ("agent", agent ID), …
type Ref struct {
	Key   string
	Value string
}

// Record is one entry as written to and read from a store. Time, the
// entry's start time as the stores index it, is kept in UTC to the
// microsecond by Postgres and to the nanosecond by SQLite; the leaf holds it
// exactly either way.
type Record struct {
	Index    uint64
	Leaf     []byte
	LeafHash [HashSize]byte
	DedupKey [HashSize]byte
	Kind     Kind
	TraceID  string
	Time     time.Time
	Refs     []Ref     // written only
	Content  []Content // on read, only the content still present
}

// FindQuery is one lookup of FindMany: it examines, in ascending order,
// up to Limit entries with index greater than or equal to From that carry
// Ref, and keeps those whose kind is one of Kinds (all of them when Kinds
// is empty).
type FindQuery struct {
	Ref   Ref
	Kinds []Kind
	From  uint64
	Limit int
}

// Found is the answer to a FindQuery.
type Found struct {
	// Indices are the kept indices, ascending.
	Indices []uint64
	// More is true when Limit entries were examined, so that more may
	// carry Ref from Next on.
	More bool
	Next uint64
}

// Checkpoint is a signed tree head: a C2SP tlog-checkpoint signed note.
type Checkpoint struct {
	Size uint64
	Root [HashSize]byte
	Note []byte
	Time time.Time
}

// ContentRef names content to erase: the content Name of entry Index, or all
// of that entry's content when Name is empty.
type ContentRef struct {
	Index uint64
	Name  string
}

// Batch is everything one write transaction commits.
type Batch struct {
	// Records are the new entries, with consecutive indices starting at the
	// size of the head that was locked.
	Records []Record
	// Tiles are the new tile hashes.
	Tiles []TileSegment
	// Head is the new tree head. When Checkpoint is set, Head records it
	// (same size and time); otherwise Head's checkpoint fields equal those
	// of the locked head. A store refuses a batch that breaks this with
	// ErrInvalid.
	Head TreeHead
	// Checkpoint, when set, is stored, and Head records it as the latest.
	Checkpoint *Checkpoint
	// Erase lists content to delete. The batch must append the erasure entry
	// that records it.
	Erase []ContentRef
}

// Existing is what a store knows of an entry by its dedup key: its index and
// its leaf, so that a re-delivery whose facts differ can be told apart from
// a retry.
type Existing struct {
	Index uint64
	Leaf  []byte
}

// UpdateFunc computes the batch a write transaction commits from the locked
// tree head and the entries already stored under the dedup keys. Returning
// a nil batch commits nothing.
type UpdateFunc func(head TreeHead, existing map[[HashSize]byte]Existing) (*Batch, error)

// Store is what the ledger needs of a database. Postgres and SQLite
// implement it; both pass the conformance suite in ledger/storetest.
type Store interface {
	Reader
	// Update runs one write transaction. It locks the tree head, so that all
	// writers of one database are serialised by the database, looks up which
	// of keys are stored, calls fn, and writes and commits the batch fn
	// returns. If anything fails nothing is written.
	Update(ctx context.Context, keys [][HashSize]byte, fn UpdateFunc) error
	// Close releases the store's connections.
	Close() error
}

// Reader is the read side of a store. The query server depends on it alone.
type Reader interface {
	// Head returns the current tree head.
	Head(ctx context.Context) (TreeHead, error)
	// Tiles returns the stored hashes of each tile that has any, in
	// order, concatenated. A tile with no hashes is absent from the map.
	Tiles(ctx context.Context, ids []TileID) (map[TileID][]byte, error)
	// Records returns the entries with index in [start, end) in index
	// order, with their content.
	Records(ctx context.Context, start, end uint64) ([]Record, error)
	// RecordsAt returns the entries at the given indices, in index order,
	// with their content. Indices beyond the tree are skipped.
	RecordsAt(ctx context.Context, indices []uint64) ([]Record, error)
	// Find returns, in ascending order, up to limit indices greater than or
	// equal to from of entries that carry ref.
	Find(ctx context.Context, ref Ref, from uint64, limit int) ([]uint64, error)
	// FindMany answers several lookups at once, in one round trip where
	// the store can, in the order of qs (see FindQuery).
	FindMany(ctx context.Context, qs []FindQuery) ([]Found, error)
	// Checkpoint returns the checkpoint of the given tree size, or
	// ErrNotFound.
	Checkpoint(ctx context.Context, size uint64) (Checkpoint, error)
	// LatestCheckpoint returns the checkpoint of the largest size, or
	// ErrNotFound if none was signed.
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
	// Checkpoints returns up to limit checkpoints of size greater than or
	// equal to from, in ascending size order.
	Checkpoints(ctx context.Context, from uint64, limit int) ([]Checkpoint, error)
}

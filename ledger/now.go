package ledger

import "context"

// nowUpdater is a Store with a write transaction for the few entries
// AppendNow appends, which takes fewer round trips than Update takes for a
// group commit (on Postgres, pipelined INSERTs instead of COPY), and so
// also holds the tree head lock for less time. Its semantics are Update's.
type nowUpdater interface {
	UpdateNow(ctx context.Context, keys [][HashSize]byte, fn UpdateFunc) error
}

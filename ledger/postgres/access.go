package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentledger/agentledger/ledger"
)

// maxNowRecords is the most entries UpdateNow writes with INSERT; a larger
// batch is written with COPY, as Update writes it.
const maxNowRecords = 64

// guessAfterMiss is how many UpdateNow calls lock the head before they
// guess it again, after a guess missed: while other writers move the head
// (ingest's group commits), most guesses would miss, and each miss costs
// two round trips.
const guessAfterMiss = 16

// UpdateNow is Update for the few entries a caller waits for, such as the
// access entry a read of content appends (ledger.Log.AppendNow).
//
// It first calls fn with the head its previous UpdateNow left (a guess, see
// headGuess) and no stored keys; if fn's batch only appends entries, of
// every key, it sends the whole transaction in one round trip: BEGIN, the
// head lock, the entries, references and content (INSERT from arrays,
// where Update uses a COPY of two round trips for each table), the head,
// the tiles and COMMIT. So it holds the tree head lock, which every writer
// waits for, for no round trip of its own, only while the database runs
// the statements and the commit. The database refuses a guess that another
// writer has moved on from: the entries must follow the locked head (the
// entries_follow_head and append_checks_counted guards) and the head moves
// only from the guessed size and root, so the transaction fails before its
// COMMIT takes effect; the unique index on dedup keys refuses a stored key.
// A guess carries the latest checkpoint the store knew of, which another
// writer may have moved on from: the head's checkpoint is left as stored,
// as fn's batch does not change it.
//
// Otherwise, or if the guess fails, it takes two round trips: BEGIN, the
// head lock and the dedup probe, pipelined; then the writes and COMMIT,
// pipelined. A batch of more than maxNowRecords entries, a checkpoint or
// an erasure is written as Update writes it.
func (s *Store) UpdateNow(ctx context.Context, keys [][ledger.HashSize]byte, fn ledger.UpdateFunc) error {
	if guess, ok := s.guess.get(); ok {
		done, err := s.updateGuessed(ctx, guess, keys, fn)
		if done {
			return err
		}
		s.guess.missed()
	}
	return s.updateLocked(ctx, keys, fn)
}

// updateGuessed runs fn on a guessed head and, if its batch may be written
// so (guessable), writes and commits it in one pipeline. It returns done
// false, having committed nothing, if the batch may not be written so, or
// if the pipeline failed while ctx is live: the caller then runs the
// transaction with the head lock first, which also returns the errors of
// fn and of the batch's check that the guess may have caused.
func (s *Store) updateGuessed(ctx context.Context, guess ledger.TreeHead, keys [][ledger.HashSize]byte, fn ledger.UpdateFunc) (done bool, err error) {
	b, err := fn(guess, map[[ledger.HashSize]byte]ledger.Existing{})
	if err != nil || !guessable(b, keys) || b.Check(guess) != nil {
		return false, nil
	}
	err = s.writeTx(ctx, func(conn *pgx.Conn) error {
		var p pipeline
		p.queue("begin", -1, `BEGIN ISOLATION LEVEL READ COMMITTED`)
		p.queue("tree head lock", 1, `SELECT 1 FROM tree_head WHERE id = 1 FOR UPDATE`)
		queueRecordsNow(&p, b.Records)
		h := &b.Head
		p.queue("tree head", 1, `UPDATE tree_head SET size = $1, root = $2, range = $3
			WHERE id = 1 AND size = $4 AND root = $5`,
			int64(h.Size), h.Root[:], joinHashes(h.Range), int64(guess.Size), guess.Root[:])
		queueTiles(&p, b.Tiles)
		p.queue("commit", -1, `COMMIT`)
		return p.send(ctx, conn)
	})
	if err != nil {
		return ctx.Err() != nil, err
	}
	s.guess.set(b.Head)
	return true, nil
}

// guessable reports whether b may be written on a guessed head: it appends
// a few entries, one of each of keys (so the unique index on dedup keys
// vouches that none is stored), and stores no checkpoint and erases
// nothing.
func guessable(b *ledger.Batch, keys [][ledger.HashSize]byte) bool {
	return b != nil && len(b.Records) > 0 && len(b.Records) <= maxNowRecords &&
		b.Checkpoint == nil && len(b.Erase) == 0 && b.WritesKeys(keys)
}

// updateLocked runs UpdateNow's transaction with the head lock and the
// dedup probe first.
func (s *Store) updateLocked(ctx context.Context, keys [][ledger.HashSize]byte, fn ledger.UpdateFunc) error {
	var (
		erasure string // the erasing transaction's ID
		after   ledger.TreeHead
	)
	err := s.writeTx(ctx, func(conn *pgx.Conn) error {
		head, existing, err := lockHead(ctx, conn, keys)
		if err != nil {
			return err
		}
		b, err := fn(head, existing)
		if err != nil {
			return err
		}
		if b == nil {
			after = head
			return nil
		}
		if err := b.Check(head); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		after = b.Head
		if len(b.Records) > maxNowRecords || b.Checkpoint != nil || len(b.Erase) > 0 {
			return writeBatch(ctx, conn, head, b, &erasure)
		}
		return writeBatchNow(ctx, conn, head, b)
	})
	if err != nil {
		return err
	}
	// A transaction that returned without a batch rolled back, and the
	// head it read holds: the next UpdateNow may guess it as well.
	s.guess.set(after)
	if erasure != "" {
		s.requestVacuum(erasure)
	}
	return nil
}

// headGuess is the tree head a store's next UpdateNow guesses: the head its
// latest UpdateNow left, unless a guess missed within the last
// guessAfterMiss calls. It is safe for concurrent use.
type headGuess struct {
	mu    sync.Mutex
	head  ledger.TreeHead
	valid bool
	skip  int // calls left that do not guess
}

// get returns the head to guess, if any.
func (g *headGuess) get() (ledger.TreeHead, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.skip > 0 {
		g.skip--
		return ledger.TreeHead{}, false
	}
	return g.head, g.valid
}

// set records h as the head a transaction left, unless a larger one is
// recorded: of concurrent calls, the last to commit left the largest.
func (g *headGuess) set(h ledger.TreeHead) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.valid || h.Size >= g.head.Size {
		g.head, g.valid = h, true
	}
}

// missed records that a guess failed: the next guessAfterMiss calls lock
// the head first.
func (g *headGuess) missed() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.valid, g.skip = false, guessAfterMiss
}

// writeBatchNow writes and commits a checked batch of records, tiles and
// head, without a checkpoint or an erasure, in one pipeline: the entries,
// their references and content, the head, the tiles, and COMMIT, in the
// order writeBatch writes them (the database checks each table against the
// head as writeBatch's statements leave it).
func writeBatchNow(ctx context.Context, conn *pgx.Conn, old ledger.TreeHead, b *ledger.Batch) error {
	var p pipeline
	queueRecordsNow(&p, b.Records)
	queueHeadAndTiles(&p, old, b)
	p.queue("commit", -1, `COMMIT`)
	return p.send(ctx, conn)
}

// queueRecordsNow queues on p the insert of recs, their references and
// their content, each table from arrays in one statement.
func queueRecordsNow(p *pipeline, recs []ledger.Record) {
	queue := p.queue
	if n := len(recs); n > 0 {
		idxs, leaves, leafHashes, dedupKeys := make([]int64, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		kinds, traces, times := make([]string, n), make([]string, n), make([]pgtype.Timestamptz, n)
		for i := range recs {
			r := &recs[i]
			idxs[i], leaves[i], leafHashes[i], dedupKeys[i] = int64(r.Index), r.Leaf, r.LeafHash[:], r.DedupKey[:]
			kinds[i], traces[i] = string(r.Kind), r.TraceID
			times[i] = pgtype.Timestamptz{Time: r.Time, Valid: !r.Time.IsZero()} // NULL for the zero time, as toDB makes it
		}
		queue("entries", int64(n), `INSERT INTO entries (idx, leaf, leaf_hash, dedup_key, kind, trace_id, time)
			SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::timestamptz[])`,
			idxs, leaves, leafHashes, dedupKeys, kinds, traces, times)
	}
	var (
		refKeys, refValues []string
		refIdxs            []int64
		cIdxs              []int64
		cNames             []string
		cSalts, cData      [][]byte
	)
	for i := range recs {
		r := &recs[i]
		rs := r.Refs
		if len(rs) > 1 { // an entry's duplicate references are written once, as copyRecords writes them
			rs = slices.Clone(rs)
			slices.SortFunc(rs, func(a, b ledger.Ref) int {
				return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value, b.Value))
			})
			rs = slices.Compact(rs)
		}
		for _, ref := range rs {
			refKeys, refValues, refIdxs = append(refKeys, ref.Key), append(refValues, ref.Value), append(refIdxs, int64(r.Index))
		}
		for _, c := range r.Content {
			data := c.Data
			if data == nil { // content data is NOT NULL: empty data is stored empty
				data = []byte{}
			}
			cIdxs, cNames, cSalts, cData = append(cIdxs, int64(r.Index)), append(cNames, c.Name), append(cSalts, c.Salt), append(cData, data)
		}
	}
	if n := len(refKeys); n > 0 {
		queue("entry_refs", int64(n), `INSERT INTO entry_refs (key, value, idx)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])`, refKeys, refValues, refIdxs)
	}
	if n := len(cIdxs); n > 0 {
		queue("content", int64(n), `INSERT INTO content (idx, name, salt, data)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::bytea[])`, cIdxs, cNames, cSalts, cData)
	}
}

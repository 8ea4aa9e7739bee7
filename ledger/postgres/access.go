package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentledger/agentledger/ledger"
)

// maxNowRecords is the most entries UpdateNow writes with INSERT; a larger
// batch is written with COPY, as Update writes it.
const maxNowRecords = 64

// UpdateNow is Update for the few entries a caller waits for, such as the
// access entry a read of content appends (ledger.Log.AppendNow). It takes
// two round trips: BEGIN, the head lock and the dedup probe, pipelined; then
// the entries, references and content (INSERT from arrays, where Update
// uses a COPY of two round trips for each table), the head, the tiles and
// COMMIT, pipelined. So it also holds the tree head lock, which every
// writer waits for, for one round trip and the commit. A batch of more than
// maxNowRecords entries, a checkpoint or an erasure is written as Update
// writes it.
func (s *Store) UpdateNow(ctx context.Context, keys [][ledger.HashSize]byte, fn ledger.UpdateFunc) error {
	var erasure string // the erasing transaction's ID
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
			return nil
		}
		if err := b.Check(head); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if len(b.Records) > maxNowRecords || b.Checkpoint != nil || len(b.Erase) > 0 {
			return writeBatch(ctx, conn, head, b, &erasure)
		}
		return writeBatchNow(ctx, conn, head, b)
	})
	if err == nil && erasure != "" {
		s.requestVacuum(erasure)
	}
	return err
}

// writeBatchNow writes and commits a checked batch of records, tiles and
// head, without a checkpoint or an erasure, in one pipeline: the entries,
// their references and content, the head, the tiles, and COMMIT, in the
// order writeBatch writes them (the database checks each table against the
// head as writeBatch's statements leave it).
func writeBatchNow(ctx context.Context, conn *pgx.Conn, old ledger.TreeHead, b *ledger.Batch) error {
	var p pipeline
	queue := p.queue
	recs := b.Records
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
	queueHeadAndTiles(&p, old, b)
	queue("commit", -1, `COMMIT`)
	return p.send(ctx, conn)
}

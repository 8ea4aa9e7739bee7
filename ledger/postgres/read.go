package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/ledger"
)

// Head implements ledger.Reader.
func (s *Store) Head(ctx context.Context) (ledger.TreeHead, error) {
	h, err := scanHead(s.pool.QueryRow(ctx, selectHead))
	if err != nil {
		return ledger.TreeHead{}, fmt.Errorf("postgres: read tree head: %w", err)
	}
	return h, nil
}

// Tiles implements ledger.Reader. It reads all tiles in one query and checks
// that each tile's segments are contiguous from position 0.
func (s *Store) Tiles(ctx context.Context, ids []ledger.TileID) (map[ledger.TileID][]byte, error) {
	levels, idxs := make([]int16, 0, len(ids)), make([]int64, 0, len(ids))
	for _, id := range ids {
		if id.Index <= math.MaxInt64 {
			levels, idxs = append(levels, int16(id.Level)), append(idxs, int64(id.Index))
		}
	}
	out := make(map[ledger.TileID][]byte)
	if len(levels) == 0 {
		return out, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT level, idx, start, hashes FROM tiles
		WHERE (level, idx) IN (SELECT * FROM unnest($1::smallint[], $2::bigint[]))
		ORDER BY level, idx, start`, levels, idxs)
	defer rows.Close()
	for rows.Next() {
		var (
			level, start int16
			idx          int64
			hashes       []byte
		)
		if err := rows.Scan(&level, &idx, &start, &hashes); err != nil {
			return nil, fmt.Errorf("postgres: read tiles: %w", translate(err))
		}
		id := ledger.TileID{Level: uint8(level), Index: uint64(idx)}
		t := out[id]
		if have := len(t) / ledger.HashSize; int(start) != have || len(hashes)%ledger.HashSize != 0 ||
			have+len(hashes)/ledger.HashSize > ledger.TileWidth {
			return nil, fmt.Errorf("postgres: %w: tile %d/%d: segment of %d bytes at %d follows %d hashes",
				ledger.ErrCorrupt, level, idx, len(hashes), start, have)
		}
		out[id] = append(t, hashes...)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read tiles: %w", translate(err))
	}
	return out, nil
}

// selectRecords selects entries with their content, aggregated per entry in
// the byte order of content names, so that one statement (one snapshot)
// returns both.
const selectEntries = `SELECT idx, leaf, leaf_hash, dedup_key, kind, trace_id, time FROM entries `

const selectContent = `SELECT idx, name, salt, data FROM content `

// Records implements ledger.Reader: RecordsInto, into memory of its own,
// with each entry's content in name order, as RecordsAt returns it.
func (s *Store) Records(ctx context.Context, start, end uint64) ([]ledger.Record, error) {
	recs, _, err := s.RecordsInto(ctx, start, end, nil, nil)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	for i := range recs {
		slices.SortFunc(recs[i].Content, func(a, b ledger.Content) int { return strings.Compare(a.Name, b.Name) })
	}
	return recs, nil
}

// RecordsAt implements ledger.Reader. It reads the entries and their
// content with one statement (one snapshot, one round trip), joined: a
// view reads a few hundred scattered entries, for which the round trips of
// a transaction cost more than the repeated leaf of an entry with several
// pieces of content.
func (s *Store) RecordsAt(ctx context.Context, indices []uint64) ([]ledger.Record, error) {
	idxs := make([]int64, 0, len(indices))
	for _, i := range indices {
		if i <= math.MaxInt64 {
			idxs = append(idxs, int64(i))
		}
	}
	if len(idxs) == 0 {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT e.idx, e.leaf, e.leaf_hash, e.dedup_key, e.kind, e.trace_id, e.time, c.name, c.salt, c.data
		FROM entries e LEFT JOIN content c ON c.idx = e.idx
		WHERE e.idx = ANY($1) ORDER BY e.idx, c.name COLLATE "C"`, idxs)
	defer rows.Close()
	var recs []ledger.Record
	for rows.Next() {
		var (
			idx                int64
			leaf               []byte
			leafHash, dedupKey []byte
			kind, traceID      string
			t                  *time.Time
			name               *string
			salt, data         []byte
		)
		if err := rows.Scan(&idx, &leaf, &leafHash, &dedupKey, &kind, &traceID, &t, &name, &salt, &data); err != nil {
			return nil, fmt.Errorf("postgres: read entries: %w", translate(err))
		}
		if n := len(recs); n == 0 || recs[n-1].Index != uint64(idx) {
			if len(leafHash) != ledger.HashSize || len(dedupKey) != ledger.HashSize {
				return nil, fmt.Errorf("postgres: read entries: %w: entry %d: malformed row", ledger.ErrCorrupt, idx)
			}
			r := ledger.Record{Index: uint64(idx), Leaf: leaf, Kind: ledger.Kind(kind), TraceID: traceID, Time: fromDB(t)}
			copy(r.LeafHash[:], leafHash)
			copy(r.DedupKey[:], dedupKey)
			recs = append(recs, r)
		}
		if name != nil {
			if data == nil {
				data = []byte{}
			}
			r := &recs[len(recs)-1]
			r.Content = append(r.Content, ledger.Content{Name: *name, Salt: salt, Data: data})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read entries: %w", translate(err))
	}
	return recs, nil
}

// maxRecordsHint bounds the records RecordsInto makes room for before it
// reads any: a range read past the head must not allocate for rows that
// are not there.
const maxRecordsHint = 1 << 14

// slabSize is the least size of the slab into which RecordsInto copies
// the values of many rows.
const slabSize = 256 << 10

// pgEpoch is the Postgres epoch, 2000-01-01 UTC, in microseconds since the
// Unix epoch.
const pgEpoch = 946_684_800_000_000

// binaryTime decodes a timestamptz in binary (microseconds since the
// Postgres epoch); NULL is the zero time, as fromDB makes it.
func binaryTime(b []byte) (time.Time, error) {
	if b == nil {
		return time.Time{}, nil
	}
	if len(b) != 8 {
		return time.Time{}, fmt.Errorf("time of %d bytes", len(b))
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us == math.MaxInt64 || us == math.MinInt64 || us > math.MaxInt64-pgEpoch {
		return time.Time{}, errors.New("time out of range")
	}
	return time.UnixMicro(us + pgEpoch).UTC(), nil
}

// Find implements ledger.Reader.
func (s *Store) Find(ctx context.Context, ref ledger.Ref, from uint64, limit int) ([]uint64, error) {
	if limit <= 0 || from > math.MaxInt64 {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT idx FROM entry_refs
		WHERE key = $1 AND value = $2 AND idx >= $3 ORDER BY idx LIMIT $4`,
		ref.Key, ref.Value, int64(from), limit)
	idxs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (uint64, error) {
		var i int64
		err := row.Scan(&i)
		return uint64(i), err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: find %s=%q: %w", ref.Key, ref.Value, translate(err))
	}
	if len(idxs) == 0 {
		return nil, nil
	}
	return idxs, nil
}

// FindMany implements ledger.Reader, in one statement: each query's
// entries carrying its ref, and, for a query that names kinds, each one's
// kind by its primary key.
func (s *Store) FindMany(ctx context.Context, qs []ledger.FindQuery) ([]ledger.Found, error) {
	out := make([]ledger.Found, len(qs))
	var (
		pos          []int32
		keys, values []string
		froms        []int64
		limits       []int32
		kinds        []string
	)
	for i, q := range qs {
		if q.Limit <= 0 || q.From > math.MaxInt64 {
			continue
		}
		ks := make([]string, len(q.Kinds))
		for j, k := range q.Kinds {
			ks[j] = string(k)
		}
		pos = append(pos, int32(i))
		keys, values = append(keys, q.Ref.Key), append(values, q.Ref.Value)
		froms, limits = append(froms, int64(q.From)), append(limits, int32(min(q.Limit, math.MaxInt32)))
		kinds = append(kinds, strings.Join(ks, ","))
	}
	if len(pos) == 0 {
		return out, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT q.pos, r.idx, q.kinds = '' OR e.kind = ANY (string_to_array(q.kinds, ','))
		FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[], $5::int[], $6::text[]) AS q(pos, key, value, from_idx, lim, kinds)
		CROSS JOIN LATERAL (SELECT idx FROM entry_refs
			WHERE key = q.key AND value = q.value AND idx >= q.from_idx ORDER BY idx LIMIT q.lim) r
		LEFT JOIN entries e ON q.kinds <> '' AND e.idx = r.idx
		ORDER BY q.pos, r.idx`, pos, keys, values, froms, limits, kinds)
	defer rows.Close()
	examined := make([]int, len(qs))
	for rows.Next() {
		var (
			p   int32
			idx int64
			ok  bool
		)
		if err := rows.Scan(&p, &idx, &ok); err != nil {
			return nil, fmt.Errorf("postgres: find many: %w", translate(err))
		}
		f := &out[p]
		examined[p]++
		if ok {
			f.Indices = append(f.Indices, uint64(idx))
		}
		f.Next = uint64(idx) + 1
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find many: %w", translate(err))
	}
	for i, q := range qs {
		out[i].More = q.Limit > 0 && examined[i] == q.Limit
		if !out[i].More {
			out[i].Next = 0
		}
	}
	return out, nil
}

const selectCheckpoints = `SELECT size, root, note, time FROM checkpoints `

// Checkpoint implements ledger.Reader.
func (s *Store) Checkpoint(ctx context.Context, size uint64) (ledger.Checkpoint, error) {
	if size > math.MaxInt64 {
		return ledger.Checkpoint{}, fmt.Errorf("postgres: checkpoint of size %d: %w", size, ledger.ErrNotFound)
	}
	cp, err := scanCheckpoint(s.pool.QueryRow(ctx, selectCheckpoints+`WHERE size = $1`, int64(size)))
	if err != nil {
		return ledger.Checkpoint{}, fmt.Errorf("postgres: checkpoint of size %d: %w", size, err)
	}
	return cp, nil
}

// LatestCheckpoint implements ledger.Reader.
func (s *Store) LatestCheckpoint(ctx context.Context) (ledger.Checkpoint, error) {
	cp, err := scanCheckpoint(s.pool.QueryRow(ctx, selectCheckpoints+`ORDER BY size DESC LIMIT 1`))
	if err != nil {
		return ledger.Checkpoint{}, fmt.Errorf("postgres: latest checkpoint: %w", err)
	}
	return cp, nil
}

// Checkpoints implements ledger.Reader.
func (s *Store) Checkpoints(ctx context.Context, from uint64, limit int) ([]ledger.Checkpoint, error) {
	if limit <= 0 || from > math.MaxInt64 {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, selectCheckpoints+`WHERE size >= $1 ORDER BY size LIMIT $2`, int64(from), limit)
	cps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.Checkpoint, error) {
		return scanCheckpoint(row)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints from size %d: %w", from, translate(err))
	}
	if len(cps) == 0 {
		return nil, nil
	}
	return cps, nil
}

// scanCheckpoint reads a checkpoint row as selectCheckpoints selects it,
// translating the error.
func scanCheckpoint(row pgx.Row) (ledger.Checkpoint, error) {
	var (
		cp   ledger.Checkpoint
		size int64
		root []byte
		t    *time.Time
	)
	if err := row.Scan(&size, &root, &cp.Note, &t); err != nil {
		return ledger.Checkpoint{}, translate(err)
	}
	if len(root) != ledger.HashSize {
		return ledger.Checkpoint{}, fmt.Errorf("%w: checkpoint of size %d: root of %d bytes", ledger.ErrCorrupt, size, len(root))
	}
	cp.Size = uint64(size)
	copy(cp.Root[:], root)
	cp.Time = fromDB(t)
	return cp, nil
}

package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

var _ index.Store = (*Store)(nil)

// queryer is what the index readers need of a pool or a connection.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const selectIndexNotes = `SELECT size, tree_root, map_root, note, time FROM index_notes `

// LatestIndexNote implements index.Reader.
func (s *Store) LatestIndexNote(ctx context.Context) (index.Note, error) {
	ns, err := readIndexNotes(ctx, s.pool, `ORDER BY size DESC LIMIT 1`)
	if err != nil {
		return index.Note{}, err
	}
	if len(ns) == 0 {
		return index.Note{}, fmt.Errorf("postgres: latest index note: %w", ledger.ErrNotFound)
	}
	return ns[0], nil
}

// IndexNotes implements index.Reader.
func (s *Store) IndexNotes(ctx context.Context, from uint64, limit int) ([]index.Note, error) {
	if limit <= 0 || from > math.MaxInt64 {
		return nil, nil
	}
	return readIndexNotes(ctx, s.pool, `WHERE size >= $1 ORDER BY size LIMIT $2`, int64(from), limit)
}

func readIndexNotes(ctx context.Context, q queryer, where string, args ...any) ([]index.Note, error) {
	rows, _ := q.Query(ctx, selectIndexNotes+where, args...)
	return collectIndexNotes(rows)
}

func collectIndexNotes(rows pgx.Rows) ([]index.Note, error) {
	ns, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (index.Note, error) {
		var (
			n           index.Note
			size        int64
			tree, mroot []byte
			t           *time.Time
		)
		if err := row.Scan(&size, &tree, &mroot, &n.Note, &t); err != nil {
			return n, err
		}
		if len(tree) != ledger.HashSize || len(mroot) != ledger.HashSize {
			return n, fmt.Errorf("%w: index note of size %d: malformed roots", ledger.ErrCorrupt, size)
		}
		n.Size, n.Time = uint64(size), fromDB(t)
		n.TreeRoot, n.MapRoot = [ledger.HashSize]byte(tree), [ledger.HashSize]byte(mroot)
		return n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read index notes: %w", translate(err))
	}
	return ns, nil
}

// IndexKeys implements index.Reader.
func (s *Store) IndexKeys(ctx context.Context, labels [][ledger.HashSize]byte) (map[[ledger.HashSize]byte]index.KeyState, error) {
	return readIndexKeys(ctx, s.pool, labels)
}

func readIndexKeys(ctx context.Context, q queryer, labels [][ledger.HashSize]byte) (map[[ledger.HashSize]byte]index.KeyState, error) {
	lb := make([][]byte, len(labels))
	for i := range labels {
		lb[i] = labels[i][:]
	}
	ks, err := scanIndexKeys(ctx, q, `WHERE label = ANY($1)`, lb)
	if err != nil {
		return nil, err
	}
	out := make(map[[ledger.HashSize]byte]index.KeyState, len(ks))
	for _, k := range ks {
		out[k.Label] = k
	}
	return out, nil
}

// IndexKeysFrom implements index.Reader.
func (s *Store) IndexKeysFrom(ctx context.Context, from [ledger.HashSize]byte, limit int) ([]index.KeyState, error) {
	if limit <= 0 {
		return nil, nil
	}
	return scanIndexKeys(ctx, s.pool, `WHERE label >= $1 ORDER BY label LIMIT $2`, from[:], limit)
}

func scanIndexKeys(ctx context.Context, q queryer, where string, args ...any) ([]index.KeyState, error) {
	rows, _ := q.Query(ctx, `SELECT label, size, range FROM index_keys `+where, args...)
	return collectIndexKeys(rows)
}

func collectIndexKeys(rows pgx.Rows) ([]index.KeyState, error) {
	ks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (index.KeyState, error) {
		var (
			k     index.KeyState
			label []byte
			size  int64
		)
		if err := row.Scan(&label, &size, &k.Range); err != nil {
			return k, err
		}
		if len(label) != ledger.HashSize {
			return k, fmt.Errorf("%w: index key label of %d bytes", ledger.ErrCorrupt, len(label))
		}
		k.Label, k.Size = [ledger.HashSize]byte(label), uint64(size)
		return k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read index keys: %w", translate(err))
	}
	return ks, nil
}

// IndexNodes implements index.Reader.
func (s *Store) IndexNodes(ctx context.Context, ids []index.NodeID) (map[index.NodeID]index.Node, error) {
	return readIndexNodes(ctx, s.pool, ids)
}

func readIndexNodes(ctx context.Context, q queryer, ids []index.NodeID) (map[index.NodeID]index.Node, error) {
	b := make([][]byte, len(ids))
	for i := range ids {
		b[i] = ids[i][:]
	}
	rows, _ := q.Query(ctx, `SELECT id, hash, children FROM index_nodes WHERE id = ANY($1)`, b)
	out := make(map[index.NodeID]index.Node, len(ids))
	return out, collectIndexNodes(rows, out)
}

// collectIndexNodes adds the nodes of rows to out. The columns are read in
// the driver's buffer, which DecodeNode copies from: no allocation per row.
func collectIndexNodes(rows pgx.Rows, out map[index.NodeID]index.Node) error {
	defer rows.Close()
	var id, h, children pgtype.DriverBytes
	for rows.Next() {
		if err := rows.Scan(&id, &h, &children); err != nil {
			return fmt.Errorf("postgres: read index nodes: %w", translate(err))
		}
		n, err := index.DecodeNode(id, h, children)
		if err != nil {
			return fmt.Errorf("postgres: read index nodes: %w", err)
		}
		out[n.ID] = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: read index nodes: %w", translate(err))
	}
	return nil
}

// indexTx is an index.Tx on the connection of an index transaction.
type indexTx struct{ conn *pgx.Conn }

func (t indexTx) IndexKeys(ctx context.Context, labels [][ledger.HashSize]byte) (map[[ledger.HashSize]byte]index.KeyState, error) {
	return readIndexKeys(ctx, t.conn, labels)
}

func (t indexTx) IndexNodes(ctx context.Context, ids []index.NodeID) (map[index.NodeID]index.Node, error) {
	return readIndexNodes(ctx, t.conn, ids)
}

// UpdateIndex implements index.Store. It locks the index head row, not the
// tree head: appends go on while the index is updated. The batch is written
// in one pipeline: the key states and map nodes as upserts of arrays, the
// note, the head and COMMIT.
func (s *Store) UpdateIndex(ctx context.Context, fn func(tx index.Tx, size uint64, indexed bool) (*index.Batch, error)) error {
	return s.writeTx(ctx, func(conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, `BEGIN ISOLATION LEVEL READ COMMITTED`); err != nil {
			return fmt.Errorf("postgres: update index: begin: %w", translate(err))
		}
		var size *int64
		if err := conn.QueryRow(ctx, `SELECT size FROM index_head WHERE id = 1 FOR UPDATE`).Scan(&size); err != nil {
			return fmt.Errorf("postgres: update index: lock head: %w", translate(err))
		}
		var cur uint64
		if size != nil {
			cur = uint64(*size)
		}
		b, err := fn(indexTx{conn}, cur, size != nil)
		if err != nil || b == nil {
			return err
		}
		if size != nil && b.Note.Size <= cur || b.Note.Size > math.MaxInt64 {
			return fmt.Errorf("%w: postgres: index note of size %d does not advance the index from %d", ledger.ErrInvalid, b.Note.Size, cur)
		}
		if b.Reset {
			var latest []byte
			if err := conn.QueryRow(ctx, `SELECT note FROM index_notes ORDER BY size DESC LIMIT 1`).Scan(&latest); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("postgres: update index: read latest note: %w", translate(err))
			}
			if !index.IsV1(index.Note{Note: latest}) {
				return fmt.Errorf("%w: postgres: an index reset replaces only an index of version 1", ledger.ErrInvalid)
			}
		}
		var refKeys, refValues []string
		var refIdx []int64
		var bound int64
		if len(b.AgentRefs) > 0 {
			if err := conn.QueryRow(ctx, `SELECT size FROM entry_refs_backfill WHERE id = 1`).Scan(&bound); err != nil {
				return fmt.Errorf("postgres: update index: read backfill bound: %w", translate(err))
			}
		}
		for _, r := range b.AgentRefs {
			if r.Index >= uint64(bound) {
				continue
			}
			if r.Ref.Key != ledger.RefAgent {
				return fmt.Errorf("%w: postgres: backfilled reference %s of entry %d", ledger.ErrInvalid, r.Ref, r.Index)
			}
			refKeys, refValues, refIdx = append(refKeys, r.Ref.Key), append(refValues, r.Ref.Value), append(refIdx, int64(r.Index))
		}
		if err := copyIndexBatch(ctx, conn, b); err != nil {
			return err
		}
		var batch pgx.Batch
		if b.Reset {
			batch.Queue(`DELETE FROM index_keys`)
			batch.Queue(`DELETE FROM index_nodes`)
		}
		if len(refIdx) > 0 {
			// Only the references of entries stored before migration 0008
			// that lack them (index.Batch.AgentRefs).
			batch.Queue(`INSERT INTO entry_refs (key, value, idx)
				SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
				ON CONFLICT DO NOTHING`, refKeys, refValues, refIdx)
		}
		batch.Queue(`INSERT INTO index_keys (label, size, range) SELECT label, size, range FROM pg_temp.index_keys_new
			ON CONFLICT (label) DO UPDATE SET size = excluded.size, range = excluded.range`)
		batch.Queue(`INSERT INTO index_nodes (id, hash, children) SELECT id, hash, children FROM pg_temp.index_nodes_new
			ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, children = excluded.children`)
		batch.Queue(`INSERT INTO index_notes (size, tree_root, map_root, note, time) VALUES ($1, $2, $3, $4, $5)`,
			int64(b.Note.Size), b.Note.TreeRoot[:], b.Note.MapRoot[:], b.Note.Note, toDB(b.Note.Time))
		batch.Queue(`UPDATE index_head SET size = $1 WHERE id = 1`, int64(b.Note.Size))
		batch.Queue(`COMMIT`)
		if err := conn.SendBatch(ctx, &batch).Close(); err != nil {
			return fmt.Errorf("postgres: update index: write: %w", translate(err))
		}
		return nil
	})
}

// copyIndexBatch copies the key states and map nodes of b into temporary
// tables, from which UpdateIndex upserts them: COPY moves the rows at a
// fraction of the cost of binding them as arrays. The tables are created
// once per connection and emptied at each commit (a rolled-back
// transaction's rows are gone too), so that every transaction starts with
// them empty: creating and dropping them in each transaction, once a
// second, cost the backend about a millisecond of CPU each time and left
// dead rows in the system catalogs for vacuum.
func copyIndexBatch(ctx context.Context, conn *pgx.Conn, b *index.Batch) error {
	if _, err := conn.Exec(ctx, `CREATE TEMPORARY TABLE IF NOT EXISTS index_keys_new (label bytea NOT NULL, size bigint NOT NULL, range bytea NOT NULL) ON COMMIT DELETE ROWS;
		CREATE TEMPORARY TABLE IF NOT EXISTS index_nodes_new (id bytea NOT NULL, hash bytea NOT NULL, children bytea) ON COMMIT DELETE ROWS`); err != nil {
		return fmt.Errorf("postgres: update index: create temporary tables: %w", translate(err))
	}
	size := 0
	for i := range b.Keys {
		size += 54 + len(b.Keys[i].Range)
	}
	keys := copyHeader(size)
	for i := range b.Keys {
		k := &b.Keys[i]
		keys = binary.BigEndian.AppendUint16(keys, 3)
		keys = appendCopyField(keys, k.Label[:])
		keys = binary.BigEndian.AppendUint32(keys, 8)
		keys = binary.BigEndian.AppendUint64(keys, k.Size)
		keys = appendCopyField(keys, k.Range)
	}
	if _, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(copyTrailer(keys)),
		`COPY pg_temp.index_keys_new (label, size, range) FROM STDIN (FORMAT binary)`); err != nil {
		return fmt.Errorf("postgres: update index: copy key states: %w", translate(err))
	}
	nodes := copyHeader(148 * len(b.Nodes))
	for i := range b.Nodes {
		n := &b.Nodes[i]
		nodes = binary.BigEndian.AppendUint16(nodes, 3)
		nodes = appendCopyField(nodes, n.ID[:])
		nodes = appendCopyField(nodes, n.Hash[:])
		if n.Inner {
			nodes = binary.BigEndian.AppendUint32(nodes, 2*index.NodeIDSize)
			nodes = append(append(nodes, n.Left[:]...), n.Right[:]...)
		} else {
			nodes = binary.BigEndian.AppendUint32(nodes, math.MaxUint32) // NULL
		}
	}
	if _, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(copyTrailer(nodes)),
		`COPY pg_temp.index_nodes_new (id, hash, children) FROM STDIN (FORMAT binary)`); err != nil {
		return fmt.Errorf("postgres: update index: copy map nodes: %w", translate(err))
	}
	return nil
}

// copyHeader starts the rows of a binary COPY: the signature, no flags and
// no header extension. The rows of the index batch are encoded directly,
// the columns as stored (EncodeNode's), rather than through pgx's encoding
// of a []any per row, which cost more CPU than the rest of the write.
// rows is the size of the rows to come, so that they are appended without
// reallocating.
func copyHeader(rows int) []byte {
	return append(make([]byte, 0, 19+rows+2), "PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00"...)
}

// appendCopyField appends a bytea field of a binary COPY row: its length
// and bytes (an empty value, not NULL, for a nil one).
func appendCopyField(b, v []byte) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(v))), v...)
}

// copyTrailer ends the rows of a binary COPY.
func copyTrailer(b []byte) []byte { return binary.BigEndian.AppendUint16(b, math.MaxUint16) }

// ScanRefs implements index.Store.
func (s *Store) ScanRefs(ctx context.Context, fn func(ref ledger.Ref, idx uint64) error) error {
	rows, _ := s.pool.Query(ctx, `SELECT key, value, idx FROM entry_refs WHERE key = ANY($1)`,
		indexRefNames)
	defer rows.Close()
	for rows.Next() {
		var (
			r   ledger.Ref
			idx int64
		)
		if err := rows.Scan(&r.Key, &r.Value, &idx); err != nil {
			return fmt.Errorf("postgres: scan refs: %w", translate(err))
		}
		if err := fn(r, uint64(idx)); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: scan refs: %w", translate(err))
	}
	return nil
}

var _ index.SnapshotReader = (*Store)(nil)

// IndexSnapshot implements index.SnapshotReader: one pipeline of reads
// (one round trip) between two reads of the latest note. Index writes
// commit a new note each, so equal notes at both ends mean every read in
// between saw the index as of that note; otherwise it reads again, a few
// times, then fails with ledger.ErrConflict. The same pipeline reads the
// checkpoint of the note's size and, with beyond > 0, each key's first
// indices past the note.
func (s *Store) IndexSnapshot(ctx context.Context, keys []ledger.Ref, labels [][ledger.HashSize]byte, ids []index.NodeID, beyond int) (*index.Snapshot, error) {
	lb := make([][]byte, len(labels))
	for i := range labels {
		lb[i] = labels[i][:]
	}
	nb := make([][]byte, len(ids))
	for i := range ids {
		nb[i] = ids[i][:]
	}
	names, values := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		names[i], values[i] = k.Key, k.Value
	}
	for range 5 {
		snap, same, err := s.indexSnapshot(ctx, lb, nb, names, values, beyond)
		if err != nil || same {
			return snap, err
		}
	}
	return nil, fmt.Errorf("postgres: index snapshot: the index kept advancing: %w", ledger.ErrConflict)
}

func (s *Store) indexSnapshot(ctx context.Context, lb, nb [][]byte, names, values []string, beyond int) (*index.Snapshot, bool, error) {
	var batch pgx.Batch
	var notes [2][]index.Note
	readNotes := func(i int) func(pgx.Rows) error {
		return func(rows pgx.Rows) error {
			ns, err := collectIndexNotes(rows)
			notes[i] = ns
			return err
		}
	}
	snap := &index.Snapshot{Lists: make([][]uint64, len(names))}
	// Generic plans: planning these statements for their parameters, as
	// Postgres does for the first five executions on each connection,
	// made those executions of the pipeline 40-100 times slower than the
	// rest (the p99 of a lookup), for the same index scans.
	batch.Queue(`BEGIN READ ONLY`)
	batch.Queue(`SET LOCAL plan_cache_mode = force_generic_plan`)
	batch.Queue(selectIndexNotes + `ORDER BY size DESC LIMIT 1`).Query(readNotes(0))
	batch.Queue(`SELECT label, size, range FROM index_keys WHERE label = ANY($1)`, lb).Query(func(rows pgx.Rows) error {
		ks, err := collectIndexKeys(rows)
		snap.Keys = make(map[[ledger.HashSize]byte]index.KeyState, len(ks))
		for _, k := range ks {
			snap.Keys[k.Label] = k
		}
		return err
	})
	snap.Nodes = make(map[index.NodeID]index.Node)
	readNodes := func(rows pgx.Rows) error { return collectIndexNodes(rows, snap.Nodes) }
	batch.Queue(`SELECT id, hash, children FROM index_nodes WHERE id = ANY($1)`, nb).Query(readNodes)
	batch.Queue(`SELECT c.id, c.hash, c.children FROM index_nodes p
		JOIN index_nodes c ON c.id = substring(p.children FROM 1 FOR 34) WHERE p.id = ANY($1)
		UNION ALL
		SELECT c.id, c.hash, c.children FROM index_nodes p
		JOIN index_nodes c ON c.id = substring(p.children FROM 35 FOR 34) WHERE p.id = ANY($1)`, nb).Query(readNodes)
	readIndices := func(dst *[]uint64) func(pgx.Rows) error {
		return func(rows pgx.Rows) error {
			idx, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (uint64, error) {
				var v int64
				err := row.Scan(&v)
				return uint64(v), err
			})
			*dst = idx
			return err
		}
	}
	for i := range names {
		batch.Queue(`SELECT idx FROM entry_refs WHERE key = $1 AND value = $2
			AND idx < (SELECT coalesce(max(size), 0) FROM index_notes) ORDER BY idx`, names[i], values[i]).Query(readIndices(&snap.Lists[i]))
	}
	if beyond > 0 {
		snap.Beyond = make([][]uint64, len(names))
		for i := range names {
			batch.Queue(`SELECT idx FROM entry_refs WHERE key = $1 AND value = $2
				AND idx >= (SELECT coalesce(max(size), 0) FROM index_notes) ORDER BY idx LIMIT $3`, names[i], values[i], beyond).Query(readIndices(&snap.Beyond[i]))
		}
	}
	batch.Queue(selectCheckpoints + `WHERE size = (SELECT coalesce(max(size), 0) FROM index_notes)`).Query(func(rows pgx.Rows) error {
		cps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.Checkpoint, error) { return scanCheckpoint(row) })
		if len(cps) > 0 {
			snap.Checkpoint = &cps[0]
		}
		return err
	})
	batch.Queue(selectIndexNotes + `ORDER BY size DESC LIMIT 1`).Query(readNotes(1))
	batch.Queue(`COMMIT`)
	if err := s.pool.SendBatch(ctx, &batch).Close(); err != nil {
		return nil, false, fmt.Errorf("postgres: index snapshot: %w", translate(err))
	}
	if len(notes[0]) == 0 {
		return nil, false, fmt.Errorf("postgres: index snapshot: %w", ledger.ErrNotFound)
	}
	if len(notes[1]) == 0 || notes[1][0].Size != notes[0][0].Size {
		return nil, false, nil
	}
	snap.Note = notes[0][0]
	return snap, true, nil
}

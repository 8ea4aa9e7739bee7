package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentledger/agentledger/ledger"
)

var (
	entryColumns   = []string{"idx", "leaf", "leaf_hash", "dedup_key", "kind", "trace_id", "time"}
	refColumns     = []string{"key", "value", "idx"}
	contentColumns = []string{"idx", "name", "salt", "data"}
)

// Update implements ledger.Store. A transaction that writes entries takes
// five round trips: BEGIN, the head lock and the dedup probe, pipelined; one
// COPY each for entries, references and content; the head, the tiles, the
// checkpoint, the erasure and COMMIT, pipelined.
//
// The dedup probe looks up every key, most of them new, and the unique
// index on dedup_key looks them up again when the entries are written. So
// while no duplicate arrives (see ledger.DedupProbes), Update skips the probe and
// lets the index find one: fn is given no stored keys, and if its batch
// writes an entry of each of keys, the COPY fails if any is stored, and
// Update runs the transaction again with the probe. A batch of fn that does
// not write every key, or no batch, was decided without the stored keys:
// Update runs it again with the probe too. Only a transaction that probed,
// or whose batch the unique index vouches for, commits.
//
// After a transaction that erased content commits, Update has the content
// table rewritten in the background (see vacuumer).
func (s *Store) Update(ctx context.Context, keys [][ledger.HashSize]byte, fn ledger.UpdateFunc) error {
	probe := len(keys) == 0 || s.probes.Probe()
	for {
		err := s.update(ctx, keys, probe, fn)
		if probe || !errors.Is(err, errProbe) {
			return err
		}
		probe = true
	}
}

// errProbe is the error of a transaction that skipped the dedup probe and
// must run again with it.
var errProbe = errors.New("postgres: dedup probe needed")

// update runs one transaction of Update, with or without the dedup probe.
func (s *Store) update(ctx context.Context, keys [][ledger.HashSize]byte, probe bool, fn ledger.UpdateFunc) error {
	var erasure string // the erasing transaction's ID
	err := s.writeTx(ctx, func(conn *pgx.Conn) error {
		probed := keys
		if !probe {
			probed = nil
		}
		head, existing, err := lockHead(ctx, conn, probed)
		if err != nil {
			return err
		}
		if probe && len(keys) > 0 {
			s.probes.Probed(len(existing) > 0)
		}
		b, err := fn(head, existing)
		if err != nil {
			return err
		}
		if !probe && !b.WritesKeys(keys) {
			s.probes.Conflict()
			return errProbe
		}
		if b == nil {
			return nil
		}
		if err := b.Check(head); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		err = writeBatch(ctx, conn, head, b, &erasure)
		if !probe && isDedupConflict(err) {
			s.probes.Conflict()
			return errProbe
		}
		return err
	})
	if err == nil && erasure != "" {
		s.requestVacuum(erasure)
	}
	return err
}

// dedupKeyConstraint is the unique constraint of entries.dedup_key.
const dedupKeyConstraint = "entries_dedup_key_key"

// isDedupConflict reports whether err is the unique index on dedup_key
// refusing an entry.
func isDedupConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == codeUniqueViolation && pe.ConstraintName == dedupKeyConstraint
}

// writeTx runs f on one connection, in a read-committed transaction that f
// begins with its first pipeline and commits with its last, to save the two
// round trips of a BEGIN and a COMMIT of their own. writeTx rolls back a
// transaction f leaves open, so that if f fails, or ctx ends before the
// COMMIT, nothing f wrote is committed.
func (s *Store) writeTx(ctx context.Context, f func(conn *pgx.Conn) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: acquire connection: %w", translate(err))
	}
	defer c.Release() // the pool discards a connection left in a transaction
	err = f(c.Conn())
	if c.Conn().PgConn().TxStatus() != 'I' && !c.Conn().IsClosed() {
		if _, rerr := c.Exec(ctx, "ROLLBACK"); rerr != nil && err == nil {
			err = fmt.Errorf("postgres: rollback: %w", translate(rerr))
		}
	}
	return err
}

const selectHead = `SELECT size, root, range, checkpoint_size, checkpoint_time FROM tree_head WHERE id = 1`

// lockHead begins the transaction, locks and reads the tree head and reads
// the indices of the stored dedup keys among keys, in one round trip. The
// probe runs after the lock is granted, so under read committed it sees
// every entry committed by the writer this one waited for.
func lockHead(ctx context.Context, conn *pgx.Conn, keys [][ledger.HashSize]byte) (ledger.TreeHead, map[[ledger.HashSize]byte]ledger.Existing, error) {
	var b pgx.Batch
	b.Queue(`BEGIN ISOLATION LEVEL READ COMMITTED`)
	b.Queue(selectHead + ` FOR UPDATE`)
	if len(keys) > 0 {
		kb := make([][]byte, len(keys))
		for i := range keys {
			kb[i] = keys[i][:]
		}
		b.Queue(`SELECT dedup_key, idx, leaf FROM entries WHERE dedup_key = ANY($1)`, kb)
	}
	br := conn.SendBatch(ctx, &b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return ledger.TreeHead{}, nil, fmt.Errorf("postgres: begin: %w", translate(err))
	}
	head, err := scanHead(br.QueryRow())
	if err != nil {
		return ledger.TreeHead{}, nil, fmt.Errorf("postgres: lock tree head: %w", err)
	}
	existing := make(map[[ledger.HashSize]byte]ledger.Existing)
	if len(keys) > 0 {
		rows, _ := br.Query()
		defer rows.Close()
		for rows.Next() {
			var (
				k, leaf []byte
				idx     int64
			)
			if err := rows.Scan(&k, &idx, &leaf); err != nil {
				return ledger.TreeHead{}, nil, fmt.Errorf("postgres: read dedup keys: %w", translate(err))
			}
			var key [ledger.HashSize]byte
			if len(k) != len(key) {
				return ledger.TreeHead{}, nil, fmt.Errorf("postgres: %w: entry %d: dedup key of %d bytes", ledger.ErrCorrupt, idx, len(k))
			}
			copy(key[:], k)
			existing[key] = ledger.Existing{Index: uint64(idx), Leaf: leaf}
		}
		if err := rows.Err(); err != nil {
			return ledger.TreeHead{}, nil, fmt.Errorf("postgres: read dedup keys: %w", translate(err))
		}
	}
	if err := br.Close(); err != nil {
		return ledger.TreeHead{}, nil, fmt.Errorf("postgres: lock tree head: %w", translate(err))
	}
	return head, existing, nil
}

// scanHead reads a tree head row as selectHead selects it.
func scanHead(row pgx.Row) (ledger.TreeHead, error) {
	var (
		size, root, rng = int64(0), []byte(nil), []byte(nil)
		cpSize          *int64
		cpTime          *time.Time
	)
	if err := row.Scan(&size, &root, &rng, &cpSize, &cpTime); err != nil {
		return ledger.TreeHead{}, translate(err)
	}
	h := ledger.TreeHead{Size: uint64(size)}
	if len(root) != ledger.HashSize || len(rng)%ledger.HashSize != 0 {
		return ledger.TreeHead{}, fmt.Errorf("%w: tree head: root of %d bytes, range of %d bytes", ledger.ErrCorrupt, len(root), len(rng))
	}
	copy(h.Root[:], root)
	for i := 0; i < len(rng); i += ledger.HashSize {
		h.Range = append(h.Range, rng[i:i+ledger.HashSize:i+ledger.HashSize])
	}
	if cpSize != nil {
		h.Checkpointed = true
		h.CheckpointSize = uint64(*cpSize)
	}
	h.CheckpointTime = fromDB(cpTime)
	return h, nil
}

// writeBatch writes a checked batch and commits: entries, references and
// content with COPY, then the head, the tiles, the checkpoint, the erasure
// and COMMIT in one pipeline. The database accepts tiles and a checkpoint
// only within the head, so the head comes first. A batch that erases
// content sets *erasure to the ID of its transaction.
func writeBatch(ctx context.Context, conn *pgx.Conn, old ledger.TreeHead, b *ledger.Batch, erasure *string) error {
	if len(b.Records) > 0 {
		if err := copyRecords(ctx, conn, b.Records); err != nil {
			return err
		}
	}

	var p pipeline
	queue := p.queue
	queueHeadAndTiles(&p, old, b)
	if cp := b.Checkpoint; cp != nil {
		queue("checkpoint", 1, `INSERT INTO checkpoints (size, root, note, time) VALUES ($1, $2, $3, $4)`,
			int64(cp.Size), cp.Root[:], cp.Note, toDB(cp.Time))
	}
	if n := len(b.Erase); n > 0 {
		idxs, names := make([]int64, n), make([]string, n)
		for i, e := range b.Erase {
			idxs[i], names[i] = int64(e.Index), e.Name
		}
		queue("erasure", -1, `SELECT set_config('agentledger.erasure', $1, true)`,
			strconv.FormatInt(b.ErasureIndex(), 10))
		queue("erased content", -1, `DELETE FROM content c
			USING unnest($1::bigint[], $2::text[]) AS e(idx, name)
			WHERE c.idx = e.idx AND (e.name = '' OR c.name = e.name)`, idxs, names)
		p.queueScan("transaction ID", erasure, `SELECT pg_current_xact_id()::xid::text`)
	}
	queue("commit", -1, `COMMIT`)
	return p.send(ctx, conn)
}

// pipeline is statements sent to the database in one round trip, each
// checked as its answer is read.
type pipeline struct {
	b     pgx.Batch
	steps []step
}

// step is one statement of a pipeline.
type step struct {
	what string  // what it writes, for errors
	want int64   // rows affected; -1 for any
	scan *string // where the statement's one value goes, if it returns one
}

// queue adds a statement that must affect want rows (-1: any).
func (p *pipeline) queue(what string, want int64, sql string, args ...any) {
	p.b.Queue(sql, args...)
	p.steps = append(p.steps, step{what: what, want: want})
}

// queueScan adds a statement whose one value is stored in *dst.
func (p *pipeline) queueScan(what string, dst *string, sql string, args ...any) {
	p.b.Queue(sql, args...)
	p.steps = append(p.steps, step{what: what, scan: dst})
}

// send sends the pipeline and checks each statement's answer in order.
func (p *pipeline) send(ctx context.Context, conn *pgx.Conn) error {
	br := conn.SendBatch(ctx, &p.b)
	defer br.Close()
	for _, st := range p.steps {
		if st.scan != nil {
			if err := br.QueryRow().Scan(st.scan); err != nil {
				return fmt.Errorf("postgres: write %s: %w", st.what, translate(err))
			}
			continue
		}
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("postgres: write %s: %w", st.what, translate(err))
		}
		if st.want >= 0 && tag.RowsAffected() != st.want {
			return fmt.Errorf("postgres: write %s: %w: %d rows affected, want %d", st.what, ledger.ErrConflict, tag.RowsAffected(), st.want)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("postgres: write batch: %w", translate(err))
	}
	return nil
}

// copyRecords writes the entries, their references and their content with
// COPY. An entry's duplicate references are written once. COPY encodes each
// row before it asks for the next, so one row of values is reused, and its
// values are pointers into recs (and into flat slices of the references and
// content) that encode themselves (see the column types below): an
// interface holds a pointer without allocating, where it would allocate for
// each field's value, so a batch of thousands of entries makes a handful
// of allocations, not tens per entry.
func copyRecords(ctx context.Context, conn *pgx.Conn, recs []ledger.Record) error {
	row := make([]any, len(entryColumns))
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"entries"}, entryColumns, pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
		r := &recs[i]
		row[0], row[1], row[2], row[3] = (*idxCol)(r), (*leafCol)(r), (*leafHashCol)(r), (*dedupKeyCol)(r)
		row[4], row[5], row[6] = (*kindCol)(r), (*traceIDCol)(r), (*timeCol)(r)
		return row, nil
	}))
	if err != nil {
		return fmt.Errorf("postgres: write entries: %w", translate(err))
	}
	if n != int64(len(recs)) {
		return fmt.Errorf("postgres: write entries: %w: %d rows copied, want %d", ledger.ErrConflict, n, len(recs))
	}

	var (
		refs    []refRow
		content []contentRow
	)
	for i := range recs {
		r := &recs[i]
		idx := int64(r.Index)
		rs := r.Refs
		if len(rs) > 1 {
			rs = slices.Clone(rs)
			slices.SortFunc(rs, func(a, b ledger.Ref) int {
				return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value, b.Value))
			})
			rs = slices.Compact(rs)
		}
		for _, ref := range rs {
			refs = append(refs, refRow{key: ref.Key, value: ref.Value, idx: idx})
		}
		for j := range r.Content {
			content = append(content, contentRow{idx: idx, c: &r.Content[j]})
		}
	}
	if len(refs) > 0 {
		row := make([]any, len(refColumns))
		n, err := conn.CopyFrom(ctx, pgx.Identifier{"entry_refs"}, refColumns, pgx.CopyFromSlice(len(refs), func(i int) ([]any, error) {
			r := &refs[i]
			row[0], row[1], row[2] = (*refKeyCol)(r), (*refValueCol)(r), (*refIdxCol)(r)
			return row, nil
		}))
		if err := copied("entry_refs", n, len(refs), err); err != nil {
			return err
		}
	}
	if len(content) > 0 {
		row := make([]any, len(contentColumns))
		n, err := conn.CopyFrom(ctx, pgx.Identifier{"content"}, contentColumns, pgx.CopyFromSlice(len(content), func(i int) ([]any, error) {
			c := &content[i]
			row[0], row[1], row[2], row[3] = (*contentIdxCol)(c), (*contentNameCol)(c), (*contentSaltCol)(c), (*contentDataCol)(c)
			return row, nil
		}))
		if err := copied("content", n, len(content), err); err != nil {
			return err
		}
	}
	return nil
}

// copied returns the error of a COPY into table that wrote n rows of want.
func copied(table string, n int64, want int, err error) error {
	if err != nil {
		return fmt.Errorf("postgres: write %s: %w", table, translate(err))
	}
	if n != int64(want) {
		return fmt.Errorf("postgres: write %s: %w: %d rows copied, want %d", table, ledger.ErrConflict, n, want)
	}
	return nil
}

// refRow and contentRow are rows of entry_refs and content.
type (
	refRow struct {
		key, value string
		idx        int64
	}
	contentRow struct {
		idx int64
		c   *ledger.Content
	}
)

// The columns of the rows copyRecords writes, each a view of a record, a
// refRow or a contentRow that encodes the column's value (pgtype's
// Int64Valuer, BytesValuer, TextValuer, TimestamptzValuer).
type (
	idxCol         ledger.Record
	leafCol        ledger.Record
	leafHashCol    ledger.Record
	dedupKeyCol    ledger.Record
	kindCol        ledger.Record
	traceIDCol     ledger.Record
	timeCol        ledger.Record
	refKeyCol      refRow
	refValueCol    refRow
	refIdxCol      refRow
	contentIdxCol  contentRow
	contentNameCol contentRow
	contentSaltCol contentRow
	contentDataCol contentRow
)

func (r *idxCol) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: int64(r.Index), Valid: true}, nil
}
func (r *leafCol) BytesValue() ([]byte, error)     { return r.Leaf, nil }
func (r *leafHashCol) BytesValue() ([]byte, error) { return r.LeafHash[:], nil }
func (r *dedupKeyCol) BytesValue() ([]byte, error) { return r.DedupKey[:], nil }
func (r *kindCol) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: string(r.Kind), Valid: true}, nil
}
func (r *traceIDCol) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: r.TraceID, Valid: true}, nil
}

// TimestamptzValue is NULL for the zero time, as toDB makes it.
func (r *timeCol) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: r.Time, Valid: !r.Time.IsZero()}, nil
}
func (r *refKeyCol) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: r.key, Valid: true}, nil
}
func (r *refValueCol) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: r.value, Valid: true}, nil
}
func (r *refIdxCol) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: r.idx, Valid: true}, nil
}
func (c *contentIdxCol) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: c.idx, Valid: true}, nil
}
func (c *contentNameCol) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: c.c.Name, Valid: true}, nil
}
func (c *contentSaltCol) BytesValue() ([]byte, error) { return c.c.Salt, nil }

// BytesValue is never nil: content data is NOT NULL, and empty data is
// stored empty.
func (c *contentDataCol) BytesValue() ([]byte, error) {
	if c.c.Data == nil {
		return []byte{}, nil
	}
	return c.c.Data, nil
}

func joinHashes(hs [][]byte) []byte {
	b := make([]byte, 0, len(hs)*ledger.HashSize)
	for _, h := range hs {
		b = append(b, h...)
	}
	return b
}

// toDB returns t for a timestamptz column: nil (NULL) for the zero time.
func toDB(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// fromDB returns a nullable timestamptz as a UTC time, zero for NULL.
func fromDB(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// queueHeadAndTiles queues on p the move of the tree head from
// old to b's head (refused unless the stored head still has old's size) and
// the insert of b's tiles.
func queueHeadAndTiles(p *pipeline, old ledger.TreeHead, b *ledger.Batch) {
	h := &b.Head
	var cpSize *int64
	if h.Checkpointed {
		cpSize = new(int64(h.CheckpointSize))
	}
	p.queue("tree head", 1, `UPDATE tree_head
		SET size = $1, root = $2, range = $3, checkpoint_size = $4, checkpoint_time = $5
		WHERE id = 1 AND size = $6`,
		int64(h.Size), h.Root[:], joinHashes(h.Range), cpSize, toDB(h.CheckpointTime), int64(old.Size))
	if n := len(b.Tiles); n > 0 {
		levels, idxs, starts := make([]int16, n), make([]int64, n), make([]int16, n)
		hashes := make([][]byte, n)
		for i, t := range b.Tiles {
			levels[i], idxs[i], starts[i], hashes[i] = int16(t.Tile.Level), int64(t.Tile.Index), int16(t.Start), t.Hashes
		}
		p.queue("tiles", int64(n), `INSERT INTO tiles (level, idx, start, hashes)
			SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::smallint[], $4::bytea[])`,
			levels, idxs, starts, hashes)
	}
}

package postgres

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

var _ index.Scanner = (*Store)(nil)

// indexRefNames are the names of the references that are index keys.
var indexRefNames = ledger.IndexKeyNames()

// ScanIndexKeys implements index.Scanner: one sequential scan, read in
// binary.
func (s *Store) ScanIndexKeys(ctx context.Context, fn func(index.KeyState) error) error {
	return s.scanRaw(ctx, "scan index keys", 3, `SELECT label, size, range FROM index_keys`, func(v [][]byte) error {
		if len(v[0]) != ledger.HashSize || len(v[1]) != 8 || v[2] == nil {
			return fmt.Errorf("%w: malformed index key row", ledger.ErrCorrupt)
		}
		return fn(index.KeyState{Label: [ledger.HashSize]byte(v[0]), Size: binary.BigEndian.Uint64(v[1]), Range: append([]byte(nil), v[2]...)})
	})
}

// ScanIndexNodes implements index.Scanner: one sequential scan, read in
// binary.
func (s *Store) ScanIndexNodes(ctx context.Context, fn func(index.Node) error) error {
	return s.scanRaw(ctx, "scan index nodes", 3, `SELECT id, hash, children FROM index_nodes`, func(v [][]byte) error {
		n, err := index.DecodeNode(v[0], v[1], v[2])
		if err != nil {
			return err
		}
		return fn(n)
	})
}

// ScanIndexRefs implements index.Scanner: one sequential scan of
// entry_refs, read in binary without a copy of each row.
func (s *Store) ScanIndexRefs(ctx context.Context, size uint64, fn func(key, value []byte, idx uint64) error) error {
	size = min(size, math.MaxInt64)
	return s.scanRaw(ctx, "scan index refs", 3, `SELECT key, value, idx FROM entry_refs WHERE key = ANY($1) AND idx < $2`, func(v [][]byte) error {
		if len(v[2]) != 8 {
			return fmt.Errorf("%w: malformed entry_refs row", ledger.ErrCorrupt)
		}
		return fn(v[0], v[1], binary.BigEndian.Uint64(v[2]))
	}, indexRefNames, int64(size))
}

// scanRaw runs one query whose rows have cols columns, in binary, and
// calls fn with each row's raw values, valid only until fn returns. An
// error of fn is returned as it is.
func (s *Store) scanRaw(ctx context.Context, op string, cols int, sql string, fn func([][]byte) error, args ...any) error {
	rows, _ := s.pool.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}, args...)...)
	defer rows.Close()
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != cols {
			return fmt.Errorf("postgres: %s: %w: row of %d columns", op, ledger.ErrCorrupt, len(v))
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, translate(err))
	}
	return nil
}

// RecordsInto reads the entries [start, end) with their content, as Records
// does, into memory the caller reuses: the records are appended to
// recs[:0] (each record's Content slice is reused too) and their bytes are
// copied into slab's capacity, growing it when it is short. It returns the
// records and the slab to pass to the next call; the records are valid
// until then. The content of an entry comes in no particular order.
//
// An audit reads every row of the log once: reusing a few pages' memory
// spares the allocation and garbage collection of every record's bytes.
// The statements have no ORDER BY, so that the plan never sorts (a range
// of a table without statistics is planned as a bitmap scan, whose rows
// Postgres then sorted on disk): rows come in heap order, which for an
// append-only table is index order, and are sorted here only if they are
// not.
func (s *Store) RecordsInto(ctx context.Context, start, end uint64, recs []ledger.Record, slab []byte) ([]ledger.Record, []byte, error) {
	recs = recs[:0]
	end = min(end, math.MaxInt64)
	if start >= end {
		return recs, slab, nil
	}
	if n := min(end-start, maxRecordsHint); uint64(cap(recs)) < n {
		recs = make([]ledger.Record, 0, n)
	}
	r := recordReader{recs: recs, slab: slab[:0], start: start}
	const where = `WHERE idx >= $1 AND idx < $2`
	args := []any{pgx.QueryResultFormats{pgx.BinaryFormatCode}, int64(start), int64(end)}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, selectEntries+where, args...)
		if err := scanRows(rows, r.entry); err != nil {
			return err
		}
		r.sort()
		rows, _ = tx.Query(ctx, selectContent+where, args...)
		return scanRows(rows, r.content)
	})
	if err != nil {
		return r.recs, r.slab, fmt.Errorf("postgres: read entries: %w", translate(err))
	}
	return r.recs, r.slab, nil
}

// scanRows calls fn with the raw values of each row, and closes rows.
func scanRows(rows pgx.Rows, fn func([][]byte) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.RawValues()); err != nil {
			return err
		}
	}
	return rows.Err()
}

// recordReader decodes the binary rows of RecordsInto's statements.
type recordReader struct {
	recs  []ledger.Record
	slab  []byte
	start uint64
	// unsorted reports that the entries did not come in index order.
	unsorted bool
	// names holds the content names read so far, so that each is one
	// string however many entries carry it.
	names map[string]string
	// spare is how far content has looked, in recs, for the room of an
	// earlier record without content (see addContent).
	spare int
}

// maxNames bounds recordReader.names.
const maxNames = 64

// name returns b as a string, the same string for the same name.
func (r *recordReader) name(b []byte) string {
	if s, ok := r.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(r.names) < maxNames {
		if r.names == nil {
			r.names = make(map[string]string)
		}
		r.names[s] = s
	}
	return s
}

// copy copies b into the slab, nil for nil (SQL NULL). The copy's capacity
// is its length. A full slab is replaced by a larger one; what was copied
// into the old one stays where it is.
func (r *recordReader) copy(b []byte) []byte {
	if b == nil {
		return nil
	}
	if cap(r.slab)-len(r.slab) < len(b) {
		r.slab = make([]byte, 0, max(2*cap(r.slab), slabSize, len(b)))
	}
	n := len(r.slab)
	r.slab = append(r.slab, b...)
	return r.slab[n:len(r.slab):len(r.slab)]
}

func (r *recordReader) entry(v [][]byte) error {
	if len(v) != 7 || len(v[0]) != 8 {
		return fmt.Errorf("%w: malformed entry row", ledger.ErrCorrupt)
	}
	idx := binary.BigEndian.Uint64(v[0])
	if len(v[2]) != ledger.HashSize || len(v[3]) != ledger.HashSize {
		return fmt.Errorf("%w: entry %d: malformed row", ledger.ErrCorrupt, idx)
	}
	t, err := binaryTime(v[6])
	if err != nil {
		return fmt.Errorf("%w: entry %d: %w", ledger.ErrCorrupt, idx, err)
	}
	n := len(r.recs)
	if n > 0 && r.recs[n-1].Index >= idx {
		r.unsorted = true
	}
	if n < cap(r.recs) {
		r.recs = r.recs[:n+1]
	} else {
		r.recs = append(r.recs, ledger.Record{})
	}
	rec := &r.recs[n]
	traceID := rec.TraceID
	if n > 0 && string(v[5]) == r.recs[n-1].TraceID {
		traceID = r.recs[n-1].TraceID // the entries of a trace are often adjacent
	} else if string(v[5]) != traceID {
		traceID = string(v[5])
	}
	*rec = ledger.Record{Index: idx, Leaf: r.copy(v[1]), Kind: kindOf(v[4]), TraceID: traceID, Time: t, Content: rec.Content[:0]}
	copy(rec.LeafHash[:], v[2])
	copy(rec.DedupKey[:], v[3])
	return nil
}

// sort puts the entries in index order if they did not come in it.
func (r *recordReader) sort() {
	if r.unsorted {
		slices.SortFunc(r.recs, func(a, b ledger.Record) int { return cmp.Compare(a.Index, b.Index) })
	}
}

func (r *recordReader) content(v [][]byte) error {
	if len(v) != 4 || len(v[0]) != 8 || v[1] == nil {
		return fmt.Errorf("%w: malformed content row", ledger.ErrCorrupt)
	}
	idx := binary.BigEndian.Uint64(v[0])
	k := r.find(idx)
	if k < 0 {
		return fmt.Errorf("%w: content %q of entry %d has no entry", ledger.ErrCorrupt, v[1], idx)
	}
	r.addContent(k, ledger.Content{Name: r.name(v[1]), Salt: r.copy(v[2]), Data: r.copy(v[3])})
	return nil
}

// addContent appends c to the content of recs[k]. A record keeps its
// Content slice from the last call, but which records carry content moves
// from page to page: when recs[k] has no room, it takes that of an earlier
// record that has none (content comes in index order, as a rule, so an
// earlier record is done), instead of allocating.
func (r *recordReader) addContent(k int, c ledger.Content) {
	rec := &r.recs[k]
	if len(rec.Content) == cap(rec.Content) {
		for ; r.spare < k; r.spare++ {
			o := &r.recs[r.spare]
			if len(o.Content) == 0 && cap(o.Content) > len(rec.Content) {
				rec.Content, o.Content = append(o.Content, rec.Content...), nil
				r.spare++
				break
			}
		}
	}
	rec.Content = append(rec.Content, c)
}

// find returns the position in recs of the record of entry idx, -1 if
// there is none.
func (r *recordReader) find(idx uint64) int {
	if k := idx - r.start; idx >= r.start && k < uint64(len(r.recs)) && r.recs[k].Index == idx {
		return int(k) // no gap before it
	}
	k, ok := slices.BinarySearchFunc(r.recs, idx, func(rec ledger.Record, i uint64) int { return cmp.Compare(rec.Index, i) })
	if !ok {
		return -1
	}
	return k
}

// kindOf returns the kind named b, without a copy for a known kind.
func kindOf(b []byte) ledger.Kind {
	for _, k := range ledger.Kinds {
		if string(k) == string(b) {
			return k
		}
	}
	return ledger.Kind(b)
}

package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// MaxIndexDivergences is the most divergences IndexReport lists.
const MaxIndexDivergences = 100

// IndexReport is what Index checked, and every divergence it found (up to
// MaxIndexDivergences).
type IndexReport struct {
	// Size is the tree size the audit covers: references are checked below
	// it. KeysAt is the size of the latest index note, at which the stored
	// key lists are compared.
	Size, KeysAt uint64
	// Notes is the number of index notes verified: signature, stored
	// columns, checkpoint, and map root rebuilt from the leaves.
	Notes int
	// Keys is the number of keys the leaves carry, each list compared with
	// the stored one; Refs the number of entry_refs rows checked.
	Keys int
	Refs uint64
	// Elapsed is how long the index audit took.
	Elapsed time.Duration
	// Divergences are the differences found, in the order found.
	Divergences []*Divergence
	// More is the number of divergences found beyond those listed.
	More int
}

// OK reports whether the index audit found no divergence.
func (r *IndexReport) OK() bool { return len(r.Divergences) == 0 }

func (r *IndexReport) diverge(index uint64, format string, args ...any) {
	if len(r.Divergences) >= MaxIndexDivergences {
		r.More++
		return
	}
	r.Divergences = append(r.Divergences, diverge(index, format, args...))
}

// Index rebuilds the verifiable index from the leaves alone
// (ledger/FORMAT.md, "Verifiable index") and compares it with what the
// store holds and signed: every index note (its signature under
// verifierKey, its stored columns, the checkpoint of its size, and its map
// root against the map rebuilt at its size), every stored key list (count
// and compact range, at the latest note), and every entry_refs row of an
// index key (each must name an entry that carries it, and every entry's
// keys must have their row). Each divergence names the key and the entry.
//
// Run it after Run, which proves the leaves are those the checkpoints
// signed. The key lists are compared only if no index note is signed while
// the audit reads them.
func Index(ctx context.Context, s index.Store, verifierKey string) (*IndexReport, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops readPages if the audit ends early
	start := time.Now()
	head, err := s.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit index: read tree head: %w", err)
	}
	rep := &IndexReport{Size: head.Size}
	notes, err := readNotes(ctx, s, head.Size)
	if err != nil {
		return nil, err
	}
	var latest *index.Note
	signed := make([]index.Note, 0, len(notes))
	for i := range notes {
		n := &notes[i]
		v, err := index.OpenNote(n.Note, verifierKey)
		if err != nil {
			rep.diverge(n.Size, "index note %d: %v", n.Size, err)
			continue
		}
		if v.Size != n.Size || v.TreeRoot != n.TreeRoot || v.MapRoot != n.MapRoot {
			rep.diverge(n.Size, "index note %d: stored as size %d, tree root %s, map root %s, but the signed note says size %d, %s, %s",
				n.Size, n.Size, short(n.TreeRoot[:]), short(n.MapRoot[:]), v.Size, short(v.TreeRoot[:]), short(v.MapRoot[:]))
		}
		cp, err := s.Checkpoint(ctx, v.Size)
		switch {
		case errors.Is(err, ledger.ErrNotFound):
			rep.diverge(v.Size, "index note %d: no checkpoint of that size", v.Size)
		case err != nil:
			return nil, fmt.Errorf("audit index: read checkpoint %d: %w", v.Size, err)
		case cp.Root != v.TreeRoot:
			rep.diverge(v.Size, "index note %d: tree root %s, but the checkpoint of that size has %s", v.Size, short(v.TreeRoot[:]), short(cp.Root[:]))
		}
		signed = append(signed, v)
	}
	slices.SortStableFunc(signed, func(a, b index.Note) int { return cmpUint(a.Size, b.Size) })
	if len(signed) > 0 {
		latest = &signed[len(signed)-1]
	}

	rb := index.NewRebuild()
	next := 0
	checkNotes := func() {
		for next < len(signed) && signed[next].Size == rb.Size() {
			n := signed[next]
			if got := rb.MapRoot(); got != n.MapRoot {
				rep.diverge(n.Size, "index note %d: map root %s, but the leaves give %s", n.Size, short(n.MapRoot[:]), short(got[:]))
			}
			rep.Notes++
			next++
		}
	}
	checkNotes()
	keysChecked := latest == nil
	for p := range readPages(ctx, s, head.Size) {
		if p.err != nil {
			return nil, fmt.Errorf("audit index: %w", p.err)
		}
		for _, rec := range p.recs {
			if err := rb.AddLeaf(rec.Leaf); err != nil {
				return nil, fmt.Errorf("audit index: %w", err)
			}
			checkNotes()
			if !keysChecked && rb.Size() == latest.Size {
				if err := compareKeys(ctx, s, rb, *latest, rep); err != nil {
					return nil, err
				}
				keysChecked = true
			}
		}
	}
	if !keysChecked { // the latest note is of size 0
		if err := compareKeys(ctx, s, rb, *latest, rep); err != nil {
			return nil, err
		}
	}
	if err := compareRefs(ctx, s, rb, head.Size, rep); err != nil {
		return nil, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// recPage is one page of entries as readPages delivers it.
type recPage struct {
	recs []ledger.Record
	err  error
}

// recordReader reads entries by index range (ledger.Reader.Records).
type recordReader interface {
	Records(ctx context.Context, start, end uint64) ([]ledger.Record, error)
}

// readPages reads the entries below size in pages, DefaultReaders pages
// ahead of the caller, in order. The channel closes after the last page or
// the first error; the caller drains it or ends ctx.
func readPages(ctx context.Context, r recordReader, size uint64) <-chan recPage {
	ahead := make(chan chan recPage, DefaultReaders)
	go func() {
		defer close(ahead)
		for from := uint64(0); from < size; from += DefaultPageSize {
			ch := make(chan recPage, 1)
			select {
			case ahead <- ch:
			case <-ctx.Done():
				return
			}
			go func(from uint64) {
				recs, err := r.Records(ctx, from, min(from+DefaultPageSize, size))
				if err != nil {
					err = fmt.Errorf("read entries from %d: %w", from, err)
				}
				ch <- recPage{recs: recs, err: err}
			}(from)
		}
	}()
	out := make(chan recPage)
	go func() {
		defer close(out)
		for ch := range ahead {
			p := <-ch
			select {
			case out <- p:
			case <-ctx.Done():
				return
			}
			if p.err != nil {
				return
			}
		}
	}()
	return out
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readNotes reads every index note of size at most size.
func readNotes(ctx context.Context, s index.Store, size uint64) ([]index.Note, error) {
	var out []index.Note
	for from := uint64(0); ; {
		page, err := s.IndexNotes(ctx, from, checkpointPage)
		if err != nil {
			return nil, fmt.Errorf("audit index: read notes from %d: %w", from, err)
		}
		for _, n := range page {
			if n.Size <= size {
				out = append(out, n)
			}
		}
		if len(page) < checkpointPage {
			return out, nil
		}
		from = page[len(page)-1].Size + 1
	}
}

// keyPage is how many key states one read compares.
const keyPage = 1000

// compareKeys compares every stored key list with the rebuilt one, at the
// size of the latest note.
func compareKeys(ctx context.Context, s index.Store, rb *index.Rebuild, latest index.Note, rep *IndexReport) error {
	found := &IndexReport{}
	labels := rb.Keys()
	for start := 0; start < len(labels); start += keyPage {
		chunk := labels[start:min(start+keyPage, len(labels))]
		stored, err := s.IndexKeys(ctx, chunk)
		if err != nil {
			return fmt.Errorf("audit index: read key lists: %w", err)
		}
		for _, l := range chunk {
			k := rb.Key(l)
			st, ok := stored[l]
			last := k.Indices[len(k.Indices)-1]
			switch {
			case !ok:
				found.diverge(last, "index key %s: the leaves give %d entries (the last %d), but the index holds no list for it", k.Key, k.Size(), last)
			case st.Size != k.Size():
				found.diverge(last, "index key %s: the index holds %d entries, the leaves give %d (the last %d)", k.Key, st.Size, k.Size(), last)
			case !bytes.Equal(st.Range, k.Range()):
				found.diverge(last, "index key %s: the index's list of %d entries is not the leaves' (entries %v)", k.Key, st.Size, k.Indices)
			}
		}
	}
	var from [index.HashSize]byte
	for {
		page, err := s.IndexKeysFrom(ctx, from, keyPage)
		if err != nil {
			return fmt.Errorf("audit index: read key lists: %w", err)
		}
		for _, st := range page {
			if rb.Key(st.Label) == nil {
				found.diverge(latest.Size, "index key with label %x: the index holds a list of %d entries, but no leaf carries the key", st.Label, st.Size)
			}
		}
		if len(page) < keyPage {
			break
		}
		from = page[len(page)-1].Label
		if !increment(&from) {
			break
		}
	}
	nodes := rb.Nodes()
	for start := 0; start < len(nodes); start += keyPage {
		chunk := nodes[start:min(start+keyPage, len(nodes))]
		ids := make([]index.NodeID, len(chunk))
		for i, n := range chunk {
			ids[i] = n.ID
		}
		stored, err := s.IndexNodes(ctx, ids)
		if err != nil {
			return fmt.Errorf("audit index: read map nodes: %w", err)
		}
		for _, n := range chunk {
			if st, ok := stored[n.ID]; !ok || st != n {
				found.diverge(latest.Size, "index map node %x: stored %v, the leaves give hash %s", n.ID, ok, short(n.Hash[:]))
			}
		}
	}
	now, err := s.LatestIndexNote(ctx)
	if err != nil {
		return fmt.Errorf("audit index: read latest note: %w", err)
	}
	if now.Size != latest.Size {
		// The lists moved on while they were read: what differs may be the
		// new note's, so nothing found about them is reported.
		return nil
	}
	rep.Keys, rep.KeysAt = len(labels), latest.Size
	for _, d := range found.Divergences {
		rep.diverge(d.Index, "%s", d.Message)
	}
	rep.More += found.More
	return nil
}

// increment adds one to a big-endian number, reporting false on overflow.
func increment(b *[index.HashSize]byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return true
		}
	}
	return false
}

// compareRefs checks every entry_refs row of an index key below size
// against the rebuilt lists.
func compareRefs(ctx context.Context, s index.Store, rb *index.Rebuild, size uint64, rep *IndexReport) error {
	rows := make(map[[index.HashSize]byte]int)
	err := s.ScanRefs(ctx, func(ref ledger.Ref, idx uint64) error {
		if idx >= size {
			return nil // appended while the audit ran
		}
		rep.Refs++
		l := index.Label(ref)
		k := rb.Key(l)
		if k == nil {
			rep.diverge(idx, "entry_refs: a row says entry %d carries %s, but no entry carries it", idx, ref)
			return nil
		}
		if _, ok := slices.BinarySearch(k.Indices, idx); !ok {
			rep.diverge(idx, "entry_refs: a row says entry %d carries %s, but entry %d does not", idx, ref, idx)
			return nil
		}
		rows[l]++
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit index: read entry_refs: %w", err)
	}
	for _, l := range rb.Keys() {
		k := rb.Key(l)
		below := k.Indices[:sortSearch(k.Indices, size)]
		if rows[l] == len(below) {
			continue
		}
		found, err := s.Find(ctx, k.Key, 0, len(below)+1)
		if err != nil {
			return fmt.Errorf("audit index: find %s: %w", k.Key, err)
		}
		for _, idx := range below {
			if _, ok := slices.BinarySearch(found, idx); !ok {
				rep.diverge(idx, "entry_refs: entry %d carries %s, but no entry_refs row says so", idx, k.Key)
			}
		}
	}
	return nil
}

// sortSearch returns the number of elements of the ascending s below v.
func sortSearch(s []uint64, v uint64) int {
	i, _ := slices.BinarySearch(s, v)
	return i
}

package audit

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// NotesV1 is the number of index notes of version 1 verified, kept
	// from before the index of version 2: signature, stored columns and
	// checkpoint (their map roots commit to another key function).
	NotesV1 int
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
// Run with Options.Index does the same in its one pass over the leaves;
// Index reads them on its own. Run it after Run, which proves the leaves
// are those the checkpoints signed. The key lists are compared only if no
// index note is signed while the audit reads them.
//
// From a store that is an index.Scanner, the key lists, map nodes and
// entry_refs rows are each read in one scan; the rows of a key are read
// on their own only when their summary (see refSums) differs from the
// rebuilt list.
func Index(ctx context.Context, s index.Store, verifierKey string) (*IndexReport, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops readPages if the audit ends early
	head, err := s.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit index: read tree head: %w", err)
	}
	ia, err := startIndex(ctx, s, verifierKey, head.Size)
	if err != nil {
		return nil, err
	}
	var labels [][index.HashSize]byte
	for p := range readPages(ctx, s, head.Size) {
		if p.err != nil {
			return nil, fmt.Errorf("audit index: %w", p.err)
		}
		for _, rec := range p.recs {
			d, err := ledger.DecodeLeaf(rec.Leaf)
			if err != nil {
				return nil, fmt.Errorf("audit index: entry %d: %w", rec.Index, err)
			}
			keys := ledger.IndexKeys(&d.Entry)
			labels = labels[:0]
			for _, k := range keys {
				labels = append(labels, index.Label(k))
			}
			ia.add(keys, labels)
		}
	}
	return ia.finish(ctx)
}

// indexAudit is the index audit of one pass over the leaves: startIndex
// verifies the notes and starts reading the stored key lists and
// entry_refs rows, add takes each entry's keys in index order, and finish
// compares.
type indexAudit struct {
	s      index.Store
	size   uint64
	start  time.Time
	rep    *IndexReport
	signed []index.Note
	next   int
	latest *index.Note
	rb     *index.Rebuild
	// stored and refs are read concurrently with the pass.
	stored chan storedKeys
	refs   chan *refSums
}

// storedKeys are the stored key lists, by label.
type storedKeys struct {
	keys map[[index.HashSize]byte]index.KeyState
	err  error
}

// startIndex verifies the index notes of size at most size and starts
// reading the stored key lists and entry_refs rows. ctx must outlive the
// audit: its end stops the reads.
func startIndex(ctx context.Context, s index.Store, verifierKey string, size uint64) (*indexAudit, error) {
	ia := &indexAudit{s: s, size: size, start: time.Now(), rep: &IndexReport{Size: size}, rb: index.NewRebuild(),
		stored: make(chan storedKeys, 1), refs: make(chan *refSums, 1)}
	notes, err := readNotes(ctx, s, size)
	if err != nil {
		return nil, err
	}
	ia.signed = make([]index.Note, 0, len(notes))
	firstV2, v1Sizes := uint64(math.MaxUint64), []uint64(nil)
	for i := range notes {
		n := &notes[i]
		v1 := index.IsV1(*n)
		open := index.OpenNote
		if v1 {
			open = index.OpenNoteV1
		} else {
			firstV2 = min(firstV2, n.Size)
		}
		v, err := open(n.Note, verifierKey)
		if err != nil {
			ia.rep.diverge(n.Size, "index note %d: %v", n.Size, err)
			continue
		}
		if v.Size != n.Size || v.TreeRoot != n.TreeRoot || v.MapRoot != n.MapRoot {
			ia.rep.diverge(n.Size, "index note %d: stored as size %d, tree root %s, map root %s, but the signed note says size %d, %s, %s",
				n.Size, n.Size, short(n.TreeRoot[:]), short(n.MapRoot[:]), v.Size, short(v.TreeRoot[:]), short(v.MapRoot[:]))
		}
		cp, err := s.Checkpoint(ctx, v.Size)
		switch {
		case errors.Is(err, ledger.ErrNotFound):
			ia.rep.diverge(v.Size, "index note %d: no checkpoint of that size", v.Size)
		case err != nil:
			return nil, fmt.Errorf("audit index: read checkpoint %d: %w", v.Size, err)
		case cp.Root != v.TreeRoot:
			ia.rep.diverge(v.Size, "index note %d: tree root %s, but the checkpoint of that size has %s", v.Size, short(v.TreeRoot[:]), short(cp.Root[:]))
		}
		if v1 {
			ia.rep.NotesV1++
			v1Sizes = append(v1Sizes, v.Size)
			continue
		}
		ia.signed = append(ia.signed, v)
	}
	for _, size := range v1Sizes {
		if size >= firstV2 {
			ia.rep.diverge(size, "index note %d is of version 1, but the index of version 2 starts at size %d", size, firstV2)
		}
	}
	slices.SortStableFunc(ia.signed, func(a, b index.Note) int { return cmpUint(a.Size, b.Size) })
	if len(ia.signed) > 0 {
		ia.latest = &ia.signed[len(ia.signed)-1]
		go func() { ia.stored <- readStoredKeys(ctx, s) }()
	}
	sums, err := newRefSums()
	if err != nil {
		return nil, err
	}
	go func() {
		readRefSums(ctx, s, size, sums)
		ia.refs <- sums
	}()
	ia.atSize()
	return ia, nil
}

// readStoredKeys reads every stored key list.
func readStoredKeys(ctx context.Context, s index.Store) storedKeys {
	out := storedKeys{keys: make(map[[index.HashSize]byte]index.KeyState)}
	if sc, ok := s.(index.Scanner); ok {
		out.err = sc.ScanIndexKeys(ctx, func(st index.KeyState) error {
			out.keys[st.Label] = st
			return nil
		})
		if out.err != nil {
			out.err = fmt.Errorf("audit index: read key lists: %w", out.err)
		}
		return out
	}
	var from [index.HashSize]byte
	for {
		page, err := s.IndexKeysFrom(ctx, from, keyPage)
		if err != nil {
			out.err = fmt.Errorf("audit index: read key lists: %w", err)
			return out
		}
		for _, st := range page {
			out.keys[st.Label] = st
		}
		if len(page) < keyPage {
			return out
		}
		from = page[len(page)-1].Label
		if !increment(&from) {
			return out
		}
	}
}

// add adds the next entry's keys and their labels.
func (ia *indexAudit) add(keys []ledger.Ref, labels [][index.HashSize]byte) {
	ia.rb.AddKeys(keys, labels)
	if ia.next < len(ia.signed) && ia.signed[ia.next].Size == ia.rb.Size() {
		ia.atSize()
	}
}

// atSize checks the notes of the size rebuilt so far, and marks the lists
// at the latest note's size.
func (ia *indexAudit) atSize() {
	for ia.next < len(ia.signed) && ia.signed[ia.next].Size == ia.rb.Size() {
		n := ia.signed[ia.next]
		if got := ia.rb.MapRoot(); got != n.MapRoot {
			ia.rep.diverge(n.Size, "index note %d: map root %s, but the leaves give %s", n.Size, short(n.MapRoot[:]), short(got[:]))
		}
		ia.rep.Notes++
		ia.next++
		if ia.next == len(ia.signed) {
			ia.rb.Mark()
		}
	}
}

// finish compares the stored key lists, map nodes and entry_refs rows with
// the rebuilt index, once every entry below the audited size is added.
func (ia *indexAudit) finish(ctx context.Context) (*IndexReport, error) {
	if ia.rb.Size() != ia.size {
		return nil, fmt.Errorf("audit index: rebuilt %d entries, want %d", ia.rb.Size(), ia.size) // a bug, not a divergence
	}
	// The entry_refs rows, read during the pass, are checked while the key
	// lists and map nodes are compared; their divergences are reported
	// after those.
	type refsResult struct {
		n   uint64
		ds  []*Divergence
		err error
	}
	refs := make(chan refsResult, 1)
	go func() {
		var r refsResult
		select {
		case sums := <-ia.refs:
			if r.err = sums.err; r.err == nil {
				r.n, r.ds, r.err = ia.checkRefs(ctx, sums)
			}
		case <-ctx.Done():
			r.err = ctx.Err()
		}
		refs <- r
	}()
	if ia.latest != nil {
		if err := ia.compareKeys(ctx); err != nil {
			return nil, err
		}
	}
	r := <-refs
	if r.err != nil {
		return nil, r.err
	}
	ia.rep.Refs = r.n
	for _, d := range r.ds {
		ia.rep.diverge(d.Index, "%s", d.Message)
	}
	ia.rep.Elapsed = time.Since(ia.start)
	return ia.rep, nil
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

// keyPage is how many key states one read returns; nodePage how many map
// nodes one read compares.
const (
	keyPage  = 1000
	nodePage = 4000
)

// compareKeys compares every stored key list and map node with the rebuilt
// ones, at the size of the latest note.
func (ia *indexAudit) compareKeys(ctx context.Context) error {
	var st storedKeys
	select {
	case st = <-ia.stored:
	case <-ctx.Done():
		return ctx.Err()
	}
	if st.err != nil {
		return st.err
	}
	rb, latest := ia.rb, ia.latest
	found := &IndexReport{}
	labels := rb.Keys()
	keys := 0
	for _, l := range labels {
		k := rb.Key(l)
		size := k.MarkedSize(rb)
		if size == 0 {
			continue // first carried beyond the latest note
		}
		keys++
		last := k.Indices[size-1]
		stored, ok := st.keys[l]
		switch {
		case !ok:
			found.diverge(last, "index key %s: the leaves give %d entries (the last %d), but the index holds no list for it", k.Key, size, last)
		case stored.Size != size:
			found.diverge(last, "index key %s: the index holds %d entries, the leaves give %d (the last %d)", k.Key, stored.Size, size, last)
		case !bytes.Equal(stored.Range, k.MarkedRange(rb)):
			found.diverge(last, "index key %s: the index's list of %d entries is not the leaves' (entries %v)", k.Key, stored.Size, k.Indices[:size])
		}
	}
	for l, stored := range st.keys {
		if k := rb.Key(l); k == nil || k.MarkedSize(rb) == 0 {
			found.diverge(latest.Size, "index key with label %x: the index holds a list of %d entries, but no leaf carries the key", l, stored.Size)
		}
	}
	if err := ia.compareNodes(ctx, rb.Nodes(), latest.Size, found); err != nil {
		return err
	}
	now, err := ia.s.LatestIndexNote(ctx)
	if err != nil {
		return fmt.Errorf("audit index: read latest note: %w", err)
	}
	if now.Size != latest.Size {
		// The lists moved on while they were read: what differs may be the
		// new note's, so nothing found about them is reported.
		return nil
	}
	ia.rep.Keys, ia.rep.KeysAt = keys, latest.Size
	for _, d := range found.Divergences {
		ia.rep.diverge(d.Index, "%s", d.Message)
	}
	ia.rep.More += found.More
	return nil
}

// compareNodes compares the rebuilt map nodes with the stored ones, and
// reports each that differs into found: from an index.Scanner in one scan
// (scanNodes), otherwise read nodePage at a time with DefaultReaders reads
// at once, in the order of nodes.
func (ia *indexAudit) compareNodes(ctx context.Context, nodes []index.Node, at uint64, found *IndexReport) error {
	if sc, ok := ia.s.(index.Scanner); ok {
		return scanNodes(ctx, sc, nodes, at, found)
	}
	chunks := (len(nodes) + nodePage - 1) / nodePage
	// differs[c] are the nodes of chunk c that differ, and whether each is
	// stored.
	type differ struct {
		n      index.Node
		stored bool
	}
	differs := make([][]differ, chunks)
	errs := make([]error, DefaultReaders)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range DefaultReaders {
		wg.Go(func() {
			for c := int(next.Add(1) - 1); c < chunks; c = int(next.Add(1) - 1) {
				chunk := nodes[c*nodePage : min((c+1)*nodePage, len(nodes))]
				ids := make([]index.NodeID, len(chunk))
				for i, n := range chunk {
					ids[i] = n.ID
				}
				stored, err := ia.s.IndexNodes(ctx, ids)
				if err != nil {
					errs[w] = fmt.Errorf("audit index: read map nodes: %w", err)
					return
				}
				for _, n := range chunk {
					if st, ok := stored[n.ID]; !ok || st != n {
						differs[c] = append(differs[c], differ{n, ok})
					}
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, ds := range differs {
		for _, d := range ds {
			found.diverge(at, "index map node %x: stored %v, the leaves give hash %s", d.n.ID, d.stored, short(d.n.Hash[:]))
		}
	}
	return nil
}

// scanNodes compares the rebuilt map nodes with the stored ones, read in
// one scan, and reports each that differs into found, in the order of
// their ids. Stored nodes that the rebuilt map does not hold are left
// alone, as compareNodes leaves them.
func scanNodes(ctx context.Context, sc index.Scanner, nodes []index.Node, at uint64, found *IndexReport) error {
	byID := func(a, b index.Node) int { return bytes.Compare(a.ID[:], b.ID[:]) }
	slices.SortFunc(nodes, byID)
	type state uint8
	const (
		absent state = iota
		same
		differs
	)
	states := make([]state, len(nodes))
	err := sc.ScanIndexNodes(ctx, func(st index.Node) error {
		i, ok := slices.BinarySearchFunc(nodes, st, byID)
		if !ok {
			return nil
		}
		if st == nodes[i] && states[i] == absent {
			states[i] = same
		} else {
			states[i] = differs
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit index: read map nodes: %w", err)
	}
	for i, n := range nodes {
		if states[i] != same {
			found.diverge(at, "index map node %x: stored %v, the leaves give hash %s", n.ID, states[i] != absent, short(n.Hash[:]))
		}
	}
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

// refSums are the stored entry_refs rows of index keys below the audited
// size, read while the pass over the leaves runs, summarised per key: the
// number of rows and the sum of a keyed pseudo-random function of their
// indices (AES under a key drawn for this audit). The sum does not depend
// on the order rows are read in, and someone who changed rows cannot make
// it match without the audit's key; memory grows with the keys, not the
// rows. Only the rows of keys whose summary differs from the rebuilt
// list's are then read one key at a time, to name each divergence.
type refSums struct {
	prf  cipher.Block
	keys map[string]*refSum
	buf  []byte
	// n is the number of rows read.
	n   uint64
	err error
}

// refSum summarises the rows of one key.
type refSum struct {
	ref   ledger.Ref
	count uint64
	sum   [2]uint64
}

func newRefSums() (*refSums, error) {
	var k [16]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, fmt.Errorf("audit index: draw a key: %w", err)
	}
	b, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("audit index: %w", err)
	}
	return &refSums{prf: b, keys: make(map[string]*refSum)}, nil
}

// add adds the row of a key, name and value, for the entry idx.
func (r *refSums) add(name, value []byte, idx uint64) {
	r.n++
	r.buf = append(append(append(r.buf[:0], name...), ':'), value...)
	s := r.keys[string(r.buf)]
	if s == nil {
		s = &refSum{ref: ledger.Ref{Key: string(name), Value: string(value)}}
		r.keys[string(r.buf)] = s
	}
	s.count++
	r.addTo(&s.sum, idx)
}

// addTo adds the pseudo-random function of idx to sum, lane by lane.
func (r *refSums) addTo(sum *[2]uint64, idx uint64) {
	var b [aes.BlockSize]byte
	binary.BigEndian.PutUint64(b[:], idx)
	r.prf.Encrypt(b[:], b[:])
	sum[0] += binary.BigEndian.Uint64(b[:8])
	sum[1] += binary.BigEndian.Uint64(b[8:])
}

// readRefSums reads the entry_refs rows of index keys below size into
// sums.
func readRefSums(ctx context.Context, s index.Store, size uint64, sums *refSums) {
	var err error
	if sc, ok := s.(index.Scanner); ok {
		err = sc.ScanIndexRefs(ctx, size, func(name, value []byte, idx uint64) error {
			sums.add(name, value, idx)
			return nil
		})
	} else {
		err = s.ScanRefs(ctx, func(ref ledger.Ref, idx uint64) error {
			if idx < size { // not appended while the audit ran
				sums.add([]byte(ref.Key), []byte(ref.Value), idx)
			}
			return nil
		})
	}
	if err != nil {
		sums.err = fmt.Errorf("audit index: read entry_refs: %w", err)
	}
}

// checkRefs compares the entry_refs rows with the rebuilt lists: each row
// must name an entry of its key's list, once, and every entry of a list
// must have its row. It returns the number of rows and the divergences:
// rows that say too much first, then entries without their row, each in
// entry order. It only reads the rebuild.
func (ia *indexAudit) checkRefs(ctx context.Context, sums *refSums) (uint64, []*Divergence, error) {
	var extra, missing []*Divergence
	// compare reads the rows of ref below the audited size, at most want,
	// and compares them with the list want (nil for a key no entry carries).
	compare := func(ref ledger.Ref, list []uint64, limit int) error {
		rows, err := ia.s.Find(ctx, ref, 0, limit)
		if err != nil {
			return fmt.Errorf("audit index: read entry_refs of %s: %w", ref, err)
		}
		for len(rows) > 0 && rows[len(rows)-1] >= ia.size {
			rows = rows[:len(rows)-1] // appended while the audit ran
		}
		slices.Sort(rows)
		i, j := 0, 0
		for i < len(list) || j < len(rows) {
			switch {
			case j == len(rows) || (i < len(list) && list[i] < rows[j]):
				missing = append(missing, diverge(list[i], "entry_refs: entry %d carries %s, but no entry_refs row says so", list[i], ref))
				i++
			case list == nil:
				extra = append(extra, diverge(rows[j], "entry_refs: a row says entry %d carries %s, but no entry carries it", rows[j], ref))
				j++
			case i == len(list) || rows[j] < list[i]:
				extra = append(extra, diverge(rows[j], "entry_refs: a row says entry %d carries %s, but entry %d does not", rows[j], ref, rows[j]))
				j++
			default:
				i++
				j++
				for j < len(rows) && rows[j] == rows[j-1] {
					extra = append(extra, diverge(rows[j], "entry_refs: entry %d has more than one row for %s", rows[j], ref))
					j++
				}
			}
		}
		return nil
	}
	for _, l := range ia.rb.Keys() {
		k := ia.rb.Key(l)
		name := k.Key.String()
		got := sums.keys[name]
		delete(sums.keys, name)
		var want [2]uint64
		for _, i := range k.Indices {
			sums.addTo(&want, i)
		}
		if got != nil && got.count == uint64(len(k.Indices)) && got.sum == want {
			continue
		}
		n := 0
		if got != nil {
			n = int(got.count)
		}
		if err := compare(k.Key, k.Indices, n+len(k.Indices)+1); err != nil {
			return 0, nil, err
		}
	}
	for _, got := range sums.keys { // keys no entry carries
		if err := compare(got.ref, nil, int(got.count)+1); err != nil {
			return 0, nil, err
		}
	}
	for _, ds := range [][]*Divergence{extra, missing} {
		slices.SortStableFunc(ds, func(a, b *Divergence) int {
			if c := cmpUint(a.Index, b.Index); c != 0 {
				return c
			}
			return strings.Compare(a.Message, b.Message)
		})
	}
	return sums.n, append(extra, missing...), nil
}

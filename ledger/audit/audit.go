// Package audit re-derives a ledger from its stored rows and checks it
// against every signed checkpoint, so that a row changed by someone who
// bypassed the database's append-only triggers is found.
//
// Run reads every entry in index order and checks, entry by entry:
//
//   - the stored leaf hash is SHA-256(0x00 ‖ leaf);
//   - the leaf decodes (FORMAT.md) and agrees with the stored columns: kind,
//     trace ID, time and dedup key;
//   - every piece of content still stored matches its commitment in the leaf,
//     and content that is gone was erased by an erasure entry;
//   - the stored level-0 tile hash is the leaf hash.
//
// It rebuilds the RFC 6962 tree from the leaf hashes it computed, compares
// every stored higher tile hash with the perfect subtree root it stands
// for, and checks the tree head (size, root and compact range) and every
// stored checkpoint: its signature under the verifier key, its size and root
// against the tree at that size, and that checkpoints never shrink in the
// order they were signed.
//
// The first divergence is reported precisely: the entry, tile or checkpoint
// and what differs.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// Defaults for Options.
const (
	// DefaultPageSize is how many entries one Records call reads. It is a
	// multiple of ledger.TileWidth.
	DefaultPageSize = 64 * ledger.TileWidth
	// DefaultReaders is how many pages are read from the store at once, ahead
	// of the page being checked.
	DefaultReaders = 2
	// checkpointPage is how many checkpoints one Checkpoints call reads.
	checkpointPage = 1024
)

// Options tune Run. The zero value is ready to use.
type Options struct {
	// PageSize is the number of entries read per call, rounded up to a
	// multiple of ledger.TileWidth. Zero means DefaultPageSize. The first
	// and last pages are smaller (down to 4 tiles).
	PageSize int
	// Readers is the number of pages read concurrently. Zero means
	// DefaultReaders.
	Readers int
	// Workers is the number of goroutines that hash and check the entries
	// of a page. Zero means runtime.GOMAXPROCS(0).
	Workers int
	// Progress, if set, is called after each page with the report so far.
	Progress func(Report)
	// Index, if set, also audits the verifiable index in the same pass over
	// the leaves, as Index does, into Report.Index. The reader must be an
	// index.Store.
	Index bool
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.PageSize < 0 || o.Readers < 0 || o.Workers < 0 {
		return fmt.Errorf("audit options: negative page size %d, readers %d or workers %d", o.PageSize, o.Readers, o.Workers)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	o.PageSize = (o.PageSize + ledger.TileWidth - 1) / ledger.TileWidth * ledger.TileWidth
	if o.Readers == 0 {
		o.Readers = DefaultReaders
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// Report is what an audit checked and the first divergence it found.
type Report struct {
	// Size and Root are the tree head the audit read when it started; the
	// audit covers the entries below Size.
	Size uint64
	Root [ledger.HashSize]byte
	// Entries is the number of entries checked.
	Entries uint64
	// Content is the number of pieces of content checked against their
	// commitments; Erased the number of commitments whose content was erased
	// by an erasure entry.
	Content uint64
	Erased  uint64
	// TileHashes is the number of stored tile hashes compared.
	TileHashes uint64
	// Checkpoints is the number of checkpoints verified; Later the number of
	// checkpoints signed beyond Size while the audit ran, which it did not
	// check.
	Checkpoints int
	Later       int
	// Elapsed is how long the audit took.
	Elapsed time.Duration
	// Divergence is the first divergence found, nil if none.
	Divergence *Divergence
	// Index is the audit of the verifiable index, with Options.Index, once
	// the pass over the leaves found no divergence; nil otherwise.
	Index *IndexReport
}

// OK reports whether the audit found no divergence, in the ledger or (with
// Options.Index) in its index.
func (r *Report) OK() bool { return r.Divergence == nil && (r.Index == nil || r.Index.OK()) }

// Rate returns the entries checked per second.
func (r *Report) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Entries) / r.Elapsed.Seconds()
}

// Divergence is a place where the stored ledger contradicts itself or a
// signed checkpoint.
type Divergence struct {
	// Index is the entry the divergence is found at: the entry index for an
	// entry, the first entry a tile hash covers, the tree size of a
	// checkpoint or of the tree head.
	Index uint64
	// Message says where and what differs, for example "entry 41: leaf hash
	// mismatch: …" or "checkpoint 900: root 3f2a… but the tree gives 9c01…".
	Message string
}

func (d *Divergence) Error() string { return d.Message }

func diverge(index uint64, format string, args ...any) *Divergence {
	return &Divergence{Index: index, Message: fmt.Sprintf(format, args...)}
}

// short abbreviates a hash for a message.
func short(h []byte) string {
	if len(h) > 6 {
		return fmt.Sprintf("%x…", h[:6])
	}
	return fmt.Sprintf("%x", h)
}

var (
	hasher = rfc6962.DefaultHasher
	ranges = &compact.RangeFactory{Hash: hasher.HashChildren}
)

// Run audits the ledger r holds against checkpoints signed by verifierKey
// ("<name>+<hash>+<key>"). A divergence is reported in the Report; the
// error is for an audit that could not run to the end (the store failed,
// ctx ended, the key does not parse).
//
// The audit covers the tree head read when it starts; entries appended
// while it runs are not checked, and checkpoints signed meanwhile beyond
// that size are counted in Report.Later.
func Run(ctx context.Context, r ledger.Reader, verifierKey string, opts Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return nil, fmt.Errorf("audit: parse verifier key: %w", err)
	}
	start := time.Now()
	head, err := r.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: read tree head: %w", err)
	}
	a := &auditor{
		r:       r,
		opts:    opts,
		vkey:    verifierKey,
		keyName: v.Name(),
		head:    head,
		cr:      ranges.NewEmptyRange(0),
		cps:     &cpIter{r: r},
		pending: make(map[uint64][]string),
		free:    make(chan *pageBuf, opts.Readers+1),
		rep:     Report{Size: head.Size, Root: head.Root},
	}
	a.visit = a.visitNode
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the index audit's reads if the audit ends early
	if opts.Index {
		s, ok := r.(index.Store)
		if !ok {
			return nil, fmt.Errorf("audit: the store %T holds no verifiable index", r)
		}
		if a.idx, err = startIndex(ctx, s, verifierKey, head.Size); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	err = a.run(ctx)
	if err == nil && a.idx != nil {
		a.rep.Index, err = a.idx.finish(ctx)
	}
	a.rep.Elapsed = time.Since(start)
	if err != nil {
		var d *Divergence
		if errors.As(err, &d) {
			a.rep.Divergence = d
			return &a.rep, nil
		}
		return &a.rep, fmt.Errorf("audit: %w", err)
	}
	return &a.rep, nil
}

type auditor struct {
	r       ledger.Reader
	opts    Options
	vkey    string
	keyName string
	head    ledger.TreeHead
	cr      *compact.Range
	visit   compact.VisitFn
	cps     *cpIter
	rep     Report

	// tiles holds the stored tiles of the page being built, for visitNode.
	tiles map[ledger.TileID][]byte
	// nodeDiv is the first divergence visitNode found.
	nodeDiv *Divergence

	// prevCp is the last checkpoint checked, for the order check.
	prevCp *ledger.Checkpoint
	// sawHeadCp reports whether the head's latest checkpoint was checked.
	sawHeadCp bool

	// pending lists content found missing, by entry, until an erasure entry
	// accounts for it.
	pending map[uint64][]string

	// idx is the index audit, with Options.Index.
	idx *indexAudit

	// free holds the buffers of checked pages for the pages read next.
	free chan *pageBuf
}

func (a *auditor) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := a.checkpointsAt(ctx); err != nil { // a checkpoint of size 0
		return err
	}
	pages := a.readPages(ctx)
	for p := range pages {
		pg := <-p
		if pg.err != nil {
			return pg.err
		}
		if err := a.page(ctx, pg); err != nil {
			return err
		}
		a.putBuf(pg.buf)
		if a.opts.Progress != nil {
			a.opts.Progress(a.rep)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return a.finish(ctx)
}

// page is one page of records and the stored tiles its checks need.
type page struct {
	start, end uint64
	recs       []ledger.Record
	tiles      map[ledger.TileID][]byte
	tileErr    map[ledger.TileID]error
	err        error
	// buf holds the page's memory, reused for a later page once this one is
	// checked.
	buf *pageBuf
	// res holds the checks of the entries, by checkPage: of the first have
	// records, which are the entries from start on without a gap; roots the
	// roots of its full tiles of checked entries.
	res   []checked
	have  int
	roots [][]byte
}

// pageBuf is the memory of one page that a store implementing
// recordsReuser reads into, and the results of its checks.
type pageBuf struct {
	recs []ledger.Record
	slab []byte
	res  []checked
}

// reserve makes room in b, once it holds a page, for the records, bytes
// and results of a page of n entries, estimated from the page it holds:
// the first pages are smaller, and a store that runs out of room copies
// into a new slab each time (the page b holds keeps its memory).
func (b *pageBuf) reserve(n int) {
	if len(b.recs) == 0 || len(b.recs) >= n {
		return
	}
	used := 0
	for i := range b.recs {
		r := &b.recs[i]
		used += len(r.Leaf)
		for _, c := range r.Content {
			used += len(c.Salt) + len(c.Data)
		}
	}
	if need := used/len(b.recs)*n + n*16; cap(b.slab) < need {
		b.slab = make([]byte, 0, need)
	}
	if cap(b.recs) < n {
		b.recs = make([]ledger.Record, 0, n)
	}
	if cap(b.res) < n {
		b.res = make([]checked, 0, n)
	}
}

// results returns n cleared results.
func (b *pageBuf) results(n int) []checked {
	if cap(b.res) < n {
		b.res = make([]checked, n)
	}
	b.res = b.res[:n]
	clear(b.res)
	return b.res
}

// recordsReuser is implemented by a store that can read a range of records
// into memory the caller reuses (postgres.Store.RecordsInto): the audit
// reads every row once, and reusing a few pages' memory spares the
// allocation and collection of every record's bytes.
type recordsReuser interface {
	RecordsInto(ctx context.Context, start, end uint64, recs []ledger.Record, slab []byte) ([]ledger.Record, []byte, error)
}

// minPage is the size of the first and last pages (see pageEnd).
const minPage = 4 * ledger.TileWidth

// pageEnd returns the end of the page that starts at s. The first pages
// are small and double up to PageSize, and the last ones halve down again:
// the checks start once a few tiles are read instead of a whole page, and
// the checks of the last page, which no read overlaps, are short. (At
// 200 000 entries a page of 16 384 is a twelfth of the log.)
func (a *auditor) pageEnd(s uint64) uint64 {
	step := uint64(a.opts.PageSize)
	least := min(minPage, step)
	n := min(step, max(least, s))
	rest := a.head.Size - s
	if half := (rest/2 + ledger.TileWidth - 1) / ledger.TileWidth * ledger.TileWidth; half < n {
		n = max(half, least)
	}
	return s + min(n, rest)
}

// readPages reads the pages of [0, head.Size) with opts.Readers reads in
// flight, checks the entries of each as soon as it is read (checkPage), and
// delivers them in order: each element of the returned channel is a
// channel that yields that page.
func (a *auditor) readPages(ctx context.Context) <-chan chan page {
	out := make(chan chan page, a.opts.Readers)
	go func() {
		defer close(out)
		for s := uint64(0); s < a.head.Size; {
			e := a.pageEnd(s)
			c := make(chan page, 1)
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
			go func(s, e uint64) {
				pg := a.readPage(ctx, s, e)
				if pg.err == nil {
					a.checkPage(&pg)
				}
				c <- pg
			}(s, e)
			s = e
		}
	}()
	return out
}

// getBuf returns a page buffer that a checked page gave back, or a new one.
func (a *auditor) getBuf() *pageBuf {
	select {
	case b := <-a.free:
		return b
	default:
		return new(pageBuf)
	}
}

// putBuf gives back the buffer of a page that is checked.
func (a *auditor) putBuf(b *pageBuf) {
	select {
	case a.free <- b:
	default:
	}
}

func (a *auditor) readPage(ctx context.Context, s, e uint64) page {
	pg := page{start: s, end: e, buf: a.getBuf()}
	if rr, ok := a.r.(recordsReuser); ok {
		b := pg.buf
		b.recs, b.slab, pg.err = rr.RecordsInto(ctx, s, e, b.recs, b.slab)
		pg.recs = b.recs
		b.reserve(a.opts.PageSize)
	} else {
		pg.recs, pg.err = a.r.Records(ctx, s, e)
	}
	if pg.err != nil {
		if errors.Is(pg.err, ledger.ErrCorrupt) {
			pg.err = diverge(s, "entries %d–%d: %v", s, e-1, pg.err)
		} else {
			pg.err = fmt.Errorf("read entries %d–%d: %w", s, e-1, pg.err)
		}
		return pg
	}
	ids := pageTiles(s, e)
	pg.tiles, pg.err = a.r.Tiles(ctx, ids)
	if errors.Is(pg.err, ledger.ErrCorrupt) {
		// Find the tiles the store could not read, one by one.
		pg.tiles, pg.tileErr, pg.err = make(map[ledger.TileID][]byte), make(map[ledger.TileID]error), nil
		for _, id := range ids {
			t, err := a.r.Tiles(ctx, []ledger.TileID{id})
			switch {
			case errors.Is(err, ledger.ErrCorrupt):
				pg.tileErr[id] = err
			case err != nil:
				pg.err = err
			default:
				pg.tiles[id] = t[id]
			}
		}
	}
	if pg.err != nil {
		pg.err = fmt.Errorf("read tiles of entries %d–%d: %w", s, e-1, pg.err)
	}
	return pg
}

// pageTiles returns the tiles that hold the hashes completed by appending
// the leaves [s, e): the level-0 tiles of those leaves and, on each higher
// level l, the tiles of the nodes whose last leaf is in [s, e).
func pageTiles(s, e uint64) []ledger.TileID {
	var ids []ledger.TileID
	for l := uint8(0); ; l++ {
		shift := uint(ledger.TileHeight) * uint(l)
		if shift >= 64 || e>>shift == 0 {
			break
		}
		first, last := s>>shift, e>>shift // nodes [first, last) of level 8l end in (s, e]
		if first >= last {
			continue
		}
		for n := first / ledger.TileWidth; n <= (last-1)/ledger.TileWidth; n++ {
			ids = append(ids, ledger.TileID{Level: l, Index: n})
		}
	}
	return ids
}

// checked is the outcome of checking one entry on its own. It is small, as
// a page holds one for each entry.
type checked struct {
	hash    [ledger.HashSize]byte
	div     *Divergence
	content int
	// more is what only some entries have, nil for the others.
	more *checkedMore
}

// checkedMore is what checking one entry found beyond checked.
type checkedMore struct {
	missing []string            // commitments without content
	erases  []ledger.ContentRef // for an erasure entry, what it erased
	// keys and labels are the entry's index keys and their labels, with
	// Options.Index.
	keys   []ledger.Ref
	labels [][index.HashSize]byte
}

// checkPage checks the entries of a page that was read, each on its own
// and in parallel, into pg.res. It runs where the page was read, as soon
// as it is read: while earlier pages are checked and built into the tree,
// and while the memory it was read into is still in the cache.
func (a *auditor) checkPage(pg *page) {
	n := int(pg.end - pg.start)
	pg.res = pg.buf.results(n)
	// Entries present in index order up to the first gap.
	for pg.have < len(pg.recs) && pg.have < n && pg.recs[pg.have].Index == pg.start+uint64(pg.have) {
		pg.have++
	}
	pg.roots = make([][]byte, (n+ledger.TileWidth-1)/ledger.TileWidth)
	a.checkEntries(*pg, pg.res[:pg.have], pg.roots)
}

// page builds the tree from a checked page in order, and checks the stored
// tile hashes and the checkpoints the page reaches.
func (a *auditor) page(ctx context.Context, pg page) error {
	res, have, roots := pg.res, pg.have, pg.roots
	a.tiles = pg.tiles
	for t := range roots {
		ts := pg.start + uint64(t*ledger.TileWidth)
		te := min(ts+ledger.TileWidth, pg.end)
		if err := a.tileErr(pg, ts); err != nil {
			return err
		}
		next := a.cps.peek(ctx)
		if a.cps.err != nil {
			return a.cps.err
		}
		bulk := roots[t] != nil && int(te-pg.start) <= have &&
			(next == nil || next.Size <= ts || next.Size >= te)
		if bulk {
			for i := ts; i < te; i++ {
				if d := res[i-pg.start].div; d != nil {
					return d
				}
			}
			if err := a.compareNode(compact.NewNodeID(ledger.TileHeight, ts/ledger.TileWidth), roots[t]); err != nil {
				return err
			}
			sub, err := ranges.NewRange(ts, te, [][]byte{roots[t]})
			if err != nil {
				return fmt.Errorf("tile range %d–%d: %w", ts, te, err)
			}
			if err := a.cr.AppendRange(sub, a.visit); err != nil {
				return fmt.Errorf("append tile range %d–%d: %w", ts, te, err)
			}
			if a.nodeDiv != nil {
				return a.nodeDiv
			}
			a.account(ts, res[ts-pg.start:te-pg.start])
		} else {
			for i := ts; i < te; i++ {
				k := int(i - pg.start)
				if k >= have {
					if k < len(pg.recs) {
						return diverge(i, "entry %d: missing (tree has a gap; the next stored entry is %d)", i, pg.recs[k].Index)
					}
					return diverge(i, "entry %d: missing (the tree head has size %d)", i, a.head.Size)
				}
				if d := res[k].div; d != nil {
					return d
				}
				if err := a.cr.Append(res[k].hash[:], a.visit); err != nil {
					return fmt.Errorf("append entry %d: %w", i, err)
				}
				if a.nodeDiv != nil {
					return a.nodeDiv
				}
				a.account(i, res[k:k+1])
				if err := a.checkpointsAt(ctx); err != nil {
					return err
				}
			}
		}
		if err := a.checkpointsAt(ctx); err != nil {
			return err
		}
	}
	return nil
}

// tileErr reports a stored tile the store could not read among those the
// tile of leaves starting at ts needs.
func (a *auditor) tileErr(pg page, ts uint64) error {
	if len(pg.tileErr) == 0 {
		return nil
	}
	for _, id := range pageTiles(ts, min(ts+ledger.TileWidth, pg.end)) {
		if err := pg.tileErr[id]; err != nil {
			first := id.Index * ledger.TileWidth << (uint(ledger.TileHeight) * uint(id.Level))
			return diverge(first, "tile %d/%d: %v", id.Level, id.Index, err)
		}
	}
	return nil
}

// account adds the checked entries from index start on to the report, and
// tracks missing content until an erasure entry accounts for it.
func (a *auditor) account(start uint64, res []checked) {
	for i := range res {
		c := &res[i]
		a.rep.Entries++
		a.rep.Content += uint64(c.content)
		a.rep.TileHashes++ // its level-0 tile hash
		m := c.more
		if m == nil {
			if a.idx != nil {
				a.idx.add(nil, nil)
			}
			continue
		}
		if len(m.missing) > 0 {
			a.pending[start+uint64(i)] = m.missing
		}
		a.erase(m.erases)
		if a.idx != nil {
			a.idx.add(m.keys, m.labels)
		}
	}
}

func (a *auditor) erase(refs []ledger.ContentRef) {
	for _, ref := range refs {
		names, ok := a.pending[ref.Index]
		if !ok {
			continue
		}
		if ref.Name == "" {
			a.rep.Erased += uint64(len(names))
			delete(a.pending, ref.Index)
			continue
		}
		for j, n := range names {
			if n == ref.Name {
				a.rep.Erased++
				names = append(names[:j], names[j+1:]...)
				break
			}
		}
		if len(names) == 0 {
			delete(a.pending, ref.Index)
		} else {
			a.pending[ref.Index] = names
		}
	}
}

// visitNode compares a perfect node on a tile level above 0 with its
// stored tile hash. Level-0 hashes are compared per entry.
func (a *auditor) visitNode(id compact.NodeID, hash []byte) {
	if a.nodeDiv != nil || id.Level == 0 || id.Level%ledger.TileHeight != 0 {
		return
	}
	if err := a.compareNode(id, hash); err != nil {
		a.nodeDiv = err
	}
}

func (a *auditor) compareNode(id compact.NodeID, hash []byte) *Divergence {
	tile := ledger.TileID{Level: uint8(id.Level / ledger.TileHeight), Index: id.Index / ledger.TileWidth}
	pos := id.Index % ledger.TileWidth
	first, end := id.Coverage()
	stored := a.tiles[tile]
	if uint64(len(stored)) < (pos+1)*ledger.HashSize {
		return diverge(first, "tile %d/%d hash %d (entries %d–%d): missing; the tile has %d hashes",
			tile.Level, tile.Index, pos, first, end-1, len(stored)/ledger.HashSize)
	}
	got := stored[pos*ledger.HashSize : (pos+1)*ledger.HashSize]
	if !bytes.Equal(got, hash) {
		return diverge(first, "tile %d/%d hash %d (entries %d–%d) differs: stored %s but the tree gives %s",
			tile.Level, tile.Index, pos, first, end-1, short(got), short(hash))
	}
	a.rep.TileHashes++
	return nil
}

// checkEntries checks each entry of pg on its own, in parallel: res[i] for
// pg.recs[i]. For each full tile of checked entries it sets roots[t] to the
// root of the tile's subtree.
func (a *auditor) checkEntries(pg page, res []checked, roots [][]byte) {
	tiles := (len(res) + ledger.TileWidth - 1) / ledger.TileWidth
	workers := min(a.opts.Workers, tiles)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c := &checker{tiles: pg.tiles, h: sha256.New(), index: a.idx != nil}
			for t := w; t < tiles; t += workers {
				lo, hi := t*ledger.TileWidth, min((t+1)*ledger.TileWidth, len(res))
				for i := lo; i < hi; i++ {
					c.check(&pg.recs[i], &res[i])
				}
				if hi-lo == ledger.TileWidth && pg.start%ledger.TileWidth == 0 {
					roots[t] = c.tileRoot(res[lo:hi])
				}
			}
		})
	}
	wg.Wait()
}

// checker checks entries on their own. Each worker has one.
type checker struct {
	tiles map[ledger.TileID][]byte
	// index says to derive each entry's index keys; labels is where their
	// labels are allocated from.
	index  bool
	labels [][index.HashSize]byte
	h      hash.Hash
	// attrs and cms hold the attributes and commitments of the leaf being
	// checked, reused from leaf to leaf.
	attrs []ledger.Attr
	cms   []ledger.Commitment
	// more is where checkedMore values are taken from.
	more []checkedMore
	// sum is a content hash.
	sum [ledger.HashSize]byte
	// tile is the stored level-0 tile of the entry being checked, number
	// tileIdx, looked up once for its entries.
	tile    []byte
	tileIdx uint64
	hasTile bool
	buf     [1 + 2*ledger.HashSize]byte
	level   [ledger.TileWidth][ledger.HashSize]byte
}

// check checks one entry: its leaf hash, its leaf against its columns, its
// content against the leaf's commitments and its level-0 tile hash.
//
// The leaf is decoded in place, without a copy: the decoded strings share
// rec.Leaf's memory, which stays unchanged until the page is checked (a
// page's buffer is reused only after that). The strings that out keeps
// beyond the page (missing content names, index keys, erasure targets) are
// copies.
func (c *checker) check(rec *ledger.Record, out *checked) {
	i := rec.Index
	h := c.h
	h.Reset()
	c.buf[0] = rfc6962.RFC6962LeafHashPrefix
	h.Write(c.buf[:1])
	h.Write(rec.Leaf)
	h.Sum(out.hash[:0])
	if !sameHash(&out.hash, &rec.LeafHash) {
		out.div = diverge(i, "entry %d: leaf hash mismatch: stored %s but the leaf hashes to %s", i, short(rec.LeafHash[:]), short(out.hash[:]))
		return
	}
	// The decoded leaf is on the stack, not in the checker: its strings are
	// written without the write barriers that writes into the heap take
	// while the collector marks.
	var d ledger.DecodedLeaf
	d.Entry.Attrs, d.Commitments = c.attrs[:0], c.cms[:0]
	err := ledger.DecodeLeafString(&d, unsafe.String(unsafe.SliceData(rec.Leaf), len(rec.Leaf)))
	if cap(d.Entry.Attrs) > cap(c.attrs) {
		c.attrs = d.Entry.Attrs[:0]
	}
	if cap(d.Commitments) > cap(c.cms) {
		c.cms = d.Commitments[:0]
	}
	if err != nil {
		out.div = diverge(i, "entry %d: leaf does not decode: %v", i, err)
		return
	}
	e := &d.Entry
	switch {
	case rec.Kind != e.Kind:
		out.div = diverge(i, "entry %d: kind column %q but the leaf says %q", i, rec.Kind, e.Kind)
		return
	case rec.TraceID != e.TraceID:
		out.div = diverge(i, "entry %d: trace_id column %q but the leaf says %q", i, rec.TraceID, e.TraceID)
		return
	case !sameTime(rec.Time, e.Start):
		out.div = diverge(i, "entry %d: time column %s but the leaf says %s", i, fmtTime(rec.Time), fmtTime(e.Start))
		return
	}
	if key := e.DedupKey(); !sameHash(&rec.DedupKey, &key) {
		out.div = dedupDiv(i, rec.DedupKey, key)
		return
	}
	for _, ct := range rec.Content {
		cm := findCommitment(d.Commitments, ct.Name)
		if cm == nil {
			out.div = diverge(i, "entry %d: content %q has no commitment in the leaf", i, ct.Name)
			return
		}
		h.Reset()
		h.Write(ct.Salt)
		h.Write(ct.Data)
		sum := &c.sum
		h.Sum(sum[:0])
		if *sum != cm.Hash {
			out.div = diverge(i, "entry %d: content %q does not match its commitment: SHA-256(salt ‖ content) is %s, the leaf commits to %s",
				i, ct.Name, short(sum[:]), short(cm.Hash[:]))
			return
		}
		out.content++
	}
	if len(rec.Content) < len(d.Commitments) {
		for _, cm := range d.Commitments {
			if !hasContent(rec.Content, cm.Name) {
				m := c.moreOf(out)
				m.missing = append(m.missing, strings.Clone(cm.Name))
			}
		}
	}
	if c.index {
		m := c.moreOf(out)
		m.keys = ledger.IndexKeys(e)
		for k := range m.keys {
			m.keys[k].Value = strings.Clone(m.keys[k].Value)
		}
		if len(c.labels)+len(m.keys) > cap(c.labels) {
			c.labels = make([][index.HashSize]byte, 0, max(4*ledger.TileWidth, len(m.keys)))
		}
		n := len(c.labels)
		for _, k := range m.keys {
			c.labels = append(c.labels, index.Label(k))
		}
		m.labels = c.labels[n:len(c.labels):len(c.labels)]
	}
	if e.Kind == ledger.KindErasure {
		targets, _ := e.Attr(ledger.AttrErasureTargets)
		targets = strings.Clone(targets)
		refs, err := parseTargets(targets)
		if err != nil {
			out.div = diverge(i, "entry %d: erasure targets %q: %v", i, targets, err)
			return
		}
		c.moreOf(out).erases = refs
	}
	tile := ledger.TileID{Level: 0, Index: i / ledger.TileWidth}
	pos := i % ledger.TileWidth
	if !c.hasTile || c.tileIdx != tile.Index {
		c.tile, c.tileIdx, c.hasTile = c.tiles[tile], tile.Index, true
	}
	stored := c.tile
	if uint64(len(stored)) < (pos+1)*ledger.HashSize {
		out.div = diverge(i, "tile 0/%d hash %d (entry %d): missing; the tile has %d hashes", tile.Index, pos, i, len(stored)/ledger.HashSize)
		return
	}
	if got := stored[pos*ledger.HashSize : (pos+1)*ledger.HashSize]; !sameHash((*[ledger.HashSize]byte)(got), &out.hash) {
		out.div = diverge(i, "tile 0/%d hash %d (entry %d) differs: stored %s but the entry's leaf hashes to %s",
			tile.Index, pos, i, short(got), short(out.hash[:]))
	}
}

// sameHash reports whether a and b are equal, in four loads each instead
// of a call of runtime.memequal, which the comparison of two arrays of
// this size compiles to.
func sameHash(a, b *[ledger.HashSize]byte) bool {
	le := binary.LittleEndian
	// ^ and | have the same precedence in Go: each XOR in parentheses.
	return (le.Uint64(a[0:])^le.Uint64(b[0:]))|(le.Uint64(a[8:])^le.Uint64(b[8:]))|
		(le.Uint64(a[16:])^le.Uint64(b[16:]))|(le.Uint64(a[24:])^le.Uint64(b[24:])) == 0
}

// dedupDiv reports an entry whose dedup key column is not its leaf's key.
// It takes the keys by value, so that check's key stays on its stack (a
// slice of it passed to short would move it to the heap for every entry).
func dedupDiv(i uint64, stored, key [ledger.HashSize]byte) *Divergence {
	return diverge(i, "entry %d: dedup key column %s does not match the leaf (%s)", i, short(stored[:]), short(key[:]))
}

// moreOf returns out.more, taken from the checker's pool if it is nil.
func (c *checker) moreOf(out *checked) *checkedMore {
	if out.more == nil {
		if len(c.more) == 0 {
			c.more = make([]checkedMore, ledger.TileWidth)
		}
		out.more, c.more = &c.more[0], c.more[1:]
	}
	return out.more
}

// tileRoot returns the root of the perfect subtree over 256 leaf hashes.
func (c *checker) tileRoot(res []checked) []byte {
	n := len(res)
	for i := range res {
		c.level[i] = res[i].hash
	}
	h := c.h
	c.buf[0] = rfc6962.RFC6962NodeHashPrefix
	for n > 1 {
		for i := 0; i < n/2; i++ {
			copy(c.buf[1:], c.level[2*i][:])
			copy(c.buf[1+ledger.HashSize:], c.level[2*i+1][:])
			h.Reset()
			h.Write(c.buf[:])
			h.Sum(c.level[i][:0])
		}
		n /= 2
	}
	return append([]byte(nil), c.level[0][:]...)
}

func findCommitment(cs []ledger.Commitment, name string) *ledger.Commitment {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func hasContent(cs []ledger.Content, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// parseTargets parses an erasure entry's targets: space-separated "index"
// or "index/content-name".
func parseTargets(s string) ([]ledger.ContentRef, error) {
	var refs []ledger.ContentRef
	for _, f := range strings.Fields(s) {
		idx, name, _ := strings.Cut(f, "/")
		n, err := strconv.ParseUint(idx, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("target %q: not an entry index", f)
		}
		refs = append(refs, ledger.ContentRef{Index: n, Name: name})
	}
	return refs, nil
}

// sameTime reports whether a stored time column matches the leaf's start
// time. Postgres keeps microseconds, so the column may be the leaf time
// truncated to the microsecond.
func sameTime(stored, leaf time.Time) bool {
	if leaf.IsZero() {
		return stored.IsZero()
	}
	// Truncating to the microsecond truncates the nanoseconds within the
	// second (the zero time is a whole second).
	ns := leaf.Nanosecond()
	return stored.Unix() == leaf.Unix() && (stored.Nanosecond() == ns || stored.Nanosecond() == ns-ns%1000)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "(none)"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// checkpointsAt checks the stored checkpoints whose size is the size of the
// tree built so far.
func (a *auditor) checkpointsAt(ctx context.Context) error {
	for {
		cp := a.cps.peek(ctx)
		if a.cps.err != nil {
			return a.cps.err
		}
		if cp == nil || cp.Size > a.cr.End() {
			return nil
		}
		a.cps.next()
		if cp.Size < a.cr.End() { // cannot happen for a store that orders by size
			return diverge(cp.Size, "checkpoint %d: read out of size order", cp.Size)
		}
		if err := a.checkCheckpoint(cp); err != nil {
			return err
		}
	}
}

func (a *auditor) checkCheckpoint(cp *ledger.Checkpoint) error {
	vc, err := ledger.OpenCheckpoint(cp.Note, a.vkey)
	if err != nil {
		return diverge(cp.Size, "checkpoint %d: signature not valid for %s: %v", cp.Size, a.keyName, err)
	}
	if vc.Size != cp.Size {
		return diverge(cp.Size, "checkpoint %d: the signed note says size %d", cp.Size, vc.Size)
	}
	if vc.Root != cp.Root {
		return diverge(cp.Size, "checkpoint %d: root column %s but the signed note says %s", cp.Size, short(cp.Root[:]), short(vc.Root[:]))
	}
	root := ledger.EmptyRoot()
	if a.cr.End() > 0 {
		h, err := a.cr.GetRootHash(nil)
		if err != nil {
			return fmt.Errorf("root at size %d: %w", a.cr.End(), err)
		}
		copy(root[:], h)
	}
	if vc.Root != root {
		return diverge(cp.Size, "checkpoint %d: root %s but the tree gives %s", cp.Size, short(vc.Root[:]), short(root[:]))
	}
	if p := a.prevCp; p != nil && !p.Time.IsZero() && !cp.Time.IsZero() && cp.Time.Before(p.Time) {
		return diverge(p.Size, "checkpoint %d was signed at %s, after checkpoint %d at %s: the tree size went down from %d to %d",
			p.Size, fmtTime(p.Time), cp.Size, fmtTime(cp.Time), cp.Size, p.Size)
	}
	c := *cp
	a.prevCp = &c
	if cp.Size == a.head.CheckpointSize {
		a.sawHeadCp = true
	}
	a.rep.Checkpoints++
	return nil
}

// finish checks the tree head, the checkpoints beyond the audited tree and
// content that went missing without an erasure.
func (a *auditor) finish(ctx context.Context) error {
	if a.cr.End() != a.head.Size {
		return fmt.Errorf("built a tree of size %d, want %d", a.cr.End(), a.head.Size) // a bug, not a divergence
	}
	root := ledger.EmptyRoot()
	if a.head.Size > 0 {
		h, err := a.cr.GetRootHash(nil)
		if err != nil {
			return fmt.Errorf("root: %w", err)
		}
		copy(root[:], h)
	}
	if root != a.head.Root {
		return diverge(a.head.Size, "tree head: root %s at size %d but the tree gives %s", short(a.head.Root[:]), a.head.Size, short(root[:]))
	}
	hashes := a.cr.Hashes()
	ok := len(hashes) == len(a.head.Range)
	for i := 0; ok && i < len(hashes); i++ {
		ok = bytes.Equal(hashes[i], a.head.Range[i])
	}
	if !ok {
		return diverge(a.head.Size, "tree head: compact range at size %d differs from the tree's (%d hashes, want %d)", a.head.Size, len(a.head.Range), len(hashes))
	}
	if a.head.Checkpointed && !a.sawHeadCp {
		return diverge(a.head.CheckpointSize, "tree head: latest checkpoint %d is not stored", a.head.CheckpointSize)
	}
	// Checkpoints beyond the audited size: signed since the audit began, or
	// for a tree the store no longer holds.
	var latest *ledger.TreeHead
	for {
		cp := a.cps.peek(ctx)
		if a.cps.err != nil {
			return a.cps.err
		}
		if cp == nil {
			break
		}
		a.cps.next()
		if latest == nil {
			h, err := a.r.Head(ctx)
			if err != nil {
				return fmt.Errorf("read tree head: %w", err)
			}
			latest = &h
		}
		if cp.Size > latest.Size {
			return diverge(cp.Size, "checkpoint %d: beyond the tree, whose head has size %d", cp.Size, latest.Size)
		}
		if _, err := ledger.OpenCheckpoint(cp.Note, a.vkey); err != nil {
			return diverge(cp.Size, "checkpoint %d: signature not valid for %s: %v", cp.Size, a.keyName, err)
		}
		a.rep.Later++
	}
	return a.finishContent(ctx)
}

// finishContent reports content missing without an erasure entry that
// records its erasure, after looking for erasures appended since the audit
// began.
func (a *auditor) finishContent(ctx context.Context) error {
	if len(a.pending) == 0 {
		return nil
	}
	h, err := a.r.Head(ctx)
	if err != nil {
		return fmt.Errorf("read tree head: %w", err)
	}
	step := uint64(a.opts.PageSize)
	for s := a.head.Size; s < h.Size && len(a.pending) > 0; s += step {
		recs, err := a.r.Records(ctx, s, min(s+step, h.Size))
		if err != nil {
			return fmt.Errorf("read entries from %d: %w", s, err)
		}
		for i := range recs {
			if recs[i].Kind != ledger.KindErasure {
				continue
			}
			d, err := ledger.DecodeLeaf(recs[i].Leaf)
			if err != nil {
				continue // audited by the next audit
			}
			targets, _ := d.Entry.Attr(ledger.AttrErasureTargets)
			refs, _ := parseTargets(targets)
			a.erase(refs)
		}
	}
	first, found := uint64(0), false
	for i := range a.pending {
		if !found || i < first {
			first, found = i, true
		}
	}
	if found {
		return diverge(first, "entry %d: content %q is missing, and no erasure entry records its erasure", first, a.pending[first][0])
	}
	return nil
}

// cpIter reads the stored checkpoints in ascending size order, a page at a
// time.
type cpIter struct {
	r    ledger.Reader
	buf  []ledger.Checkpoint
	from uint64
	done bool
	err  error
}

// peek returns the next checkpoint, or nil at the end or after an error
// (it.err).
func (it *cpIter) peek(ctx context.Context) *ledger.Checkpoint {
	if len(it.buf) == 0 && !it.done && it.err == nil {
		cps, err := it.r.Checkpoints(ctx, it.from, checkpointPage)
		if err != nil {
			if errors.Is(err, ledger.ErrCorrupt) {
				it.err = diverge(it.from, "checkpoints from size %d: %v", it.from, err)
			} else {
				it.err = fmt.Errorf("read checkpoints from size %d: %w", it.from, err)
			}
			return nil
		}
		it.buf = cps
		if len(cps) < checkpointPage {
			it.done = true
		}
		if len(cps) > 0 {
			it.from = cps[len(cps)-1].Size + 1
		}
	}
	if len(it.buf) == 0 {
		return nil
	}
	return &it.buf[0]
}

func (it *cpIter) next() { it.buf = it.buf[1:] }

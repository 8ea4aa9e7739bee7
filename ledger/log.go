package ledger

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for Config.
const (
	// DefaultCheckpointInterval is how often a checkpoint is signed at most
	// while the tree grows.
	DefaultCheckpointInterval = time.Second
	// DefaultMaxBatch is the most entries one transaction commits. Batches
	// grow up to it under load: everything that arrives while a transaction
	// commits goes into the next one.
	DefaultMaxBatch = 4096
	// DefaultMaxPending is how many Append calls wait for a transaction at
	// most; one more is refused with ErrPushback.
	DefaultMaxPending = 1024
	// DefaultCommitTimeout bounds one commit transaction, and one
	// checkpoint signing.
	DefaultCommitTimeout = 30 * time.Second
)

// DuplicateMismatchName is the name of the entry the ledger appends when an
// entry arrives again under a stored entry's dedup key (the same trace,
// span and event) with a different leaf: a re-delivery with changed
// attributes, or an agent reusing span IDs. The ledger keeps the stored
// entry; the finding records the other one's leaf hash.
const DuplicateMismatchName = "agentledger.duplicate_mismatch"

// Attributes of a duplicate-mismatch finding.
const (
	AttrDupIndex         = "agentledger.duplicate.index"
	AttrDupStoredLeaf    = "agentledger.duplicate.stored_leaf_hash"
	AttrDupDeliveredLeaf = "agentledger.duplicate.delivered_leaf_hash"
)

// Config configures a Log.
type Config struct {
	// Signer signs checkpoints. Required.
	Signer *Signer
	// CheckpointInterval is how often at most a checkpoint is signed while
	// the tree grows. Zero means DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// MaxBatch is the most entries per transaction. Zero means
	// DefaultMaxBatch.
	MaxBatch int
	// MaxPending is how many Append calls may wait for a transaction;
	// beyond it Append fails with ErrPushback. Zero means DefaultMaxPending.
	MaxPending int
	// CommitTimeout bounds each transaction the log runs on its own (a
	// commit of queued appends, a checkpoint). Zero means
	// DefaultCommitTimeout.
	CommitTimeout time.Duration
	// Logger receives the log's own messages. Nil means slog.Default().
	Logger *slog.Logger
	// Observer, if set, is told of every commit and checkpoint.
	Observer Observer
	// Follower, if set, is called after every checkpoint interval (in a
	// goroutine of its own, never two calls at once) and after the final
	// checkpoint, to derive state from the log (the verifiable index,
	// ledger/index).
	Follower Follower
	// Published, if set, is called with each checkpoint this Log signs,
	// once it is committed. It must return at once (witness submission,
	// package witness, only wakes a goroutine of its own).
	Published func(cp Checkpoint)
}

// Follower derives state from the signed log. Follow brings it up to the
// latest checkpoint; it must tolerate being called when there is nothing
// new, and several Followers of one database running at once.
type Follower interface {
	Follow(ctx context.Context) error
}

// AppendFollower is a Follower that the Log also tells of each batch of
// entries it commits, so that it need not read them back: Appended is
// called once the batch is committed, with its new records (Index set,
// Refs as PrepareRecords made them from the entries whose leaves they
// hold). It must return at once, and not modify the records.
type AppendFollower interface {
	Follower
	Appended(recs []Record)
}

// Observer is told what the log does, for metrics.
type Observer interface {
	// Committed reports a committed batch of n new entries that took d,
	// and the new head.
	Committed(n int, d time.Duration, head TreeHead)
	// Signed reports a new checkpoint.
	Signed(cp Checkpoint)
	// DuplicateMismatch reports an entry that arrived under a stored
	// entry's dedup key with a different leaf (see DuplicateMismatchName).
	DuplicateMismatch(m Mismatch)
}

// Index is the outcome of appending one entry: its index in the tree, and
// whether an entry with its dedup key was already there (IsDup), in which
// case Index is the stored entry's. LeafDiffers reports a duplicate whose
// leaf records other facts than the stored one (see sameFacts); the stored
// entry stays, and the log appends a DuplicateMismatchName finding.
type Index struct {
	Index       uint64
	IsDup       bool
	LeafDiffers bool
}

// Mismatch is a duplicate whose leaf differs from the stored entry's.
type Mismatch struct {
	Index     uint64 // the stored entry's
	TraceID   string
	Stored    [HashSize]byte // the stored entry's leaf hash
	Delivered [HashSize]byte // the refused entry's leaf hash
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Signer == nil {
		return errors.New("ledger config: signer is required")
	}
	if c.CheckpointInterval < 0 {
		return fmt.Errorf("ledger config: checkpoint interval %v is negative", c.CheckpointInterval)
	}
	if c.MaxBatch < 0 {
		return fmt.Errorf("ledger config: max batch %d is negative", c.MaxBatch)
	}
	if c.MaxPending < 0 {
		return fmt.Errorf("ledger config: max pending %d is negative", c.MaxPending)
	}
	if c.CommitTimeout < 0 {
		return fmt.Errorf("ledger config: commit timeout %v is negative", c.CommitTimeout)
	}
	return nil
}

// Log is the write side of the ledger: it group-commits appends, signs
// checkpoints and records erasures. Several Logs, in one process or many,
// may write to one database; the database serialises them.
type Log struct {
	store    Store
	signer   *Signer
	interval time.Duration
	maxBatch int
	timeout  time.Duration
	logger   *slog.Logger
	observer Observer
	follower Follower
	publish  func(Checkpoint)
	followCh chan struct{} // wakes followLoop; holds at most one signal

	reqs chan *request
	// base is the context of the work the log does on its own: commits,
	// checkpoints and follows. Close cancels it when its own context ends.
	base   context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // guards closed and senders
	closed   bool
	senders  sync.WaitGroup
	stopSign chan struct{}
	done     sync.WaitGroup
}

type request struct {
	ctx     context.Context
	records []Record
	result  chan result
}

type result struct {
	indices []Index
	err     error
}

// Open starts a Log on store. Close it to stop its goroutines.
func Open(store Store, cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Log{
		store:    store,
		signer:   cfg.Signer,
		interval: cfg.CheckpointInterval,
		maxBatch: cfg.MaxBatch,
		logger:   cfg.Logger,
		observer: cfg.Observer,
		follower: cfg.Follower,
		publish:  cfg.Published,
		followCh: make(chan struct{}, 1),
		timeout:  cfg.CommitTimeout,
		reqs:     make(chan *request, cmp.Or(cfg.MaxPending, DefaultMaxPending)),
		stopSign: make(chan struct{}),
	}
	l.base, l.cancel = context.WithCancel(context.Background())
	if l.timeout == 0 {
		l.timeout = DefaultCommitTimeout
	}
	if l.interval == 0 {
		l.interval = DefaultCheckpointInterval
	}
	if l.maxBatch == 0 {
		l.maxBatch = DefaultMaxBatch
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	l.done.Add(2)
	go l.commitLoop()
	go l.signLoop()
	if l.follower != nil {
		l.done.Add(1)
		go l.followLoop()
	}
	return l, nil
}

// Origin returns the log's origin, the first line of its checkpoints.
func (l *Log) Origin() string { return l.signer.Origin() }

// NewContent returns content named name holding data, with a fresh random
// salt.
func NewContent(name string, data []byte) Content {
	salt := make([]byte, SaltSize)
	rand.Read(salt)
	return Content{Name: name, Salt: salt, Data: data}
}

// Append appends entries and returns their indices once one transaction
// holding all of them has committed. An entry that was appended before
// (the same DedupKey) is not appended again: its existing index is
// returned, marked IsDup, and LeafDiffers if its leaf differs from the
// stored one. A malformed entry fails the whole call with ErrInvalid or
// ErrTooLarge before anything is written; a full queue fails it with
// ErrPushback. If ctx ends before the entries' transaction starts they are
// not appended; if it ends later they may be, and a retry finds them.
func (l *Log) Append(ctx context.Context, entries []Entry) ([]Index, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	recs, err := PrepareRecords(entries)
	if err != nil {
		return nil, err
	}
	req := &request{ctx: ctx, records: recs, result: make(chan result, 1)}
	if err := l.send(ctx, req); err != nil {
		return nil, err
	}
	select {
	case r := <-req.result:
		return r.indices, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("append: %w", context.Cause(ctx))
	}
}

// AppendNow is Append for a few entries whose caller waits for them to be
// committed before it goes on, such as the access entry a read of content
// appends before the content is returned: they are committed at once in a
// transaction of their own, not queued behind the group commit. The
// database serialises that transaction with the group commits, as it does
// the transactions of several Logs, so the caller waits at most for the
// one commit under way, not for the queue and the next batch. It returns
// once the entries are committed, as Append does.
func (l *Log) AppendNow(ctx context.Context, entries []Entry) ([]Index, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	recs := make([]Record, len(entries))
	for i := range entries {
		rec, err := prepare(&entries[i])
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		recs[i] = rec
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	l.senders.Add(1) // Close waits for this commit before its final checkpoint
	l.mu.Unlock()
	defer l.senders.Done()
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	stop := context.AfterFunc(l.base, cancel) // a Close that gives up cancels it
	defer stop()
	update := l.store.Update
	if s, ok := l.store.(nowUpdater); ok {
		update = s.UpdateNow
	}
	start := time.Now()
	indices, head, added, mismatches, err := l.appendRecordsBy(ctx, update, recs, nil)
	if err != nil {
		return nil, err
	}
	if l.observer != nil {
		l.observer.Committed(added, time.Since(start), head)
	}
	l.recordMismatches(ctx, mismatches)
	return indices, nil
}

// Pending returns how many Append calls wait in the queue for a commit
// transaction.
func (l *Log) Pending() int { return len(l.reqs) }

func (l *Log) send(ctx context.Context, req *request) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.senders.Add(1)
	l.mu.Unlock()
	defer l.senders.Done()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append: %w", context.Cause(ctx))
	}
	select {
	case l.reqs <- req:
		return nil
	default:
		return fmt.Errorf("append: %w", ErrPushback)
	}
}

func prepare(e *Entry) (Record, error) {
	leaf, err := EncodeLeaf(e)
	if err != nil {
		return Record{}, err
	}
	return Record{
		Leaf:     leaf,
		LeafHash: LeafHash(leaf),
		DedupKey: e.DedupKey(),
		Kind:     e.Kind,
		TraceID:  e.TraceID,
		Time:     e.Start,
		Refs:     RefsOf(e),
		Content:  e.Content,
	}, nil
}

func (l *Log) commitLoop() {
	defer l.done.Done()
	for req := range l.reqs {
		batch := []*request{req}
		n := len(req.records)
	drain:
		for n < l.maxBatch {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				n += len(r.records)
			default:
				break drain
			}
		}
		l.commit(batch)
	}
}

// commit writes the records of reqs in one transaction and answers each
// request. Requests whose context already ended are answered without being
// written.
func (l *Log) commit(reqs []*request) {
	live := reqs[:0]
	for _, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			r.result <- result{err: fmt.Errorf("append: %w", context.Cause(r.ctx))}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	var recs []Record
	for _, r := range live {
		recs = append(recs, r.records...)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(l.base, l.timeout)
	defer cancel()
	indices, head, added, mismatches, err := l.appendRecords(ctx, recs, nil)
	if err == nil && l.observer != nil {
		l.observer.Committed(added, time.Since(start), head)
	}
	// The entries have committed: answer each request now, but one that
	// delivered a duplicate mismatch only once its finding is written, so
	// that its sender, once answered, finds the finding. The others do not
	// wait for the finding's transaction.
	type answer struct {
		r       *request
		indices []Index
	}
	var held []answer
	off := 0
	for _, r := range live {
		if err != nil {
			r.result <- result{err: err}
			continue
		}
		ix := indices[off : off+len(r.records)]
		off += len(r.records)
		if slices.ContainsFunc(ix, func(i Index) bool { return i.LeafDiffers }) {
			held = append(held, answer{r, ix})
			continue
		}
		r.result <- result{indices: ix}
	}
	if err == nil {
		l.recordMismatches(ctx, mismatches)
	}
	for _, a := range held {
		a.r.result <- result{indices: a.indices}
	}
}

// appendRecords writes recs (and erases the content erase names) in one
// transaction, retrying a few times on ErrConflict. It returns the index of
// each record, the new head, how many records were new, and the duplicates
// whose leaf differs from the stored (or earlier in recs) one.
func (l *Log) appendRecords(ctx context.Context, recs []Record, erase []ContentRef) ([]Index, TreeHead, int, []Mismatch, error) {
	return l.appendRecordsBy(ctx, l.store.Update, recs, erase)
}

// appendRecordsBy is appendRecords with the transaction run by update, the
// store's Update or an equivalent.
func (l *Log) appendRecordsBy(ctx context.Context, update func(context.Context, [][HashSize]byte, UpdateFunc) error, recs []Record, erase []ContentRef) ([]Index, TreeHead, int, []Mismatch, error) {
	keys := make([][HashSize]byte, len(recs))
	for i := range recs {
		keys[i] = recs[i].DedupKey
	}
	var (
		indices    []Index
		head       TreeHead
		added      int
		mismatches []Mismatch
		committed  []Record
		err        error
	)
	for attempt := 0; attempt < 3; attempt++ {
		err = update(ctx, keys, func(h TreeHead, existing map[[HashSize]byte]Existing) (*Batch, error) {
			for _, ref := range erase {
				if ref.Index >= h.Size {
					return nil, fmt.Errorf("%w: erase entry %d: tree size is %d", ErrInvalid, ref.Index, h.Size)
				}
			}
			indices = make([]Index, len(recs))
			mismatches = nil
			fresh := make(map[[HashSize]byte]Existing)
			var newRecs []Record
			var leaves [][HashSize]byte
			for i := range recs {
				old, ok := existing[recs[i].DedupKey]
				if !ok {
					old, ok = fresh[recs[i].DedupKey]
				}
				if ok {
					differs := !sameFacts(old.Leaf, recs[i].Leaf)
					indices[i] = Index{Index: old.Index, IsDup: true, LeafDiffers: differs}
					if differs {
						mismatches = append(mismatches, Mismatch{Index: old.Index, TraceID: recs[i].TraceID, Stored: LeafHash(old.Leaf), Delivered: recs[i].LeafHash})
					}
					continue
				}
				idx := h.Size + uint64(len(newRecs))
				fresh[recs[i].DedupKey] = Existing{Index: idx, Leaf: recs[i].Leaf}
				indices[i] = Index{Index: idx}
				rec := recs[i]
				rec.Index = idx
				newRecs = append(newRecs, rec)
				leaves = append(leaves, rec.LeafHash)
			}
			added = len(newRecs)
			if added == 0 {
				head = h
				return nil, nil
			}
			next, tiles, err := grow(h, leaves)
			if err != nil {
				return nil, err
			}
			head, committed = next, newRecs
			return &Batch{Records: newRecs, Tiles: tiles, Head: next, Erase: erase}, nil
		})
		if !errors.Is(err, ErrConflict) {
			break
		}
	}
	if err != nil {
		return nil, TreeHead{}, 0, nil, fmt.Errorf("append batch: %w", err)
	}
	if f, ok := l.follower.(AppendFollower); ok && added > 0 {
		f.Appended(committed)
	}
	return indices, head, added, mismatches, nil
}

// sameFacts reports whether two leaves of one dedup key record the same
// facts: all fields equal, and content of the same names. Content
// commitments are salted afresh on each delivery, so a retried delivery of
// an entry with content has another leaf although nothing changed; a
// change of content alone is therefore not seen. Leaves of different
// format versions are not compared. An attestation's times are not facts
// of it: its dedup key is a digest of what ran, and its times are the
// window of the spans of the export that carried it, so each export of a
// trace whose spans arrive in several exports carries another window.
func sameFacts(stored, delivered []byte) bool {
	if bytes.Equal(stored, delivered) {
		return true
	}
	a, err := DecodeLeaf(stored)
	if err != nil {
		return false
	}
	b, err := DecodeLeaf(delivered)
	if err != nil {
		return false
	}
	if a.Version != b.Version {
		return true
	}
	if a.Entry.Kind == KindAttestation && b.Entry.Kind == KindAttestation {
		b.Entry.Start, b.Entry.End = a.Entry.Start, a.Entry.End
	}
	return reflect.DeepEqual(a.Entry, b.Entry) && slices.EqualFunc(a.Commitments, b.Commitments, func(x, y Commitment) bool { return x.Name == y.Name })
}

// recordMismatches logs and reports each mismatch, and appends a finding
// entry for it (see DuplicateMismatchName), so that answers about the
// stored entry's trace show it. The finding's event key names both leaf
// hashes: the same mismatch delivered again adds no second finding. The
// entries that caused them have committed, so a failure is logged, not
// returned.
func (l *Log) recordMismatches(ctx context.Context, ms []Mismatch) {
	if len(ms) == 0 {
		return
	}
	recs := make([]Record, 0, len(ms))
	for _, m := range ms {
		l.logger.Warn("an entry arrived again with a different leaf; the stored entry stays",
			"index", m.Index, "trace_id", m.TraceID,
			"stored_leaf_hash", hex.EncodeToString(m.Stored[:]), "delivered_leaf_hash", hex.EncodeToString(m.Delivered[:]))
		if l.observer != nil {
			l.observer.DuplicateMismatch(m)
		}
		e := mismatchEntry(m)
		rec, err := prepare(&e)
		if err != nil {
			l.logger.Error("duplicate mismatch finding", "index", m.Index, "err", err)
			continue
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return
	}
	_, head, added, _, err := l.appendRecords(ctx, recs, nil)
	if err != nil {
		l.logger.Error("append duplicate mismatch findings", "err", err)
		return
	}
	if l.observer != nil {
		l.observer.Committed(added, 0, head)
	}
}

// mismatchEntry returns the finding entry that records m.
func mismatchEntry(m Mismatch) Entry {
	stored, delivered := hex.EncodeToString(m.Stored[:]), hex.EncodeToString(m.Delivered[:])
	return Entry{
		Kind:     KindSpan,
		Source:   SourceLedger,
		TraceID:  m.TraceID,
		EventKey: "duplicate_mismatch/" + stored + "/" + delivered,
		Name:     DuplicateMismatchName,
		Start:    time.Now().UTC(),
		Attrs: []Attr{
			{Key: AttrDupIndex, Value: strconv.FormatUint(m.Index, 10)},
			{Key: AttrDupStoredLeaf, Value: stored},
			{Key: AttrDupDeliveredLeaf, Value: delivered},
		},
	}
}

// Erase deletes content and appends, in the same transaction, an erasure
// entry that records what was erased, by whom and why. Leaves and proofs are
// unchanged: each leaf keeps its commitment to the erased content. It
// returns the erasure entry's index.
func (l *Log) Erase(ctx context.Context, targets []ContentRef, actor, reason string) (uint64, error) {
	if len(targets) == 0 {
		return 0, fmt.Errorf("%w: nothing to erase", ErrInvalid)
	}
	if actor == "" || reason == "" {
		return 0, fmt.Errorf("%w: an erasure needs an actor and a reason", ErrInvalid)
	}
	var names []string
	for _, t := range targets {
		s := strconv.FormatUint(t.Index, 10)
		if t.Name != "" {
			s += "/" + t.Name
		}
		names = append(names, s)
	}
	id := make([]byte, 16)
	rand.Read(id)
	e := Entry{
		Kind:     KindErasure,
		Source:   SourceLedger,
		EventKey: fmt.Sprintf("erasure/%x", id),
		Name:     "erasure",
		Start:    time.Now().UTC(),
		Attrs: []Attr{
			{Key: AttrErasureActor, Value: actor},
			{Key: AttrErasureReason, Value: reason},
			{Key: AttrErasureTargets, Value: strings.Join(names, " ")},
		},
	}
	rec, err := prepare(&e)
	if err != nil {
		return 0, fmt.Errorf("erasure entry: %w", err)
	}
	indices, head, added, _, err := l.appendRecords(ctx, []Record{rec}, targets)
	if err != nil {
		return 0, fmt.Errorf("erase: %w", err)
	}
	if l.observer != nil {
		l.observer.Committed(added, 0, head)
	}
	return indices[0].Index, nil
}

func (l *Log) signLoop() {
	defer l.done.Done()
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		select {
		case <-l.stopSign:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(l.base, l.timeout)
			if _, err := l.sign(ctx, false); err != nil {
				l.logger.Error("sign checkpoint", "err", err)
			}
			cancel()
			select {
			case l.followCh <- struct{}{}:
			default: // the follower is still busy; it runs again when done
			}
		}
	}
}

// Checkpoint signs a checkpoint of the current tree now if the latest one
// does not cover it, and returns the latest checkpoint.
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	return l.sign(ctx, true)
}

// sign signs a checkpoint of the current tree head if the tree has grown
// since the latest checkpoint (and, unless force, the interval has passed).
//
// Most ticks of an idle log, and of a log several processes write, find
// nothing to sign. sign decides that from the head read without its row
// lock, which every append and every reader's access entry waits for, and
// takes the lock only to sign; there it decides again, on the locked head.
// A head read after an append committed holds it, so a forced checkpoint
// still covers every append that returned before sign was called.
func (l *Log) sign(ctx context.Context, force bool) (Checkpoint, error) {
	h, err := l.store.Head(ctx)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign checkpoint: read head: %w", err)
	}
	var cp *Checkpoint
	if l.due(h, time.Now().UTC(), force) {
		if cp, err = l.signLocked(ctx, force); err != nil {
			return Checkpoint{}, err
		}
	}
	if cp != nil {
		if l.observer != nil {
			l.observer.Signed(*cp)
		}
		if l.publish != nil {
			l.publish(*cp)
		}
		return *cp, nil
	}
	latest, err := l.store.LatestCheckpoint(ctx)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read latest checkpoint: %w", err)
	}
	return latest, nil
}

// due reports whether a checkpoint of h is to be signed at now.
func (l *Log) due(h TreeHead, now time.Time, force bool) bool {
	if h.Checkpointed && h.CheckpointSize == h.Size {
		return false
	}
	// The ticker paces this process; the stored time paces several
	// writers. Allow a tenth of the interval of slack, else the tick
	// after a checkpoint finds it a few microseconds too young and
	// checkpoints come every other interval.
	return force || !h.Checkpointed || now.Sub(h.CheckpointTime) >= l.interval-l.interval/10
}

// signLocked signs a checkpoint of the head in a transaction that holds
// its lock, if one is still due, and returns it (nil if none was).
func (l *Log) signLocked(ctx context.Context, force bool) (*Checkpoint, error) {
	var cp *Checkpoint
	err := l.store.Update(ctx, nil, func(h TreeHead, _ map[[HashSize]byte]Existing) (*Batch, error) {
		cp = nil
		now := time.Now().UTC()
		if !l.due(h, now, force) {
			return nil, nil
		}
		msg, err := l.signer.Sign(h.Size, h.Root)
		if err != nil {
			return nil, err
		}
		cp = &Checkpoint{Size: h.Size, Root: h.Root, Note: msg, Time: now}
		next := h
		next.Checkpointed, next.CheckpointSize, next.CheckpointTime = true, h.Size, now
		return &Batch{Head: next, Checkpoint: cp}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return cp, nil
}

// Close stops accepting appends, commits those already accepted, signs a
// final checkpoint and stops the log's goroutines. It does not close the
// store. If ctx ends first, Close cancels the transactions under way (the
// appends waiting for them fail) and returns ctx's error without waiting
// for a database that does not answer.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.mu.Unlock()
	defer l.cancel()
	stopped := make(chan struct{})
	go func() {
		l.senders.Wait()
		close(l.reqs)
		close(l.stopSign)
		l.done.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		l.cancel()
		return fmt.Errorf("close: %w", context.Cause(ctx))
	}
	if _, err := l.sign(ctx, true); err != nil {
		return fmt.Errorf("final checkpoint: %w", err)
	}
	if l.follower != nil {
		if err := l.follower.Follow(ctx); err != nil {
			return fmt.Errorf("follow final checkpoint: %w", err)
		}
	}
	return nil
}

// followLoop runs the Follower after each checkpoint interval, in a
// goroutine of its own so that a slow Follow never delays a checkpoint. A
// failure is logged: the log goes on, and the next interval retries.
func (l *Log) followLoop() {
	defer l.done.Done()
	for {
		select {
		case <-l.stopSign:
			return
		case <-l.followCh:
			if err := l.follower.Follow(l.base); err != nil {
				l.logger.Error("follow checkpoint", "err", err)
			}
		}
	}
}

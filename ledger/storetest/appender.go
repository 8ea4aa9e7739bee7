package storetest

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// counter is a ledger.Observer that counts duplicate mismatches.
type counter struct {
	mu         sync.Mutex
	mismatches []ledger.Mismatch
}

func (c *counter) Committed(int, time.Duration, ledger.TreeHead) {}
func (c *counter) Signed(ledger.Checkpoint)                      {}
func (c *counter) DuplicateMismatch(m ledger.Mismatch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mismatches = append(c.mismatches, m)
}

// openLogConfig opens a log on s with cfg, its signer set and its
// checkpoint interval an hour unless cfg sets one, closed at the end of the
// test.
func openLogConfig(t *testing.T, s ledger.Store, cfg ledger.Config) *ledger.Log {
	t.Helper()
	signer, err := ledger.NewSigner(signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Signer = signer
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = time.Hour
	}
	l, err := ledger.Open(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil && !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("close log: %v", err)
		}
	})
	return l
}

// testDuplicateMismatch: an entry delivered again with a different leaf is
// reported, counted and recorded in a finding entry, once per mismatch; the
// stored entry stays.
func testDuplicateMismatch(t *testing.T, db DB) {
	s := db.Open(t)
	obs := &counter{}
	l := openLogConfig(t, s, ledger.Config{Observer: obs})
	if _, err := l.Append(t.Context(), []ledger.Entry{entry(1, 0)}); err != nil {
		t.Fatal(err)
	}
	changed := entry(1, 0)
	changed.Attrs = []ledger.Attr{{Key: "n", Value: "changed"}}
	for range 2 {
		got, err := l.Append(t.Context(), []ledger.Entry{changed, entry(1, 0)})
		if err != nil {
			t.Fatal(err)
		}
		want := []ledger.Index{{Index: 0, IsDup: true, LeafDiffers: true}, {Index: 0, IsDup: true}}
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("Append(changed, same) = %+v, want %+v", got, want)
		}
	}
	// The entry and one finding, whichever of the two deliveries wrote it.
	if h := head(t, s); h.Size != 2 {
		t.Fatalf("tree size = %d, want 2 (the entry and one finding)", h.Size)
	}
	// A retry of an entry with content has a new salt, so another leaf, but
	// the same facts: a duplicate, not a mismatch.
	withContent := entry(1, 1)
	withContent.Content = []ledger.Content{ledger.NewContent("output", []byte("result"))}
	if _, err := l.Append(t.Context(), []ledger.Entry{withContent}); err != nil {
		t.Fatal(err)
	}
	withContent.Content = []ledger.Content{ledger.NewContent("output", []byte("result"))}
	got, err := l.Append(t.Context(), []ledger.Entry{withContent})
	if want := (ledger.Index{Index: 2, IsDup: true}); err != nil || len(got) != 1 || got[0] != want {
		t.Fatalf("Append(retry with content) = %+v, %v, want [%+v]", got, err, want)
	}
	if h := head(t, s); h.Size != 3 {
		t.Fatalf("tree size = %d, want 3", h.Size)
	}
	recs, err := s.Records(t.Context(), 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	stored, delivered := ledger.LeafHash(mustLeaf(t, entry(1, 0))), ledger.LeafHash(mustLeaf(t, changed))
	if recs[0].LeafHash != stored {
		t.Fatalf("stored entry's leaf hash = %x, want the first delivery's %x", recs[0].LeafHash, stored)
	}
	d, err := ledger.DecodeLeaf(recs[1].Leaf)
	if err != nil {
		t.Fatal(err)
	}
	f := d.Entry
	if f.Name != ledger.DuplicateMismatchName || f.Source != ledger.SourceLedger || f.TraceID != entry(1, 0).TraceID {
		t.Fatalf("finding = name %q source %q trace %q, want %q, %q, %q", f.Name, f.Source, f.TraceID, ledger.DuplicateMismatchName, ledger.SourceLedger, entry(1, 0).TraceID)
	}
	for key, want := range map[string]string{
		ledger.AttrDupIndex:         strconv.Itoa(0),
		ledger.AttrDupStoredLeaf:    hex.EncodeToString(stored[:]),
		ledger.AttrDupDeliveredLeaf: hex.EncodeToString(delivered[:]),
	} {
		if got, _ := f.Attr(key); got != want {
			t.Errorf("finding attribute %s = %q, want %q", key, got, want)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	wantM := ledger.Mismatch{Index: 0, TraceID: entry(1, 0).TraceID, Stored: stored, Delivered: delivered}
	if len(obs.mismatches) != 2 || obs.mismatches[0] != wantM || obs.mismatches[1] != wantM {
		t.Errorf("observed mismatches = %+v, want %+v twice (once per delivery)", obs.mismatches, wantM)
	}
}

// heldUpdates is a store whose write transactions that look up dedup keys
// are counted from 1, and number n waits until holds[n] is closed.
type heldUpdates struct {
	ledger.Store
	holds map[int]chan struct{}

	mu sync.Mutex
	n  int
}

func (s *heldUpdates) Update(ctx context.Context, keys [][ledger.HashSize]byte, fn ledger.UpdateFunc) error {
	if len(keys) > 0 {
		s.mu.Lock()
		s.n++
		hold := s.holds[s.n]
		s.mu.Unlock()
		if hold != nil {
			<-hold
		}
	}
	return s.Store.Update(ctx, keys, fn)
}

func (s *heldUpdates) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// testMismatchAcksFirst: of the requests of one batch, those without a
// duplicate mismatch are answered once the batch commits, not after the
// finding's transaction; the one with the mismatch once its finding is
// written.
func testMismatchAcksFirst(t *testing.T, db DB) {
	// Transactions: 1 the first entry; 2 another, held while the next two
	// requests queue behind it; 3 those two in one batch; 4 the finding,
	// held.
	batchHeld, findingHeld := make(chan struct{}), make(chan struct{})
	s := &heldUpdates{Store: db.Open(t), holds: map[int]chan struct{}{2: batchHeld, 4: findingHeld}}
	l := openLogConfig(t, s, ledger.Config{})
	var once [2]sync.Once
	release := func(i int, ch chan struct{}) { once[i].Do(func() { close(ch) }) }
	defer release(0, batchHeld)
	defer release(1, findingHeld)
	if _, err := l.Append(t.Context(), []ledger.Entry{entry(1, 0)}); err != nil {
		t.Fatal(err)
	}
	appendAsync := func(e ledger.Entry) chan result {
		c := make(chan result, 1)
		go func() {
			ix, err := l.Append(t.Context(), []ledger.Entry{e})
			c <- result{ix, err}
		}()
		return c
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	first := appendAsync(entry(2, 0))
	waitFor("the second transaction", func() bool { return s.count() == 2 })
	changed := entry(1, 0)
	changed.Attrs = []ledger.Attr{{Key: "n", Value: "changed"}}
	plain, mismatch := appendAsync(entry(3, 0)), appendAsync(changed)
	waitFor("two queued appends", func() bool { return l.Pending() == 2 })
	release(0, batchHeld)
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	select {
	case r := <-plain:
		if r.err != nil || len(r.ix) != 1 || r.ix[0].IsDup {
			t.Fatalf("Append(new entry) = %+v, %v, want one new index", r.ix, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an append of the batch was answered only after the duplicate mismatch finding's transaction")
	}
	select {
	case r := <-mismatch:
		t.Fatalf("the mismatching append was answered (%+v, %v) before its finding was written", r.ix, r.err)
	default:
	}
	release(1, findingHeld)
	r := <-mismatch
	if want := (ledger.Index{Index: 0, IsDup: true, LeafDiffers: true}); r.err != nil || len(r.ix) != 1 || r.ix[0] != want {
		t.Fatalf("Append(changed) = %+v, %v, want [%+v]", r.ix, r.err, want)
	}
	if h := head(t, s); h.Size != 4 {
		t.Fatalf("tree size = %d, want 4 (three entries and the finding)", h.Size)
	}
}

// result is what one Append returned.
type result struct {
	ix  []ledger.Index
	err error
}

func mustLeaf(t *testing.T, e ledger.Entry) []byte {
	t.Helper()
	leaf, err := ledger.EncodeLeaf(&e)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// holdHead runs a write transaction on s that holds the tree head until the
// returned function is called, as another writer, or a database that does
// not answer, would.
func holdHead(t *testing.T, s ledger.Store) (release func()) {
	t.Helper()
	entered, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), nil, func(ledger.TreeHead, map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			close(entered)
			<-hold
			return nil, nil
		})
	}()
	<-entered
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(hold)
			if err := <-done; err != nil {
				t.Errorf("holding update: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// testPushback: while the database is busy, appends beyond the queue are
// refused with ErrPushback at once instead of waiting, and the accepted
// ones commit once it answers.
func testPushback(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLogConfig(t, s, ledger.Config{MaxPending: 1, MaxBatch: 1})
	release := holdHead(t, s)
	// At most one request is committing (batches of one entry) and one
	// waits in the queue: of six, at least four are pushed back while the
	// head is held, and they are the first to return.
	const n = 6
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := l.Append(t.Context(), []ledger.Entry{entry(3, i)})
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; !errors.Is(err, ledger.ErrPushback) {
			t.Fatalf("Append while the head is held = %v, want ErrPushback", err)
		}
	}
	release()
	var ok uint64
	for range n - 4 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case !errors.Is(err, ledger.ErrPushback):
			t.Fatalf("Append = %v, want nil or ErrPushback", err)
		}
	}
	if h := head(t, s); h.Size != ok {
		t.Fatalf("tree size = %d, want %d (the appends that succeeded)", h.Size, ok)
	}
}

// testCommitTimeout: a commit that the database does not answer within
// CommitTimeout fails, and writes nothing.
func testCommitTimeout(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLogConfig(t, s, ledger.Config{CommitTimeout: 50 * time.Millisecond})
	release := holdHead(t, s)
	if _, err := l.Append(t.Context(), []ledger.Entry{entry(4, 0)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append while the head is held = %v, want DeadlineExceeded", err)
	}
	release()
	if h := head(t, s); h.Size != 0 {
		t.Fatalf("tree size = %d, want 0", h.Size)
	}
}

// testCloseBounded: Close returns when its context ends although the
// database does not answer, and the append waiting for it fails.
func testCloseBounded(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLogConfig(t, s, ledger.Config{})
	release := holdHead(t, s)
	appendErr := make(chan error, 1)
	go func() {
		_, err := l.Append(t.Context(), []ledger.Entry{entry(5, 0)})
		appendErr <- err
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := l.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close while the head is held = %v, want DeadlineExceeded", err)
	}
	select {
	case err := <-appendErr:
		if err == nil {
			t.Fatalf("Append during a Close that gave up succeeded")
		}
	case <-t.Context().Done():
		t.Fatalf("Append still waiting after Close returned")
	}
	release()
	if h := head(t, s); h.Size != 0 {
		t.Fatalf("tree size = %d, want 0", h.Size)
	}
}

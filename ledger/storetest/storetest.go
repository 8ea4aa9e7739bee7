// Package storetest is the conformance suite that every ledger.Store
// passes. A backend's test calls Run with a function that makes a fresh
// database for each test.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

// DB is one empty database made for one test.
type DB interface {
	// Open returns a new store handle on the database, with connections of
	// its own: two handles behave like two processes. The suite closes it.
	Open(t *testing.T) ledger.Store
	// Exec runs one SQL statement directly, as the database owner, to check
	// what the database itself refuses.
	Exec(ctx context.Context, sql string) error
	// ExecUnguarded runs one SQL statement as the database owner with the
	// triggers of table switched off, to make the state an older binary
	// left (rows it wrote that the guards of today refuse).
	ExecUnguarded(ctx context.Context, table, sql string) error
}

// Run runs the conformance suite. newDB makes a fresh, migrated, empty
// database for one test.
func Run(t *testing.T, newDB func(t *testing.T) DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db DB)
	}{
		{"EmptyTree", testEmptyTree},
		{"AppendAndDedup", testAppendAndDedup},
		{"DuplicateMismatch", testDuplicateMismatch},
		{"MismatchAcksFirst", testMismatchAcksFirst},
		{"Pushback", testPushback},
		{"CommitTimeout", testCommitTimeout},
		{"CloseBounded", testCloseBounded},
		{"RecordsAndFind", testRecordsAndFind},
		{"FindMany", testFindMany},
		{"AppendNow", testAppendNow},
		{"InvalidEntryWritesNothing", testInvalidEntry},
		{"InclusionAcrossTileBoundaries", testInclusion},
		{"Consistency", testConsistency},
		{"CheckpointInterval", testCheckpointInterval},
		{"IdleTicksTakeNoLock", testIdleTicksTakeNoLock},
		{"ConcurrentWriters", testConcurrentWriters},
		{"CancelledContexts", testCancelled},
		{"FailedUpdateWritesNothing", testFailedUpdate},
		{"InvalidBatch", testInvalidBatch},
		{"Erasure", testErasure},
		{"AppendOnly", testAppendOnly},
		{"NoBypass", testNoBypass},
		{"Reopen", testReopen},
		{"Index", testIndex},
		{"IndexConcurrent", testIndexConcurrent},
		{"IndexTakeTurns", testIndexTakeTurns},
		{"IndexAppendOnly", testIndexAppendOnly},
		{"IndexFollows", testIndexFollows},
		{"IndexSmallSteps", testIndexSmallSteps},
		{"IndexFed", testIndexFed},
		{"IndexUpgrade", testIndexUpgrade},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newDB(t))
		})
	}
}

const origin = "example.com/storetest"

var signerKey, verifierKey = func() (string, string) {
	s, v, err := ledger.GenerateKey(origin)
	if err != nil {
		panic(err)
	}
	return s, v
}()

func openLog(t *testing.T, s ledger.Store, interval time.Duration) *ledger.Log {
	t.Helper()
	return openLogConfig(t, s, ledger.Config{CheckpointInterval: interval})
}

// entry returns a small span entry for trace n, span m.
func entry(n, m int) ledger.Entry {
	return ledger.Entry{
		Kind:    ledger.KindSpan,
		TraceID: fmt.Sprintf("%032x", n),
		SpanID:  fmt.Sprintf("%016x", m+1),
		Name:    "span",
		Start:   time.Unix(1_700_000_000, int64(m)).UTC(),
		Attrs:   []ledger.Attr{{Key: "n", Value: fmt.Sprint(m)}},
	}
}

func appendN(t *testing.T, l *ledger.Log, trace, from, n int) {
	t.Helper()
	const chunk = 4096
	for i := from; i < from+n; i += chunk {
		es := make([]ledger.Entry, 0, chunk)
		for j := i; j < min(i+chunk, from+n); j++ {
			es = append(es, entry(trace, j))
		}
		if _, err := l.Append(t.Context(), es); err != nil {
			t.Fatalf("append %d entries at %d: %v", len(es), i, err)
		}
	}
}

func head(t *testing.T, r ledger.Reader) ledger.TreeHead {
	t.Helper()
	h, err := r.Head(t.Context())
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return h
}

// reference rebuilds the tree from every stored leaf with the
// transparency-dev reference implementation, checking each stored leaf hash.
func reference(t *testing.T, r ledger.Reader, size uint64) *testonly.Tree {
	t.Helper()
	ref := testonly.New(rfc6962.DefaultHasher)
	const page = 10000
	for start := uint64(0); start < size; start += page {
		recs, err := r.Records(t.Context(), start, min(start+page, size))
		if err != nil {
			t.Fatalf("Records(%d): %v", start, err)
		}
		for i, rec := range recs {
			if want := start + uint64(i); rec.Index != want {
				t.Fatalf("Records: index = %d, want %d", rec.Index, want)
			}
			if ledger.LeafHash(rec.Leaf) != rec.LeafHash {
				t.Fatalf("entry %d: stored leaf hash does not match its leaf", rec.Index)
			}
			ref.AppendData(rec.Leaf)
		}
	}
	if ref.Size() != size {
		t.Fatalf("stored records = %d, want %d", ref.Size(), size)
	}
	return ref
}

func checkInclusion(t *testing.T, r ledger.Reader, ref *testonly.Tree, index, size uint64) {
	t.Helper()
	recs, err := r.RecordsAt(t.Context(), []uint64{index})
	if err != nil || len(recs) != 1 {
		t.Fatalf("RecordsAt(%d) = %d records, %v", index, len(recs), err)
	}
	p, err := ledger.InclusionProof(t.Context(), r, index, size)
	if err != nil {
		t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
	}
	if err := ledger.VerifyInclusion(recs[0].Leaf, index, size, ref.HashAt(size), p); err != nil {
		t.Fatalf("VerifyInclusion(%d, %d): %v", index, size, err)
	}
}

func testEmptyTree(t *testing.T, db DB) {
	s := db.Open(t)
	h := head(t, s)
	if h.Size != 0 || h.Root != ledger.EmptyRoot() || h.Checkpointed {
		t.Fatalf("Head() = size %d root %x checkpointed %v, want 0, empty root, false", h.Size, h.Root, h.Checkpointed)
	}
	if _, err := s.LatestCheckpoint(t.Context()); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("LatestCheckpoint() error = %v, want ErrNotFound", err)
	}
	l := openLog(t, s, time.Hour)
	cp, err := l.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	v, err := ledger.OpenCheckpoint(cp.Note, verifierKey)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	if v.Size != 0 || v.Root != ledger.EmptyRoot() {
		t.Fatalf("checkpoint = size %d root %x, want 0 and the empty root", v.Size, v.Root)
	}
	if _, err := ledger.InclusionProof(t.Context(), s, 0, 1); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("InclusionProof beyond the tree: error = %v, want ErrNotFound", err)
	}
}

func testAppendAndDedup(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	es := []ledger.Entry{entry(1, 0), entry(1, 1), entry(1, 2)}
	got, err := l.Append(t.Context(), es)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[{0 false false} {1 false false} {2 false false}]" {
		t.Fatalf("Append = %v, want indices 0 1 2, none a duplicate", got)
	}
	// A retried delivery, mixed with new entries and a duplicate within the call.
	again := []ledger.Entry{entry(1, 3), entry(1, 1), entry(1, 3), entry(1, 0)}
	got, err = l.Append(t.Context(), again)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[{3 false false} {1 true false} {3 true false} {0 true false}]" {
		t.Fatalf("Append(retry) = %v, want 3 1 3 0, the last three duplicates of the same leaf", got)
	}
	// Same trace and span but another kind is another entry.
	other := entry(1, 0)
	other.Kind = ledger.KindLLM
	got, err = l.Append(t.Context(), []ledger.Entry{other})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[{4 false false}]" {
		t.Fatalf("Append(other kind) = %v, want [4]", got)
	}
	if h := head(t, s); h.Size != 5 {
		t.Fatalf("tree size = %d, want 5", h.Size)
	}
	// Concurrent retries of one entry append it once.
	var wg sync.WaitGroup
	idx := make([]uint64, 16)
	for i := range idx {
		wg.Go(func() {
			r, err := l.Append(t.Context(), []ledger.Entry{entry(2, 7)})
			if err != nil {
				t.Error(err)
				return
			}
			idx[i] = r[0].Index
		})
	}
	wg.Wait()
	for _, i := range idx {
		if i != 5 {
			t.Fatalf("concurrent retries got indices %v, want all 5", idx)
		}
	}
	h := head(t, s)
	if h.Size != 6 {
		t.Fatalf("tree size = %d, want 6", h.Size)
	}
	ref := reference(t, s, h.Size)
	if got := ref.Hash(); string(got) != string(h.Root[:]) {
		t.Fatalf("head root = %x, reference root %x", h.Root, got)
	}
}

func testRecordsAndFind(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	cred := ledger.Entry{
		Kind: ledger.KindCredential, TraceID: fmt.Sprintf("%032x", 9), SpanID: fmt.Sprintf("%016x", 1),
		Name: "credential.exchange", Start: time.Unix(1_700_000_000, 0).UTC(),
		Attrs: []ledger.Attr{
			{Key: ledger.AttrCredentialID, Value: "jti-child"},
			{Key: ledger.AttrCredentialParentID, Value: "jti-parent"},
			{Key: ledger.AttrAgentID, Value: "agent-7"},
		},
		Content: []ledger.Content{ledger.NewContent("reasoning", []byte("I need a narrower token."))},
	}
	call := ledger.Entry{
		Kind: ledger.KindAPICall, TraceID: fmt.Sprintf("%032x", 9), SpanID: fmt.Sprintf("%016x", 2),
		Name: "GET", Start: time.Unix(1_700_000_001, 0).UTC(),
		Attrs: []ledger.Attr{
			{Key: ledger.AttrCredentialID, Value: "jti-child"},
			{Key: ledger.AttrServerAddress, Value: "api.example.com"},
			{Key: ledger.AttrCredentialFingerprint, Value: "hmac-sha256:aa hmac-sha256:bb"},
		},
	}
	ix, err := l.Append(t.Context(), []ledger.Entry{entry(8, 0), cred, call})
	if err != nil {
		t.Fatal(err)
	}
	idx := indices(ix)
	tests := []struct {
		ref  ledger.Ref
		from uint64
		want string
	}{
		{ledger.Ref{Key: ledger.RefCredential, Value: "jti-child"}, 0, "[1 2]"},
		{ledger.Ref{Key: ledger.RefCredential, Value: "jti-child"}, 2, "[2]"},
		{ledger.Ref{Key: ledger.RefCredentialParent, Value: "jti-parent"}, 0, "[1]"},
		{ledger.Ref{Key: ledger.RefAgent, Value: "agent-7"}, 0, "[1]"},
		{ledger.Ref{Key: ledger.RefTarget, Value: "api.example.com"}, 0, "[2]"},
		{ledger.Ref{Key: ledger.RefFingerprint, Value: "hmac-sha256:bb"}, 0, "[2]"},
		{ledger.Ref{Key: ledger.RefTrace, Value: fmt.Sprintf("%032x", 9)}, 0, "[1 2]"},
		{ledger.Ref{Key: ledger.RefKind, Value: "span"}, 0, "[0]"},
		{ledger.Ref{Key: ledger.RefCredential, Value: "jti-child' OR '1'='1"}, 0, "[]"},
	}
	for _, tt := range tests {
		got, err := s.Find(t.Context(), tt.ref, tt.from, 10)
		if err != nil {
			t.Fatalf("Find(%v): %v", tt.ref, err)
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("Find(%v, %d) = %v, want %s", tt.ref, tt.from, got, tt.want)
		}
	}
	if got, err := s.Find(t.Context(), ledger.Ref{Key: ledger.RefCredential, Value: "jti-child"}, 0, 1); err != nil || fmt.Sprint(got) != "[1]" {
		t.Errorf("Find(limit 1) = %v, %v, want [1]", got, err)
	}
	recs, err := s.RecordsAt(t.Context(), []uint64{idx[2], idx[1], 99})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Index != 1 || recs[1].Index != 2 {
		t.Fatalf("RecordsAt = %d records, want entries 1 and 2 in order", len(recs))
	}
	e, cms, err := recs[0].Decode()
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if e.Kind != ledger.KindCredential || len(cms) != 1 || len(e.Content) != 1 || string(e.Content[0].Data) != "I need a narrower token." {
		t.Fatalf("decoded entry = %+v, want the credential entry with its content", e)
	}
	if recs[0].Kind != ledger.KindCredential || recs[0].TraceID != cred.TraceID || !recs[0].Time.Equal(cred.Start) {
		t.Fatalf("record columns = %v %q %v, want %v %q %v", recs[0].Kind, recs[0].TraceID, recs[0].Time, cred.Kind, cred.TraceID, cred.Start)
	}
	all, err := s.Records(t.Context(), 0, 100)
	if err != nil || len(all) != 3 {
		t.Fatalf("Records(0, 100) = %d records, %v, want 3", len(all), err)
	}
}

// testFindMany checks FindMany against Find, its kind filter, its limits
// and where it says a lookup continues, and RecordsAt's content of several
// pieces in name order.
func testFindMany(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	trace := fmt.Sprintf("%032x", 5)
	var es []ledger.Entry
	for i, k := range []ledger.Kind{ledger.KindSpan, ledger.KindAPICall, ledger.KindLLM, ledger.KindAPICall, ledger.KindCredential, ledger.KindSpan} {
		e := entry(5, i)
		e.Kind = k
		e.Attrs = append(e.Attrs, ledger.Attr{Key: ledger.AttrCredentialID, Value: "cred-" + fmt.Sprint(i%2)})
		if k == ledger.KindCredential {
			e.Name = "credential.issue"
		}
		if k == ledger.KindLLM {
			e.Content = []ledger.Content{ledger.NewContent("output.messages", []byte("out")), ledger.NewContent("input.messages", []byte("in")),
				ledger.NewContent("Zeta", []byte("z"))}
		}
		es = append(es, e)
	}
	if _, err := l.Append(t.Context(), es); err != nil {
		t.Fatal(err)
	}
	tr := ledger.Ref{Key: ledger.RefTrace, Value: trace}
	c0, c1 := ledger.Ref{Key: ledger.RefCredential, Value: "cred-0"}, ledger.Ref{Key: ledger.RefCredential, Value: "cred-1"}
	qs := []ledger.FindQuery{
		{Ref: tr, Limit: 10},
		{Ref: tr, Kinds: []ledger.Kind{ledger.KindAPICall, ledger.KindCredential}, Limit: 10},
		{Ref: tr, Kinds: []ledger.Kind{ledger.KindAPICall}, From: 2, Limit: 10},
		{Ref: tr, Kinds: []ledger.Kind{ledger.KindAPICall}, Limit: 3},
		{Ref: tr, Limit: 2, From: 1},
		{Ref: c0, Limit: 10},
		{Ref: c1, Kinds: []ledger.Kind{ledger.KindCredential}, Limit: 10},
		{Ref: ledger.Ref{Key: ledger.RefCredential, Value: "cred-0' OR '1'='1"}, Limit: 10},
		{Ref: tr, Limit: 0},
		{Ref: tr, From: 6, Limit: 10},
	}
	want := []string{
		"[0 1 2 3 4 5] false 0",
		"[1 3 4] false 0",
		"[3] false 0",
		"[1] true 3",
		"[1 2] true 3",
		"[0 2 4] false 0",
		"[] false 0",
		"[] false 0",
		"[] false 0",
		"[] false 0",
	}
	got, err := s.FindMany(t.Context(), qs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(qs) {
		t.Fatalf("FindMany answered %d queries, want %d", len(got), len(qs))
	}
	for i, q := range qs {
		if g := fmt.Sprintf("%v %v %d", fmt.Sprint(got[i].Indices), got[i].More, got[i].Next); g != want[i] {
			t.Errorf("FindMany query %d (%v kinds %v from %d limit %d) = %s, want %s", i, q.Ref, q.Kinds, q.From, q.Limit, g, want[i])
		}
		if len(q.Kinds) == 0 && q.Limit > 0 {
			one, err := s.Find(t.Context(), q.Ref, q.From, q.Limit)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(one) != fmt.Sprint(got[i].Indices) && len(one)+len(got[i].Indices) > 0 {
				t.Errorf("query %d: Find = %v, FindMany = %v", i, one, got[i].Indices)
			}
		}
	}
	if got, err := s.FindMany(t.Context(), nil); err != nil || len(got) != 0 {
		t.Errorf("FindMany(nil) = %v, %v, want nothing", got, err)
	}
	recs, err := s.RecordsAt(t.Context(), []uint64{4, 2, 2, 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Index != 0 || recs[1].Index != 2 || recs[2].Index != 4 {
		t.Fatalf("RecordsAt = %d records, want entries 0, 2 and 4 in order", len(recs))
	}
	var names []string
	for _, c := range recs[1].Content {
		names = append(names, c.Name+"="+string(c.Data))
	}
	if fmt.Sprint(names) != "[Zeta=z input.messages=in output.messages=out]" || len(recs[0].Content)+len(recs[2].Content) != 0 {
		t.Errorf("RecordsAt content = %v (and %d, %d pieces), want the LLM entry's three in byte order of names, none for the others",
			names, len(recs[0].Content), len(recs[2].Content))
	}
	for _, r := range recs {
		if _, _, err := r.Decode(); err != nil {
			t.Errorf("entry %d: %v", r.Index, err)
		}
	}
}

// testAppendNow: entries appended with AppendNow while group commits run
// are committed, readable as soon as it returns, and take their place in
// one consistent tree; a duplicate is found; a closed log refuses.
func testAppendNow(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	const writers, batches, batch, nows = 3, 4, 100, 12
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = make(map[uint64]bool)
	)
	keep := func(ix []ledger.Index) error {
		mu.Lock()
		defer mu.Unlock()
		for _, i := range ix {
			if seen[i.Index] {
				return fmt.Errorf("index %d given twice", i.Index)
			}
			seen[i.Index] = true
		}
		return nil
	}
	errs := make(chan error, writers*batches+nows)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				es := make([]ledger.Entry, batch)
				for i := range es {
					es[i] = entry(10+w, b*batch+i)
				}
				ix, err := l.Append(t.Context(), es)
				if err == nil {
					err = keep(ix)
				}
				errs <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range nows {
			e := entry(20, i)
			ix, err := l.AppendNow(t.Context(), []ledger.Entry{e})
			if err == nil {
				err = keep(ix)
			}
			if err == nil {
				var recs []ledger.Record
				recs, err = s.RecordsAt(t.Context(), []uint64{ix[0].Index})
				if err == nil && (len(recs) != 1 || recs[0].TraceID != e.TraceID || ix[0].IsDup) {
					err = fmt.Errorf("AppendNow of entry %d returned index %+v, which reads as %d records", i, ix[0], len(recs))
				}
			}
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	total := writers*batches*batch + nows
	h := head(t, s)
	if h.Size != uint64(total) || len(seen) != total {
		t.Fatalf("tree size %d, %d distinct indices; want %d", h.Size, len(seen), total)
	}
	ref := reference(t, s, h.Size)
	for _, i := range []uint64{0, h.Size / 2, h.Size - 1} {
		checkInclusion(t, s, ref, i, h.Size)
	}
	again, err := l.AppendNow(t.Context(), []ledger.Entry{entry(20, 0)})
	if err != nil || len(again) != 1 || !again[0].IsDup {
		t.Fatalf("AppendNow of an appended entry = %+v, %v; want a duplicate", again, err)
	}
	if ix, err := l.AppendNow(t.Context(), nil); err != nil || ix != nil {
		t.Errorf("AppendNow(nil) = %v, %v; want nothing", ix, err)
	}
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendNow(t.Context(), []ledger.Entry{entry(20, 99)}); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("AppendNow after Close = %v, want ErrClosed", err)
	}
}

func testInvalidEntry(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	bad := []ledger.Entry{
		{Kind: "nope"},
		{Kind: ledger.KindSpan, TraceID: "XYZ"},
		{Kind: ledger.KindSpan, Name: "bad\xffutf8"},
		{Kind: ledger.KindSpan, Attrs: []ledger.Attr{{Key: "a", Value: string(make([]byte, 70000))}}},
		{Kind: ledger.KindSpan, Attrs: []ledger.Attr{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}},
	}
	for i, e := range bad {
		_, err := l.Append(t.Context(), []ledger.Entry{entry(3, i), e})
		if !errors.Is(err, ledger.ErrInvalid) && !errors.Is(err, ledger.ErrTooLarge) {
			t.Errorf("Append(bad entry %d) error = %v, want ErrInvalid or ErrTooLarge", i, err)
		}
	}
	if h := head(t, s); h.Size != 0 {
		t.Fatalf("tree size after rejected appends = %d, want 0", h.Size)
	}
}

func testInclusion(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	sizes := []uint64{1, 2, 255, 256, 257, 65537}
	if testing.Short() {
		sizes = sizes[:5]
	}
	random := sizes[len(sizes)-1] + 1 + rand.Uint64N(700)
	sizes = append(sizes, random)
	var size uint64
	for _, want := range sizes {
		appendN(t, l, 4, int(size), int(want-size))
		size = want
		if h := head(t, s); h.Size != size {
			t.Fatalf("tree size = %d, want %d", h.Size, size)
		}
	}
	ref := reference(t, s, size)
	h := head(t, s)
	if string(ref.Hash()) != string(h.Root[:]) {
		t.Fatalf("head root %x, reference %x", h.Root, ref.Hash())
	}
	for _, sz := range sizes {
		root, err := ledger.RootAt(t.Context(), s, sz)
		if err != nil {
			t.Fatalf("RootAt(%d): %v", sz, err)
		}
		if string(root[:]) != string(ref.HashAt(sz)) {
			t.Fatalf("RootAt(%d) = %x, want %x", sz, root, ref.HashAt(sz))
		}
		var indices []uint64
		if sz <= 1024 {
			for i := range sz {
				indices = append(indices, i)
			}
		} else {
			// Every tile boundary and a random sample: proving all 65 537
			// leaves one by one would make the suite slow, not stronger.
			for _, i := range []uint64{0, 1, 254, 255, 256, 257, 65279, 65535, 65536, sz - 1} {
				if i < sz {
					indices = append(indices, i)
				}
			}
			for range 300 {
				indices = append(indices, rand.Uint64N(sz))
			}
		}
		for _, i := range indices {
			checkInclusion(t, s, ref, i, sz)
		}
	}
	// The same proofs at the final size served from stored tiles must equal
	// the reference's.
	for _, i := range []uint64{0, 256, size - 1} {
		got, err := ledger.InclusionProof(t.Context(), s, i, size)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ref.InclusionProof(i, size)
		if fmt.Sprintf("%x", got) != fmt.Sprintf("%x", want) {
			t.Fatalf("InclusionProof(%d, %d) = %x, want %x", i, size, got, want)
		}
	}
	for _, bad := range [][2]uint64{{size, size}, {5, 3}, {0, size + 1}} {
		if _, err := ledger.InclusionProof(t.Context(), s, bad[0], bad[1]); err == nil {
			t.Errorf("InclusionProof(%d, %d) succeeded, want an error", bad[0], bad[1])
		}
	}
}

func testConsistency(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	var cps []*ledger.VerifiedCheckpoint
	size := 0
	for _, n := range []int{1, 1, 3, 250, 2, 300, 1, 700} {
		appendN(t, l, 5, size, n)
		size += n
		cp, err := l.Checkpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		v, err := ledger.OpenCheckpoint(cp.Note, verifierKey)
		if err != nil {
			t.Fatalf("OpenCheckpoint: %v", err)
		}
		if v.Size != uint64(size) {
			t.Fatalf("checkpoint size = %d, want %d", v.Size, size)
		}
		cps = append(cps, v)
	}
	stored, err := s.Checkpoints(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(cps) {
		t.Fatalf("Checkpoints() = %d, want %d: every checkpoint is kept", len(stored), len(cps))
	}
	for _, cp := range stored {
		for _, i := range []uint64{0, cp.Size / 2, cp.Size - 1} {
			recs, err := s.RecordsAt(t.Context(), []uint64{i})
			if err != nil || len(recs) != 1 {
				t.Fatalf("RecordsAt(%d) = %d records, %v", i, len(recs), err)
			}
			p, err := ledger.CheckpointInclusionProof(t.Context(), s, i, cp)
			if err != nil {
				t.Fatalf("CheckpointInclusionProof(%d, %d): %v", i, cp.Size, err)
			}
			if err := ledger.VerifyInclusion(recs[0].Leaf, i, cp.Size, cp.Root[:], p); err != nil {
				t.Fatalf("VerifyInclusion(%d, %d): %v", i, cp.Size, err)
			}
		}
	}
	for i, a := range cps {
		for _, b := range cps[i:] {
			p, err := ledger.ConsistencyProof(t.Context(), s, a.Size, b.Size)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", a.Size, b.Size, err)
			}
			if err := ledger.VerifyConsistency(a.Size, b.Size, a.Root[:], b.Root[:], p); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", a.Size, b.Size, err)
			}
			if a.Size < b.Size {
				wrong := append([]byte(nil), b.Root[:]...)
				wrong[0] ^= 1
				if err := ledger.VerifyConsistency(a.Size, b.Size, a.Root[:], wrong, p); err == nil {
					t.Fatalf("VerifyConsistency(%d, %d) accepted a wrong root", a.Size, b.Size)
				}
			}
		}
	}
	if _, err := ledger.ConsistencyProof(t.Context(), s, 0, 5); !errors.Is(err, ledger.ErrInvalid) {
		t.Errorf("ConsistencyProof(0, 5) error = %v, want ErrInvalid", err)
	}
	if err := ledger.VerifyConsistency(0, 5, nil, cps[2].Root[:], nil); err == nil {
		t.Errorf("VerifyConsistency(0, 5) accepted an empty proof")
	}
	latest, err := s.LatestCheckpoint(t.Context())
	if err != nil || latest.Size != uint64(size) {
		t.Fatalf("LatestCheckpoint() = size %d, %v, want %d", latest.Size, err, size)
	}
	one, err := s.Checkpoint(t.Context(), 5)
	if err != nil || one.Size != 5 {
		t.Fatalf("Checkpoint(5) = size %d, %v", one.Size, err)
	}
	if _, err := s.Checkpoint(t.Context(), 4); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("Checkpoint(4) error = %v, want ErrNotFound", err)
	}
}

func testCheckpointInterval(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, 50*time.Millisecond)
	appendN(t, l, 6, 0, 10)
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp, err := s.LatestCheckpoint(t.Context())
		if err == nil && cp.Size == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of size 10 signed within 10s (latest: %d, %v)", cp.Size, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	appendN(t, l, 6, 10, 5)
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	cp, err := s.LatestCheckpoint(t.Context())
	if err != nil || cp.Size != 15 {
		t.Fatalf("after Close, latest checkpoint size = %d, %v, want 15", cp.Size, err)
	}
	if _, err := l.Append(t.Context(), []ledger.Entry{entry(6, 99)}); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("Append after Close error = %v, want ErrClosed", err)
	}
	// With nothing new, no checkpoint is signed: at most one per tree size.
	all, err := s.Checkpoints(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Size <= all[i-1].Size {
			t.Fatalf("checkpoints not strictly growing: %d then %d", all[i-1].Size, all[i].Size)
		}
	}
}

// lockCounter is a store that counts its write transactions.
type lockCounter struct {
	ledger.Store
	n atomic.Int64
}

func (s *lockCounter) Update(ctx context.Context, keys [][ledger.HashSize]byte, fn ledger.UpdateFunc) error {
	s.n.Add(1)
	return s.Store.Update(ctx, keys, fn)
}

// testIdleTicksTakeNoLock: a checkpoint tick with nothing new to sign does
// not open a write transaction (it would take the tree head's lock, which
// appends and readers' access entries wait for); the first tick after an
// append does, and signs.
func testIdleTicksTakeNoLock(t *testing.T, db DB) {
	s := &lockCounter{Store: db.Open(t)}
	const interval = 20 * time.Millisecond
	l := openLog(t, s, interval)
	appendN(t, l, 6, 0, 3)
	waitCheckpoint := func(size uint64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			cp, err := s.LatestCheckpoint(t.Context())
			if err == nil && cp.Size == size {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint of size %d signed within 10s (latest: %d, %v)", size, cp.Size, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitCheckpoint(3)
	before := s.n.Load()
	time.Sleep(15 * interval)
	if n := s.n.Load() - before; n != 0 {
		t.Errorf("%d write transactions in 15 idle checkpoint intervals, want 0", n)
	}
	appendN(t, l, 6, 3, 2)
	waitCheckpoint(5)
}

func testConcurrentWriters(t *testing.T, db DB) {
	const writers, perWriter, callers = 2, 600, 4
	logs := make([]*ledger.Log, writers)
	stores := make([]ledger.Store, writers)
	for i := range logs {
		stores[i] = db.Open(t)
		logs[i] = openLog(t, stores[i], 20*time.Millisecond)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := make(map[uint64]string)
	for w := range writers {
		for c := range callers {
			wg.Go(func() {
				for i := 0; i < perWriter/callers; i += 5 {
					var es []ledger.Entry
					for j := i; j < i+5; j++ {
						es = append(es, entry(100+w*callers+c, j))
					}
					idx, err := logs[w].Append(t.Context(), es)
					if err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					mu.Lock()
					for k, x := range indices(idx) {
						key := fmt.Sprintf("%d/%d/%d", w, c, i+k)
						if prev, dup := seen[x]; dup {
							t.Errorf("index %d given to %s and %s", x, prev, key)
						}
						seen[x] = key
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	const total = writers * perWriter
	h := head(t, stores[0])
	if h.Size != total || len(seen) != total {
		t.Fatalf("tree size %d with %d distinct indices, want %d", h.Size, len(seen), total)
	}
	for x := range seen {
		if x >= total {
			t.Fatalf("index %d beyond the tree of %d", x, total)
		}
	}
	ref := reference(t, stores[1], total)
	if string(ref.Hash()) != string(h.Root[:]) {
		t.Fatalf("head root %x, reference %x", h.Root, ref.Hash())
	}
	for i := range uint64(total) {
		checkInclusion(t, stores[i%writers], ref, i, total)
	}
}

func testCancelled(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	var wg sync.WaitGroup
	type call struct {
		trace int
		err   error
	}
	calls := make([]call, 40)
	for i := range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(rand.IntN(3000))*time.Microsecond)
			defer cancel()
			es := make([]ledger.Entry, 50)
			for j := range es {
				es[j] = entry(200+i, j)
			}
			_, err := l.Append(ctx, es)
			calls[i] = call{trace: 200 + i, err: err}
		})
	}
	wg.Wait()
	// An Append whose context ended returns at once, but a batch it joined
	// may still be committing: Close waits for every accepted batch.
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := head(t, s)
	var total uint64
	for _, c := range calls {
		got, err := s.Find(t.Context(), ledger.Ref{Key: ledger.RefTrace, Value: fmt.Sprintf("%032x", c.trace)}, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case len(got) != 0 && len(got) != 50:
			t.Fatalf("trace %d: %d of its 50 entries stored: a cancelled append was written in part", c.trace, len(got))
		case c.err == nil && len(got) != 50:
			t.Fatalf("trace %d: append succeeded but %d entries stored", c.trace, len(got))
		}
		total += uint64(len(got))
	}
	if h.Size != total {
		t.Fatalf("tree size %d, entries found %d", h.Size, total)
	}
	ref := reference(t, s, h.Size)
	if string(ref.Hash()) != string(h.Root[:]) {
		t.Fatalf("head root %x, reference %x", h.Root, ref.Hash())
	}
	// A transaction whose context ends inside it writes nothing.
	ctx, cancel := context.WithCancel(t.Context())
	err := s.Update(ctx, nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		cancel()
		return oneRecordBatch(t, h), nil
	})
	if err == nil {
		t.Fatalf("Update with a context cancelled inside it succeeded")
	}
	if after := head(t, s); after.Size != h.Size || after.Root != h.Root {
		t.Fatalf("head after cancelled Update = %d %x, want %d %x", after.Size, after.Root, h.Size, h.Root)
	}
}

// oneRecordBatch returns a well-formed batch appending one entry to h.
func oneRecordBatch(t *testing.T, h ledger.TreeHead) *ledger.Batch {
	t.Helper()
	e := entry(999, int(h.Size))
	leaf, err := ledger.EncodeLeaf(&e)
	if err != nil {
		t.Fatal(err)
	}
	lh := ledger.LeafHash(leaf)
	next, tiles := grown(t, h, lh)
	return &ledger.Batch{
		Records: []ledger.Record{{Index: h.Size, Leaf: leaf, LeafHash: lh, DedupKey: e.DedupKey(), Kind: e.Kind, TraceID: e.TraceID, Time: e.Start}},
		Tiles:   tiles,
		Head:    next,
	}
}

func testFailedUpdate(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	appendN(t, l, 7, 0, 3)
	before := head(t, s)
	boom := errors.New("boom")
	err := s.Update(t.Context(), nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want the callback's error", err)
	}
	// A batch that breaks the store's invariants is refused whole.
	rec := ledger.Record{Index: before.Size + 5, Leaf: []byte{1}, LeafHash: ledger.LeafHash([]byte{1}), Kind: ledger.KindSpan}
	err = s.Update(t.Context(), nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		next := h
		next.Size++
		return &ledger.Batch{Records: []ledger.Record{rec}, Head: next}, nil
	})
	if !errors.Is(err, ledger.ErrInvalid) {
		t.Fatalf("Update with a gap in the indices: error = %v, want ErrInvalid", err)
	}
	// A duplicate dedup key is refused by the database itself.
	recs, err := s.Records(t.Context(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	dup := recs[0]
	dup.Index = before.Size
	err = s.Update(t.Context(), nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
		next, tiles := grown(t, h, dup.LeafHash)
		return &ledger.Batch{Records: []ledger.Record{dup}, Tiles: tiles, Head: next}, nil
	})
	if !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("Update with a duplicate dedup key: error = %v, want ErrConflict", err)
	}
	after := head(t, s)
	if after.Size != before.Size || after.Root != before.Root {
		t.Fatalf("head changed by failed updates: %d %x -> %d %x", before.Size, before.Root, after.Size, after.Root)
	}
}

func testErasure(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	e := entry(10, 0)
	e.Kind = ledger.KindLLM
	e.Content = []ledger.Content{
		ledger.NewContent("input.messages", []byte(`[{"role":"user","content":"my SSN is 078-05-1120"}]`)),
		ledger.NewContent("reasoning", []byte("the user shared an SSN")),
	}
	ix, err := l.Append(t.Context(), []ledger.Entry{e, entry(10, 1)})
	if err != nil {
		t.Fatal(err)
	}
	idx := indices(ix)
	before, err := s.RecordsAt(t.Context(), idx[:1])
	if err != nil || len(before) != 1 || len(before[0].Content) != 2 {
		t.Fatalf("RecordsAt before erasure = %v, %v, want one record with 2 contents", before, err)
	}
	if _, err := l.Erase(t.Context(), []ledger.ContentRef{{Index: 99}}, "admin", "gdpr"); !errors.Is(err, ledger.ErrInvalid) {
		t.Fatalf("Erase(beyond tree) error = %v, want ErrInvalid", err)
	}
	if h := head(t, s); h.Size != 2 {
		t.Fatalf("failed erasure appended: size %d", h.Size)
	}
	er, err := l.Erase(t.Context(), []ledger.ContentRef{{Index: idx[0], Name: "input.messages"}}, "admin:alice", "data subject request")
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.RecordsAt(t.Context(), []uint64{idx[0], er})
	if err != nil || len(after) != 2 {
		t.Fatalf("RecordsAt after erasure: %v", err)
	}
	if len(after[0].Content) != 1 || after[0].Content[0].Name != "reasoning" {
		t.Fatalf("content after erasure = %v, want only reasoning", after[0].Content)
	}
	if after[0].LeafHash != before[0].LeafHash {
		t.Fatalf("erasure changed the leaf")
	}
	if _, _, err := after[0].Decode(); err != nil {
		t.Fatalf("Decode after erasure: %v", err)
	}
	ee, _, err := after[1].Decode()
	if err != nil {
		t.Fatal(err)
	}
	if ee.Kind != ledger.KindErasure {
		t.Fatalf("entry %d kind = %s, want erasure", er, ee.Kind)
	}
	if v, _ := ee.Attr(ledger.AttrErasureTargets); v != fmt.Sprintf("%d/input.messages", idx[0]) {
		t.Fatalf("erasure targets = %q", v)
	}
	if _, err := l.Erase(t.Context(), []ledger.ContentRef{{Index: idx[0]}}, "admin:alice", "all of it"); err != nil {
		t.Fatal(err)
	}
	final, _ := s.RecordsAt(t.Context(), idx[:1])
	if len(final[0].Content) != 0 {
		t.Fatalf("content after erasing all = %v, want none", final[0].Content)
	}
	h := head(t, s)
	ref := reference(t, s, h.Size)
	for i := range h.Size {
		checkInclusion(t, s, ref, i, h.Size)
	}
}

func testAppendOnly(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	e := entry(11, 0)
	e.Content = []ledger.Content{ledger.NewContent("output.messages", []byte("hello"))}
	e.Attrs = append(e.Attrs, ledger.Attr{Key: ledger.AttrCredentialID, Value: "c1"})
	if _, err := l.Append(t.Context(), []ledger.Entry{e}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE entries SET kind = 'llm'",
		"DELETE FROM entries",
		"UPDATE entry_refs SET value = 'c2'",
		"DELETE FROM entry_refs",
		"UPDATE tiles SET start = 1",
		"DELETE FROM tiles",
		"UPDATE checkpoints SET note = NULL",
		"DELETE FROM checkpoints",
		"UPDATE content SET data = NULL",
		"DELETE FROM content",
		"DELETE FROM tree_head",
	} {
		if err := db.Exec(t.Context(), stmt); err == nil {
			t.Errorf("%s: succeeded, want refused by the database", stmt)
		}
	}
	recs, err := s.Records(t.Context(), 0, 1)
	if err != nil || len(recs) != 1 || len(recs[0].Content) != 1 {
		t.Fatalf("entry after refused writes = %v, %v", recs, err)
	}
	h := head(t, s)
	checkInclusion(t, s, reference(t, s, h.Size), 0, h.Size)
}

// testNoBypass checks that the database refuses, from whoever writes to it
// directly, every row and change the store could not have written: upserts
// that would change a stored row, a tree head whose root, range or
// checkpoint time changes without a new entry or checkpoint, or that counts
// entries not stored, and references, content, tile segments and
// checkpoints for entries not being appended. Appends work on afterwards.
func testNoBypass(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	e := entry(13, 0)
	e.Content = []ledger.Content{ledger.NewContent("output.messages", []byte("hello"))}
	e.Attrs = append(e.Attrs, ledger.Attr{Key: ledger.AttrCredentialID, Value: "c1"})
	if _, err := l.Append(t.Context(), []ledger.Entry{e, entry(13, 1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := head(t, s)
	for _, stmt := range []string{
		// Upserts whose conflict would change a stored row.
		"INSERT INTO entries SELECT * FROM entries WHERE true ON CONFLICT (idx) DO UPDATE SET kind = 'llm'",
		"INSERT INTO entry_refs SELECT * FROM entry_refs WHERE true ON CONFLICT (key, value, idx) DO UPDATE SET value = 'c2'",
		"INSERT INTO content SELECT * FROM content WHERE true ON CONFLICT (idx, name) DO UPDATE SET data = excluded.salt",
		"INSERT INTO tiles SELECT * FROM tiles WHERE true ON CONFLICT (level, idx, start) DO UPDATE SET hashes = excluded.hashes || excluded.hashes",
		"INSERT INTO checkpoints SELECT * FROM checkpoints WHERE true ON CONFLICT (size) DO UPDATE SET note = excluded.root",
		"INSERT INTO tree_head SELECT * FROM tree_head WHERE true ON CONFLICT (id) DO UPDATE SET root = (SELECT dedup_key FROM entries WHERE idx = 0)",
		// A tree head that changes without growing, or grows over nothing.
		"UPDATE tree_head SET root = (SELECT dedup_key FROM entries WHERE idx = 0)",
		`UPDATE tree_head SET "range" = (SELECT dedup_key FROM entries WHERE idx = 0)`,
		"UPDATE tree_head SET size = size + 1",
		"UPDATE tree_head SET checkpoint_time = NULL",
		// Rows for an entry stored earlier, or for one still to come.
		"INSERT INTO entry_refs (key, value, idx) VALUES ('agent', 'stray', 0)",
		"INSERT INTO entry_refs (key, value, idx) VALUES ('agent', 'stray', 2)",
		"INSERT INTO content (idx, name, salt, data) SELECT idx, 'stray', salt, data FROM content WHERE idx = 0",
		"INSERT INTO content (idx, name, salt, data) SELECT 2, name, salt, data FROM content WHERE idx = 0",
		"INSERT INTO tiles (level, idx, start, hashes) SELECT 0, 0, 2, leaf_hash FROM entries WHERE idx = 0",
		"INSERT INTO tiles (level, idx, start, hashes) SELECT 0, 1, 0, leaf_hash FROM entries WHERE idx = 0",
		"INSERT INTO tiles (level, idx, start, hashes) SELECT 1, 0, 0, leaf_hash FROM entries WHERE idx = 0",
		"INSERT INTO checkpoints (size, root, note) SELECT 3, root, note FROM checkpoints",
		"INSERT INTO checkpoints (size, root, note) SELECT 1, root, note FROM checkpoints",
	} {
		if err := db.Exec(t.Context(), stmt); err == nil {
			t.Errorf("%s: succeeded, want refused by the database", stmt)
		}
	}
	if after := head(t, s); after.Size != before.Size || after.Root != before.Root ||
		after.CheckpointSize != before.CheckpointSize || !after.CheckpointTime.Equal(before.CheckpointTime) {
		t.Fatalf("head after refused writes = %+v, want %+v", after, before)
	}
	appendN(t, l, 13, 2, 300)
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := head(t, s)
	if h.Size != 302 {
		t.Fatalf("size after refused writes and appends = %d, want 302", h.Size)
	}
	ref := reference(t, s, h.Size)
	for _, i := range []uint64{0, 1, 255, 256, 301} {
		checkInclusion(t, s, ref, i, h.Size)
	}
}

func testReopen(t *testing.T, db DB) {
	s1 := db.Open(t)
	l := openLog(t, s1, time.Hour)
	appendN(t, l, 12, 0, 300)
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	s2 := db.Open(t)
	h := head(t, s2)
	if h.Size != 300 || !h.Checkpointed || h.CheckpointSize != 300 {
		t.Fatalf("reopened head = size %d checkpoint %v/%d, want 300 with a checkpoint of 300", h.Size, h.Checkpointed, h.CheckpointSize)
	}
	l2 := openLog(t, s2, time.Hour)
	appendN(t, l2, 12, 250, 100) // 50 retried, 50 new
	h = head(t, s2)
	if h.Size != 350 {
		t.Fatalf("size after reopen and retry = %d, want 350", h.Size)
	}
	ref := reference(t, s2, h.Size)
	if string(ref.Hash()) != string(h.Root[:]) {
		t.Fatalf("head root %x, reference %x", h.Root, ref.Hash())
	}
}

// indices returns the index of each of ix.
func indices(ix []ledger.Index) []uint64 {
	out := make([]uint64, len(ix))
	for i, x := range ix {
		out[i] = x.Index
	}
	return out
}

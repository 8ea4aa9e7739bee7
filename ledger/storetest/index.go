package storetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/index/indextest"
)

// indexStore asserts that s has the optional index capability: both
// stores must.
func indexStore(t *testing.T, s ledger.Store) index.Store {
	t.Helper()
	is, ok := s.(index.Store)
	if !ok {
		t.Fatalf("%T does not implement index.Store", s)
	}
	return is
}

func newIndexer(t *testing.T, s index.Store) *index.Indexer {
	t.Helper()
	signer, err := ledger.NewSigner(signerKey)
	if err != nil {
		t.Fatal(err)
	}
	return index.NewIndexer(s, signer)
}

// rebuild recomputes the index of the first size entries from the leaves.
func rebuild(t *testing.T, r ledger.Reader, size uint64) *index.Rebuild {
	t.Helper()
	rb := index.NewRebuild()
	recs, err := r.Records(t.Context(), 0, size)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := rb.AddLeaf(rec.Leaf); err != nil {
			t.Fatal(err)
		}
	}
	return rb
}

// testIndex grows a random ledger in rounds, indexes each checkpoint and
// checks the signed map root against a rebuild from the leaves, and every
// key's lookup, in full and as a delta from the previous round.
func testIndex(t *testing.T, db DB) {
	s := db.Open(t)
	is := indexStore(t, s)
	l := openLog(t, s, time.Hour)
	x := newIndexer(t, is)
	if _, err := is.LatestIndexNote(t.Context()); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("LatestIndexNote of an empty index: error = %v, want ErrNotFound", err)
	}
	if _, err := x.Update(t.Context()); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("Update before any checkpoint: error = %v, want ErrNotFound", err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	known := make(map[string]index.Known)
	first := 0
	for round, n := range []int{0, 300, 1, 700} {
		cp := appendCheckpoint(t, l, indextest.Entries(r, first, n))
		first += n
		note, err := x.Update(t.Context())
		if err != nil {
			t.Fatalf("round %d: Update: %v", round, err)
		}
		if note.Size != cp.Size || note.TreeRoot != cp.Root {
			t.Fatalf("round %d: note for size %d root %x, want the checkpoint's %d %x", round, note.Size, note.TreeRoot, cp.Size, cp.Root)
		}
		if _, err := index.OpenNote(note.Note, verifierKey); err != nil {
			t.Fatalf("round %d: OpenNote: %v", round, err)
		}
		rb := rebuild(t, s, cp.Size)
		if got, want := note.MapRoot, rb.MapRoot(); got != want {
			t.Fatalf("round %d: signed map root %x, rebuilt from the leaves %x", round, got, want)
		}
		checkScans(t, is, rb, cp.Size)
		for _, label := range rb.Keys() {
			k := rb.Key(label)
			for _, since := range []index.Known{{}, known[k.Key.String()]} {
				p, err := index.Lookup(t.Context(), is, k.Key, since.Count)
				if err != nil {
					t.Fatalf("round %d: Lookup(%s, %d): %v", round, k.Key, since.Count, err)
				}
				v, err := p.Verify(verifierKey, k.Key, since)
				if err != nil {
					t.Fatalf("round %d: Verify(%s, since %d): %v", round, k.Key, since.Count, err)
				}
				if v.List.Count != uint64(len(k.Indices)) || len(v.Indices) != len(k.Indices[since.Count:]) {
					t.Fatalf("round %d: %s: verified %d (+%d), want %d", round, k.Key, v.List.Count, len(v.Indices), len(k.Indices))
				}
				for i, idx := range v.Indices {
					if idx != k.Indices[since.Count+uint64(i)] {
						t.Fatalf("round %d: %s: index %d = %d, want %d", round, k.Key, i, idx, k.Indices[since.Count+uint64(i)])
					}
				}
				known[k.Key.String()] = v.List
			}
		}
		absent := ledger.Ref{Key: ledger.RefCredential, Value: "never-used"}
		p, err := index.Lookup(t.Context(), is, absent, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Verify(verifierKey, absent, index.Known{}); err != nil || p.Found {
			t.Fatalf("round %d: absent key: found %v, Verify: %v", round, p.Found, err)
		}
	}
}

// appendCheckpoint appends es to l and signs a checkpoint of them.
func appendCheckpoint(t *testing.T, l *ledger.Log, es []ledger.Entry) ledger.Checkpoint {
	t.Helper()
	if _, err := l.Append(t.Context(), es); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// checkScans checks that the store's index.Scanner (both stores must have
// one) reads the index of rb, rebuilt at size: every key state, every map
// node, and the entry_refs rows of index keys, those below size only.
func checkScans(t *testing.T, is index.Store, rb *index.Rebuild, size uint64) {
	t.Helper()
	sc, ok := is.(index.Scanner)
	if !ok {
		t.Fatalf("%T does not implement index.Scanner", is)
	}
	var keys []index.KeyState
	if err := sc.ScanIndexKeys(t.Context(), func(k index.KeyState) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatalf("ScanIndexKeys: %v", err)
	}
	slices.SortFunc(keys, func(a, b index.KeyState) int { return bytes.Compare(a.Label[:], b.Label[:]) })
	if want := rb.States(); !slices.EqualFunc(keys, want, func(a, b index.KeyState) bool {
		return a.Label == b.Label && a.Size == b.Size && bytes.Equal(a.Range, b.Range)
	}) {
		t.Errorf("ScanIndexKeys at %d: %d states, want the %d rebuilt", size, len(keys), len(want))
	}
	byID := func(a, b index.Node) int { return bytes.Compare(a.ID[:], b.ID[:]) }
	var nodes []index.Node
	if err := sc.ScanIndexNodes(t.Context(), func(n index.Node) error { nodes = append(nodes, n); return nil }); err != nil {
		t.Fatalf("ScanIndexNodes: %v", err)
	}
	want := rb.Nodes()
	slices.SortFunc(nodes, byID)
	slices.SortFunc(want, byID)
	if !slices.Equal(nodes, want) {
		t.Errorf("ScanIndexNodes at %d: %d nodes, want the %d rebuilt", size, len(nodes), len(want))
	}
	for _, below := range []uint64{size, size / 2} {
		got := make(map[string][]uint64)
		if err := sc.ScanIndexRefs(t.Context(), below, func(key, value []byte, idx uint64) error {
			ref := ledger.Ref{Key: string(key), Value: string(value)}.String()
			got[ref] = append(got[ref], idx)
			return nil
		}); err != nil {
			t.Fatalf("ScanIndexRefs(%d): %v", below, err)
		}
		n := 0
		for _, l := range rb.Keys() {
			k := rb.Key(l)
			end, _ := slices.BinarySearch(k.Indices, below)
			if end == 0 {
				continue
			}
			n++
			idx := got[k.Key.String()]
			slices.Sort(idx)
			if !slices.Equal(idx, k.Indices[:end]) {
				t.Errorf("ScanIndexRefs(%d): %s has rows %v, want %v", below, k.Key, idx, k.Indices[:end])
			}
		}
		if len(got) != n {
			t.Errorf("ScanIndexRefs(%d): rows of %d keys, want %d", below, len(got), n)
		}
	}
}

// testIndexConcurrent runs indexers on two store handles at once: the
// database serialises them, each note advances the index, and the result
// is the rebuilt index.
func testIndexConcurrent(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 4 {
		appendCheckpoint(t, l, indextest.Entries(r, i*100, 100))
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		is := indexStore(t, db.Open(t))
		x := newIndexer(t, is)
		wg.Go(func() { _, errs[i] = x.Update(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("indexer %d: %v", i, err)
		}
	}
	is := indexStore(t, s)
	notes, err := is.IndexNotes(t.Context(), 0, 100)
	if err != nil || len(notes) == 0 {
		t.Fatalf("IndexNotes = %d notes, %v", len(notes), err)
	}
	last := notes[len(notes)-1]
	if last.Size != 400 {
		t.Fatalf("latest note of size %d, want 400", last.Size)
	}
	if got, want := last.MapRoot, rebuild(t, s, 400).MapRoot(); got != want {
		t.Fatalf("map root %x after concurrent indexers, rebuilt %x", got, want)
	}
}

// testIndexTakeTurns runs two Indexers on one database, as two servers of
// one ledger do, stepping in turns (each sometimes twice in a row), and
// checks each signed map root against a rebuild from the leaves: each step
// starts from the map the other Indexer wrote.
func testIndexTakeTurns(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	xs := []*index.Indexer{newIndexer(t, indexStore(t, s)), newIndexer(t, indexStore(t, db.Open(t)))}
	r := rand.New(rand.NewPCG(9, 10))
	first := 0
	for round, turn := range []int{0, 0, 1, 0, 1, 1, 0, 0} {
		n := 40 + r.IntN(80)
		cp := appendCheckpoint(t, l, indextest.Entries(r, first, n))
		first += n
		note, err := xs[turn].Update(t.Context())
		if err != nil {
			t.Fatalf("round %d: indexer %d: Update: %v", round, turn, err)
		}
		if note.Size != cp.Size {
			t.Fatalf("round %d: indexer %d: note for size %d, want %d", round, turn, note.Size, cp.Size)
		}
		if got, want := note.MapRoot, rebuild(t, s, cp.Size).MapRoot(); got != want {
			t.Fatalf("round %d: indexer %d: signed map root %x, rebuilt from the leaves %x", round, turn, got, want)
		}
	}
}

// testIndexAppendOnly checks that the database refuses to change or delete
// index notes or shrink the index head.
func testIndexAppendOnly(t *testing.T, db DB) {
	s := db.Open(t)
	l := openLog(t, s, time.Hour)
	appendN(t, l, 13, 0, 10)
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := newIndexer(t, indexStore(t, s)).Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE index_notes SET size = 1",
		"DELETE FROM index_notes",
		"UPDATE index_head SET size = 0",
		"UPDATE index_head SET size = NULL",
		"DELETE FROM index_head",
	} {
		if err := db.Exec(t.Context(), stmt); err == nil {
			t.Errorf("%s: succeeded, want refused by the database", stmt)
		}
	}
}

// testIndexFollows runs the index as production does, as the Log's
// Follower: entries appended are indexed after the next checkpoints, with
// no explicit call.
func testIndexFollows(t *testing.T, db DB) {
	s := db.Open(t)
	is := indexStore(t, s)
	signer, err := ledger.NewSigner(signerKey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(s, ledger.Config{Signer: signer, CheckpointInterval: 20 * time.Millisecond, Follower: index.NewIndexer(is, signer)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 3 {
		if _, err := l.Append(t.Context(), indextest.Entries(r, i*50, 50)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := is.LatestIndexNote(t.Context())
		if err == nil && n.Size == 150 {
			break
		}
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("index note after 30s: size %d (%v), want 150", n.Size, err)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
}

// agentEntry returns a span entry of trace 23 by an agent known by two
// names: its id and its name.
func agentEntry(m int) ledger.Entry {
	e := entry(23, m)
	e.Attrs = append(e.Attrs, ledger.Attr{Key: "gen_ai.agent.id", Value: "agent-7"}, ledger.Attr{Key: "gen_ai.agent.name", Value: "helper"})
	return e
}

// testIndexUpgrade makes the state a database indexed with the index of
// version 1 is in after migration 0008: entries without the entry_refs
// rows of their second agent name, a version-1 note with its key states
// and map nodes, and the backfill bound at the entries stored. Until a
// checkpoint beyond that note the Indexer and lookups report
// index.ErrIndexVersion; then the Indexer builds the index of version 2
// from index 0 beside the version-1 note, replaces the derived state and
// adds the missing references, so that a lookup by the second name proves
// the old entries complete and the audit passes.
func testIndexUpgrade(t *testing.T, db DB) {
	ctx := t.Context()
	s := db.Open(t)
	is := indexStore(t, s)
	l := openLog(t, s, time.Hour)
	var want []uint64
	add := func(from, n int) {
		t.Helper()
		es := make([]ledger.Entry, 0, 2*n)
		for i := from; i < from+n; i++ {
			es = append(es, entry(17, i), agentEntry(i))
		}
		res, err := l.Append(ctx, es)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(res); i += 2 {
			want = append(want, res[i].Index)
		}
	}
	add(0, 10)
	old, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	helper := ledger.Ref{Key: ledger.RefAgent, Value: "helper"}

	// What the older binary and migration 0008 left.
	if err := db.ExecUnguarded(ctx, "entry_refs", "DELETE FROM entry_refs WHERE key = 'agent' AND value = 'helper'"); err != nil {
		t.Fatal(err)
	}
	if err := db.ExecUnguarded(ctx, "entry_refs_backfill", fmt.Sprintf("UPDATE entry_refs_backfill SET size = %d", old.Size)); err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(signerKey)
	if err != nil {
		t.Fatal(err)
	}
	mapRoot := index.EmptyMapRoot()
	text := fmt.Sprintf("%s\n%s\n%d\n%s\n%s\n", index.NoteHeaderV1, signer.Origin(), old.Size,
		base64.StdEncoding.EncodeToString(old.Root[:]), base64.StdEncoding.EncodeToString(mapRoot[:]))
	msg, err := signer.SignNote(text)
	if err != nil {
		t.Fatal(err)
	}
	staleLabel := index.Label(ledger.Ref{Key: ledger.RefAgent, Value: "filed-by-version-1"})
	var staleNode index.NodeID
	staleNode[0], staleNode[1] = 1, 0
	copy(staleNode[2:], staleLabel[:])
	v1 := &index.Batch{
		Keys:  []index.KeyState{{Label: staleLabel, Size: 1, Range: make([]byte, index.HashSize)}},
		Nodes: []index.Node{{ID: staleNode, Hash: staleLabel}},
		Note:  index.Note{Size: old.Size, TreeRoot: old.Root, MapRoot: mapRoot, Note: msg, Time: time.Now()},
	}
	if err := is.UpdateIndex(ctx, func(index.Tx, uint64, bool) (*index.Batch, error) { return v1, nil }); err != nil {
		t.Fatal(err)
	}

	x := newIndexer(t, is)
	if _, err := x.Update(ctx); !errors.Is(err, index.ErrIndexVersion) {
		t.Errorf("Update over a version-1 index with no checkpoint beyond it: error = %v, want ErrIndexVersion", err)
	}
	if _, err := index.Lookup(ctx, is, helper, 0); !errors.Is(err, index.ErrIndexVersion) || !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Lookup in a version-1 index: error = %v, want ErrIndexVersion and ErrNotFound", err)
	}

	add(10, 5)
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	note, err := x.Update(ctx)
	if err != nil {
		t.Fatalf("Update over a version-1 index: %v", err)
	}
	if note.Size != cp.Size {
		t.Fatalf("version-2 note of size %d, want the checkpoint's %d", note.Size, cp.Size)
	}
	if _, err := index.OpenNote(note.Note, verifierKey); err != nil {
		t.Fatalf("OpenNote of the version-2 note: %v", err)
	}
	if got, want := note.MapRoot, rebuild(t, s, cp.Size).MapRoot(); got != want {
		t.Fatalf("version-2 map root %x, rebuilt from index 0 %x", got, want)
	}
	if again, err := x.Update(ctx); err != nil || again.Size != cp.Size {
		t.Fatalf("second Update: note of size %d, %v; want %d", again.Size, err, cp.Size)
	}
	if st, err := is.IndexKeys(ctx, [][index.HashSize]byte{staleLabel}); err != nil || len(st) != 0 {
		t.Errorf("key states of the version-1 index after the upgrade: %v (%v), want none", st, err)
	}
	if st, err := is.IndexNodes(ctx, []index.NodeID{staleNode}); err != nil || len(st) != 0 {
		t.Errorf("map nodes of the version-1 index after the upgrade: %v (%v), want none", st, err)
	}
	notes, err := is.IndexNotes(ctx, 0, 10)
	if err != nil || len(notes) != 2 || !index.IsV1(notes[0]) || notes[0].Size != old.Size || index.IsV1(notes[1]) {
		t.Fatalf("IndexNotes after the upgrade: %d notes (%v), want the version-1 note of size %d and the version-2 note", len(notes), err, old.Size)
	}
	if _, err := index.OpenNoteV1(notes[0].Note, verifierKey); err != nil {
		t.Errorf("OpenNoteV1 of the kept version-1 note: %v", err)
	}

	p, err := index.Lookup(ctx, is, helper, 0)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Verify(verifierKey, helper, index.Known{})
	if err != nil {
		t.Fatalf("Verify the lookup of %s: %v", helper, err)
	}
	if fmt.Sprint(v.Indices) != fmt.Sprint(want) {
		t.Errorf("lookup of %s proves %v, want %v", helper, v.Indices, want)
	}
	found, err := s.Find(ctx, helper, 0, 100)
	if err != nil || fmt.Sprint(found) != fmt.Sprint(want) {
		t.Errorf("Find(%s) = %v, %v; want %v", helper, found, err, want)
	}

	rep, err := audit.Index(ctx, is, verifierKey)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Notes != 1 || rep.NotesV1 != 1 || rep.KeysAt != cp.Size {
		t.Fatalf("audit after the upgrade: ok %v, %d notes, %d of version 1, keys at %d: %v", rep.OK(), rep.Notes, rep.NotesV1, rep.KeysAt, rep.Divergences)
	}

	// The guards let only agent references of entries below the backfill
	// bound in after their entry; the audit checks what they let in.
	for _, stmt := range []string{
		fmt.Sprintf("INSERT INTO entry_refs (key, value, idx) VALUES ('agent', 'intruder', %d)", old.Size),
		"INSERT INTO entry_refs (key, value, idx) VALUES ('trace', 'intruder', 0)",
		"UPDATE entry_refs_backfill SET size = 1000",
		"DELETE FROM entry_refs_backfill",
	} {
		if err := db.Exec(ctx, stmt); err == nil {
			t.Errorf("%s: succeeded, want refused by the database", stmt)
		}
	}
	if err := db.Exec(ctx, "INSERT INTO entry_refs (key, value, idx) VALUES ('agent', 'intruder', 0)"); err != nil {
		t.Fatalf("backfilling an agent reference below the bound: %v", err)
	}
	if rep, err := audit.Index(ctx, is, verifierKey); err != nil || rep.OK() {
		t.Errorf("audit with a forged agent reference: ok %v (%v), want a divergence", rep != nil && rep.OK(), err)
	}
}

// oneSide returns a value for key name whose index label's first bit is
// bit, distinct for each i.
func oneSide(name string, bit byte, i int) string {
	for n := 0; ; n++ {
		v := fmt.Sprintf("one-side-%d-%d", i, n)
		if l := index.Label(ledger.Ref{Key: name, Value: v}); l[0]>>7 == bit {
			return v
		}
	}
}

// testIndexSmallSteps indexes a first batch of many keys, then steps of
// one entry each, as a quiet server's checkpoints make: an entry with no
// index key (such as an access entry), and entries whose keys all fall on
// one side of the map's root. Each signed map root must be the one
// rebuilt from the leaves.
func testIndexSmallSteps(t *testing.T, db DB) {
	s := db.Open(t)
	is := indexStore(t, s)
	l := openLog(t, s, time.Hour)
	x := newIndexer(t, is)
	r := rand.New(rand.NewPCG(7, 8))
	steps := [][]ledger.Entry{indextest.Entries(r, 0, 300)}
	keyless := ledger.Entry{Kind: ledger.KindAccess, EventKey: "access-1", Name: "read", Start: time.Unix(1_700_000_100, 0).UTC()}
	steps = append(steps, []ledger.Entry{keyless})
	for i, bit := range []byte{0, 1, 0} {
		e := ledger.Entry{Kind: ledger.KindCredential, EventKey: fmt.Sprintf("one-side-%d", i), Name: "issue",
			Start: time.Unix(1_700_000_200+int64(i), 0).UTC()}
		for _, name := range []string{ledger.AttrCredentialID, ledger.AttrCredentialParentID, ledger.AttrServerAddress} {
			ref := map[string]string{ledger.AttrCredentialID: ledger.RefCredential,
				ledger.AttrCredentialParentID: ledger.RefCredentialParent, ledger.AttrServerAddress: ledger.RefTarget}[name]
			e.Attrs = append(e.Attrs, ledger.Attr{Key: name, Value: oneSide(ref, bit, i)})
		}
		steps = append(steps, []ledger.Entry{e}, []ledger.Entry{keyless})
		keyless.EventKey = fmt.Sprintf("access-%d", i+2)
	}
	for i, es := range steps {
		if _, err := l.Append(t.Context(), es); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		cp, err := l.Checkpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		note, err := x.Update(t.Context())
		if err != nil {
			t.Fatalf("step %d (%d entries): Update: %v", i, len(es), err)
		}
		if note.Size != cp.Size {
			t.Fatalf("step %d: note for size %d, want %d", i, note.Size, cp.Size)
		}
		if got, want := note.MapRoot, rebuild(t, s, cp.Size).MapRoot(); got != want {
			t.Fatalf("step %d: signed map root %x, rebuilt from the leaves %x", i, got, want)
		}
	}
}

// IndexUpgrade runs the IndexUpgrade case of Run alone, for a DB whose
// store handles take a store's least-privileged role, as production's do.
func IndexUpgrade(t *testing.T, db DB) { testIndexUpgrade(t, db) }

// rangeRecorder is an index.Store that records the ranges of entries read
// with Records.
type rangeRecorder struct {
	index.Store
	mu    sync.Mutex
	reads [][2]uint64
}

func (r *rangeRecorder) Records(ctx context.Context, start, end uint64) ([]ledger.Record, error) {
	r.mu.Lock()
	r.reads = append(r.reads, [2]uint64{start, end})
	r.mu.Unlock()
	return r.Store.Records(ctx, start, end)
}

// take returns the ranges read since the last call.
func (r *rangeRecorder) take() [][2]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reads
	r.reads = nil
	return out
}

// testIndexFed indexes as the Log's Follower does: the Indexer takes the
// keys of the entries its Log committed (ledger.AppendFollower: appends,
// duplicates, an erasure entry) and reads back from the store only the
// entries another writer appended in between. Each signed map root must
// be the one rebuilt from the leaves.
func testIndexFed(t *testing.T, db DB) {
	s := db.Open(t)
	rec := &rangeRecorder{Store: indexStore(t, s)}
	signer, err := ledger.NewSigner(signerKey)
	if err != nil {
		t.Fatal(err)
	}
	x := index.NewIndexer(rec, signer)
	l := openLogConfig(t, s, ledger.Config{Follower: x})
	other := openLog(t, db.Open(t), time.Hour)
	r := rand.New(rand.NewPCG(9, 10))
	mine := indextest.Entries(r, 0, 300)
	steps := []struct {
		name  string
		do    func() error
		reads [][2]uint64 // the ranges the Indexer must read back
	}{
		{name: "first batch", do: func() error { _, err := l.Append(t.Context(), mine); return err }},
		{name: "duplicates and new entries", do: func() error {
			_, err := l.Append(t.Context(), append(mine[:50:50], indextest.Entries(r, 300, 40)...))
			return err
		}},
		{name: "another writer between two batches", reads: [][2]uint64{{340, 360}}, do: func() error {
			if _, err := other.Append(t.Context(), indextest.Entries(r, 1000, 20)); err != nil {
				return err
			}
			_, err := l.Append(t.Context(), indextest.Entries(r, 400, 30))
			return err
		}},
		{name: "erasure entry", do: func() error {
			_, err := l.Erase(t.Context(), []ledger.ContentRef{{Index: 3}}, "dpo@example.com", "test")
			return err
		}},
		{name: "another writer last", reads: [][2]uint64{{391, 392}}, do: func() error {
			_, err := other.Append(t.Context(), indextest.Entries(r, 2000, 1))
			return err
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		cp, err := l.Checkpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rec.take()
		note, err := x.Update(t.Context())
		if err != nil {
			t.Fatalf("%s: Update: %v", st.name, err)
		}
		if note.Size != cp.Size {
			t.Fatalf("%s: note for size %d, want %d", st.name, note.Size, cp.Size)
		}
		if got, want := note.MapRoot, rebuild(t, s, cp.Size).MapRoot(); got != want {
			t.Fatalf("%s: signed map root %x, rebuilt from the leaves %x", st.name, got, want)
		}
		if got := rec.take(); fmt.Sprint(got) != fmt.Sprint(st.reads) {
			t.Fatalf("%s: the Indexer read entries %v back, want %v", st.name, got, st.reads)
		}
	}
}

package index

import (
	"slices"
	"sync"

	"github.com/agentledger/agentledger/ledger"
)

// maxFed is how many entries' keys a feed holds at most (tens of MB at
// worst): two steps. An indexer further behind reads the oldest entries
// back from the store.
const maxFed = 2 * DefaultMaxStep

// feed holds the index keys of the entries the Log of this process
// committed (ledger.AppendFollower), so that the Indexer does not read
// back and decode the leaves it was just handed. The keys are those
// ledger.PrepareRecords derived from the entries whose leaves were
// written, which are the keys the leaves carry (ledger.IndexKeys is a pure
// function of the entry, and a leaf encodes its entry losslessly). Entries
// committed by another process, or before this one started, are not held:
// the Indexer reads those from the store.
type feed struct {
	mu sync.Mutex
	// runs are held runs of consecutive entries, in index order, not
	// overlapping.
	runs []fedRun
	n    int
}

// fedRun is the keys of the entries [first, first+len(keys)).
type fedRun struct {
	first uint64
	keys  [][]ledger.Ref
}

func (r fedRun) end() uint64 { return r.first + uint64(len(r.keys)) }

// add holds the keys of recs, committed records of consecutive indices.
func (f *feed) add(recs []ledger.Record) {
	if len(recs) == 0 {
		return
	}
	run := fedRun{first: recs[0].Index, keys: make([][]ledger.Ref, len(recs))}
	for i := range recs {
		if recs[i].Index != run.first+uint64(i) {
			return // not one run: not held, read back instead
		}
		run.keys[i] = indexRefs(recs[i].Refs)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	at, _ := slices.BinarySearchFunc(f.runs, run.first, func(r fedRun, first uint64) int { return cmpUint64(r.first, first) })
	if (at > 0 && f.runs[at-1].end() > run.first) || (at < len(f.runs) && f.runs[at].first < run.end()) {
		return // overlaps a held run: cannot be, as indices are assigned once
	}
	f.runs = slices.Insert(f.runs, at, run)
	f.n += len(run.keys)
	for f.n > maxFed {
		f.n -= len(f.runs[0].keys)
		f.runs = f.runs[1:]
	}
}

// indexRefs returns the index keys among an entry's refs (ledger.RefsOf
// puts them first, then plain refs).
func indexRefs(refs []ledger.Ref) []ledger.Ref {
	n := 0
	for n < len(refs) && ledger.IsIndexKey(refs[n].Key) {
		n++
	}
	keys := refs[:n:n]
	for _, r := range refs[n:] {
		if ledger.IsIndexKey(r.Key) {
			keys = append(keys, r) // copies: refs[:n] has no room
		}
	}
	return keys
}

// take returns the held keys of the entries from `from` (below to) on, as
// far as they are held consecutively; with the entry at from not held, it
// returns nil and the first index beyond from that is held, or to.
func (f *feed) take(from, to uint64) (keys [][]ledger.Ref, next uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next = to
	for _, r := range f.runs {
		switch {
		case r.end() <= from:
			continue
		case r.first <= from:
			return r.keys[from-r.first : min(r.end(), to)-r.first], to
		default:
			return nil, min(r.first, to)
		}
	}
	return nil, next
}

// drop forgets the entries below size, which the index covers.
func (f *feed) drop(size uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.runs) > 0 && f.runs[0].first < size {
		r := &f.runs[0]
		if r.end() > size {
			f.n -= int(size - r.first)
			r.keys, r.first = r.keys[size-r.first:], size
			return
		}
		f.n -= len(r.keys)
		f.runs = f.runs[1:]
	}
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

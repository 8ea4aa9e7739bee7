package audit_test

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/ledger/postgres"
)

const (
	entries = 300 // and one erasure entry
	every   = 50
)

func TestAuditClean(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, entries, every)
	for _, opts := range []audit.Options{{}, {PageSize: 1, Readers: 1, Workers: 1}, {PageSize: 512, Workers: 3}} {
		rep, err := audit.Run(t.Context(), l.Store, l.Keys.Verifier, opts)
		if err != nil {
			t.Fatalf("Run(%+v) error = %v", opts, err)
		}
		if !rep.OK() {
			t.Fatalf("Run(%+v) divergence = %v, want none", opts, rep.Divergence)
		}
		if rep.Entries != entries+1 || rep.Size != entries+1 {
			t.Errorf("Run(%+v) entries = %d of %d, want %d", opts, rep.Entries, rep.Size, entries+1)
		}
		if got, want := rep.Checkpoints, len(l.Checkpoints); got != want {
			t.Errorf("Run(%+v) checkpoints = %d, want %d", opts, got, want)
		}
		if rep.Erased != 1 {
			t.Errorf("Run(%+v) erased = %d, want 1", opts, rep.Erased)
		}
		// 301 level-0 hashes and one level-1 hash.
		if rep.TileHashes != entries+2 {
			t.Errorf("Run(%+v) tile hashes = %d, want %d", opts, rep.TileHashes, entries+2)
		}
	}
}

// TestAuditErasureAcrossPages erases content of entry 5 with an erasure
// entry many pages later: the audit must remember what is missing while
// it reads later pages into the memory that held entry 5's leaf.
func TestAuditErasureAcrossPages(t *testing.T) {
	t.Parallel()
	s, err := postgres.Open(t.Context(), pgtest.NewSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := &audittest.Ledger{Store: s, Keys: audittest.NewKeys(t)}
	l.Append(t, 0, 3000, 1000, 2500)
	rep, err := audit.Run(t.Context(), l.Store, l.Keys.Verifier, audit.Options{PageSize: 256, Readers: 1, Workers: 1})
	if err != nil || !rep.OK() {
		t.Fatalf("Run() = %v, %v; want no divergence", rep.Divergence, err)
	}
	if rep.Erased != 1 || rep.Entries != 3001 {
		t.Errorf("Run() erased %d of %d entries, want 1 of 3001", rep.Erased, rep.Entries)
	}
}

func TestAuditEmpty(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 40, 40)
	l.Tamper(t, "DELETE FROM entries", "DELETE FROM content", "DELETE FROM tiles", "DELETE FROM checkpoints",
		`UPDATE tree_head SET size = 0, root = sha256(''::bytea), range = ''::bytea, checkpoint_size = NULL, checkpoint_time = NULL`)
	rep, err := audit.Run(t.Context(), l.Store, l.Keys.Verifier, audit.Options{})
	if err != nil || !rep.OK() || rep.Entries != 0 {
		t.Fatalf("Run(empty) = %d entries, %v, %v; want 0, no divergence", rep.Entries, rep.Divergence, err)
	}
}

func TestAuditBadKey(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 40, 40)
	if _, err := audit.Run(t.Context(), l.Store, "not a key", audit.Options{}); err == nil {
		t.Fatal("Run(bad key) error = nil, want an error")
	}
	other := audittest.NewKeys(t)
	rep, err := audit.Run(t.Context(), l.Store, other.Verifier, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "checkpoint 41: signature not valid for " + audittest.Origin; rep.Divergence == nil || !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(rep.Divergence.Message) {
		t.Fatalf("Run(other key) divergence = %v, want %q", rep.Divergence, want)
	}
}

// TestAuditTampered tampers with a real Postgres ledger as a superuser who
// disables the triggers, and checks that the audit names each tampering.
func TestAuditTampered(t *testing.T) {
	t.Parallel()
	forger := audittest.NewKeys(t)
	tests := []struct {
		name   string
		tamper func(t *testing.T, l *audittest.Ledger)
		index  uint64
		want   string // a regexp the divergence message matches
	}{
		{
			name: "one byte of a leaf",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries SET leaf = set_byte(leaf, 20, get_byte(leaf, 20) # 1) WHERE idx = 31`)
			},
			index: 31, want: `^entry 31: leaf hash mismatch: stored [0-9a-f]{12}… but the leaf hashes to [0-9a-f]{12}…$`,
		},
		{
			name: "one byte of a leaf, leaf hash updated",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				// The last byte of the name "step 31" of entry 31.
				l.Tamper(t, `UPDATE entries SET leaf = overlay(leaf placing '9'::bytea from position('step 31'::bytea in leaf) + 6 for 1) WHERE idx = 31`,
					`UPDATE entries SET leaf_hash = sha256('\x00'::bytea || leaf) WHERE idx = 31`)
			},
			index: 31, want: `^tile 0/0 hash 31 \(entry 31\) differs: stored [0-9a-f]{12}… but the entry's leaf hashes to [0-9a-f]{12}…$`,
		},
		{
			name: "leaf that does not decode",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries SET leaf = leaf || '\x00'::bytea, leaf_hash = sha256('\x00'::bytea || leaf || '\x00'::bytea) WHERE idx = 7`)
			},
			index: 7, want: `^entry 7: leaf does not decode: .*1 trailing bytes`,
		},
		{
			name: "kind column",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries SET kind = 'span' WHERE idx = 32`)
			},
			index: 32, want: `^entry 32: kind column "span" but the leaf says "api_call"$`,
		},
		{
			name: "trace column",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries SET trace_id = '' WHERE idx = 32`)
			},
			index: 32, want: `^entry 32: trace_id column "" but the leaf says "0+3"$`,
		},
		{
			name: "time column",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries SET time = time + interval '1 second' WHERE idx = 33`)
			},
			index: 33, want: `^entry 33: time column 2023-11-14T22:13:54\.123456Z but the leaf says 2023-11-14T22:13:53\.123456789Z$`,
		},
		{
			name: "dedup key column",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries SET dedup_key = sha256('x') WHERE idx = 34`)
			},
			index: 34, want: `^entry 34: dedup key column 2d711642b726… does not match the leaf \([0-9a-f]{12}…\)$`,
		},
		{
			name: "content",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE content SET data = 'thinking about nothing' WHERE idx = 35 AND name = 'reasoning'`)
			},
			index: 35, want: `^entry 35: content "reasoning" does not match its commitment`,
		},
		{
			name: "content deleted without an erasure",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `DELETE FROM content WHERE idx = 35 AND name = 'reasoning'`)
			},
			index: 35, want: `^entry 35: content "reasoning" is missing, and no erasure entry records its erasure$`,
		},
		{
			name: "content added",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `INSERT INTO content (idx, name, salt, data) VALUES (36, 'reasoning', sha256('x'), 'made up')`)
			},
			index: 36, want: `^entry 36: content "reasoning" has no commitment in the leaf$`,
		},
		{
			name:   "entry deleted",
			tamper: func(t *testing.T, l *audittest.Ledger) { l.Tamper(t, `DELETE FROM entries WHERE idx = 12`) },
			index:  12, want: `^entry 12: missing \(tree has a gap; the next stored entry is 13\)$`,
		},
		{
			name: "last entry deleted",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, fmt.Sprintf(`DELETE FROM entries WHERE idx = %d`, entries))
			},
			index: entries, want: fmt.Sprintf(`^entry %d: missing \(the tree head has size %d\)$`, entries, entries+1),
		},
		{
			name: "two entries swapped with their content",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t,
					`UPDATE entries SET idx = 1000000 WHERE idx = 20`,
					`UPDATE entries SET idx = 20 WHERE idx = 30`,
					`UPDATE entries SET idx = 30 WHERE idx = 1000000`,
					`UPDATE content SET idx = 1000000 WHERE idx = 20`,
					`UPDATE content SET idx = 20 WHERE idx = 30`,
					`UPDATE content SET idx = 30 WHERE idx = 1000000`)
			},
			index: 20, want: `^tile 0/0 hash 20 \(entry 20\) differs`,
		},
		{
			name: "two leaves swapped",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries e SET leaf = o.leaf, leaf_hash = o.leaf_hash FROM entries o
					WHERE (e.idx, o.idx) IN ((25, 26), (26, 25))`)
			},
			index: 25, want: `^entry 25: kind column "llm" but the leaf says "tool"$`,
		},
		{
			name: "level-0 tile hash replaced",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE tiles SET hashes = overlay(hashes placing sha256('x') from 1 + (13 - start)*32 for 32)
					WHERE level = 0 AND idx = 1 AND start <= 13 AND start + length(hashes)/32 > 13`)
			},
			index: 256 + 13, want: `^tile 0/1 hash 13 \(entry 269\) differs: stored 2d711642b726… but the entry's leaf hashes to`,
		},
		{
			name: "level-1 tile hash replaced",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE tiles SET hashes = sha256('x') WHERE level = 1 AND idx = 0 AND start = 0`)
			},
			index: 0, want: `^tile 1/0 hash 0 \(entries 0–255\) differs: stored 2d711642b726… but the tree gives`,
		},
		{
			name: "level-0 tile segment deleted",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `DELETE FROM tiles WHERE level = 0 AND idx = 0 AND start = (SELECT max(start) FROM tiles WHERE level = 0 AND idx = 0)`)
			},
			want: `^tile 0/0 hash \d+ \(entry \d+\): missing; the tile has \d+ hashes$`,
		},
		{
			name: "level-0 tile segment deleted from the middle",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `DELETE FROM tiles WHERE level = 0 AND idx = 0 AND start = (SELECT min(start) FROM tiles WHERE level = 0 AND idx = 0 AND start > 0)`)
			},
			want: `^tile 0/0: postgres: ledger state corrupt: tile 0/0: segment of`,
		},
		{
			name:   "tree head root",
			tamper: func(t *testing.T, l *audittest.Ledger) { l.Tamper(t, `UPDATE tree_head SET root = sha256('x')`) },
			index:  entries + 1, want: `^tree head: root 2d711642b726… at size 301 but the tree gives`,
		},
		{
			name: "latest checkpoint deleted",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, fmt.Sprintf(`DELETE FROM checkpoints WHERE size = %d`, entries+1))
			},
			index: entries + 1, want: fmt.Sprintf(`^tree head: latest checkpoint %d is not stored$`, entries+1),
		},
		{
			name: "checkpoint forged with another key",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				signer, err := ledger.NewSigner(forger.Signer)
				if err != nil {
					t.Fatal(err)
				}
				cp := l.Checkpoint(t, 101)
				note, err := signer.Sign(cp.Size, cp.Root)
				if err != nil {
					t.Fatal(err)
				}
				l.Tamper(t, fmt.Sprintf(`UPDATE checkpoints SET note = '\x%x' WHERE size = 101`, note))
			},
			index: 101, want: `^checkpoint 101: signature not valid for ` + regexp.QuoteMeta(audittest.Origin) + `: `,
		},
		{
			name: "checkpoint root column",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE checkpoints SET root = sha256('x') WHERE size = 151`)
			},
			index: 151, want: `^checkpoint 151: root column 2d711642b726… but the signed note says`,
		},
		{
			name: "checkpoint note of another size",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE checkpoints SET note = (SELECT note FROM checkpoints WHERE size = 101) WHERE size = 151`)
			},
			index: 151, want: `^checkpoint 151: the signed note says size 101$`,
		},
		{
			name: "checkpoints signed out of order",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE checkpoints SET time = time - interval '1 hour' WHERE size = 201`)
			},
			index: 151, want: `^checkpoint 151 was signed at .*, after checkpoint 201 at .*: the tree size went down from 201 to 151$`,
		},
		{
			name: "tree truncated and re-appended",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Truncate(t, 120)
				l.Append(t, 1, 230, every, 0)
			},
			index: 151, want: `^checkpoint 151: root [0-9a-f]{12}… but the tree gives [0-9a-f]{12}…$`,
		},
		{
			name:   "tree truncated",
			tamper: func(t *testing.T, l *audittest.Ledger) { l.Truncate(t, 120) },
			index:  151, want: `^checkpoint 151: beyond the tree, whose head has size 120$`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := audittest.New(t, entries, every)
			tt.tamper(t, l)
			rep, err := audit.Run(t.Context(), l.Store, l.Keys.Verifier, audit.Options{PageSize: 256})
			if err != nil {
				t.Fatalf("Run() error = %v", err)
			}
			if rep.Divergence == nil {
				t.Fatalf("Run() found no divergence, want %q", tt.want)
			}
			if got := rep.Divergence.Message; !regexp.MustCompile(tt.want).MatchString(got) {
				t.Errorf("Run() divergence = %q, want %q", got, tt.want)
			}
			if tt.index != 0 && rep.Divergence.Index != tt.index {
				t.Errorf("Run() divergence index = %d, want %d", rep.Divergence.Index, tt.index)
			}
		})
	}
}

// TestAuditRowsOutOfHeapOrder moves rows to the end of their tables'
// heaps, as an UPDATE of an unchanged value does: the Postgres store reads
// the audit's pages without ORDER BY, and must still deliver the entries
// in index order with their content, so the ledger audits clean.
func TestAuditRowsOutOfHeapOrder(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, entries, every)
	l.Tamper(t, `UPDATE entries SET kind = kind WHERE idx IN (3, 100)`, `UPDATE content SET name = name WHERE idx = 10`)
	rep, err := audit.Run(t.Context(), l.Store, l.Keys.Verifier, audit.Options{})
	if err != nil || !rep.OK() || rep.Entries != entries+1 {
		t.Fatalf("Run() = %d entries, %v, %v; want %d, no divergence", rep.Entries, rep.Divergence, err, entries+1)
	}
}

// TestRecordsInto reads ranges with the Postgres store's RecordsInto,
// reusing the memory of each read for the next, and compares them with
// Records.
func TestRecordsInto(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l := audittest.New(t, entries, every)
	l.Tamper(t, `UPDATE entries SET kind = kind WHERE idx = 7`, `UPDATE content SET name = name WHERE idx = 20`)
	var (
		recs []ledger.Record
		slab []byte
		err  error
	)
	for _, r := range [][2]uint64{{0, entries + 1}, {10, 50}, {0, entries + 1}, {1, entries + 1}, {3, 300}, {295, 400}, {400, 500}} {
		recs, slab, err = l.Store.RecordsInto(ctx, r[0], r[1], recs, slab)
		if err != nil {
			t.Fatalf("RecordsInto(%d, %d) error = %v", r[0], r[1], err)
		}
		want, err := l.Store.Records(ctx, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Clone(recs)
		for i := range got {
			got[i].Content = slices.SortedFunc(slices.Values(got[i].Content), func(a, b ledger.Content) int { return strings.Compare(a.Name, b.Name) })
		}
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("RecordsInto(%d, %d) = %d records, differs from Records' %d", r[0], r[1], len(recs), len(want))
		}
	}
}

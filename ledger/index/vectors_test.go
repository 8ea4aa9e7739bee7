package index_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/index/indextest"
	"github.com/agentledger/agentledger/ledger/postgres"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

var update = flag.Bool("update", false, "rewrite ../testdata/index.json from package index")

const vectorsFile = "../testdata/index.json"

const origin = "example.com/index-vectors"

// testKey is a fixed key pair for the vectors and tests (never a real log's).
var signerKey, verifierKey = func() (string, string) {
	s, v, err := ledger.GenerateKey(origin)
	if err != nil {
		panic(err)
	}
	return s, v
}()

type vectors struct {
	Origin       string       `json:"origin"`
	EmptyMapRoot string       `json:"empty_map_root_hex"`
	Leaves       []leafVector `json:"leaves"`
	Keys         []keyVector  `json:"keys"`
	MapRoot      string       `json:"map_root_hex"`
	TreeRoot     string       `json:"tree_root_hex"`
	NoteText     string       `json:"note_text"`
	Absent       []string     `json:"absent_keys"`
}

type leafVector struct {
	Leaf string   `json:"leaf_hex"`
	Keys []string `json:"keys"`
}

type keyVector struct {
	Key      string   `json:"key"`
	Label    string   `json:"label_hex"`
	Indices  []uint64 `json:"indices"`
	ListRoot string   `json:"list_root_hex"`
	Value    string   `json:"value_hex"`
}

// makeVectors computes the vectors with package index, for -update.
func makeVectors(t *testing.T) vectors {
	r := rand.New(rand.NewPCG(7, 7))
	es := indextest.Entries(r, 0, 24)
	es = append(es, ledger.Entry{
		Kind: ledger.KindAPICall, TraceID: fmt.Sprintf("%032x", 99), SpanID: fmt.Sprintf("%016x", 99), Name: "edge",
		Attrs: []ledger.Attr{
			{Key: ledger.AttrCredentialFingerprint, Value: " hmac-sha256:aa\thmac-sha256:aa\u00a0x  hmac-sha256:bb "},
			{Key: ledger.AttrAgentID, Value: ""},
			{Key: ledger.AttrAgentName, Value: "a name beside an empty id"},
			{Key: ledger.AttrConversationID, Value: "not a key"},
		},
	}, ledger.Entry{
		Kind: ledger.KindAgent, TraceID: fmt.Sprintf("%032x", 100), SpanID: fmt.Sprintf("%016x", 100), Name: "invoke_agent",
		Attrs: []ledger.Attr{
			{Key: ledger.AttrAgentID, Value: "agent-9"},
			{Key: ledger.AttrAgentName, Value: "agent-9"},
			{Key: ledger.AttrOpenInferenceAgentName, Value: "planner"},
			{Key: ledger.AttrTraceloopWorkflowName, Value: "trip-workflow"},
			{Key: ledger.AttrServiceName, Value: "not a key"},
		},
	})
	v := vectors{Origin: origin}
	empty := index.EmptyMapRoot()
	v.EmptyMapRoot = hex.EncodeToString(empty[:])
	rb := index.NewRebuild()
	var leaves [][]byte
	for i := range es {
		leaf, err := ledger.EncodeLeaf(&es[i])
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leaf)
		lv := leafVector{Leaf: hex.EncodeToString(leaf), Keys: []string{}}
		for _, k := range ledger.IndexKeys(&es[i]) {
			lv.Keys = append(lv.Keys, k.String())
		}
		v.Leaves = append(v.Leaves, lv)
		if err := rb.AddLeaf(leaf); err != nil {
			t.Fatal(err)
		}
	}
	for _, label := range rb.Keys() {
		k := rb.Key(label)
		l := index.NewList()
		l.Append(k.Indices...)
		root, value := l.Root(), l.Value()
		v.Keys = append(v.Keys, keyVector{Key: k.Key.String(), Label: hex.EncodeToString(label[:]), Indices: k.Indices,
			ListRoot: hex.EncodeToString(root[:]), Value: hex.EncodeToString(value[:])})
	}
	mapRoot := rb.MapRoot()
	v.MapRoot = hex.EncodeToString(mapRoot[:])
	treeRoot := treeRootOf(leaves)
	v.TreeRoot = hex.EncodeToString(treeRoot[:])
	v.NoteText = index.NoteText(origin, uint64(len(leaves)), treeRoot, mapRoot)
	v.Absent = []string{"credential:never-used", "trace:" + fmt.Sprintf("%032x", 12345)}
	return v
}

func treeRootOf(leaves [][]byte) [32]byte {
	hs := make([][32]byte, len(leaves))
	for i, l := range leaves {
		hs[i] = ledger.LeafHash(l)
	}
	var root func([][32]byte) [32]byte
	root = func(hs [][32]byte) [32]byte {
		if len(hs) == 1 {
			return hs[0]
		}
		k := 1
		for k*2 < len(hs) {
			k *= 2
		}
		l, r := root(hs[:k]), root(hs[k:])
		return specH([]byte{1}, l[:], r[:])
	}
	return root(hs)
}

func readVectors(t *testing.T) vectors {
	t.Helper()
	if *update {
		b, err := json.MarshalIndent(makeVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVectorsFollowFormat checks the vectors with the implementation from
// FORMAT.md alone.
func TestVectorsFollowFormat(t *testing.T) {
	v := readVectors(t)
	if got := specMapRoot(nil); hex.EncodeToString(got[:]) != v.EmptyMapRoot {
		t.Errorf("spec empty map root = %x, want %s", got, v.EmptyMapRoot)
	}
	var leaves [][]byte
	for i, lv := range v.Leaves {
		leaf, err := hex.DecodeString(lv.Leaf)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leaf)
		d, err := ledger.DecodeLeaf(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if got := specKeys(&d.Entry); !slices.Equal(got, lv.Keys) {
			t.Errorf("leaf %d: spec keys = %q, want %q", i, got, lv.Keys)
		}
	}
	lists, err := specIndex(leaves)
	if err != nil {
		t.Fatal(err)
	}
	if len(lists) != len(v.Keys) {
		t.Errorf("spec index has %d keys, want %d", len(lists), len(v.Keys))
	}
	for _, kv := range v.Keys {
		label, root := specH([]byte(kv.Key)), specListRoot(lists[kv.Key])
		value := specValue(uint64(len(lists[kv.Key])), root)
		if !slices.Equal(lists[kv.Key], kv.Indices) || hex.EncodeToString(label[:]) != kv.Label ||
			hex.EncodeToString(root[:]) != kv.ListRoot || hex.EncodeToString(value[:]) != kv.Value {
			t.Errorf("key %s: spec list %v label %x root %x value %x, want %v %s %s %s",
				kv.Key, lists[kv.Key], label, root, value, kv.Indices, kv.Label, kv.ListRoot, kv.Value)
		}
	}
	if got := specMapRoot(lists); hex.EncodeToString(got[:]) != v.MapRoot {
		t.Errorf("spec map root = %x, want %s", got, v.MapRoot)
	}
	want := fmt.Sprintf("agentledger-index/v2\n%s\n%d\n%s\n%s\n", v.Origin, len(leaves), b64(t, v.TreeRoot), b64(t, v.MapRoot))
	if v.NoteText != want {
		t.Errorf("note text = %q, want %q", v.NoteText, want)
	}
}

// TestVectorsProofs checks that lookups on a store holding the vectors'
// leaves give the vectors' map root, and membership and non-membership
// proofs that verify.
func TestVectorsProofs(t *testing.T) {
	v := readVectors(t)
	s := openSQLite(t)
	l := openLog(t, s)
	for _, lv := range v.Leaves {
		leaf, _ := hex.DecodeString(lv.Leaf)
		d, err := ledger.DecodeLeaf(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(t.Context(), []ledger.Entry{d.Entry}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	note, err := newIndexer(t, s).Update(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(note.MapRoot[:]) != v.MapRoot || hex.EncodeToString(note.TreeRoot[:]) != v.TreeRoot {
		t.Fatalf("stored note roots %x %x, want %s %s", note.TreeRoot, note.MapRoot, v.TreeRoot, v.MapRoot)
	}
	for _, kv := range v.Keys {
		k, err := index.ParseKey(kv.Key)
		if err != nil {
			t.Fatal(err)
		}
		p, err := index.Lookup(t.Context(), s, k, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Verify(verifierKey, k, index.Known{}); err != nil || !p.Found {
			t.Errorf("%s: found %v, Verify: %v", kv.Key, p.Found, err)
		}
	}
	for _, a := range v.Absent {
		k, _ := index.ParseKey(a)
		p, err := index.Lookup(t.Context(), s, k, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Verify(verifierKey, k, index.Known{}); err != nil || p.Found {
			t.Errorf("%s: found %v, Verify: %v", a, p.Found, err)
		}
	}
}

// TestIndependentRecomputation grows a random ledger on each store, indexes
// it after each of several checkpoints, and recomputes every signed map
// root from the leaves with the implementation from FORMAT.md alone.
func TestIndependentRecomputation(t *testing.T) {
	stores := map[string]func(t *testing.T) store{
		"sqlite":   func(t *testing.T) store { return openSQLite(t) },
		"postgres": func(t *testing.T) store { return openPostgres(t) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			l := openLog(t, s)
			x := newIndexer(t, s)
			r := rand.New(rand.NewPCG(uint64(len(name)), 11))
			first := 0
			for _, n := range []int{5, 200, 1, 900} {
				if _, err := l.Append(t.Context(), indextest.Entries(r, first, n)); err != nil {
					t.Fatal(err)
				}
				first += n
				if _, err := l.Checkpoint(t.Context()); err != nil {
					t.Fatal(err)
				}
				if _, err := x.Update(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			notes, err := s.IndexNotes(t.Context(), 0, 100)
			if err != nil || len(notes) != 4 {
				t.Fatalf("IndexNotes = %d, %v; want 4", len(notes), err)
			}
			recs, err := s.Records(t.Context(), 0, notes[3].Size)
			if err != nil {
				t.Fatal(err)
			}
			var leaves [][]byte
			for _, rec := range recs {
				leaves = append(leaves, rec.Leaf)
			}
			for _, n := range notes {
				lists, err := specIndex(leaves[:n.Size])
				if err != nil {
					t.Fatal(err)
				}
				if got := specMapRoot(lists); got != n.MapRoot {
					t.Errorf("note %d: map root %x, FORMAT.md gives %x", n.Size, n.MapRoot, got)
				}
			}
		})
	}
}

func b64(t *testing.T, h string) string {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// store is both sides of a ledger store.
type store interface {
	ledger.Store
	index.Store
}

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t testing.TB) store {
	t.Helper()
	s, err := postgres.Open(t.Context(), pgtest.NewSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openLog(t *testing.T, s ledger.Store) *ledger.Log {
	t.Helper()
	signer, err := ledger.NewSigner(signerKey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(s, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func newIndexer(t *testing.T, s index.Store) *index.Indexer {
	t.Helper()
	signer, err := ledger.NewSigner(signerKey)
	if err != nil {
		t.Fatal(err)
	}
	return index.NewIndexer(s, signer)
}

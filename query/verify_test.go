package query

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// reported is an entry an answer reports, and the content it returned.
type reported struct {
	index    uint64
	leafHash string
	attrs    map[string]any
	content  []map[string]any
}

// collectEntries walks an answer and returns every object that carries
// index and leaf_hash.
func collectEntries(v any, out map[string][]reported) {
	switch x := v.(type) {
	case map[string]any:
		if i, ok := x["index"].(float64); ok {
			if lh, ok := x["leaf_hash"].(string); ok {
				r := reported{index: uint64(i), leafHash: lh}
				r.attrs, _ = x["attributes"].(map[string]any)
				if cs, ok := x["content"].([]any); ok {
					for _, c := range cs {
						r.content = append(r.content, c.(map[string]any))
					}
				}
				out[lh] = append(out[lh], r)
			}
		}
		for _, e := range x {
			collectEntries(e, out)
		}
	case []any:
		for _, e := range x {
			collectEntries(e, out)
		}
	}
}

// TestViewsVerify checks that every entry a view reports is proven: its
// leaf (from /v1/entries) hashes to the reported leaf hash, its inclusion
// proof verifies against the latest checkpoint opened with the verifier
// key, its reported attributes are those of the leaf, and every piece of
// content returned matches the leaf's commitment.
func TestViewsVerify(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		for _, target := range []string{
			"/v1/credentials/" + credC1,
			"/v1/credentials/" + credC4,
			"/v1/credentials/" + credC1 + "/blast-radius",
			"/v1/runs/" + traceB,
		} {
			var answer any
			w.get("responder", target, &answer)
			found := make(map[string][]reported)
			collectEntries(answer, found)
			if len(found) == 0 {
				t.Fatalf("GET %s reports no entries", target)
			}
			w.checkpoint() // cover the access entries the views appended
			var logInfo api.LogInfo
			w.get("auditor", "/v1/log", &logInfo)
			for _, rs := range found {
				verifyReported(t, w, target, logInfo.VerifierKey, rs)
			}
			t.Logf("GET %s: %d entries verified", target, len(found))
		}
	})
}

func verifyReported(t *testing.T, w *world, target, vkey string, rs []reported) {
	t.Helper()
	r := rs[0]
	var e api.Entry
	w.get("auditor", fmt.Sprintf("/v1/entries/%d", r.index), &e)
	leaf, err := base64.StdEncoding.DecodeString(e.Leaf)
	if err != nil {
		t.Fatalf("entry %d: leaf: %v", r.index, err)
	}
	if lh := ledger.LeafHash(leaf); hex.EncodeToString(lh[:]) != r.leafHash {
		t.Errorf("%s: entry %d: leaf hashes to %x, the answer says %s", target, r.index, lh, r.leafHash)
	}
	var p api.InclusionProof
	w.get("auditor", fmt.Sprintf("/v1/proofs/inclusion?index=%d", r.index), &p)
	cp, err := ledger.OpenCheckpoint([]byte(p.Checkpoint), vkey)
	if err != nil {
		t.Fatalf("%s: entry %d: open checkpoint: %v", target, r.index, err)
	}
	if cp.Size != p.TreeSize {
		t.Errorf("%s: entry %d: proof for tree size %d, checkpoint of %d", target, r.index, p.TreeSize, cp.Size)
	}
	hashes := make([][]byte, len(p.Hashes))
	for i, h := range p.Hashes {
		if hashes[i], err = base64.StdEncoding.DecodeString(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := ledger.VerifyInclusion(leaf, r.index, cp.Size, cp.Root[:], hashes); err != nil {
		t.Errorf("%s: entry %d: %v", target, r.index, err)
	}
	d, err := ledger.DecodeLeaf(leaf)
	if err != nil {
		t.Fatalf("%s: entry %d: decode leaf: %v", target, r.index, err)
	}
	commitments := make(map[string][32]byte)
	for _, c := range d.Commitments {
		commitments[c.Name] = c.Hash
	}
	for _, r := range rs {
		if r.attrs != nil {
			want := make(map[string]any)
			for _, a := range d.Entry.Attrs {
				want[a.Key] = a.Value
			}
			if got, want := mustJSON(r.attrs), mustJSON(want); got != want {
				t.Errorf("%s: entry %d: attributes %s, leaf has %s", target, r.index, got, want)
			}
		}
		for _, c := range r.content {
			name := c["name"].(string)
			cm, ok := commitments[name]
			if !ok || hex.EncodeToString(cm[:]) != c["commitment"] {
				t.Errorf("%s: entry %d: content %q commitment %v, leaf has %x", target, r.index, name, c["commitment"], cm)
			}
			data, ok := c["data"].(string)
			if !ok {
				continue
			}
			salt, err := base64.StdEncoding.DecodeString(c["salt"].(string))
			if err != nil {
				t.Fatal(err)
			}
			raw := []byte(data)
			if c["encoding"] == "base64" {
				raw, _ = base64.StdEncoding.DecodeString(data)
			}
			if sha256.Sum256(append(salt, raw...)) != cm {
				t.Errorf("%s: entry %d: content %q does not match its commitment", target, r.index, name)
			}
		}
	}
}

// TestAccessEntries checks that an answer with content appends one access
// entry naming the reader and exactly the entries whose content it
// returned, that answers without content append none, and that content is
// refused when the access entry cannot be written.
func TestAccessEntries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		before := w.head().Size
		var v api.CredentialView
		w.get("responder", "/v1/credentials/"+credC1, &v)
		after := w.head().Size
		if after != before+1 {
			t.Fatalf("tree grew from %d to %d with a credential view, want one access entry", before, after)
		}
		var withContent []string
		var answer any
		w.get("responder", "/v1/credentials/"+credC1+"?content=true", &answer) // appends another
		found := make(map[string][]reported)
		collectEntries(answer, found)
		for _, rs := range found {
			for _, r := range rs {
				has := false
				for _, c := range r.content {
					if _, ok := c["data"]; ok {
						has = true
					}
				}
				if has {
					withContent = append(withContent, fmt.Sprint(r.index))
					break
				}
			}
		}
		recs, err := w.store.Records(t.Context(), after, after+1)
		if err != nil || len(recs) != 1 {
			t.Fatalf("Records(%d) = %v, %v", after, recs, err)
		}
		e, _, err := recs[0].Decode()
		if err != nil {
			t.Fatal(err)
		}
		attr := func(k string) string { v, _ := e.Attr(k); return v }
		if e.Kind != ledger.KindAccess || attr(AttrAccessActor) != "test-responder" || attr(AttrAccessRole) != "responder" ||
			attr(AttrAccessPath) != "/v1/credentials/"+credC1 || attr(AttrAccessRequestID) == "" {
			t.Errorf("access entry = %+v", e)
		}
		if got, want := expandRanges(t, attr(AttrAccessEntries)), sortedNumbers(withContent); got != want {
			t.Errorf("access.entries = %q, want the entries with content %q", got, want)
		}

		// No content, no access entry.
		for _, target := range []string{"/v1/credentials/" + credC1 + "?content=false", "/v1/credentials/" + credC1 + "/blast-radius", "/v1/search?kind=llm"} {
			n := w.head().Size
			w.get("responder", target, nil)
			if got := w.head().Size; got != n {
				t.Errorf("GET %s appended %d entries, want none", target, got-n)
			}
		}
		n := w.head().Size
		w.get("auditor", fmt.Sprintf("/v1/entries/%d", w.idx["a.s1"]), nil)
		if got := w.head().Size; got != n {
			t.Errorf("an auditor's entry read appended %d entries, want none", got-n)
		}

		// Without a ledger to record the read, content is refused.
		if err := w.log.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		r := w.do("responder", http.MethodGet, "/v1/credentials/"+credC1, nil)
		if r.status != http.StatusServiceUnavailable || strings.Contains(string(r.body), "Triage the failing deploy") {
			t.Errorf("credential view with the log closed = %d %s, want 503 without content", r.status, r.body)
		}
		checkEnvelope(t, "credential view with the log closed", r)
		if r := w.do("responder", http.MethodGet, "/v1/credentials/"+credC1+"?content=false", nil); r.status != http.StatusOK {
			t.Errorf("credential view without content, log closed = %d, want 200", r.status)
		}
	})
}

func expandRanges(t *testing.T, s string) string {
	var out []string
	for _, f := range strings.Fields(s) {
		first, last, isRange := strings.Cut(f, "-")
		var a, b uint64
		fmt.Sscan(first, &a)
		b = a
		if isRange {
			fmt.Sscan(last, &b)
		}
		for i := a; i <= b; i++ {
			out = append(out, fmt.Sprint(i))
		}
	}
	return sortedNumbers(out)
}

func sortedNumbers(s []string) string {
	var n []int
	for _, x := range s {
		var i int
		fmt.Sscan(x, &i)
		n = append(n, i)
	}
	slices.Sort(n)
	b, _ := json.Marshal(n)
	return string(b)
}

func TestIndexRanges(t *testing.T) {
	tests := []struct {
		in   []uint64
		max  int
		want []string
	}{
		{nil, 100, nil},
		{[]uint64{7}, 100, []string{"7"}},
		{[]uint64{1, 2, 3, 5, 7, 8}, 100, []string{"1-3 5 7-8"}},
		{[]uint64{1, 3, 5, 7}, 3, []string{"1 3", "5 7"}},
	}
	for _, tt := range tests {
		got := indexRanges(tt.in, tt.max)
		if mustJSON(got) != mustJSON(tt.want) {
			t.Errorf("indexRanges(%v, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

// TestInclusionProofAtTreeSize checks proofs for an explicit tree size: at
// a checkpointed size the answer carries that checkpoint and the proof
// verifies against its root; at a size with no checkpoint it carries none
// and the proof verifies against the tree's root at that size.
func TestInclusionProofAtTreeSize(t *testing.T) {
	w := newWorld(t, backends()[0], worldOptions{})
	cp, err := w.log.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size < 3 {
		t.Fatalf("the fixture's checkpoint covers %d entries", cp.Size)
	}
	for _, size := range []uint64{cp.Size, cp.Size - 1} {
		index := size / 2
		var p api.InclusionProof
		w.get("auditor", fmt.Sprintf("/v1/proofs/inclusion?index=%d&tree_size=%d", index, size), &p)
		root, err := ledger.RootAt(t.Context(), w.store, size)
		if err != nil {
			t.Fatal(err)
		}
		if size == cp.Size {
			got, err := ledger.OpenCheckpoint([]byte(p.Checkpoint), w.vkey)
			if err != nil || got.Size != size {
				t.Fatalf("proof at the checkpointed size %d carries checkpoint %q (%v)", size, p.Checkpoint, err)
			}
			root = got.Root
		} else if p.Checkpoint != "" {
			t.Errorf("proof at size %d, never checkpointed, carries a checkpoint", size)
		}
		recs, err := w.store.RecordsAt(t.Context(), []uint64{index})
		if err != nil || len(recs) != 1 {
			t.Fatalf("entry %d: %d records, %v", index, len(recs), err)
		}
		hashes := make([][]byte, len(p.Hashes))
		for i, h := range p.Hashes {
			if hashes[i], err = base64.StdEncoding.DecodeString(h); err != nil {
				t.Fatal(err)
			}
		}
		if p.TreeSize != size || ledger.VerifyInclusion(recs[0].Leaf, index, size, root[:], hashes) != nil {
			t.Errorf("proof of entry %d at tree size %d (answered %d) does not verify", index, size, p.TreeSize)
		}
	}
}

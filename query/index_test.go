package query

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// indexed checkpoints the world's ledger and indexes it, as the signer
// loop does after each interval.
func (w *world) indexed() index.Note {
	w.t.Helper()
	w.checkpoint()
	note, err := index.NewIndexer(w.store.(index.Store), w.signer).Update(w.t.Context())
	if err != nil {
		w.t.Fatal(err)
	}
	return note
}

func TestIndexLookup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		if r := w.do("auditor", http.MethodGet, "/v1/index?key=credential:x", nil); r.status != http.StatusNotFound {
			t.Fatalf("before any index note: status %d, want 404", r.status)
		}
		if r := w.do("auditor", http.MethodGet, "/v1/index/note", nil); r.status != http.StatusNotFound {
			t.Fatalf("index note before any: status %d, want 404", r.status)
		}
		note := w.indexed()
		if r := w.do("auditor", http.MethodGet, "/v1/index/note", nil); r.status != http.StatusOK || string(r.body) != string(note.Note) {
			t.Fatalf("GET /v1/index/note = %d %q, want the latest note", r.status, r.body)
		}
		rb := index.NewRebuild()
		recs, err := w.store.Records(t.Context(), 0, note.Size)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if err := rb.AddLeaf(rec.Leaf); err != nil {
				t.Fatal(err)
			}
		}
		if len(rb.Keys()) == 0 {
			t.Fatal("the fixture carries no index key")
		}
		for _, label := range rb.Keys() {
			k := rb.Key(label)
			var p index.Proof
			target := "/v1/index?key=" + url.QueryEscape(k.Key.String())
			if r := w.get("auditor", target, &p); r.status != http.StatusOK {
				t.Fatalf("GET %s = %d %s", target, r.status, r.body)
			}
			v, err := p.Verify(w.vkey, k.Key, index.Known{})
			if err != nil {
				t.Fatalf("%s: Verify: %v", k.Key, err)
			}
			if v.List.Count != uint64(len(k.Indices)) {
				t.Fatalf("%s: %d indices, the leaves give %d", k.Key, v.List.Count, len(k.Indices))
			}
			// The delta from the first element on.
			var d index.Proof
			if r := w.get("auditor", target+"&since=1", &d); r.status != http.StatusOK {
				t.Fatalf("GET %s&since=1 = %d", target, r.status)
			}
			first := index.NewList()
			first.Append(k.Indices[0])
			if _, err := d.Verify(w.vkey, k.Key, index.Known{Count: 1, Root: first.Root()}); err != nil {
				t.Fatalf("%s since 1: Verify: %v", k.Key, err)
			}
		}
		absent := ledger.Ref{Key: ledger.RefAgent, Value: "nobody"}
		var p index.Proof
		if r := w.get("auditor", "/v1/index?key=agent:nobody", &p); r.status != http.StatusOK {
			t.Fatalf("absent key: status %d", r.status)
		}
		if _, err := p.Verify(w.vkey, absent, index.Known{}); err != nil || p.Found || p.Count != 0 {
			t.Fatalf("absent key: found %v count %d, Verify: %v", p.Found, p.Count, err)
		}
		for _, bad := range []string{"", "?key=", "?key=kind:span", "?key=nocolon", "?key=agent:", "?key=agent:nobody&since=1", "?key=agent:x&since=-1"} {
			if r := w.do("auditor", http.MethodGet, "/v1/index"+bad, nil); r.status != http.StatusBadRequest {
				t.Errorf("GET /v1/index%s = %d, want 400", bad, r.status)
			}
		}
	})
}

// TestIndexNoteVersion1 serves a database whose latest index note is of
// version 1 as one with no note, until the Indexer builds version 2
// beside it at the next checkpoint.
func TestIndexNoteVersion1(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		cp := w.checkpoint()
		mapRoot := index.EmptyMapRoot()
		msg, err := w.signer.SignNote(fmt.Sprintf("%s\n%s\n%d\n%s\n%s\n", index.NoteHeaderV1, w.signer.Origin(), cp.Size,
			base64.StdEncoding.EncodeToString(cp.Root[:]), base64.StdEncoding.EncodeToString(mapRoot[:])))
		if err != nil {
			t.Fatal(err)
		}
		v1 := &index.Batch{Note: index.Note{Size: cp.Size, TreeRoot: cp.Root, MapRoot: mapRoot, Note: msg}}
		if err := w.store.(index.Store).UpdateIndex(t.Context(), func(index.Tx, uint64, bool) (*index.Batch, error) { return v1, nil }); err != nil {
			t.Fatal(err)
		}
		if r := w.do("auditor", http.MethodGet, "/v1/index/note", nil); r.status != http.StatusNotFound {
			t.Fatalf("GET /v1/index/note over a version-1 note: status %d, want 404", r.status)
		}
		if _, err := w.log.Append(t.Context(), []ledger.Entry{{Kind: ledger.KindSpan, TraceID: fmt.Sprintf("%032x", 99), SpanID: fmt.Sprintf("%016x", 1),
			Name: "after the upgrade", Start: time.Unix(1_700_000_000, 0).UTC()}}); err != nil {
			t.Fatal(err)
		}
		note := w.indexed()
		if r := w.do("auditor", http.MethodGet, "/v1/index/note", nil); r.status != http.StatusOK || string(r.body) != string(note.Note) {
			t.Fatalf("GET /v1/index/note after the upgrade = %d %q, want the version-2 note", r.status, r.body)
		}
	})
}

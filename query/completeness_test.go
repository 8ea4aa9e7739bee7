package query

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// answerWithCompleteness is the part of any answer that carries a block.
type answerWithCompleteness struct {
	Completeness *api.Completeness `json:"completeness"`
}

// TestCompletenessBlocks checks that each lookup answer carries a block
// proving every key it used, each verified as /v1/index's answers are, for
// the checkpoint the block names; that since asks for the delta only; and
// that entries newer than the index are named as not covered.
func TestCompletenessBlocks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		var before answerWithCompleteness
		if r := w.get("responder", "/v1/credentials/"+credC1, &before); r.status != http.StatusOK || before.Completeness != nil {
			t.Fatalf("before any index note: status %d, completeness %+v; want 200 without a block", r.status, before.Completeness)
		}
		note := w.indexed()
		tests := []struct {
			name, method, target string
			body                 any
			want                 []string
		}{
			{"credential", http.MethodGet, "/v1/credentials/" + credC1, nil,
				[]string{"credential:" + credC1, "credential_parent:" + credC1, "fingerprint:" + fingerprint(tokenC1)}},
			{"blast radius", http.MethodGet, "/v1/credentials/" + credC1 + "/blast-radius", nil,
				[]string{"credential_parent:" + credC1, "credential:" + credC1}},
			{"lookup", http.MethodPost, "/v1/credentials/lookup?content=false", api.LookupRequest{Token: tokenC1},
				[]string{"fingerprint:" + fingerprint(tokenC1), "credential:" + credC1}},
			{"lookup of an unknown token", http.MethodPost, "/v1/credentials/lookup", api.LookupRequest{Token: "never-seen"},
				[]string{"fingerprint:" + fingerprint("never-seen")}},
			{"run", http.MethodGet, "/v1/runs/" + traceA, nil, []string{"trace:" + traceA}},
			{"agent runs", http.MethodGet, "/v1/agents/" + agentTriage + "/runs", nil, []string{"agent:" + agentTriage}},
		}
		for _, tt := range tests {
			r := w.do("responder", tt.method, tt.target, tt.body)
			if r.status != http.StatusOK {
				t.Fatalf("%s: status %d %s", tt.name, r.status, r.body)
			}
			var a answerWithCompleteness
			r.json(t, &a)
			c := a.Completeness
			if c == nil {
				t.Fatalf("%s: no completeness block", tt.name)
			}
			if c.Size != note.Size {
				t.Errorf("%s: complete to %d, the index note is of size %d", tt.name, c.Size, note.Size)
			}
			if _, err := ledger.OpenCheckpoint([]byte(c.Checkpoint), w.vkey); err != nil {
				t.Errorf("%s: checkpoint: %v", tt.name, err)
			}
			var keys []string
			for _, p := range c.Keys {
				keys = append(keys, p.Key)
				k, v, err := w.verifyKey(t, &p)
				if err != nil {
					t.Errorf("%s: %s: %v", tt.name, p.Key, err)
					continue
				}
				if v.Note.Size != c.Size {
					t.Errorf("%s: %s proved at size %d, the block says %d", tt.name, p.Key, v.Note.Size, c.Size)
				}
				want, err := w.store.Find(t.Context(), k, 0, 1000)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(v.Indices, slices.DeleteFunc(want, func(i uint64) bool { return i >= c.Size })) {
					t.Errorf("%s: %s lists %v, the store %v", tt.name, p.Key, v.Indices, want)
				}
			}
			for _, k := range tt.want {
				if !slices.Contains(keys, k) {
					t.Errorf("%s: the block proves %v, not %s", tt.name, keys, k)
				}
			}
			if len(c.Unindexed) != 0 {
				t.Errorf("%s: unindexed %v in a fully indexed ledger", tt.name, c.Unindexed)
			}
		}

		// The delta: the client knows the credential's first entry.
		key := ledger.Ref{Key: ledger.RefCredential, Value: credC1}
		all, err := w.store.Find(t.Context(), key, 0, 1000)
		if err != nil || len(all) < 2 {
			t.Fatalf("credential %s: %v entries, %v", credC1, all, err)
		}
		first := index.NewList()
		first.Append(all[0])
		var d answerWithCompleteness
		target := "/v1/credentials/" + credC1 + "?since=" + url.QueryEscape("1:"+key.String())
		if r := w.get("responder", target, &d); r.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", target, r.status, r.body)
		}
		i := slices.IndexFunc(d.Completeness.Keys, func(p index.Proof) bool { return p.Key == key.String() })
		if i < 0 {
			t.Fatalf("the delta answer has no block for %s", key)
		}
		p := d.Completeness.Keys[i]
		if p.Since != 1 || len(p.Indices) != len(all)-1 {
			t.Errorf("delta since 1: since %d, %d indices; want 1 and %d", p.Since, len(p.Indices), len(all)-1)
		}
		if _, err := p.Verify(w.vkey, key, index.Known{Count: 1, Root: first.Root()}); err != nil {
			t.Errorf("delta since 1: %v", err)
		}
		for _, bad := range []string{"1", "x:credential:a", "1:kind:span", "1:credential:", "99:credential:" + credC1} {
			target := "/v1/credentials/" + credC1 + "?since=" + url.QueryEscape(bad)
			if r := w.do("responder", http.MethodGet, target, nil); r.status != http.StatusBadRequest {
				t.Errorf("since=%s: status %d, want 400", bad, r.status)
			}
		}

		// An entry appended after the index note is named as not covered.
		e := ledger.Entry{Kind: ledger.KindAPICall, TraceID: traceA, SpanID: span(traceA, 900), Name: "GET", Start: epoch,
			Attrs: []ledger.Attr{{Key: "credential.id", Value: credC1}}}
		idx, err := w.log.Append(t.Context(), []ledger.Entry{e})
		if err != nil {
			t.Fatal(err)
		}
		var late answerWithCompleteness
		w.get("responder", "/v1/credentials/"+credC1, &late)
		if late.Completeness == nil || late.Completeness.Size != note.Size || !slices.Contains(late.Completeness.Unindexed, idx[0].Index) {
			t.Fatalf("after an append beyond the index: block %+v, want size %d and unindexed %d", late.Completeness, note.Size, idx[0].Index)
		}
		note2 := w.indexed()
		w.get("responder", "/v1/credentials/"+credC1, &late)
		if late.Completeness.Size != note2.Size || len(late.Completeness.Unindexed) != 0 {
			t.Fatalf("after indexing %d: size %d, unindexed %v", note2.Size, late.Completeness.Size, late.Completeness.Unindexed)
		}
	})
}

// TestCompletenessNamesLostEntries deletes a reference of a credential
// behind the triggers, as an attacker with the database would: the
// credential view then misses that entry, and its block names it, found
// again in the leaves, so that with the answer's indices it gives the
// signed count and list root. An intact ledger's blocks name none.
func TestCompletenessNamesLostEntries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		w.indexed()
		key := ledger.Ref{Key: ledger.RefCredential, Value: credC1}
		all, err := w.store.Find(t.Context(), key, 0, 1000)
		if err != nil || len(all) < 2 {
			t.Fatalf("credential %s: %v entries, %v", credC1, all, err)
		}
		var clean answerWithCompleteness
		w.get("responder", "/v1/credentials/"+credC1+"?content=false", &clean)
		if clean.Completeness == nil || len(clean.Completeness.Lost) != 0 {
			t.Fatalf("intact ledger: block %+v, want one naming no lost entries", clean.Completeness)
		}
		hidden := all[len(all)/2]
		del := fmt.Sprintf(`DELETE FROM entry_refs WHERE key = 'credential' AND value = '%s' AND idx = %d`, credC1, hidden)
		if b.name == "sqlite" {
			w.tamper(t, `DROP TRIGGER entry_refs_no_delete`, del)
		} else {
			w.tamper(t, del)
		}
		var got answerWithCompleteness
		if r := w.get("responder", "/v1/credentials/"+credC1+"?content=false", &got); r.status != http.StatusOK {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		c := got.Completeness
		i := slices.IndexFunc(c.Keys, func(p index.Proof) bool { return p.Key == key.String() })
		if i < 0 {
			t.Fatalf("no proof for %s", key)
		}
		p := c.Keys[i]
		want := []api.LostEntries{{Key: key.String(), Indices: []uint64{hidden}}}
		if !reflect.DeepEqual(c.Lost, want) {
			t.Fatalf("lost %+v, want %+v", c.Lost, want)
		}
		merged := slices.Sorted(slices.Values(append(slices.Clone(p.Indices), c.Lost[0].Indices...)))
		l := index.NewList()
		l.Append(merged...)
		if root := l.Root(); l.Size() != p.Count || !bytes.Equal(root[:], p.ListRoot) {
			t.Errorf("the answer's %d indices with the lost ones: %d entries, root %x; the signed list %d, %x", len(p.Indices), l.Size(), root[:6], p.Count, p.ListRoot[:6])
		}
	})
}

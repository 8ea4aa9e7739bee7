package query

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/agentledger/agentledger/api"
)

// countingObserver counts the findings the server reports.
type countingObserver struct {
	mu      sync.Mutex
	failing map[string]int // "<entry>/<content>" → times found
}

func (o *countingObserver) ContentFailsCommitment(entry uint64, name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failing[fmt.Sprintf("%d/%s", entry, name)]++
}

func (o *countingObserver) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failing[key]
}

// tamperContent overwrites a content row in the database, as an attacker
// with the database would, past the append-only triggers.
func (w *world) tamperContent(t *testing.T, backend string, index uint64, name, data string) {
	t.Helper()
	hex := fmt.Sprintf("%x", data)
	switch backend {
	case "postgres":
		w.tamper(t, fmt.Sprintf(`UPDATE content SET data = decode('%s', 'hex') WHERE idx = %d AND name = '%s'`, hex, index, name))
	case "sqlite":
		w.tamper(t, `DROP TRIGGER content_no_update`,
			fmt.Sprintf(`UPDATE content SET data = X'%s' WHERE idx = %d AND name = '%s'`, hex, index, name))
	default:
		t.Fatalf("no tampering for backend %s", backend)
	}
}

// contentOf returns the content named name of the entry at index wherever
// it appears in a JSON answer.
func contentOf(v any, index uint64, name string) []map[string]any {
	var out []map[string]any
	switch v := v.(type) {
	case map[string]any:
		if i, ok := v["index"].(float64); ok && uint64(i) == index {
			cs, _ := v["content"].([]any)
			for _, c := range cs {
				if c, ok := c.(map[string]any); ok && c["name"] == name {
					out = append(out, c)
				}
			}
		}
		for _, x := range v {
			out = append(out, contentOf(x, index, name)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, contentOf(x, index, name)...)
		}
	}
	return out
}

// TestContentFailsCommitment changes one piece of stored content: the
// answers that hold its entry are served all the same, with that content
// marked and withheld, a finding naming it, and the observer told.
func TestContentFailsCommitment(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		obs := &countingObserver{failing: make(map[string]int)}
		cfg := w.srv.cfg
		cfg.Observer = obs
		srv, err := NewServer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w.srv = srv
		bad, good := w.idx["b.u1"], w.idx["b.u3"]
		const tampered = "tampered reasoning"
		w.tamperContent(t, b.name, bad, "reasoning", tampered)

		for _, target := range []string{
			"/v1/credentials/" + credC1 + "?content=true",
			"/v1/credentials/" + credC1 + "?content=false",
			"/v1/runs/" + traceB + "?content=true",
			"/v1/runs/" + traceB + "?content=false",
			"/v1/entries/" + fmt.Sprint(bad),
			"/v1/search?agent=" + agentRogue,
		} {
			t.Run(strings.TrimPrefix(target, "/v1/"), func(t *testing.T) {
				before := obs.count(fmt.Sprintf("%d/reasoning", bad))
				r := w.do("responder", http.MethodGet, target, nil)
				if r.status != http.StatusOK {
					t.Fatalf("GET %s = %d %s, want 200", target, r.status, r.body)
				}
				if strings.Contains(string(r.body), tampered) {
					t.Errorf("GET %s serves the tampered content", target)
				}
				var v map[string]any
				r.json(t, &v)
				found := contentOf(v, bad, "reasoning")
				if len(found) == 0 {
					t.Fatalf("GET %s: no entry %d with content \"reasoning\"", target, bad)
				}
				for _, c := range found {
					if c["fails_commitment"] != true || c["erased"] != false || c["data"] != nil {
						t.Errorf("GET %s: entry %d content %v, want it marked as failing its commitment, without data", target, bad, c)
					}
				}
				if strings.Contains(target, "content=true") {
					for _, c := range contentOf(v, good, "reasoning") {
						if c["data"] == nil || c["fails_commitment"] != nil {
							t.Errorf("GET %s: entry %d content %v, want its data", target, good, c)
						}
					}
				}
				var fs struct{ Findings []api.Finding }
				r.json(t, &fs)
				want := api.Finding{Code: api.FindingContentFailsCommitment, Entry: bad, Content: "reasoning"}
				if !slices.ContainsFunc(fs.Findings, func(f api.Finding) bool {
					return f.Code == want.Code && f.Entry == want.Entry && f.Content == want.Content && f.Message != ""
				}) {
					t.Errorf("GET %s: findings %+v, want %+v", target, fs.Findings, want)
				}
				if obs.count(fmt.Sprintf("%d/reasoning", bad)) != before+1 {
					t.Errorf("GET %s: the observer was told %d times, want once", target, obs.count(fmt.Sprintf("%d/reasoning", bad))-before)
				}
			})
		}

		// The failing content can be erased like any other.
		r := w.do("admin", http.MethodPost, "/v1/erasures", api.ErasureRequest{Indices: []uint64{bad}, ContentNames: []string{"reasoning"}, Reason: "tampered"})
		if r.status != http.StatusOK {
			t.Fatalf("erase the failing content = %d %s", r.status, r.body)
		}
		r = w.get("responder", "/v1/runs/"+traceB, nil)
		var v map[string]any
		r.json(t, &v)
		for _, c := range contentOf(v, bad, "reasoning") {
			if c["erased"] != true || c["fails_commitment"] != nil {
				t.Errorf("after erasure, entry %d content %v, want erased", bad, c)
			}
		}
	})
}

// TestEntryDedupKey checks that /v1/entries/{index} reports the entry's
// deduplication key, as FORMAT.md specifies it.
func TestEntryDedupKey(t *testing.T) {
	w := newWorld(t, backends()[0], worldOptions{})
	for _, f := range runA() {
		if f.name != "a.s1" {
			continue
		}
		var e api.Entry
		w.get("auditor", fmt.Sprintf("/v1/entries/%d", w.idx[f.name]), &e)
		if want := f.entry.DedupKey(); e.DedupKey != fmt.Sprintf("%x", want) {
			t.Errorf("dedup_key = %q, want %x", e.DedupKey, want)
		}
		return
	}
	t.Fatal("no fixture a.s1")
}

package query

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/agentledger/agentledger/api"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenCase is one request whose answer is checked against
// testdata/golden/<name>.json.
type goldenCase struct {
	name   string
	caller string
	method string
	target string
	body   any
}

func goldenCases(w *world) []goldenCase {
	get := func(name, caller, target string) goldenCase {
		return goldenCase{name: name, caller: caller, method: http.MethodGet, target: target}
	}
	idx := func(name string) string { return strconv.FormatUint(w.idx[name], 10) }
	return []goldenCase{
		get("credential_c1", "responder", "/v1/credentials/"+credC1),
		get("credential_c2", "responder", "/v1/credentials/"+credC2),
		get("credential_c4", "responder", "/v1/credentials/"+credC4),
		get("credential_c1_page1", "responder", "/v1/credentials/"+credC1+"?limit=1&content=false"),
		get("credential_c1_page2", "responder", "/v1/credentials/"+credC1+"?limit=1&content=false&cursor="+encodeCursor(w.idx["a.k2"])),
		get("credential_c1_blast_radius", "responder", "/v1/credentials/"+credC1+"/blast-radius"),
		{name: "lookup_c1_raw_token", caller: "responder", method: http.MethodPost, target: "/v1/credentials/lookup?content=false", body: api.LookupRequest{Token: tokenC1}},
		{name: "lookup_c4_jwt", caller: "responder", method: http.MethodPost, target: "/v1/credentials/lookup?content=false", body: api.LookupRequest{Token: tokenC4}},
		{name: "lookup_unknown", caller: "responder", method: http.MethodPost, target: "/v1/credentials/lookup", body: api.LookupRequest{Token: "never-seen"}},
		get("run_a", "responder", "/v1/runs/"+traceA),
		get("run_b_content_false", "responder", "/v1/runs/"+traceB+"?content=false"),
		get("agent_triage_runs", "responder", "/v1/agents/"+agentTriage+"/runs"),
		get("agent_rogue_runs", "responder", "/v1/agents/"+agentRogue+"/runs"),
		get("search_credential_c1", "responder", "/v1/search?credential="+credC1),
		get("search_github_api_calls", "responder", "/v1/search?target=api.github.com&kind=api_call"),
		get("search_time_window", "responder", "/v1/search?from="+url.QueryEscape("2026-03-01T10:10:00Z")+"&to="+url.QueryEscape("2026-03-01T10:10:05Z")),
		get("search_agent_paged", "responder", "/v1/search?agent="+agentTriage+"&kind=llm&limit=2"),
		get("entry_erased_reasoning_responder", "responder", "/v1/entries/"+idx("a.s2")),
		get("entry_erased_reasoning_auditor", "auditor", "/v1/entries/"+idx("a.s2")),
	}
}

// TestGolden checks the answers of the messy world against the golden
// files, on every backend: both stores must give the same answers.
func TestGolden(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		w.indexed()
		for _, tc := range goldenCases(w) {
			r := w.do(tc.caller, tc.method, tc.target, tc.body)
			if r.status != http.StatusOK {
				t.Errorf("%s %s = %d, want 200\n%s", tc.method, tc.target, r.status, r.body)
				continue
			}
			got := normalise(t, r.body)
			path := filepath.Join("testdata", "golden", tc.name+".json")
			if *update {
				if b.name == "sqlite" {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s %s: answer differs from %s (run go test -run TestGolden -update and review the diff)\n%s",
					tc.method, tc.target, path, diffLines(string(want), string(got)))
			}
		}
	})
}

// normalise re-indents an answer and replaces the fields of access and
// erasure entries that differ from run to run (their random event keys,
// times, request IDs and so leaf hashes), and the signed notes and map
// proofs of completeness blocks (each world has its own key, and the map
// holds the keys of those entries).
func normalise(t *testing.T, body []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	v = scrub(v)
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func scrub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if k, _ := x["kind"].(string); k == "access" || k == "erasure" {
			for _, f := range []string{"leaf_hash", "event_key", "start", "leaf"} {
				if _, ok := x[f]; ok {
					x[f] = "<volatile>"
				}
			}
			if attrs, ok := x["attributes"].(map[string]any); ok {
				if _, ok := attrs["access.request_id"]; ok {
					attrs["access.request_id"] = "<volatile>"
				}
			}
		}
		if c, ok := x["completeness"].(map[string]any); ok {
			c["checkpoint"] = "<volatile>"
			if keys, ok := c["keys"].([]any); ok {
				for _, k := range keys {
					if p, ok := k.(map[string]any); ok {
						p["note"], p["map_proof"] = "<volatile>", "<volatile>"
					}
				}
			}
		}
		for k, e := range x {
			x[k] = scrub(e)
		}
	case []any:
		for i, e := range x {
			x[i] = scrub(e)
		}
	}
	return v
}

// diffLines returns the first lines where want and got differ.
func diffLines(want, got string) string {
	wl, gl := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	var b bytes.Buffer
	shown := 0
	for i := 0; i < max(len(wl), len(gl)) && shown < 20; i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + string(w) + "\n  got:  " + string(g) + "\n")
			shown++
		}
	}
	return b.String()
}

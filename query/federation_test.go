package query

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/verify"
)

// TestProvedCredential checks that the proved view of a credential, and of
// a credential the log does not know, verifies offline with the log's key
// alone, complete; and that a changed leaf in it does not.
func TestProvedCredential(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		w.indexed()
		trust := verify.Trust{testOrigin: w.vkey}
		for _, tt := range []struct {
			id      string
			entries bool
		}{{credC1, true}, {"never-used", false}} {
			r := w.get("responder", "/v1/credentials/"+tt.id+"/proved", nil)
			rep, err := verify.VerifyProvedCredential(t.Context(), tt.id, []json.RawMessage{r.body}, trust)
			if err != nil {
				t.Fatalf("verify the proved view of %s: %v", tt.id, err)
			}
			if got := len(rep.Entries) > 0; got != tt.entries || !rep.Complete.Complete() {
				t.Errorf("proved view of %s: %d entries, complete %v; want entries %v, complete", tt.id, len(rep.Entries), rep.Complete.Complete(), tt.entries)
			}
			if strings.Contains(string(r.body), `"data"`) {
				t.Errorf("proved view of %s returns content", tt.id)
			}
			if _, err := verify.VerifyProvedCredential(t.Context(), tt.id, []json.RawMessage{r.body}, verify.Trust{"other.example/log": w.vkey}); err == nil {
				t.Errorf("verify the proved view of %s with no key for its origin = nil, want an error", tt.id)
			}
		}
		r := w.get("responder", "/v1/credentials/"+credC1+"/proved", nil)
		if _, err := verify.VerifyProvedCredential(t.Context(), "never-used", []json.RawMessage{r.body}, trust); err == nil || !strings.Contains(err.Error(), "is a view of credential") {
			t.Errorf("verify the proved view of %s as that of another credential = %v, want an error", credC1, err)
		}
		var p api.ProvedCredentialView
		r.json(t, &p)
		p.Leaves[0].Leaf = p.Leaves[1].Leaf
		changed, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verify.VerifyProvedCredential(t.Context(), credC1, []json.RawMessage{changed}, trust); err == nil || !strings.Contains(err.Error(), "is not in the tree of checkpoint") {
			t.Errorf("verify a proved view with a leaf swapped = %v, want an inclusion failure", err)
		}
	})
}

// TestFederationShards checks that a federated view lists every shard,
// the local one first, with each peer's answer as sent, and each peer that
// fails named with why: no answer in time, an error status, a redirect, an
// answer too long or not a proved view.
func TestFederationShards(t *testing.T) {
	b := backends()[0]
	peer := newWorld(t, b, worldOptions{})
	good := httptest.NewServer(peer.srv.Handler())
	defer good.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer slow.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"code":"unavailable","message":"the ledger's database is unavailable"}}`))
	}))
	defer down.Close()
	redirect := httptest.NewServer(http.RedirectHandler(good.URL, http.StatusFound))
	defer redirect.Close()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"origin":"big.example/log","pad":"` + strings.Repeat("x", 4096) + `"}`))
	}))
	defer big.Close()
	junk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`[1,2,3]`)) }))
	defer junk.Close()
	tok := peer.tokens["responder"]
	w := newWorld(t, b, worldOptions{federation: &Federation{
		Timeout:        5 * time.Second,
		MaxAnswerBytes: 1 << 20,
		Peers: []Peer{
			{Name: "good", URL: good.URL, Token: tok}, {Name: "slow", URL: slow.URL, Token: tok}, {Name: "down", URL: down.URL, Token: tok},
			{Name: "redirect", URL: redirect.URL, Token: tok}, {Name: "junk", URL: junk.URL, Token: tok},
			{Name: "wrong-token", URL: good.URL, Token: "not-a-token"},
		},
	}})
	var v api.FederatedCredentialView
	w.get("responder", "/v1/federation/credentials/"+credC1, &v)
	want := []struct{ name, err string }{
		{testOrigin, ""}, {"good", ""}, {"slow", "no answer within 5s"}, {"down", "HTTP 503 unavailable: the ledger's database is unavailable"},
		{"redirect", "HTTP 302"}, {"junk", "the answer is not a proved credential view"}, {"wrong-token", "HTTP 401 unauthorized"},
	}
	if len(v.Shards) != len(want) {
		t.Fatalf("%d shards, want %d: %+v", len(v.Shards), len(want), v.Shards)
	}
	for i, sh := range v.Shards {
		if sh.Name != want[i].name || sh.Answered != (want[i].err == "") || !strings.HasPrefix(sh.Error, want[i].err) {
			t.Errorf("shard %d = %s answered %v error %q; want %s with error %q", i, sh.Name, sh.Answered, sh.Error, want[i].name, want[i].err)
		}
		if sh.Answered {
			var p api.ProvedCredentialView
			if err := json.Unmarshal(sh.Answer, &p); err != nil || p.Origin != testOrigin || len(p.View.Usages) == 0 || len(p.Leaves) == 0 {
				t.Errorf("shard %s: answer %v, origin %q, %d usages; want a proved view with usages", sh.Name, err, p.Origin, len(p.View.Usages))
			}
		}
	}

	// Too long an answer is a failed shard.
	w = newWorld(t, b, worldOptions{noFixture: true, federation: &Federation{MaxAnswerBytes: 1024, Peers: []Peer{{Name: "big", URL: big.URL, Token: tok}}}})
	w.get("responder", "/v1/federation/credentials/"+credC1, &v)
	if len(v.Shards) != 2 || v.Shards[1].Answered || v.Shards[1].Error != "answer longer than 1024 bytes" {
		t.Errorf("with a peer answering too long: %+v", v.Shards)
	}

	for _, tt := range []struct{ target, err string }{
		{"/v1/federation/credentials/" + credC1 + "?shard=nope", "not one this server federates"},
		{"/v1/federation/credentials/" + credC1 + "?cursor=" + encodeCursor(5), "give shard too"},
		{"/v1/federation/credentials/" + credC1 + "?since=1:credential:x", "since is not taken"},
	} {
		if r := w.do("responder", http.MethodGet, tt.target, nil); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), tt.err) {
			t.Errorf("GET %s = %d %s, want 400 %q", tt.target, r.status, r.body, tt.err)
		}
	}
	if r := w.do("auditor", http.MethodGet, "/v1/federation/credentials/"+credC1, nil); r.status != http.StatusForbidden {
		t.Errorf("federated view as auditor = %d, want 403", r.status)
	}
}

// TestFederationValidate checks the federation's configuration.
func TestFederationValidate(t *testing.T) {
	ok := Peer{Name: "b", URL: "https://shard-b.example:8080", Token: "t"}
	for _, tt := range []struct {
		name  string
		peers []Peer
		err   string
	}{
		{"valid", []Peer{ok}, ""},
		{"twice", []Peer{ok, ok}, `peer name "b" given twice`},
		{"bad name", []Peer{{Name: "a b", URL: ok.URL, Token: "t"}}, "want a short name"},
		{"scheme", []Peer{{Name: "b", URL: "ftp://x", Token: "t"}}, "want http(s)://"},
		{"user info", []Peer{{Name: "b", URL: "https://u:p@x", Token: "t"}}, "no user information"},
		{"no token", []Peer{{Name: "b", URL: ok.URL}}, "no token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Federation{Peers: tt.peers}).Validate()
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Validate() = %v, want %q", err, tt.err)
			}
		})
	}
}

// TestFederatedPages checks that verify follows each shard's pages of a
// federated view (?shard=&cursor=) and proves the entries of every page.
func TestFederatedPages(t *testing.T) {
	w := newWorld(t, backends()[0], worldOptions{noFixture: true})
	const cred, runs = "cred-paged", 2*MaxUsageRuns + 5
	entries := make([]ledger.Entry, runs)
	for i := range entries {
		trace := fmt.Sprintf("%032x", i+1)
		entries[i] = ledger.Entry{Kind: ledger.KindAPICall, TraceID: trace, SpanID: span(trace, 1), Name: "GET", Start: epoch.Add(time.Duration(i) * time.Second),
			Attrs: []ledger.Attr{{Key: ledger.AttrCredentialID, Value: cred}, {Key: "http.request.method", Value: "GET"}}}
	}
	if _, err := w.log.Append(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	w.indexed()
	srv := httptest.NewServer(w.srv.Handler())
	defer srv.Close()
	c := &verify.Client{BaseURL: srv.URL, Token: w.tokens["responder"]}
	rep, err := c.VerifyFederatedCredential(t.Context(), cred, verify.FederatedOptions{Trust: verify.Trust{testOrigin: w.vkey}})
	if err != nil {
		t.Fatalf("VerifyFederatedCredential = %v", err)
	}
	if len(rep.Shards) != 1 || rep.Shards[0].Pages != 3 || len(rep.Shards[0].Entries) != runs || !rep.Shards[0].Complete.Complete() {
		t.Errorf("report = %+v, want one shard of 3 pages and %d entries, complete", rep.Shards, runs)
	}
}

package query

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// TestLookupNeverLogsToken looks up raw tokens, well-formed and in
// malformed bodies, and checks that the token appears in no log line, no
// answer and no ledger entry or content.
func TestLookupNeverLogsToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		secrets := []string{tokenC1, tokenC4, "sk-live-never-seen-0123456789abcdef"}
		var answers []string
		for _, tok := range secrets {
			for _, body := range []string{
				mustJSON(api.LookupRequest{Token: tok}),
				`{"token": "` + tok + `", "unknown": 1}`,
				`{"` + tok + `": 1}`,
				`{"token": "` + tok + `"`,
				`{"token": "` + tok + `"} trailing`,
				`{"token": ["` + tok + `"]}`,
			} {
				for _, caller := range []string{"responder", "auditor", "none"} {
					r := w.do(caller, http.MethodPost, "/v1/credentials/lookup", body)
					if r.status >= 500 {
						t.Errorf("lookup as %s = %d\n%s", caller, r.status, r.body)
					}
					answers = append(answers, string(r.body))
				}
			}
		}
		// Panics and internal errors must not leak it either: a token whose
		// lookup fails in the store.
		logs := w.logs.String()
		if !strings.Contains(logs, "/v1/credentials/lookup") {
			t.Fatalf("the log has no line for the lookups:\n%s", logs)
		}
		recs, err := w.store.Records(t.Context(), 0, w.head().Size)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range secrets {
			if strings.Contains(logs, tok) {
				t.Errorf("the server's log holds the token %q", tok)
			}
			for _, a := range answers {
				if strings.Contains(a, tok) {
					t.Errorf("an answer holds the token %q: %s", tok, a)
				}
			}
			for _, rec := range recs {
				if strings.Contains(string(rec.Leaf), tok) {
					t.Errorf("entry %d's leaf holds the token", rec.Index)
				}
				for _, c := range rec.Content {
					if strings.Contains(string(c.Data), tok) {
						t.Errorf("entry %d's content %s holds the token", rec.Index, c.Name)
					}
				}
			}
		}
	})
}

// TestErasureAPI erases a credential's content through the API and checks
// the erasure entry, the erased content and that proofs still verify.
func TestErasureAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		r := w.do("admin", http.MethodPost, "/v1/erasures", api.ErasureRequest{TraceID: traceB, ContentNames: []string{"reasoning"}, Reason: "incident 7: attacker prompt"})
		if r.status != http.StatusOK {
			t.Fatalf("erase = %d %s", r.status, r.body)
		}
		var res api.ErasureResult
		r.json(t, &res)
		var erased []uint64
		for _, e := range res.Erased {
			erased = append(erased, e.Index)
			if mustJSON(e.Names) != `["reasoning"]` {
				t.Errorf("erased %d names %v, want [reasoning]", e.Index, e.Names)
			}
		}
		if want := mustJSON([]uint64{w.idx["b.u3"], w.idx["b.u1"]}); mustJSON(erased) != want && mustJSON([]uint64{w.idx["b.u1"], w.idx["b.u3"]}) != mustJSON(erased) {
			t.Errorf("erased entries %v, want b.u1 and b.u3 %s", erased, want)
		}
		var ee api.Entry
		w.get("auditor", fmt.Sprintf("/v1/entries/%d", res.ErasureIndex), &ee)
		if ee.Kind != "erasure" || ee.Attributes[ledger.AttrErasureActor] != "test-admin" || ee.Attributes[ledger.AttrErasureReason] != "incident 7: attacker prompt" {
			t.Errorf("erasure entry = %+v", ee)
		}
		var e api.Entry
		w.get("responder", fmt.Sprintf("/v1/entries/%d", w.idx["b.u1"]), &e)
		if len(e.Content) != 1 || !e.Content[0].Erased || e.Content[0].Data != nil {
			t.Errorf("b.u1 content after erasure = %+v, want erased", e.Content)
		}
		if r := w.do("admin", http.MethodPost, "/v1/erasures", api.ErasureRequest{TraceID: traceB, ContentNames: []string{"reasoning"}, Reason: "again"}); r.status != http.StatusNotFound {
			t.Errorf("erasing erased content = %d, want 404", r.status)
		}
		w.checkpoint()
		var answer any
		w.get("responder", "/v1/runs/"+traceB, &answer)
		found := make(map[string][]reported)
		collectEntries(answer, found)
		w.checkpoint()
		for _, rs := range found {
			verifyReported(t, w, "run B after erasure", w.vkey, rs)
		}
	})
}

// TestTokensAPI creates, lists, uses and revokes a token through the API.
func TestTokensAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{noFixture: true})
		r := w.do("admin", http.MethodPost, "/v1/tokens", api.NewTokenRequest{Name: "oncall", Role: "responder"})
		if r.status != http.StatusCreated {
			t.Fatalf("create token = %d %s", r.status, r.body)
		}
		var nt api.NewToken
		r.json(t, &nt)
		if !strings.HasPrefix(nt.Token, "alt_") || nt.Name != "oncall" || nt.Role != "responder" || nt.Revoked != nil {
			t.Errorf("created %+v", nt)
		}
		w.tokens["oncall"] = nt.Token
		if r := w.do("oncall", http.MethodGet, "/v1/search", nil); r.status != http.StatusOK {
			t.Errorf("search with the new token = %d", r.status)
		}
		if r := w.do("oncall", http.MethodGet, "/v1/tokens", nil); r.status != http.StatusForbidden {
			t.Errorf("list tokens as responder = %d, want 403", r.status)
		}
		var list api.TokenList
		w.get("admin", "/v1/tokens", &list)
		if strings.Contains(mustJSON(list), nt.Token) || len(list.Tokens) != 5 {
			t.Errorf("token list = %s, want 5 tokens and no secret", mustJSON(list))
		}
		if r := w.do("admin", http.MethodDelete, "/v1/tokens/oncall", nil); r.status != http.StatusOK {
			t.Fatalf("revoke = %d %s", r.status, r.body)
		}
		if r := w.do("oncall", http.MethodGet, "/v1/search", nil); r.status != http.StatusUnauthorized {
			t.Errorf("search with the revoked token = %d, want 401", r.status)
		}
		if strings.Contains(w.logs.String(), nt.Token) {
			t.Errorf("the log holds the new token")
		}
	})
}

// panicReader panics on Find and FindMany, as a bug in a store would.
type panicReader struct{ ledger.Reader }

func (panicReader) Find(context.Context, ledger.Ref, uint64, int) ([]uint64, error) {
	panic("secret detail of the panic")
}

func (panicReader) FindMany(context.Context, []ledger.FindQuery) ([]ledger.Found, error) {
	panic("secret detail of the panic")
}

// failReader fails every read with an error that must not reach the
// caller.
type failReader struct{ ledger.Reader }

func (failReader) RecordsAt(context.Context, []uint64) ([]ledger.Record, error) {
	return nil, errors.New("pq: password authentication failed for user secret-user")
}

func TestInternalErrorsRevealNothing(t *testing.T) {
	b := backends()[0]
	for _, tc := range []struct {
		name   string
		reader func(ledger.Reader) ledger.Reader
		status int
		detail string
	}{
		{"panic", func(r ledger.Reader) ledger.Reader { return panicReader{r} }, http.StatusInternalServerError, "secret detail"},
		{"store error", func(r ledger.Reader) ledger.Reader { return failReader{r} }, http.StatusServiceUnavailable, "secret-user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, b, worldOptions{reader: tc.reader})
			r := w.do("responder", http.MethodGet, "/v1/credentials/"+credC1, nil)
			if r.status != tc.status || strings.Contains(string(r.body), tc.detail) {
				t.Errorf("GET credential = %d %s, want %d without detail", r.status, r.body, tc.status)
			}
			checkEnvelope(t, tc.name, r)
			if !strings.Contains(w.logs.String(), tc.detail) {
				t.Errorf("the log lacks the detail %q", tc.detail)
			}
			if r := w.do("none", http.MethodGet, "/healthz", nil); r.status != http.StatusOK {
				t.Errorf("after the failure, healthz = %d", r.status)
			}
		})
	}
}

func TestHealthAndReady(t *testing.T) {
	b := backends()[0]
	ready := errors.New("database schema version 1, this binary's is 2")
	w := newWorld(t, b, worldOptions{noFixture: true, ready: func() error { return ready }})
	if r := w.do("none", http.MethodGet, "/healthz", nil); r.status != http.StatusOK {
		t.Errorf("healthz = %d", r.status)
	}
	r := w.do("none", http.MethodGet, "/readyz", nil)
	if r.status != http.StatusServiceUnavailable || strings.Contains(string(r.body), "schema") {
		t.Errorf("readyz while not ready = %d %s, want 503 without detail", r.status, r.body)
	}
	ready = nil
	if r := w.do("none", http.MethodGet, "/readyz", nil); r.status != http.StatusOK {
		t.Errorf("readyz = %d", r.status)
	}
	// An empty ledger has no checkpoint until the log signs one.
	if r := w.do("none", http.MethodGet, "/checkpoint", nil); r.status != http.StatusNotFound {
		t.Errorf("checkpoint of an empty ledger = %d, want 404", r.status)
	}
}

func TestUI(t *testing.T) {
	b := backends()[0]
	w := newWorld(t, b, worldOptions{noFixture: true})
	ui := fstest.MapFS{
		"index.html":    {Data: []byte("<!doctype html><title>agentledger</title>")},
		"assets/app.js": {Data: []byte("console.log('ui')")},
	}
	cfg := w.srv.cfg
	cfg.UI = ui
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	tests := []struct {
		method, target string
		status         int
		body, ctype    string
	}{
		{"GET", "/", 200, "<!doctype html>", "text/html"},
		{"GET", "/assets/app.js", 200, "console.log", "text/javascript"},
		{"GET", "/credentials/cred-1", 200, "<!doctype html>", "text/html"},
		{"GET", "/assets/missing.js", 200, "<!doctype html>", "text/html"},
		{"HEAD", "/runs/abc", 200, "", "text/html"},
		{"POST", "/", 404, `"not_found"`, "application/json"},
		{"GET", "/v1/nope", 404, `"not_found"`, "application/json"},
		{"GET", "/tile/0/abc", 401, `"unauthorized"`, "application/json"},
		{"GET", "/v1/search", 401, `"unauthorized"`, "application/json"},
	}
	for _, tt := range tests {
		r := w.do("none", tt.method, tt.target, nil)
		if r.status != tt.status || !strings.Contains(string(r.body), tt.body) || !strings.HasPrefix(r.header.Get("Content-Type"), tt.ctype) {
			t.Errorf("%s %s = %d %q (%s), want %d with %q (%s)", tt.method, tt.target, r.status, r.body, r.header.Get("Content-Type"), tt.status, tt.body, tt.ctype)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	b := backends()[0]
	w := newWorld(t, b, worldOptions{noFixture: true})
	good := w.srv.cfg
	_, otherKey, err := ledger.GenerateKey("other.example/log")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"good", func(*Config) {}, ""},
		{"no reader", func(c *Config) { c.Reader = nil }, "reader is required"},
		{"no log", func(c *Config) { c.Log = nil }, "log is required"},
		{"no tokens", func(c *Config) { c.Tokens = nil }, "token store is required"},
		{"no fingerprint", func(c *Config) { c.Fingerprint = nil }, "fingerprint function is required"},
		{"negative body", func(c *Config) { c.MaxBodyBytes = -1 }, "negative"},
		{"bad key", func(c *Config) { c.VerifierKey = "nonsense" }, "verifier key"},
		{"other log's key", func(c *Config) { c.VerifierKey = otherKey }, "not the log origin"},
		{"bad origin", func(c *Config) { c.Origin = "has space" }, "log name"},
	}
	for _, tt := range tests {
		cfg := good
		tt.change(&cfg)
		err := cfg.Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestJWTID(t *testing.T) {
	tests := []struct {
		token, want string
	}{
		{tokenC4, credC4},
		{jwt(`{"alg":"none"}`, `{"jti":"cred-x"}`), "cred-x"},
		// Not a JWT to ingest's parser, so not to the lookup either: no
		// "alg" in the header, or more than the token.
		{jwt(`{"typ":"JWT"}`, `{"jti":"cred-x"}`), ""},
		{jwt(`{"alg":"none"}`, `{"jti":"cred-x"}`) + " trailing", ""},
		{jwt(`{}`, `{"jti": 42}`), ""},
		{jwt(`{}`, `not json`), ""},
		{"a.b", ""},
		{"a.!!!.c", ""},
		{tokenC1, ""},
	}
	for _, tt := range tests {
		if got := jwtID(tt.token); got != tt.want {
			t.Errorf("jwtID(%.20q…) = %q, want %q", tt.token, got, tt.want)
		}
	}
}

// TestPathEscapes looks up credentials whose IDs hold characters that
// must be escaped in a path: each is unescaped exactly once.
func TestPathEscapes(t *testing.T) {
	w := newWorld(t, backends()[0], worldOptions{noFixture: true})
	ids := []string{"arn:aws:sts::123456789012:assumed-role/ci/deployer", "100%", "with space", "lookup", "ü/ß?#"}
	for i, id := range ids {
		e := ledger.Entry{Kind: ledger.KindCredential, TraceID: traceA, SpanID: span(traceA, 100+i), EventKey: "credential.issue/0",
			Name: "credential.issue", Start: epoch, Attrs: []ledger.Attr{{Key: "credential.id", Value: id}, {Key: "credential.operation", Value: "issue"}}}
		if _, err := w.log.Append(t.Context(), []ledger.Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		var v api.CredentialView
		w.get("responder", "/v1/credentials/"+url.PathEscape(id), &v)
		if v.Credential.ID != id || len(v.Credential.Events) != 1 {
			t.Errorf("GET /v1/credentials/%s = credential %q with %d events, want %q", url.PathEscape(id), v.Credential.ID, len(v.Credential.Events), id)
		}
	}
	// A double-escaped ID is another ID.
	if r := w.do("responder", http.MethodGet, "/v1/credentials/100%2525", nil); r.status != http.StatusNotFound {
		t.Errorf("GET /v1/credentials/100%%2525 = %d, want 404", r.status)
	}
}

// TestErasureTooLarge refuses an erasure whose erasure entry could not list
// everything it erases, and accepts it in parts.
func TestErasureTooLarge(t *testing.T) {
	w := newWorld(t, backends()[0], worldOptions{noFixture: true})
	const n, name = 3000, "tool.result.long-content-name"
	entries := make([]ledger.Entry, n)
	for i := range entries {
		entries[i] = ledger.Entry{Kind: ledger.KindTool, TraceID: traceC, SpanID: span(traceC, i+1), Name: "t", Start: epoch,
			Content: []ledger.Content{content("big", name, "x")}}
	}
	if _, err := w.log.Append(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	r := w.do("admin", http.MethodPost, "/v1/erasures", api.ErasureRequest{TraceID: traceC, ContentNames: []string{name}, Reason: "too much"})
	if r.status != http.StatusBadRequest {
		t.Fatalf("erasing %d pieces at once = %d %s, want 400", n, r.status, r.body)
	}
	var idx []uint64
	for i := range uint64(n / 2) {
		idx = append(idx, i)
	}
	if r := w.do("admin", http.MethodPost, "/v1/erasures", api.ErasureRequest{Indices: idx, ContentNames: []string{name}, Reason: "in parts"}); r.status != http.StatusOK {
		t.Errorf("erasing %d pieces = %d %s, want 200", len(idx), r.status, r.body)
	}
}

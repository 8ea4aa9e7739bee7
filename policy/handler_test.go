package policy

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ingest"
	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// store is what the tests need of a backend: the ledger and the tokens.
type store interface {
	ledger.Store
	auth.Store
}

// env is the endpoint on a real store, with a ledger that writes to it.
type env struct {
	store store
	log   *ledger.Log
	srv   *httptest.Server
	token string
}

var backends = []struct {
	name string
	open func(testing.TB) store
}{
	{"sqlite", func(tb testing.TB) store {
		s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "ledger.db"))
		if err != nil {
			tb.Fatalf("sqlite.Open: %v", err)
		}
		return s
	}},
	{"postgres", func(tb testing.TB) store {
		s, err := postgres.Open(context.Background(), pgtest.NewSchema(tb))
		if err != nil {
			tb.Fatalf("postgres.Open: %v", err)
		}
		return s
	}},
}

func newEnv(t *testing.T, open func(testing.TB) store, maxBody, maxDecoded int64) *env {
	t.Helper()
	s := open(t)
	skey, _, err := ledger.GenerateKey("test.agentledger.example")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(s, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := auth.Create(t.Context(), s, "opa-prod", auth.RoleIngest)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecisionLogs(DecisionLogsConfig{Log: l, Tokens: s, Redactor: newRedactor(t), MaxBodyBytes: maxBody, MaxDecodedBytes: maxDecoded})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/opa/logs", d)
	e := &env{store: s, log: l, srv: httptest.NewServer(mux), token: tok}
	t.Cleanup(func() {
		e.srv.Close()
		l.Close(context.Background())
		s.Close()
	})
	return e
}

func gz(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(data)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// post sends body as OPA does and returns the status.
func (e *env) post(t *testing.T, token string, body []byte, gzipped bool) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/opa/logs", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// entries reads every entry back.
func (e *env) entries(t *testing.T) []*ledger.Entry {
	t.Helper()
	head, err := e.store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := e.store.Records(t.Context(), 0, head.Size)
	if err != nil {
		t.Fatal(err)
	}
	var out []*ledger.Entry
	for i := range recs {
		en, _, err := recs[i].Decode()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, en)
	}
	return out
}

func TestDecisionLogsEndpoint(t *testing.T) {
	batch, err := os.ReadFile("testdata/opa_batch.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open, 0, 0)
			if got := e.post(t, e.token, gz(t, batch), true); got != http.StatusOK {
				t.Fatalf("POST = %d, want 200", got)
			}
			got := e.entries(t)
			if len(got) != 4 {
				t.Fatalf("%d entries, want 4", len(got))
			}
			for _, en := range got {
				if en.Source != ledger.SourceOPA || en.Submitter != "token:opa-prod" || en.Name != EntryName {
					t.Errorf("entry %s: source %q submitter %q name %q", en.EventKey, en.Source, en.Submitter, en.Name)
				}
			}
			// Replayed: OPA retries a batch it did not see acknowledged.
			if got := e.post(t, e.token, gz(t, batch), true); got != http.StatusOK {
				t.Fatalf("replayed POST = %d, want 200", got)
			}
			if got := e.post(t, e.token, batch, false); got != http.StatusOK {
				t.Fatalf("uncompressed replay = %d, want 200", got)
			}
			if n := len(e.entries(t)); n != 4 {
				t.Errorf("after replays %d entries, want 4", n)
			}
		})
	}
}

func TestDecisionLogsRefuses(t *testing.T) {
	const limit = 64 << 10
	one := []byte(`[{"decision_id":"d1","timestamp":"2026-12-06T06:00:00Z","result":true}]`)
	// A gzip bomb: 64 KiB of compressed zeros inflates far past the
	// decoded limit.
	bomb := gz(t, append(append([]byte(`[{"decision_id":"d1","timestamp":"2026-12-06T06:00:00Z","input":"`), bytes.Repeat([]byte("0"), 8*limit)...), `"}]`...))
	big := append(append([]byte(`[{"decision_id":"d1","timestamp":"2026-12-06T06:00:00Z","input":"`), bytes.Repeat([]byte("x"), limit)...), `"}]`...)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open, limit, 2*limit)
			auditor, _, err := auth.Create(t.Context(), e.store, "reader", auth.RoleAuditor)
			if err != nil {
				t.Fatal(err)
			}
			revoked, _, err := auth.Create(t.Context(), e.store, "old-opa", auth.RoleIngest)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.RevokeToken(t.Context(), "old-opa", time.Now()); err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct {
				name    string
				token   string
				body    []byte
				gzipped bool
				want    int
			}{
				{"no token", "", gz(t, one), true, http.StatusUnauthorized},
				{"unknown token", "not-a-token", gz(t, one), true, http.StatusUnauthorized},
				{"auditor token", auditor, gz(t, one), true, http.StatusUnauthorized},
				{"revoked token", revoked, gz(t, one), true, http.StatusUnauthorized},
				{"malformed json", e.token, gz(t, []byte(`[{"decision_id":`)), true, http.StatusBadRequest},
				{"malformed gzip", e.token, []byte{0x1f, 0x8b, 1, 2, 3}, true, http.StatusBadRequest},
				{"one bad event", e.token, gz(t, []byte(`[{"decision_id":"d2","timestamp":"2026-12-06T06:00:00Z"},{"decision_id":"d3"}]`)), true, http.StatusBadRequest},
				{"oversized body", e.token, big, false, http.StatusRequestEntityTooLarge},
				{"gzip bomb", e.token, bomb, true, http.StatusRequestEntityTooLarge},
			} {
				if got := e.post(t, tt.token, tt.body, tt.gzipped); got != tt.want {
					t.Errorf("%s: POST = %d, want %d", tt.name, got, tt.want)
				}
			}
			if n := len(e.entries(t)); n != 0 {
				t.Errorf("refused requests wrote %d entries", n)
			}
			if len(bomb) > limit {
				t.Fatalf("the bomb is %d bytes compressed, not under the body limit", len(bomb))
			}
		})
	}
}

func TestDecisionLogsMethod(t *testing.T) {
	e := newEnv(t, backends[0].open, 0, 0)
	resp, err := http.Get(e.srv.URL + "/v1/opa/logs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "POST") {
		t.Errorf("GET = %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestSubmitterTokenMatchesIngest(t *testing.T) {
	if submitterToken != ingest.SubmitterToken {
		t.Errorf("submitterToken = %q, ingest.SubmitterToken = %q", submitterToken, ingest.SubmitterToken)
	}
}

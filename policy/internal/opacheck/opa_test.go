package opacheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/sdk"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/sqlite"
	"github.com/agentledger/agentledger/policy"
)

const authzRego = `package http.authz

default allow := false

allow if {
	input.subject.id == "spiffe://example.org/agent/billing"
	input.request.method == "POST"
	startswith(input.request.path, "/v1/invoices")
}
`

// maskRego is OPA's decision-log mask policy: the password never leaves
// OPA.
const maskRego = `package system.log

mask contains "/input/password"
`

// secretToken is a raw secret in an input that OPA does not mask; the
// ledger must fingerprint it.
const secretToken = "ghp_R2d2C3p0L1ke5kyWalker0penSesame12345678"

func authzBundle(t *testing.T) []byte {
	t.Helper()
	roots := []string{"http", "system"}
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Revision: "rev-7", Roots: &roots},
		Data:     map[string]any{},
		Modules: []bundle.ModuleFile{
			{URL: "/http/authz.rego", Path: "/http/authz.rego", Raw: []byte(authzRego)},
			{URL: "/system/log.rego", Path: "/system/log.rego", Raw: []byte(maskRego)},
		},
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(b); err != nil {
		t.Fatalf("write bundle: %v", err)
	}
	return buf.Bytes()
}

// TestOPADecisionLogs runs OPA's SDK with a bundle and decision logging
// to the endpoint, makes an allowed and a denied decision, and reads the
// ledger: OPA's plugin must have delivered both, with the bundle's
// revision, the masked password erased and the token fingerprinted.
func TestOPADecisionLogs(t *testing.T) {
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	skey, _, err := ledger.GenerateKey("test.agentledger.example")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(store, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	r, err := secrets.NewRedactor([]byte("agentledger-test-secret-0123456789abcdef"), secrets.Config{})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := auth.Create(ctx, store, "opa-prod", auth.RoleIngest)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := policy.NewDecisionLogs(policy.DecisionLogsConfig{Log: l, Tokens: store, Redactor: r})
	if err != nil {
		t.Fatal(err)
	}
	var posts, gzipped atomic.Int64
	bundleBytes := authzBundle(t)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+policy.DecisionLogsPath, func(w http.ResponseWriter, req *http.Request) {
		posts.Add(1)
		if req.Header.Get("Content-Encoding") == "gzip" {
			gzipped.Add(1)
		}
		logs.ServeHTTP(w, req)
	})
	mux.HandleFunc("GET /bundles/authz.tar.gz", func(w http.ResponseWriter, _ *http.Request) { w.Write(bundleBytes) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	config := fmt.Sprintf(`{
  "services": {
    "ledger": {"url": %q, "credentials": {"bearer": {"token": %q}}},
    "bundles": {"url": %q}
  },
  "bundles": {"authz": {"service": "bundles", "resource": "/bundles/authz.tar.gz"}},
  "decision_logs": {"service": "ledger", "reporting": {"min_delay_seconds": 1, "max_delay_seconds": 1}}
}`, srv.URL+"/v1/opa", token, srv.URL)
	opa, err := sdk.New(ctx, sdk.Options{ID: "opacheck", Config: strings.NewReader(config)})
	if err != nil {
		t.Fatalf("sdk.New: %v", err)
	}
	allowed, err := opa.Decision(ctx, sdk.DecisionOptions{Path: "/http/authz/allow", Input: map[string]any{
		"subject":  map[string]any{"id": "spiffe://example.org/agent/billing", "token": secretToken},
		"request":  map[string]any{"method": "POST", "path": "/v1/invoices"},
		"password": "hunter2-hunter2",
	}})
	if err != nil {
		t.Fatalf("Decision: %v", err)
	}
	denied, err := opa.Decision(ctx, sdk.DecisionOptions{Path: "/http/authz/allow", Input: map[string]any{
		"subject": map[string]any{"id": "spiffe://example.org/agent/billing"},
		"request": map[string]any{"method": "DELETE", "path": "/v1/invoices/7"},
	}})
	if err != nil {
		t.Fatalf("Decision: %v", err)
	}
	if allowed.Result != true || denied.Result != false {
		t.Fatalf("results %v, %v; want true, false", allowed.Result, denied.Result)
	}
	// Stop flushes the decision buffer through the plugin when its
	// context has a deadline.
	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	opa.Stop(stopCtx)
	cancel()

	entries := readAll(t, store)
	if posts.Load() == 0 || gzipped.Load() != posts.Load() {
		t.Errorf("OPA posted %d batches, %d gzip-compressed", posts.Load(), gzipped.Load())
	}
	want := map[string]map[string]string{
		allowed.ID: {policy.AttrDecision: "allow", ledger.AttrCredentialFingerprint: r.Fingerprint(secretToken), policy.AttrErased: "/input/password", "http.request.method": "POST", "url.path": "/v1/invoices"},
		denied.ID:  {policy.AttrDecision: "deny", "http.request.method": "DELETE", "url.path": "/v1/invoices/7"},
	}
	if len(entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(entries), len(want))
	}
	for _, e := range entries {
		w, ok := want[strings.TrimPrefix(e.EventKey, "opa/")]
		if !ok || e.Source != ledger.SourceOPA || e.Submitter != "token:opa-prod" || e.Name != policy.EntryName {
			t.Errorf("entry %s: source %q submitter %q name %q", e.EventKey, e.Source, e.Submitter, e.Name)
			continue
		}
		w[policy.AttrEngine] = "opa"
		w[policy.AttrID] = "http/authz/allow"
		w[policy.AttrBundles] = "authz=rev-7"
		w[policy.AttrSubject] = "spiffe://example.org/agent/billing"
		for k, v := range w {
			if got, _ := e.Attr(k); got != v {
				t.Errorf("entry %s: %s = %q, want %q", e.EventKey, k, got, v)
			}
		}
		for _, c := range e.Content {
			if bytes.Contains(c.Data, []byte(secretToken)) || bytes.Contains(c.Data, []byte("hunter2")) {
				t.Errorf("entry %s: content %s holds a secret: %s", e.EventKey, c.Name, c.Data)
			}
		}
	}

	// The same decision IDs again append no decision: these events carry
	// fewer facts than OPA's own (no input, result or subject), so the
	// ledger keeps the stored decisions and records, once per decision, a
	// duplicate-mismatch entry naming the stored one.
	var events []map[string]any
	for _, e := range entries {
		events = append(events, map[string]any{"decision_id": strings.TrimPrefix(e.EventKey, "opa/"), "path": "http/authz/allow",
			"timestamp": e.Start.Format(time.RFC3339Nano), "bundles": map[string]any{"authz": map[string]string{"revision": "rev-7"}}})
	}
	body, _ := json.Marshal(events)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+policy.DecisionLogsPath, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replay = %d", resp.StatusCode)
	}
	decisions, mismatches := 0, 0
	for _, e := range readAll(t, store) {
		switch e.Name {
		case policy.EntryName:
			decisions++
		case ledger.DuplicateMismatchName:
			mismatches++
		default:
			t.Errorf("after the replay: unexpected entry %q", e.Name)
		}
	}
	if decisions != len(want) || mismatches != len(want) {
		t.Errorf("after the replay %d decisions and %d duplicate mismatches, want %d of each", decisions, mismatches, len(want))
	}
}

func readAll(t *testing.T, store *sqlite.Store) []*ledger.Entry {
	t.Helper()
	head, err := store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := store.Records(t.Context(), 0, head.Size)
	if err != nil {
		t.Fatal(err)
	}
	var out []*ledger.Entry
	for i := range recs {
		e, _, err := recs[i].Decode()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

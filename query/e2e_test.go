package query

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ingest"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/internal/demo"
)

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestEndToEnd sends the demo's agent traffic over OTLP through the
// receiver into the ledger, then asks the query API about the credential
// that leaked: the view shows the run that obtained it and the foreign run
// that used it, the raw token finds it, and every entry the view reports
// verifies against the signed checkpoint with the verifier key.
func TestEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{noFixture: true})
		key := []byte("an end-to-end test fingerprint key of enough bytes")
		red, err := secrets.NewRedactor(key, secrets.Config{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := w.srv.cfg
		cfg.Fingerprint = red.Fingerprint
		if w.srv, err = NewServer(cfg); err != nil {
			t.Fatal(err)
		}
		addr := freeAddr(t)
		rcv, err := ingest.Start(t.Context(), ingest.ServerConfig{HTTPAddr: addr, Log: w.log, Redactor: red,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer rcv.Shutdown(t.Context())
		res, err := demo.Send(t.Context(), demo.Config{Target: addr, HTTP: true, Start: epoch})
		if err != nil {
			t.Fatal(err)
		}
		w.checkpoint()

		var v api.CredentialView
		w.get("responder", "/v1/credentials/"+res.LeakedCredential, &v)
		foreign := map[string]bool{}
		for _, u := range v.Usages {
			foreign[u.TraceID] = u.ForeignRun
			for _, c := range u.Calls {
				if c.Cause == nil {
					t.Errorf("call %d of run %s has no causing step", c.Entry.Index, u.TraceID)
				}
			}
		}
		if v.Issuance == nil || v.Issuance.TraceID != res.LegitRun || v.Issuance.Step == nil {
			t.Errorf("issuance = %+v, want the legitimate run %s and its step", v.Issuance, res.LegitRun)
		}
		if f, ok := foreign[res.LegitRun]; !ok || f {
			t.Errorf("usage by the legitimate run %s: present %v, foreign %v; want present, not foreign", res.LegitRun, ok, f)
		}
		if f, ok := foreign[res.ForeignRun]; !ok || !f {
			t.Errorf("usage by the foreign run %s: present %v, foreign %v; want present and foreign", res.ForeignRun, ok, f)
		}

		r := w.do("responder", http.MethodPost, "/v1/credentials/lookup", api.LookupRequest{Token: res.LeakedToken})
		var lr api.LookupResult
		r.json(t, &lr)
		if r.status != http.StatusOK || len(lr.Credentials) == 0 || lr.Credentials[0].Credential.ID != res.LeakedCredential {
			t.Errorf("lookup of the leaked token = %d, %d credentials, want %s", r.status, len(lr.Credentials), res.LeakedCredential)
		}
		if strings.Contains(w.logs.String(), res.LeakedToken) {
			t.Errorf("the server logged the leaked token")
		}

		var answer any
		w.get("responder", "/v1/credentials/"+res.LeakedCredential, &answer)
		w.checkpoint()
		found := make(map[string][]reported)
		collectEntries(answer, found)
		for _, rs := range found {
			verifyReported(t, w, "credential view", w.vkey, rs)
		}
		t.Logf("%d runs sent; credential %s: %d usages, %d entries verified", len(res.Runs), res.LeakedCredential, len(v.Usages), len(found))
	})
}

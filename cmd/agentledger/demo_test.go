package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/internal/demo"
	"github.com/agentledger/agentledger/internal/servetest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/sqlite"
	"github.com/agentledger/agentledger/ledger/verify"
	"github.com/agentledger/agentledger/query"
)

// TestDemoAgainstServer runs the demo traffic against the built binary and
// checks, through the query API, that the leaked credential's view shows
// both runs, flags the foreign one, and that every entry in it verifies
// against the signed checkpoint.
func TestDemoAgainstServer(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	vkey := s.VerifierKey(t)
	res, err := demo.Send(t.Context(), demo.Config{Target: s.OTLPHTTPAddr, HTTP: true})
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if err != nil {
		t.Fatalf("first admin token: %v", err)
	}
	token := strings.TrimSpace(string(raw))
	base := "http://" + s.HTTPAddr

	var view api.CredentialView
	getJSON(t, base+"/v1/credentials/"+url.PathEscape(res.LeakedCredential)+"?content=true", token, &view)
	runs := map[string]bool{}
	for _, u := range view.Usages {
		runs[u.TraceID] = u.ForeignRun
		if len(u.Calls) == 0 {
			t.Errorf("usage in run %s has no API calls", u.TraceID)
		}
	}
	if foreign, ok := runs[res.LegitRun]; !ok || foreign {
		t.Errorf("the run that obtained the credential: present %v, foreign_run %v; want present and not foreign", ok, foreign)
	}
	if foreign, ok := runs[res.ForeignRun]; !ok || !foreign {
		t.Errorf("the run that used the leaked credential: present %v, foreign_run %v; want present and foreign", ok, foreign)
	}
	if view.Issuance == nil || view.Issuance.TraceID != res.LegitRun || view.Issuance.Operation != "exchange" {
		t.Errorf("issuance = %+v, want the exchange in run %s", view.Issuance, res.LegitRun)
	}
	if len(view.Lineage.Parents) != 1 {
		t.Errorf("lineage parents = %+v, want the platform token", view.Lineage.Parents)
	}

	// The responder's raw leaked token finds the same credential.
	req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/credentials/lookup", strings.NewReader(`{"token":"`+res.LeakedToken+`"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var found api.LookupResult
	err = json.NewDecoder(resp.Body).Decode(&found)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("lookup of the raw token: status %d, %v", resp.StatusCode, err)
	}
	if len(found.Credentials) != 1 || found.Credentials[0].Credential.ID != res.LeakedCredential {
		t.Errorf("lookup of the raw token found %+v, want only %q", found.Credentials, res.LeakedCredential)
	}

	// CloudTrail's side of the data-analyst's session: the attacker's uses
	// are unaccounted, the agent's own are not.
	var fs api.FindingsPage
	getJSON(t, base+"/v1/findings?kind=unaccounted_use", token, &fs)
	attacker := 0
	for _, f := range fs.Findings {
		if f.CredentialID != res.LeakedSession || f.ClientAddress != demo.AttackerIP {
			t.Errorf("unaccounted use %+v: want only the attacker's uses of %s", f, res.LeakedSession)
		}
		attacker++
	}
	if attacker != 2 {
		t.Errorf("%d unaccounted uses of the STS session, want the attacker's 2", attacker)
	}
	var session api.CredentialView
	getJSON(t, base+"/v1/credentials/"+url.PathEscape(res.LeakedSession), token, &session)
	if ev := session.Evidence; ev == nil || ev.Status != query.StatusIssuerConfirmed || ev.ProviderUses != 4 || ev.AgentUses != 2 {
		t.Errorf("STS session evidence = %+v, want issuer-confirmed with 4 provider and 2 agent uses", ev)
	}

	c := &verify.Client{BaseURL: base, Token: token, VerifierKey: vkey}
	rep, err := c.VerifyCredential(t.Context(), res.LeakedCredential, verify.CredentialOptions{Wait: 10 * time.Second, Content: true})
	if err != nil {
		t.Fatalf("verify the credential view: %v", err)
	}
	if len(rep.Entries) < 6 || rep.Content == 0 {
		t.Fatalf("verified %d entries and %d pieces of content, want the whole view", len(rep.Entries), rep.Content)
	}
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

func getJSON(t *testing.T, u, token string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// TestServeDemoMutualTLS: serve --demo with mutual TLS sends its traffic
// over TLS with the client certificate agentledger dev-certs wrote beside
// the client CA, so every entry records that certificate's SPIFFE ID; with
// no client certificate to be had, serve refuses to start and names the
// flags that give it one.
func TestServeDemoMutualTLS(t *testing.T) {
	certs := t.TempDir()
	const spiffe = "spiffe://demo.example/agentledger-demo"
	if out, err := exec.Command(binary, "dev-certs", "--dir", certs, "--client-spiffe-id", spiffe).CombinedOutput(); err != nil {
		t.Fatalf("dev-certs: %v\n%s", err, out)
	}
	tlsFlags := []string{"--otlp-tls-cert-file", filepath.Join(certs, devServerCertFile), "--otlp-tls-key-file", filepath.Join(certs, devServerKeyFile)}

	t.Run("refused without a client certificate", func(t *testing.T) {
		caOnly := t.TempDir()
		ca, err := os.ReadFile(filepath.Join(certs, devCAFile))
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, caOnly, map[string][]byte{devCAFile: ca})
		args := append([]string{"serve", "--demo", "--data-dir", t.TempDir(), "--http-addr", servetest.FreeAddr(t), "--otlp-http-addr", "",
			"--otlp-grpc-addr", servetest.FreeAddr(t), "--otlp-client-ca-file", filepath.Join(caOnly, devCAFile)}, tlsFlags...)
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--demo-client-cert-file") {
			t.Errorf("serve --demo with mutual TLS and no client certificate: err %v, output %q; want a refusal naming --demo-client-cert-file", err, out)
		}
	})

	for _, otlp := range []string{"grpc", "http"} {
		t.Run(otlp, func(t *testing.T) {
			dir := t.TempDir()
			extra := append([]string{"--demo", "--otlp-client-ca-file", filepath.Join(certs, devCAFile)}, tlsFlags...)
			if otlp == "http" {
				extra = append(extra, "--otlp-grpc-addr", "")
			}
			s := startServer(t, dir, extra...)
			if _, err := s.Stdout().WaitLine(2*time.Minute, func(l string) bool { return strings.Contains(l, "Demo traffic sent") }); err != nil {
				t.Fatalf("serve --demo sent no demo traffic: %v", err)
			}
			if err := s.Stop(t, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			store, err := sqlite.Open(t.Context(), filepath.Join(dir, sqliteFile))
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			h, err := store.Head(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			recs, err := store.Records(t.Context(), 0, h.Size)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) < 20 {
				t.Fatalf("the demo wrote %d entries, want its runs", len(recs))
			}
			for i, r := range recs {
				e, _, err := r.Decode()
				if err != nil {
					t.Fatal(err)
				}
				// The ledger's own entries (findings it records) have no submitter.
				if e.Source != ledger.SourceLedger && e.Submitter != spiffe {
					t.Fatalf("entry %d (%s %q) submitter %q, want the demo client certificate's %q", i, e.Kind, e.Name, e.Submitter, spiffe)
				}
			}
		})
	}
}

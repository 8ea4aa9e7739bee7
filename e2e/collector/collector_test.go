package collector

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/agentledger/agentledger/internal/otelcoltest"
	"github.com/agentledger/agentledger/internal/servetest"
	"github.com/agentledger/agentledger/ledger"
)

// TestCollectorExportsWithClientCertificate: a gateway collector's otlp
// (gRPC) and otlphttp exporters present a client certificate with a SPIFFE
// ID to agentledger serve, which requires mutual TLS: the entries record
// that SPIFFE ID as their submitter. An exporter without a certificate is
// refused, and nothing it sent is written.
func TestCollectorExportsWithClientCertificate(t *testing.T) {
	c := newCerts(t, "spiffe://e2e.example/ns/observability/sa/otel-gateway")
	dir := t.TempDir()
	s := servetest.Start(t, servetest.Options{DataDir: dir, Args: []string{"--otlp-tls-cert-file", filepath.Join(c.dir, "server.crt"), "--otlp-tls-key-file", filepath.Join(c.dir, "server.key"),
		"--otlp-client-ca-file", filepath.Join(c.dir, "ca.pem")}})
	col := otelcoltest.Start(t, otelcoltest.Options{
		Configs: []string{filepath.Join("testdata", "export-mtls.yaml")},
		Listen:  []string{"E2E_IN_GRPC", "E2E_IN_HTTP", "E2E_IN_NO_CERT"},
		Env:     []string{"E2E_SERVE_GRPC=" + s.OTLPGRPCAddr, "E2E_SERVE_HTTP=" + s.OTLPHTTPAddr, "E2E_CERTS=" + c.dir},
	})
	in := map[string]string{"grpc": col.Addr("E2E_IN_GRPC"), "http": col.Addr("E2E_IN_HTTP"), "no-cert": col.Addr("E2E_IN_NO_CERT")}

	for _, tt := range []struct{ in, span string }{{"grpc", "via otlp_grpc"}, {"http", "via otlp_http"}} {
		if err := (exporter{grpc: true, endpoint: in[tt.in]}).send(t, "gateway-agent", tt.span); err != nil {
			t.Errorf("span %q through the collector: %v", tt.span, err)
		}
	}
	if err := (exporter{grpc: true, endpoint: in["no-cert"]}).send(t, "gateway-agent", "without a certificate"); err == nil {
		t.Error("the collector's exporter without a client certificate was not refused")
	}
	if err := col.Stop(t); err != nil {
		t.Errorf("collector: %v", err)
	}
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exited with %v", err)
	}

	es, _ := entries(t, filepath.Join(dir, "ledger.db"))
	got := submitters(es)
	for _, name := range []string{"via otlp_grpc", "via otlp_http"} {
		if sub, ok := got[name]; !ok || sub != c.spiffe {
			t.Errorf("span %q: in the ledger %v, submitter %q; want it with %q", name, ok, sub, c.spiffe)
		}
	}
	if p := present(got, "without a certificate"); len(p) > 0 {
		t.Errorf("spans %q were written without a client certificate", p)
	}
}

// TestCollectorExportsWithIngestToken: a gateway collector's exporters
// authenticate with an agentledger ingest token through the bearertokenauth
// extension: the entries record token:<name> as their submitter; once the
// token is revoked, agentledger refuses what the collector sends.
func TestCollectorExportsWithIngestToken(t *testing.T) {
	c := newCerts(t, "spiffe://e2e.example/unused")
	dir := t.TempDir()
	s := servetest.Start(t, servetest.Options{DataDir: dir, Args: []string{"--otlp-tls-cert-file", filepath.Join(c.dir, "server.crt"), "--otlp-tls-key-file", filepath.Join(c.dir, "server.key")}})
	const name = "otel-gateway"
	token, err := servetest.CreateToken(t.Context(), servetest.Binary(t), "ingest", name, "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	col := otelcoltest.Start(t, otelcoltest.Options{
		Configs: []string{filepath.Join("testdata", "export-token.yaml")},
		Listen:  []string{"E2E_IN_GRPC", "E2E_IN_HTTP"},
		Env:     []string{"E2E_INGEST_TOKEN=" + token, "E2E_SERVE_GRPC=" + s.OTLPGRPCAddr, "E2E_SERVE_HTTP=" + s.OTLPHTTPAddr, "E2E_CERTS=" + c.dir},
	})
	in := map[string]string{"grpc": col.Addr("E2E_IN_GRPC"), "http": col.Addr("E2E_IN_HTTP")}

	for _, p := range []string{"grpc", "http"} {
		if err := (exporter{grpc: true, endpoint: in[p]}).send(t, "token-agent", "with the token via "+p); err != nil {
			t.Errorf("span through the collector's %s exporter with the ingest token: %v", p, err)
		}
	}
	servetest.Run(t, "", "token", "revoke", "--data-dir", dir, name)
	for _, p := range []string{"grpc", "http"} {
		if err := (exporter{grpc: true, endpoint: in[p]}).send(t, "token-agent", "revoked via "+p); err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
			t.Errorf("the collector's %s exporter with a revoked ingest token: %v; want Unauthenticated", p, err)
		}
	}
	if err := col.Stop(t); err != nil {
		t.Errorf("collector: %v", err)
	}
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exited with %v", err)
	}

	es, _ := entries(t, filepath.Join(dir, "ledger.db"))
	got := submitters(es)
	for _, p := range []string{"grpc", "http"} {
		if sub, ok := got["with the token via "+p]; !ok || sub != "token:"+name {
			t.Errorf("span with the token via %s: in the ledger %v, submitter %q; want it with token:%s", p, ok, sub, name)
		}
	}
	if p := present(got, "revoked via grpc", "revoked via http"); len(p) > 0 {
		t.Errorf("spans %q were written with a revoked token", p)
	}
}

// TestExampleCollector builds the distribution of ingest/builder-config.yaml
// and runs it with ingest/example-collector.yaml, only its files and
// addresses changed (testdata/example-collector.yaml): the agentledger
// extension keeps the ledger in SQLite, and its two receivers write to it.
// Senders with a client certificate (over gRPC and HTTP) are recorded by
// their SPIFFE ID; senders to the agentledger/bearer receiver, which the
// collector's bearertokenauth extension admits, as auth:bearertokenauth;
// senders with neither are refused. Shutting the collector down signs one
// final checkpoint over the entries of both receivers: one log.
func TestExampleCollector(t *testing.T) {
	c := newCerts(t, "spiffe://e2e.example/ns/agents/sa/planner")
	dir := t.TempDir()
	skey, _, err := ledger.GenerateKey("collector.e2e.example")
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i + 1)
	}
	bearer := randomToken()
	for name, data := range map[string]string{"signer.key": skey + "\n", "secret": hex.EncodeToString(secret) + "\n", "bearer.tokens": bearer + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	col := otelcoltest.Start(t, otelcoltest.Options{
		Configs: []string{filepath.Join("..", "..", "ingest", "example-collector.yaml"), filepath.Join("testdata", "example-collector.yaml")},
		Listen:  []string{"E2E_GRPC", "E2E_HTTP", "E2E_BEARER"},
		Env:     []string{"AGENTLEDGER_DATABASE=" + filepath.Join(dir, "ledger.db"), "E2E_DIR=" + dir, "E2E_CERTS=" + c.dir},
	})
	grpcAddr, httpAddr, bearerAddr := col.Addr("E2E_GRPC"), col.Addr("E2E_HTTP"), col.Addr("E2E_BEARER")

	// wantErr: "" for success, else what the refusal says (the TLS alert
	// of a missing client certificate reaches the client as
	// "certificate required" or as a broken connection, as it happens).
	for _, tt := range []struct {
		x       exporter
		span    string
		wantErr string
	}{
		{exporter{grpc: true, endpoint: grpcAddr, tls: c.clientTLS(true)}, "mtls grpc", ""},
		{exporter{endpoint: httpAddr, tls: c.clientTLS(true)}, "mtls http", ""},
		{exporter{grpc: true, endpoint: grpcAddr, tls: c.clientTLS(false)}, "no certificate grpc", "traces export"},
		{exporter{endpoint: httpAddr, tls: c.clientTLS(false)}, "no certificate http", "traces export"},
		{exporter{endpoint: bearerAddr, tls: c.clientTLS(false), headers: map[string]string{"Authorization": "Bearer " + bearer}}, "bearer", ""},
		{exporter{endpoint: bearerAddr, tls: c.clientTLS(false), headers: map[string]string{"Authorization": "Bearer " + randomToken()}}, "wrong bearer", "401"},
		{exporter{endpoint: bearerAddr, tls: c.clientTLS(false)}, "no bearer", "401"},
	} {
		err := tt.x.send(t, "planner", tt.span)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("span %q: export error %v, want %q", tt.span, err, tt.wantErr)
		}
	}
	if err := col.Stop(t); err != nil {
		t.Errorf("collector: %v", err)
	}

	es, _ := entries(t, filepath.Join(dir, "ledger.db"))
	got := submitters(es)
	for name, want := range map[string]string{"mtls grpc": c.spiffe, "mtls http": c.spiffe, "bearer": "auth:bearertokenauth"} {
		if sub, ok := got[name]; !ok || sub != want {
			t.Errorf("span %q: in the ledger %v, submitter %q; want it with %q", name, ok, sub, want)
		}
	}
	if p := present(got, "no certificate grpc", "no certificate http", "wrong bearer", "no bearer"); len(p) > 0 {
		t.Errorf("refused spans %q were written", p)
	}
}

package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/credentials"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/internal/devcert"
	"github.com/agentledger/agentledger/ledger"
)

// pki is a test CA with a server certificate for 127.0.0.1, written to
// files the way Kubernetes projects a secret: dir/current is a symbolic
// link to the directory that holds tls.crt and tls.key, swapped whole on
// rotation.
type pki struct {
	t      testing.TB
	ca     *devcert.CA
	dir    string
	caFile string
	gen    int
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	ca, err := devcert.NewCA("agentledger test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{t: t, ca: ca, dir: t.TempDir()}
	p.caFile = filepath.Join(p.dir, "ca.pem")
	if err := os.WriteFile(p.caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	p.rotate()
	return p
}

// rotate issues a new server certificate and swaps it in atomically.
func (p *pki) rotate() {
	p.t.Helper()
	p.gen++
	cert, key, err := p.ca.Issue(devcert.Request{CommonName: fmt.Sprintf("agentledger-%d", p.gen), IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		p.t.Fatal(err)
	}
	gen := filepath.Join(p.dir, fmt.Sprintf("gen%d", p.gen))
	if err := os.Mkdir(gen, 0o700); err != nil {
		p.t.Fatal(err)
	}
	for name, b := range map[string][]byte{"tls.crt": cert, "tls.key": key} {
		if err := os.WriteFile(filepath.Join(gen, name), b, 0o600); err != nil {
			p.t.Fatal(err)
		}
	}
	tmp := filepath.Join(p.dir, "current.tmp")
	if err := os.Symlink(gen, tmp); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, "current")); err != nil {
		p.t.Fatal(err)
	}
}

func (p *pki) files(mutual bool) TLSFiles {
	f := TLSFiles{
		CertFile:       filepath.Join(p.dir, "current", "tls.crt"),
		KeyFile:        filepath.Join(p.dir, "current", "tls.key"),
		ReloadInterval: 20 * time.Millisecond,
	}
	if mutual {
		f.ClientCAFile = p.caFile
	}
	return f
}

// clientCert returns a client certificate issued by ca.
func clientCert(t testing.TB, ca *devcert.CA, r devcert.Request) tls.Certificate {
	t.Helper()
	cert, key, err := ca.Issue(r)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clientTLS trusts p's CA and presents certs[0], if any.
func (p *pki) clientTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.ca.Pool(), Certificates: certs, MinVersion: tls.VersionTLS12}
}

var noRetry = struct {
	grpc otlptracegrpc.RetryConfig
	http otlptracehttp.RetryConfig
}{otlptracegrpc.RetryConfig{Enabled: false}, otlptracehttp.RetryConfig{Enabled: false}}

// exportOne sends one span over transport and returns the export error.
func exportOne(t testing.TB, transport, addr string, cfg *tls.Config, headers map[string]string, service string) error {
	t.Helper()
	var exp sdktrace.SpanExporter
	var err error
	if transport == "grpc" {
		exp, err = otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithTLSCredentials(credentials.NewTLS(cfg)),
			otlptracegrpc.WithHeaders(headers), otlptracegrpc.WithRetry(noRetry.grpc), otlptracegrpc.WithTimeout(10*time.Second))
	} else {
		exp, err = otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(addr), otlptracehttp.WithTLSClientConfig(cfg),
			otlptracehttp.WithHeaders(headers), otlptracehttp.WithRetry(noRetry.http), otlptracehttp.WithTimeout(10*time.Second))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	tp, rec := recorder(service)
	_, sp := tp.Tracer("agent").Start(t.Context(), "invoke_agent "+service)
	sp.End()
	return exp.ExportSpans(t.Context(), rec.Ended())
}

func submitters(t testing.TB, tl *testLedger) []string {
	t.Helper()
	var out []string
	for _, e := range tl.entries(t) {
		if e.Kind != ledger.KindAttestation {
			out = append(out, e.Submitter)
		}
	}
	return out
}

func addrFor(transport, grpcAddr, httpAddr string) string {
	if transport == "grpc" {
		return grpcAddr
	}
	return httpAddr
}

// TestMutualTLSSubmitter: over mutual TLS, each entry records the client
// certificate's SPIFFE ID, or its subject if it has none; a sender without
// a certificate, with an expired one or one from another CA is refused and
// nothing of it is written.
func TestMutualTLSSubmitter(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			p := newPKI(t)
			tl := st.open(t, nil)
			grpcAddr, httpAddr := startServer(t, tl, func(c *ServerConfig) {
				c.TLS = p.files(true)
				c.RequireSubmitter = true
			})
			spiffe := clientCert(t, p.ca, devcert.Request{CommonName: "deploy-bot", SPIFFEID: "spiffe://acme.example/ns/prod/sa/deploy-bot"})
			plain := clientCert(t, p.ca, devcert.Request{CommonName: "billing", Organization: "Acme"})
			other, err := devcert.NewCA("another CA", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			wrongCA := clientCert(t, other, devcert.Request{CommonName: "deploy-bot", SPIFFEID: "spiffe://acme.example/ns/prod/sa/deploy-bot"})
			expired := clientCert(t, p.ca, devcert.Request{CommonName: "old", SPIFFEID: "spiffe://acme.example/old",
				NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})

			var want []string
			for _, transport := range []string{"grpc", "http"} {
				addr := addrFor(transport, grpcAddr, httpAddr)
				if err := exportOne(t, transport, addr, p.clientTLS(spiffe), nil, "deploy-bot"); err != nil {
					t.Fatalf("%s: export with a SPIFFE certificate: %v", transport, err)
				}
				if err := exportOne(t, transport, addr, p.clientTLS(plain), nil, "billing"); err != nil {
					t.Fatalf("%s: export with a plain certificate: %v", transport, err)
				}
				want = append(want, "spiffe://acme.example/ns/prod/sa/deploy-bot", "x509:CN=billing,O=Acme")
				for name, cfg := range map[string]*tls.Config{
					"no certificate": p.clientTLS(),
					"wrong CA":       p.clientTLS(wrongCA),
					"expired":        p.clientTLS(expired),
				} {
					if err := exportOne(t, transport, addr, cfg, nil, "intruder"); err == nil {
						t.Errorf("%s: export with %s succeeded", transport, name)
					}
				}
			}
			if got := submitters(t, tl); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("submitters = %q, want %q", got, want)
			}
		})
	}
}

// TestIngestTokenSubmitter: over TLS without client certificates, an
// active ingest token is the submitter; a revoked one, a query API token,
// an unknown one and none at all are refused (Unauthenticated, HTTP 401).
func TestIngestTokenSubmitter(t *testing.T) {
	p := newPKI(t)
	tl := newSQLiteLedger(t, nil)
	tokens := tl.store.(auth.Store)
	grpcAddr, httpAddr := startServer(t, tl, func(c *ServerConfig) {
		c.TLS = p.files(false)
		c.Tokens = tokens
		c.RequireSubmitter = true
	})
	ctx := t.Context()
	good, _, err := auth.Create(ctx, tokens, "deploy-bot", auth.RoleIngest)
	if err != nil {
		t.Fatal(err)
	}
	revoked, _, err := auth.Create(ctx, tokens, "old-bot", auth.RoleIngest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.RevokeToken(ctx, "old-bot", time.Now()); err != nil {
		t.Fatal(err)
	}
	admin, _, err := auth.Create(ctx, tokens, "root", auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(tok string) map[string]string { return map[string]string{"authorization": "Bearer " + tok} }
	for _, transport := range []string{"grpc", "http"} {
		addr := addrFor(transport, grpcAddr, httpAddr)
		if err := exportOne(t, transport, addr, p.clientTLS(), bearer(good), "deploy-bot"); err != nil {
			t.Fatalf("%s: export with an ingest token: %v", transport, err)
		}
		for name, h := range map[string]map[string]string{
			"revoked token": bearer(revoked),
			"admin token":   bearer(admin),
			"unknown token": bearer(auth.Generate()),
			"no token":      nil,
		} {
			err := exportOne(t, transport, addr, p.clientTLS(), h, "intruder")
			if err == nil || !(strings.Contains(err.Error(), "Unauthenticated") || strings.Contains(err.Error(), "401")) {
				t.Errorf("%s: export with %s = %v, want Unauthenticated", transport, name, err)
			}
		}
	}
	if got, want := submitters(t, tl), []string{"token:deploy-bot", "token:deploy-bot"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("submitters = %q, want %q", got, want)
	}
}

// TestUnauthenticatedSubmitter: where unauthenticated senders are allowed,
// their entries have no submitter, but a bad token is still refused.
func TestUnauthenticatedSubmitter(t *testing.T) {
	tl := newSQLiteLedger(t, nil)
	tokens := tl.store.(auth.Store)
	grpcAddr, _ := startServer(t, tl, func(c *ServerConfig) { c.Tokens = tokens })
	exp, err := otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithRetry(noRetry.grpc))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	tp, rec := recorder("anon")
	_, sp := tp.Tracer("agent").Start(t.Context(), "invoke_agent anon")
	sp.End()
	if err := exp.ExportSpans(t.Context(), rec.Ended()); err != nil {
		t.Fatal(err)
	}
	if got := submitters(t, tl); len(got) != 1 || got[0] != "" {
		t.Errorf("submitters = %q, want one empty", got)
	}
	bad, err := otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithRetry(noRetry.grpc),
		otlptracegrpc.WithHeaders(map[string]string{"authorization": "Bearer " + auth.Generate()}))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Shutdown(context.Background())
	if err := bad.ExportSpans(t.Context(), rec.Ended()); err == nil {
		t.Error("export with an unknown token succeeded")
	}
}

// TestCertificateRotation: the server's certificate and the client's are
// replaced while a sender exports without pause over fresh connections;
// new handshakes see the new server certificate, and no export fails.
func TestCertificateRotation(t *testing.T) {
	p := newPKI(t)
	tl := newSQLiteLedger(t, nil)
	_, httpAddr := startServer(t, tl, func(c *ServerConfig) {
		c.TLS = p.files(true)
		c.RequireSubmitter = true
	})
	var current atomic.Pointer[tls.Certificate]
	c1 := clientCert(t, p.ca, devcert.Request{CommonName: "bot", SPIFFEID: "spiffe://acme.example/bot"})
	current.Store(&c1)
	cfg := p.clientTLS()
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return current.Load(), nil }
	var served atomic.Value
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		served.Store(cs.PeerCertificates[0].Subject.CommonName)
		return nil
	}
	// A fresh connection per request, so that every export handshakes.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithHTTPClient(hc),
		otlptracehttp.WithRetry(noRetry.http), otlptracehttp.WithTLSClientConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	tp, rec := recorder("bot")

	stop := make(chan struct{})
	errc := make(chan error, 1)
	var sent atomic.Int64
	go func() {
		defer close(errc)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, sp := tp.Tracer("agent").Start(context.Background(), fmt.Sprintf("step %d", i))
			sp.End()
			spans := rec.Ended()
			if err := exp.ExportSpans(context.Background(), spans[len(spans)-1:]); err != nil {
				errc <- fmt.Errorf("export %d: %w", i, err)
				return
			}
			sent.Add(1)
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				t.Fatalf("timed out waiting for %s (exports: %d, error: %v)", what, sent.Load(), <-errc)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// An export done before the client certificate changes was made with
	// the first one. (The server's certificate is verified before the
	// client presents its own, so seeing the first server certificate
	// is not enough.)
	waitFor("an export with the first certificates", func() bool { return sent.Load() >= 1 && served.Load() == "agentledger-1" })
	p.rotate()
	c2 := clientCert(t, p.ca, devcert.Request{CommonName: "bot", SPIFFEID: "spiffe://acme.example/bot-v2"})
	current.Store(&c2)
	waitFor("the rotated certificate", func() bool { return served.Load() == "agentledger-2" })
	n := sent.Load()
	waitFor("exports after the rotation", func() bool { return sent.Load() >= n+5 })
	close(stop)
	if err := <-errc; err != nil {
		t.Fatalf("an export failed during rotation: %v", err)
	}
	got := submitters(t, tl)
	if len(got) < int(n)+5 || got[0] != "spiffe://acme.example/bot" || got[len(got)-1] != "spiffe://acme.example/bot-v2" {
		t.Errorf("%d entries, first submitter %q, last %q; want the old then the new SPIFFE ID", len(got), got[0], got[len(got)-1])
	}
}

// TestSlowHeaderCut: an OTLP/HTTP connection that does not finish its
// headers within the read-header timeout is closed by the server.
func TestSlowHeaderCut(t *testing.T) {
	tl := newSQLiteLedger(t, nil)
	_, httpAddr := startServer(t, tl, func(c *ServerConfig) {
		c.HTTPTimeouts = HTTPTimeouts{ReadHeader: 200 * time.Millisecond}
	})
	conn, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /v1/traces HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	// The server closes the connection (perhaps after a 408); the read
	// deadline only bounds a broken test.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server kept a connection with unfinished headers open")
		}
		return
	}
}

// TestHTTPConnectionLimit: with the OTLP/HTTP connection limit held by
// connections that never finish their headers, another sender is not
// served (its connection is not even accepted) until one of them closes;
// then it is, over TLS with its client certificate.
func TestHTTPConnectionLimit(t *testing.T) {
	const limit = 4
	p := newPKI(t)
	tl := newSQLiteLedger(t, nil)
	_, httpAddr := startServer(t, tl, func(c *ServerConfig) {
		c.HTTPMaxConnections = limit
		c.HTTPTimeouts = HTTPTimeouts{ReadHeader: time.Minute}
		c.TLS = p.files(true)
	})
	var held []net.Conn
	for range limit {
		c, err := net.Dial("tcp", httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A TLS ClientHello that never completes: the handshake waits.
		if _, err := c.Write([]byte{0x16, 0x03, 0x01}); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	cert := clientCert(t, p.ca, devcert.Request{CommonName: "bot", SPIFFEID: "spiffe://acme.example/bot"})
	done := make(chan error, 1)
	go func() { done <- exportOne(t, "http", httpAddr, p.clientTLS(cert), nil, "bot") }()
	select {
	case err := <-done:
		t.Fatalf("an export beyond the connection limit finished (%v) while %d connections held it", err, limit)
	case <-time.After(500 * time.Millisecond):
	}
	held[0].Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("export once a connection closed: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the export was not served after a held connection closed")
	}
	if got := submitters(t, tl); len(got) != 1 || got[0] != "spiffe://acme.example/bot" {
		t.Errorf("submitters = %q", got)
	}
}

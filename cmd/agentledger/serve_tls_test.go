package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentledger/agentledger/internal/devcert"
	"github.com/agentledger/agentledger/internal/servetest"
)

// writePEM writes files into dir and returns their paths.
func writePEM(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeMutualTLS: serve with a certificate and a client CA takes OTLP
// on a non-loopback address from a sender with a SPIFFE client
// certificate, serves the query API over TLS, and the API shows the
// sender's SPIFFE ID as the entry's submitter.
func TestServeMutualTLS(t *testing.T) {
	ca, err := devcert.NewCA("serve test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := ca.Issue(devcert.Request{CommonName: "agentledger", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	const spiffe = "spiffe://acme.example/ns/prod/sa/deploy-bot"
	cliCert, cliKey, err := ca.Issue(devcert.Request{CommonName: "deploy-bot", SPIFFEID: spiffe})
	if err != nil {
		t.Fatal(err)
	}
	pemDir := t.TempDir()
	writePEM(t, pemDir, map[string][]byte{"ca.pem": ca.CertPEM(), "tls.crt": srvCert, "tls.key": srvKey})
	pair, err := tls.X509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	apiAddr := servetest.FreeAddr(t)
	_, otlpPort, _ := net.SplitHostPort(servetest.FreeAddr(t))
	cmd := exec.Command(binary, "serve", "--data-dir", dir, "--http-addr", apiAddr,
		"--otlp-http-addr", "0.0.0.0:"+otlpPort, "--otlp-grpc-addr", "",
		"--otlp-tls-cert-file", filepath.Join(pemDir, "tls.crt"), "--otlp-tls-key-file", filepath.Join(pemDir, "tls.key"),
		"--http-tls-cert-file", filepath.Join(pemDir, "tls.crt"), "--http-tls-key-file", filepath.Join(pemDir, "tls.key"),
		"--otlp-client-ca-file", filepath.Join(pemDir, "ca.pem"))
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	})

	api := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := api.Get("https://" + apiAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready over TLS within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, err := http.Get("http://" + apiAddr + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the query API answered plain HTTP")
		}
	}

	exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint("127.0.0.1:"+otlpPort),
		otlptracehttp.WithTLSClientConfig(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "deploy-bot"))))
	_, span := tp.Tracer("t").Start(context.Background(), "invoke_agent deploy")
	span.End()
	if err := tp.Shutdown(t.Context()); err != nil {
		t.Fatalf("export over mutual TLS: %v", err)
	}

	token, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+apiAddr+"/v1/entries/0", nil)
	req.Header.Set("Authorization", "Bearer "+string(bytes.TrimSpace(token)))
	resp, err := api.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Submitter string `json:"submitter"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/entries/0 = %d %s", resp.StatusCode, body)
	}
	if e.Submitter != spiffe {
		t.Errorf("entry submitter = %q, want %q", e.Submitter, spiffe)
	}
}

// TestServeIngestExposure: a non-loopback OTLP address without TLS is
// refused unless --insecure-ingest, which is warned about at start.
func TestServeIngestExposure(t *testing.T) {
	_, port, _ := net.SplitHostPort(servetest.FreeAddr(t))
	args := []string{"serve", "--data-dir", t.TempDir(), "--http-addr", servetest.FreeAddr(t), "--otlp-grpc-addr", "", "--otlp-http-addr", "0.0.0.0:" + port}
	out, err := exec.Command(binary, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--insecure-ingest") {
		t.Fatalf("serve on 0.0.0.0 without TLS: err %v, output %q; want a refusal naming --insecure-ingest", err, out)
	}

	cmd := exec.Command(binary, append(args, "--insecure-ingest")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	senders := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "OTLP senders:"); ok {
				senders <- v
			}
		}
		close(senders)
	}()
	var banner string
	select {
	case banner = <-senders:
	case <-time.After(30 * time.Second):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if !strings.Contains(banner, "UNAUTHENTICATED") {
		t.Errorf("serve --insecure-ingest says OTLP senders are %q; want UNAUTHENTICATED", banner)
	}
	if !strings.Contains(stderr.String(), "--insecure-ingest") {
		t.Errorf("serve --insecure-ingest logged no warning; stderr %q", stderr.String())
	}
}

// TestServeSlowSendersBounded: many OTLP/HTTP connections that never
// finish their headers hold at most --otlp-http-max-connections of serve's
// connections (its open file descriptors stay bounded) and /healthz keeps
// answering.
func TestServeSlowSendersBounded(t *testing.T) {
	const limit, senders = 8, 200
	s := startServer(t, t.TempDir(), "--otlp-http-max-connections", fmt.Sprint(limit), "--otlp-http-read-header-timeout", "30s")
	fds := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.Pid()))
		if err != nil {
			t.Skipf("cannot count serve's file descriptors: %v", err)
		}
		return len(ents)
	}
	before := fds()
	for range senders {
		c, err := net.Dial("tcp", s.OTLPHTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("POST /v1/traces HTTP/1.1\r\nHost: x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + s.HTTPAddr + "/healthz")
	if err != nil {
		t.Fatalf("/healthz with %d slow senders: %v", senders, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %s", resp.Status)
	}
	// Each admitted sender costs at most six descriptors (its connection,
	// the relay's, and a splice pipe pair per direction of the relay);
	// allow a few for the health check and the runtime.
	if got, max := fds(), before+6*limit+8; got > max {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.Pid()))
		var targets []string
		for _, e := range ents {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", s.Pid(), e.Name()))
			targets = append(targets, l)
		}
		t.Errorf("serve holds %d file descriptors with %d slow senders, want at most %d (%d before): %v", got, senders, max, before, targets)
	}
}

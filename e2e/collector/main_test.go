package collector

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"

	"github.com/agentledger/agentledger/internal/devcert"
	"github.com/agentledger/agentledger/internal/otelcoltest"
	"github.com/agentledger/agentledger/internal/servetest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	otelcoltest.Cleanup()
	servetest.Cleanup()
	os.Exit(code)
}

// certs is a test CA's files in one directory, as agentledger dev-certs
// lays them out: ca.pem, server.crt/.key for 127.0.0.1, and client.crt/.key
// whose URI SAN is spiffe.
type certs struct {
	dir    string
	spiffe string
	ca     *devcert.CA
	client tls.Certificate
}

func newCerts(t *testing.T, spiffe string) *certs {
	t.Helper()
	ca, err := devcert.NewCA("e2e collector CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := ca.Issue(devcert.Request{CommonName: "agentledger", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey, err := ca.Issue(devcert.Request{CommonName: "otel-collector", SPIFFEID: spiffe})
	if err != nil {
		t.Fatal(err)
	}
	c := &certs{dir: t.TempDir(), spiffe: spiffe, ca: ca}
	for name, b := range map[string][]byte{"ca.pem": ca.CertPEM(), "server.crt": srvCert, "server.key": srvKey, "client.crt": cliCert, "client.key": cliKey} {
		if err := os.WriteFile(filepath.Join(c.dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if c.client, err = tls.X509KeyPair(cliCert, cliKey); err != nil {
		t.Fatal(err)
	}
	return c
}

// clientTLS returns the TLS settings of a sender that trusts the test CA
// and presents the client certificate if withCert.
func (c *certs) clientTLS(withCert bool) *tls.Config {
	cfg := &tls.Config{RootCAs: c.ca.Pool(), MinVersion: tls.VersionTLS12}
	if withCert {
		cfg.Certificates = []tls.Certificate{c.client}
	}
	return cfg
}

// entries returns the entries of the SQLite ledger at path that its
// writers submitted (not the ledger's own), and the tree size of its
// latest checkpoint.
func entries(t *testing.T, path string) ([]ledger.Entry, uint64) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.Records(ctx, 0, h.Size)
	if err != nil {
		t.Fatal(err)
	}
	var out []ledger.Entry
	for _, r := range recs {
		e, _, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if e.Source != ledger.SourceLedger {
			out = append(out, *e)
		}
	}
	cp, err := s.LatestCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != h.Size {
		t.Errorf("the latest checkpoint covers %d entries of %d", cp.Size, h.Size)
	}
	return out, cp.Size
}

// submitters maps the name of each span entry to its submitter.
func submitters(es []ledger.Entry) map[string]string {
	m := map[string]string{}
	for _, e := range es {
		if e.SpanID != "" && e.Kind != ledger.KindAttestation {
			m[e.Name] = e.Submitter
		}
	}
	return m
}

// exporter is an OTel SDK span exporter to one OTLP endpoint.
type exporter struct {
	grpc     bool
	endpoint string
	tls      *tls.Config // nil: plain text
	headers  map[string]string
}

// send exports one span named name, of service, with the SDK exporter,
// without retries, and returns the export's error.
func (x exporter) send(t *testing.T, service, name string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		exp sdktrace.SpanExporter
		err error
	)
	if x.grpc {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(x.endpoint), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
			otlptracegrpc.WithHeaders(x.headers)}
		if x.tls != nil {
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(x.tls)))
		} else {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	} else {
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(x.endpoint), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
			otlptracehttp.WithHeaders(x.headers)}
		if x.tls != nil {
			opts = append(opts, otlptracehttp.WithTLSClientConfig(x.tls))
		} else {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	var tid trace.TraceID
	var sid trace.SpanID
	rand.Read(tid[:])
	rand.Read(sid[:])
	now := time.Now()
	stub := tracetest.SpanStub{
		Name:        name,
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
		StartTime:   now.Add(-time.Second),
		EndTime:     now,
		Attributes:  []attribute.KeyValue{attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", service)},
		Resource:    resource.NewSchemaless(attribute.String("service.name", service)),
	}
	return exp.ExportSpans(ctx, tracetest.SpanStubs{stub}.Snapshots())
}

// randomToken returns a random bearer token.
func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// present returns, sorted, the names that got has.
func present(got map[string]string, names ...string) []string {
	var out []string
	for _, n := range names {
		if _, ok := got[n]; ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

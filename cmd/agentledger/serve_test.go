package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentledger/agentledger/internal/servetest"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// binary is the agentledger binary TestMain builds with go build: faster
// than re-running the test binary, which -race slows down.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agentledger-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary, err = servetest.Build(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build agentledger:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startServer runs serve on dataDir with extra flags, as servetest.Start
// does, and shows its standard error as it is written.
func startServer(t testing.TB, dataDir string, extra ...string) *servetest.Server {
	t.Helper()
	return servetest.Start(t, servetest.Options{Binary: binary, DataDir: dataDir, Args: extra, Stderr: os.Stderr})
}

func sendSpans(t *testing.T, endpoint string, n int) {
	t.Helper()
	exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(64)),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "serve-test"))))
	tr := tp.Tracer("serve-test")
	for i := range n {
		_, span := tr.Start(context.Background(), fmt.Sprintf("step %d", i), trace.WithAttributes(attribute.Int("i", i)))
		span.End()
	}
	if err := tp.Shutdown(t.Context()); err != nil {
		t.Fatalf("flush spans: %v", err)
	}
}

func TestServeShutdownSignsFinalCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	vkey := s.VerifierKey(t)
	const spans = 300
	sendSpans(t, s.OTLPHTTPAddr, spans)
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit after SIGTERM: %v, want status 0", err)
	}

	for _, f := range []string{signerKeyFile, secretFile, sqliteFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, fi.Mode().Perm())
		}
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, sqliteFile))
	if err != nil {
		t.Fatal(err)
	}
	head, err := store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if head.Size < spans {
		t.Fatalf("tree size %d, want at least the %d spans sent", head.Size, spans)
	}
	cp, err := store.LatestCheckpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != head.Size || cp.Root != head.Root {
		t.Fatalf("final checkpoint covers %d entries, tree has %d", cp.Size, head.Size)
	}
	store.Close()

	// The same binary on the same directory reuses its keys.
	s2 := startServer(t, dir)
	if got := s2.VerifierKey(t); got != vkey {
		t.Fatalf("verifier key after restart = %q, want %q", got, vkey)
	}
	if err := s2.Stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("serve exit after SIGINT: %v, want status 0", err)
	}
}

func TestServeRefusesOpenKeyFile(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, signerKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "serve", "--data-dir", dir, "--http-addr", servetest.FreeAddr(t),
		"--otlp-http-addr", servetest.FreeAddr(t), "--otlp-grpc-addr", servetest.FreeAddr(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "too open") {
		t.Fatalf("serve with a world-readable key: err %v, output %q; want a refusal naming the permissions", err, out)
	}
}

func TestServeFlagsFromEnvironment(t *testing.T) {
	out, err := exec.Command(binary, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"data-dir", "database", "otlp-grpc-addr", "otlp-http-addr", "http-addr", "checkpoint-interval", "commit-timeout", "max-pending", "log-name",
		"approval-jwks", "attestation-allow"} {
		if !strings.Contains(string(out), "--"+flag) || !strings.Contains(string(out), envName(flag)) {
			t.Errorf("serve --help does not document --%s and $%s", flag, envName(flag))
		}
	}
	for _, tt := range []struct{ env, flag string }{
		{"AGENTLEDGER_CHECKPOINT_INTERVAL=-5s", "checkpoint-interval"},
		{"AGENTLEDGER_COMMIT_TIMEOUT=0s", "commit-timeout"},
		{"AGENTLEDGER_MAX_PENDING=0", "max-pending"},
	} {
		cmd := exec.Command(binary, "serve", "--data-dir", t.TempDir())
		cmd.Env = append(os.Environ(), tt.env)
		got, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(got), tt.flag) {
			t.Errorf("%s: err %v, output %q; want a refusal of the environment's value", tt.env, err, got)
		}
	}
}

// TestServeGovernanceFlags: serve refuses to start with an attestation
// allow-list it cannot read or a JWKS URL that is not https, naming the
// flag's input.
func TestServeGovernanceFlags(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "allow.yaml")
	if err := os.WriteFile(typo, []byte("image: [sha256:1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--attestation-allow", typo}, "attestation allow-list"},
		{[]string{"--approval-jwks", "http://idp.example/jwks.json"}, "want an https URL"},
		{[]string{"--approval-jwks", filepath.Join(dir, "missing.jwks")}, "approval jwks"},
	} {
		args := append([]string{"serve", "--data-dir", t.TempDir(), "--http-addr", servetest.FreeAddr(t),
			"--otlp-http-addr", servetest.FreeAddr(t), "--otlp-grpc-addr", servetest.FreeAddr(t)}, c.args...)
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("serve %v: err %v, output %q; want a refusal naming %q", c.args, err, out, c.want)
		}
	}
}

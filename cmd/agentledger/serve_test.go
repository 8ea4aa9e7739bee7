package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger/sqlite"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agentledger-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "agentledger")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build agentledger:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// server is a running agentledger serve process.
type server struct {
	cmd      *exec.Cmd
	httpAddr string
	otlpHTTP string
	stdout   chan string
	exited   chan error
}

func startServer(t testing.TB, dataDir string, extra ...string) *server {
	t.Helper()
	// freeAddr's ports are free when it returns, not when serve binds them:
	// a parallel test may take one first. serve then exits at once, naming
	// the address, and is started again on other ports.
	for attempt := 1; ; attempt++ {
		s, stderr, err := tryStartServer(t, dataDir, extra...)
		if err == nil {
			return s
		}
		if attempt == 3 || !strings.Contains(stderr.String(), "address already in use") {
			t.Fatalf("serve did not become ready: %v\n%s", err, stderr.String())
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader in two
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tryStartServer starts serve and waits until it is ready, or until it
// exits, or for 30 s. It returns what serve wrote to standard error too.
func tryStartServer(t testing.TB, dataDir string, extra ...string) (*server, *lockedBuffer, error) {
	t.Helper()
	s := &server{httpAddr: freeAddr(t), otlpHTTP: freeAddr(t), stdout: make(chan string, 100), exited: make(chan error, 1)}
	args := append([]string{"serve", "--data-dir", dataDir, "--http-addr", s.httpAddr,
		"--otlp-http-addr", s.otlpHTTP, "--otlp-grpc-addr", freeAddr(t), "--checkpoint-interval", "100ms"}, extra...)
	stderr := &lockedBuffer{}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Stderr = io.MultiWriter(os.Stderr, stderr)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.stdout <- sc.Text()
		}
		close(s.stdout)
		s.exited <- s.cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.httpAddr + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, stderr, nil
			}
		}
		select {
		case <-done:
			return nil, stderr, fmt.Errorf("serve exited before it was ready: %v", <-s.exited)
		default:
		}
		if time.Now().After(deadline) {
			return nil, stderr, fmt.Errorf("not ready within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// verifierKey reads the verifier key line that serve prints once started.
func (s *server) verifierKey(t testing.TB) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-s.stdout:
			if !ok {
				t.Fatal("serve printed no verifier key")
			}
			if k, found := strings.CutPrefix(strings.TrimSpace(line), "verifier key:"); found {
				return strings.TrimSpace(k)
			}
		case <-timeout:
			t.Fatal("serve printed no verifier key within 10s")
		}
	}
}

func (s *server) stop(t testing.TB, sig syscall.Signal) error {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range s.stdout {
		}
	}()
	select {
	case err := <-s.exited:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not exit within 60s of the signal")
		return nil
	}
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
	vkey := s.verifierKey(t)
	const spans = 300
	sendSpans(t, s.otlpHTTP, spans)
	if err := s.stop(t, syscall.SIGTERM); err != nil {
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
	if got := s2.verifierKey(t); got != vkey {
		t.Fatalf("verifier key after restart = %q, want %q", got, vkey)
	}
	if err := s2.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("serve exit after SIGINT: %v, want status 0", err)
	}
}

func TestServeRefusesOpenKeyFile(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, signerKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "serve", "--data-dir", dir, "--http-addr", freeAddr(t),
		"--otlp-http-addr", freeAddr(t), "--otlp-grpc-addr", freeAddr(t)).CombinedOutput()
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
		args := append([]string{"serve", "--data-dir", t.TempDir(), "--http-addr", freeAddr(t),
			"--otlp-http-addr", freeAddr(t), "--otlp-grpc-addr", freeAddr(t)}, c.args...)
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("serve %v: err %v, output %q; want a refusal naming %q", c.args, err, out, c.want)
		}
	}
}

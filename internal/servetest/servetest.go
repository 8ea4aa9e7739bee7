// Package servetest runs agentledger as a separate process for tests, as an
// operator runs it: Build or Binary compiles the agentledger command, Start
// runs `agentledger serve` on free loopback ports and a given data
// directory and waits until /readyz answers 200, and Run and CreateToken
// run its other subcommands. StartProcess and Output serve any other child
// process a test runs (a collector, a witness).
package servetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Package is the agentledger command's package, relative to the module
// root.
const Package = "./cmd/agentledger"

var (
	buildOnce sync.Once
	buildDir  string
	binary    string
	buildErr  error
)

// Build compiles Package of the module that holds the working directory
// into dir and returns the binary's path. It builds without the race
// detector whatever the test binary was built with: the child process runs
// at full speed.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "agentledger")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, Package)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", Package, err, out)
	}
	return bin, nil
}

// Binary returns the path of the agentledger binary, building it on the
// first call of the test binary. A failed build fails every test that asks
// for it. Call Cleanup from TestMain once the tests have run.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "servetest-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		binary, buildErr = Build(ctx, buildDir)
	})
	if buildErr != nil {
		t.Fatalf("build agentledger: %v", buildErr)
	}
	return binary
}

// Cleanup removes the binary Binary built, if it built one.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// ModuleRoot returns the directory of the main module's go.mod.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the agentledger module")
	}
	return filepath.Dir(gomod), nil
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// DefaultReadyTimeout is how long Start waits for serve to be ready.
const DefaultReadyTimeout = time.Minute

// Options say how Start runs serve.
type Options struct {
	// Binary is the agentledger binary; empty means Binary(t).
	Binary string
	// DataDir is serve's --data-dir.
	DataDir string
	// Args are flags after Start's own; a flag given again here wins.
	Args []string
	// Stderr, if not nil, receives serve's standard error as it is
	// written (os.Stderr shows it even when the test binary times out).
	Stderr io.Writer
	// ReadyTimeout is how long to wait for /readyz; 0 means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Server is a running agentledger serve.
type Server struct {
	*Process
	// DataDir is serve's data directory.
	DataDir string
	// HTTPAddr is the query API's address (--http-addr), plain HTTP.
	HTTPAddr string
	// OTLPHTTPAddr and OTLPGRPCAddr are the OTLP receivers' addresses.
	OTLPHTTPAddr, OTLPGRPCAddr string
}

// URL returns the query API's base URL, http://HTTPAddr.
func (s *Server) URL() string { return "http://" + s.HTTPAddr }

// Start runs `agentledger serve --data-dir DataDir` with the query API and
// both OTLP receivers on free loopback ports and --checkpoint-interval
// 100ms, then o.Args, and waits until /readyz answers 200. A port another
// process took before serve bound it makes serve exit; Start then tries
// other ports, three times in all. It fails the test if serve does not
// become ready. The process is killed when the test ends, if still
// running.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Binary == "" {
		o.Binary = Binary(t)
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	for attempt := 1; ; attempt++ {
		s, err := tryStart(t, o)
		if err == nil {
			return s
		}
		if s == nil || attempt == 3 || !strings.Contains(s.Stderr().String(), "address already in use") {
			var stderr string
			if s != nil {
				stderr = s.Stderr().String()
			}
			t.Fatalf("serve did not become ready: %v\n%s", err, stderr)
		}
	}
}

// tryStart starts serve once and waits until it is ready, it exits, or
// o.ReadyTimeout passes. It returns the Server whenever serve started.
func tryStart(t testing.TB, o Options) (*Server, error) {
	t.Helper()
	s := &Server{DataDir: o.DataDir, HTTPAddr: FreeAddr(t), OTLPHTTPAddr: FreeAddr(t), OTLPGRPCAddr: FreeAddr(t)}
	args := append([]string{"serve", "--data-dir", o.DataDir, "--http-addr", s.HTTPAddr,
		"--otlp-http-addr", s.OTLPHTTPAddr, "--otlp-grpc-addr", s.OTLPGRPCAddr, "--checkpoint-interval", "100ms"}, o.Args...)
	cmd := exec.Command(o.Binary, args...)
	cmd.Stderr = o.Stderr
	p, err := StartProcess(t, "serve", cmd)
	if err != nil {
		return nil, err
	}
	s.Process = p
	deadline := time.Now().Add(o.ReadyTimeout)
	for {
		resp, err := http.Get(s.URL() + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
			err = fmt.Errorf("GET /readyz: %s", resp.Status)
		}
		select {
		case <-p.Exited():
			return s, fmt.Errorf("serve exited before it was ready: %v", p.Err())
		default:
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("serve was not ready within %v: %w", o.ReadyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// VerifierKey returns the verifier key from the `verifier key:` line serve
// prints once started. It fails the test if serve prints none within 10 s.
func (s *Server) VerifierKey(t testing.TB) string {
	t.Helper()
	line, err := s.Stdout().WaitLine(10*time.Second, func(l string) bool {
		return strings.HasPrefix(strings.TrimSpace(l), "verifier key:")
	})
	if err != nil {
		t.Fatalf("serve printed no verifier key: %v", err)
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "verifier key:"))
}

// Run runs `agentledger args...` with bin (empty means Binary(t)) and
// returns its standard output. It fails the test, with the command's
// standard error, if the command fails.
func Run(t testing.TB, bin string, args ...string) string {
	t.Helper()
	if bin == "" {
		bin = Binary(t)
	}
	out, err := Exec(context.Background(), bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Exec runs `agentledger args...` with bin and returns its standard
// output; its error names the command and holds its standard error.
func Exec(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("agentledger %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// CreateToken runs `agentledger token create --role role --name name
// args...` (args say where the ledger is: --data-dir, --database) and
// returns the new token.
func CreateToken(ctx context.Context, bin, role, name string, args ...string) (string, error) {
	out, err := Exec(ctx, bin, append([]string{"token", "create", "--role", role, "--name", name}, args...)...)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(out)
	if tok == "" {
		return "", fmt.Errorf("agentledger token create printed no token")
	}
	return tok, nil
}

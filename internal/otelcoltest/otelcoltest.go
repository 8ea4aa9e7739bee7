// Package otelcoltest builds the repository's OpenTelemetry Collector
// distribution, ingest/builder-config.yaml, with the OpenTelemetry Collector
// Builder (OCB) once per test binary, and runs it as a process: the stock
// collector, with the agentledger extension and receiver built in, as an
// operator builds and runs it.
//
// The builder runs as `go run go.opentelemetry.io/collector/cmd/builder@…`,
// so it needs nothing installed beyond Go and the module proxy; the
// generated module and the binary live in a temporary directory, and the
// shared Go build cache makes every build after the first mostly a link.
package otelcoltest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// BuilderVersion is the OCB release; it matches the collector modules
// agentledger builds against.
const BuilderVersion = "v0.165.0"

// Manifest is the builder manifest, relative to the module root. Its local
// module paths (path: .) are resolved against the module root too.
const Manifest = "ingest/builder-config.yaml"

var (
	buildOnce sync.Once
	buildDir  string
	binary    string
	buildErr  error
)

// Cleanup removes the collector build, if a test made one. Call it from
// TestMain once the tests have run.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Binary returns the path of the collector built from Manifest, building
// it on the first call of the test binary. A failed build fails every test
// that asks for it.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "otelcoltest-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		binary, buildErr = Build(ctx, buildDir)
	})
	if buildErr != nil {
		t.Fatalf("build the collector with OCB: %v", buildErr)
	}
	return binary
}

// Build runs OCB on Manifest with its output in dir and returns the path
// of the collector binary.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	raw, err := os.ReadFile(filepath.Join(root, Manifest))
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return "", fmt.Errorf("%s: %w", Manifest, err)
	}
	dist, ok := m["dist"].(map[string]any)
	if !ok {
		return "", fmt.Errorf("%s: no dist section", Manifest)
	}
	name, _ := dist["name"].(string)
	if name == "" {
		return "", fmt.Errorf("%s: no dist.name", Manifest)
	}
	out := filepath.Join(dir, "dist")
	dist["output_path"] = out
	manifest := filepath.Join(dir, "builder-config.yaml")
	b, err := yaml.Marshal(m)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(manifest, b, 0o600); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "run", "go.opentelemetry.io/collector/cmd/builder@"+BuilderVersion, "--config", manifest)
	cmd.Dir = root
	// The generated module is its own; no workspace applies to it.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, log.Bytes())
	}
	bin := filepath.Join(out, name)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("the builder made no %s: %w\n%s", name, err, log.Bytes())
	}
	return bin, nil
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
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

// Collector is a running collector process.
type Collector struct {
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
	err    error
}

// readyLine is what the collector logs once every pipeline has started.
const readyLine = "Everything is ready"

// Start runs the collector built by Binary with the given configuration
// files (merged in order, as repeated --config flags are) and extra
// environment, and waits until it is ready. The collector is stopped when
// the test ends.
func Start(t testing.TB, env []string, configs ...string) *Collector {
	t.Helper()
	bin := Binary(t)
	args := make([]string, 0, 2*len(configs))
	for _, c := range configs {
		args = append(args, "--config", c)
	}
	c := &Collector{cmd: exec.Command(bin, args...), log: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), env...)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stdout = c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			c.log.Write(append(sc.Bytes(), '\n'))
			if !signalled && strings.Contains(sc.Text(), readyLine) {
				signalled = true
				close(ready)
			}
		}
		io.Copy(io.Discard, stderr)
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			c.cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", c.Log())
		}
	})
	select {
	case <-ready:
		return c
	case <-c.exited:
		t.Fatalf("the collector exited before it was ready: %v\n%s", c.err, c.Log())
	case <-time.After(2 * time.Minute):
		t.Fatalf("the collector was not ready within 2 minutes:\n%s", c.Log())
	}
	return nil
}

// Stop asks the collector to shut down (SIGTERM) and waits for it to exit,
// and returns how it exited.
func (c *Collector) Stop(t testing.TB) error {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.exited:
		return c.err
	case <-time.After(time.Minute):
		t.Fatalf("the collector did not exit within a minute of SIGTERM:\n%s", c.Log())
		return nil
	}
}

// Log returns what the collector wrote to its standard output and error.
func (c *Collector) Log() string { return c.log.String() }

// syncBuffer is a bytes.Buffer for one writer and readers in other
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/agentledger/agentledger/internal/servetest"
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
	root, err := servetest.ModuleRoot(ctx)
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

// Collector is a running collector process.
type Collector struct {
	p     *servetest.Process
	addrs map[string]string
}

// readyLine is what the collector logs once every pipeline has started.
const readyLine = "Everything is ready"

// Options say how to run the collector.
type Options struct {
	// Configs are the configuration files, merged in order as repeated
	// --config flags are.
	Configs []string
	// Env is extra environment, as NAME=value.
	Env []string
	// Listen names environment variables that Start sets to free
	// loopback addresses (host:port) for the configuration to listen on;
	// Addr returns them.
	Listen []string
}

// Start runs the collector built by Binary as o says and waits until it
// is ready. A port another process took before the collector bound it
// makes the collector exit; Start then tries other ports for o.Listen,
// three times in all. It fails the test if the collector does not become
// ready. The collector is stopped when the test ends.
func Start(t testing.TB, o Options) *Collector {
	t.Helper()
	bin := Binary(t)
	for attempt := 1; ; attempt++ {
		c, err := tryStart(t, bin, o)
		if err == nil {
			return c
		}
		if c == nil || attempt == 3 || !exitedOnBusyPort(c.p) {
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v; trying other ports", attempt, err)
	}
}

// exitedOnBusyPort reports whether p has exited because a port it was to
// listen on was taken.
func exitedOnBusyPort(p *servetest.Process) bool {
	select {
	case <-p.Exited():
		return strings.Contains(p.Stderr().String(), "address already in use")
	default:
		return false
	}
}

// tryStart starts the collector once and waits until it is ready or has
// exited. It returns the Collector whenever the process started.
func tryStart(t testing.TB, bin string, o Options) (*Collector, error) {
	t.Helper()
	args := make([]string, 0, 2*len(o.Configs))
	for _, c := range o.Configs {
		args = append(args, "--config", c)
	}
	c := &Collector{addrs: make(map[string]string, len(o.Listen))}
	env := append(os.Environ(), o.Env...)
	for _, name := range o.Listen {
		c.addrs[name] = servetest.FreeAddr(t)
		env = append(env, name+"="+c.addrs[name])
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	p, err := servetest.StartProcess(t, "collector", cmd)
	if err != nil {
		return nil, err
	}
	c.p = p
	_, err = p.Stderr().WaitLine(2*time.Minute, func(l string) bool { return strings.Contains(l, readyLine) })
	if errors.Is(err, servetest.ErrClosed) {
		<-p.Exited()
		return c, fmt.Errorf("the collector exited before it was ready: %v", p.Err())
	}
	if err != nil {
		return c, fmt.Errorf("the collector was not ready: %w", err)
	}
	return c, nil
}

// Addr returns the address Start chose for the listen variable name.
func (c *Collector) Addr(name string) string {
	addr, ok := c.addrs[name]
	if !ok {
		panic("otelcoltest: no listen variable " + name)
	}
	return addr
}

// Stop asks the collector to shut down (SIGTERM) and waits up to a minute
// for it to exit, and returns how it exited.
func (c *Collector) Stop(t testing.TB) error {
	t.Helper()
	return c.p.Stop(t, syscall.SIGTERM)
}

package web

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/internal/demo"
	"github.com/agentledger/agentledger/internal/servetest"
)

// chromiumPath is the browser the end-to-end tests drive: Debian's
// chromium package, or $CHROMIUM.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// requireTools fails the test, saying how to install what is missing,
// when Node.js, the e2e node_modules or Chromium are absent. It never
// skips: a missing browser must not turn the browser tests green.
func requireTools(t *testing.T, browser bool) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js 20 or later (the machine's, or apt-get install -y nodejs); .ci/run does this")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	var major int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "v%d", &major); err != nil || major < 20 {
		t.Fatalf("node %s: want Node.js 20 or later (WebCrypto Ed25519 and node --test)", strings.TrimSpace(string(out)))
	}
	if !browser {
		return node
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		t.Fatalf("%s not found: run .ci/run, or apt-get update && apt-get install -y chromium (or set CHROMIUM)", chromiumPath())
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatal("web/e2e/node_modules/playwright-core is missing: run .ci/run, or npm ci --prefix web/e2e")
	}
	return node
}

// runNode runs node --test on dir with env added, streaming its output
// into the test log.
func runNode(t *testing.T, node, dir string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", dir)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("node --test %s:\n%s", dir, out)
	if err != nil {
		t.Fatalf("node --test %s: %v", dir, err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	servetest.Cleanup()
	os.Exit(code)
}

// TestJavaScriptUnit runs the unit tests of the browser's verifier,
// search classification and export (web/test/*.test.mjs) with Node.js,
// against testdata/vectors.json.
func TestJavaScriptUnit(t *testing.T) {
	node := requireTools(t, false)
	runNode(t, node, "test/")
}

var tokenPattern = regexp.MustCompile(`alt_[A-Za-z0-9_-]{20,}`)

// adminToken creates an admin token with `agentledger token create`, or
// reads the one serve wrote to <data-dir>/admin.token.
func adminToken(t *testing.T, bin, dataDir string, extra ...string) string {
	t.Helper()
	tok, err := servetest.CreateToken(t.Context(), bin, "admin", "e2e", append([]string{"--data-dir", dataDir}, extra...)...)
	if err == nil {
		if tok := tokenPattern.FindString(tok); tok != "" {
			return tok
		}
	}
	b, ferr := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if ferr == nil && tokenPattern.Match(b) {
		return tokenPattern.FindString(string(b))
	}
	t.Fatalf("no admin token: `agentledger token create` said %q, %v; and %v", tok, err, ferr)
	return ""
}

// apiClient calls the query API with a bearer token.
type apiClient struct {
	base, token string
}

func (c apiClient) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

type runEntries struct {
	Entries []struct {
		Index      uint64            `json:"index"`
		Kind       string            `json:"kind"`
		Attributes map[string]string `json:"attributes"`
	} `json:"entries"`
}

// waitFor polls f until it reports done, failing after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, f func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last error: %v)", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// screenshotDir is where the browser test saves screenshots: the test's
// artifact directory under go test -artifacts, else web/e2e/artifacts/
// (ignored by git), emptied first.
func screenshotDir(t *testing.T) string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return t.ArtifactDir()
	}
	dir, err := filepath.Abs(filepath.Join("e2e", "artifacts", "screenshots"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserEndToEnd builds agentledger, serves a fresh ledger, loads a
// realistic agent run (and a foreign run that replays its credential)
// through OTLP with the OpenTelemetry SDK, and the demo's traffic, erases
// one piece of content, and drives the UI in headless Chromium with
// Playwright (web/e2e): sign in, search the credential, open its run,
// expand a step, verify proofs, see tampered proofs, checkpoints and
// content fail, and see the demo's foreign run linked to the run that
// obtained its credential, and back.
func TestBrowserEndToEnd(t *testing.T) {
	node := requireTools(t, true)
	ctx := t.Context()

	bin := servetest.Binary(t)
	dataDir := t.TempDir()
	srv := servetest.Start(t, servetest.Options{Binary: bin, DataDir: dataDir})

	// The UI must be served at / (query.Config.UI = web.FS).
	resp, err := http.Get(srv.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`src="/js/app.js"`)) {
		t.Fatalf("GET / = %d, not the UI: serve must set query.Config.UI to web.FS", resp.StatusCode)
	}

	token := adminToken(t, bin, dataDir)
	api := apiClient{base: srv.URL(), token: token}

	sc, err := loadScenario(ctx, srv.OTLPHTTPAddr)
	if err != nil {
		t.Fatalf("load scenario over OTLP: %v", err)
	}
	var run runEntries
	for trace, n := range sc.Entries {
		waitFor(t, fmt.Sprintf("run %s ingested", trace), 30*time.Second, func() (bool, error) {
			var r runEntries
			_, err := api.do(ctx, http.MethodGet, "/v1/runs/"+trace+"?content=false", nil, &r)
			if trace == sc.TraceID {
				run = r
			}
			return err == nil && len(r.Entries) >= n, err
		})
	}

	// The demo's traffic too: its foreign run (shadow-runner) uses a
	// leaked token it never obtained, and names it only by the token.
	dm, err := demo.Send(ctx, demo.Config{Target: srv.OTLPHTTPAddr, HTTP: true})
	if err != nil {
		t.Fatalf("send the demo traffic over OTLP: %v", err)
	}
	waitFor(t, "the demo's foreign run is linked to the run that obtained its credential", 30*time.Second, func() (bool, error) {
		var r struct {
			ForeignUses int `json:"foreign_uses"`
		}
		_, err := api.do(ctx, http.MethodGet, "/v1/runs/"+dm.ForeignRun+"?content=false", nil, &r)
		return err == nil && r.ForeignUses > 0, err
	})

	// Erase the result of the tool that obtained the credential, as a
	// responder would erase a secret captured by mistake.
	var erased uint64
	for _, e := range run.Entries {
		if e.Kind == "tool" && e.Attributes["gen_ai.tool.name"] == "get_deploy_token" {
			erased = e.Index
		}
	}
	if erased == 0 {
		t.Fatal("the get_deploy_token tool entry is missing from the run")
	}
	if _, err := api.do(ctx, http.MethodPost, "/v1/erasures", map[string]any{
		"indices": []uint64{erased}, "content_names": []string{"tool.result"}, "reason": "e2e: a token captured by mistake",
	}, nil); err != nil {
		t.Fatalf("erase: %v", err)
	}
	waitFor(t, "a checkpoint covers the whole ledger", 30*time.Second, func() (bool, error) {
		var info struct {
			TreeSize   uint64 `json:"tree_size"`
			Checkpoint *struct {
				Size uint64 `json:"size"`
			} `json:"checkpoint"`
		}
		_, err := api.do(ctx, http.MethodGet, "/v1/log", nil, &info)
		return err == nil && info.Checkpoint != nil && info.Checkpoint.Size >= info.TreeSize, err
	})

	analyst := ""
	for _, r := range dm.Runs {
		if r.Agent == "data-analyst" {
			analyst = r.TraceID
		}
	}
	if analyst == "" || dm.LeakedSession == "" {
		t.Fatalf("the demo sent no data-analyst run with an STS session: %+v", dm)
	}

	shots := screenshotDir(t)
	t.Logf("screenshots: %s", shots)
	runNode(t, node, "e2e/",
		"BASE_URL="+srv.URL(),
		"TOKEN="+token,
		"VERIFIER_KEY="+srv.VerifierKey(t),
		"CREDENTIAL_ID="+sc.CredentialID,
		"TRACE_ID="+sc.TraceID,
		"FOREIGN_TRACE_ID="+sc.ForeignTrace,
		"RAW_TOKEN="+sc.RawToken,
		fmt.Sprintf("ERASED_INDEX=%d", erased),
		"DEMO_FOREIGN_TRACE_ID="+dm.ForeignRun,
		"DEMO_OWNER_TRACE_ID="+dm.LegitRun,
		"DEMO_CREDENTIAL_ID="+dm.LeakedCredential,
		"DEMO_ANALYST_TRACE_ID="+analyst,
		"DEMO_SESSION_ID="+dm.LeakedSession,
		"SCREENSHOT_DIR="+shots,
		"CHROMIUM="+chromiumPath(),
	)
}

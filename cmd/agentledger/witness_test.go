package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentledger/agentledger/internal/servetest"
)

// witnessProc is a running agentledger witness process.
type witnessProc struct {
	cmd  *exec.Cmd
	addr string
	key  string
}

func startWitness(t *testing.T, dir, name, addr, logKey string) *witnessProc {
	t.Helper()
	w := &witnessProc{addr: addr}
	w.cmd = exec.Command(binary, "witness", "--name", name, "--key-file", filepath.Join(dir, "witness.key"),
		"--state-file", filepath.Join(dir, "state.json"), "--listen", addr, "--log", logKey)
	w.cmd.Stderr = os.Stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Kill()
			w.cmd.Wait()
		}
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if k, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "cosignature key:"); ok {
			w.key = strings.TrimSpace(k)
			break
		}
	}
	if w.key == "" {
		t.Fatal("witness printed no cosignature key")
	}
	go io.Copy(io.Discard, out)
	return w
}

func (w *witnessProc) stop(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("witness exit: %v", err)
	}
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitUntil polls cond until it holds or 30 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cosigLines counts the signature lines of a note that are not the log's.
func cosigLines(noteText, origin string) int {
	n := 0
	for _, l := range strings.Split(noteText, "\n") {
		if strings.HasPrefix(l, "— ") && !strings.HasPrefix(l, "— "+origin+" ") {
			n++
		}
	}
	return n
}

// checkpointSize returns the tree size of a checkpoint note, -1 if none.
func checkpointSize(noteText string) int {
	lines := strings.SplitN(noteText, "\n", 3)
	if len(lines) < 2 {
		return -1
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil {
		return -1
	}
	return n
}

// TestServeWitnesses runs serve with two agentledger witness processes:
// every checkpoint is cosigned by both; with one down, appends and
// checkpoints go on with one cosignature, /readyz and /metrics say so, and
// verify with a policy of two refuses; with it back, cosigning resumes.
// Then the ledger is rewritten and re-signed with the data directory's own
// key: verify and monitor with a witness policy refuse it.
func TestServeWitnesses(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	vkey := s.VerifierKey(t)
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	origin, _, _ := strings.Cut(vkey, "+")
	wdir1, wdir2 := t.TempDir(), t.TempDir()
	addr2 := servetest.FreeAddr(t)
	w1 := startWitness(t, wdir1, "example.com/w1", servetest.FreeAddr(t), vkey)
	w2 := startWitness(t, wdir2, "example.com/w2", addr2, vkey)

	s = startServer(t, dir, "--witness", "http://"+w1.addr+","+w1.key,
		"--witness", "http://"+w2.addr+","+w2.key, "--witness-retry-interval", "100ms", "--witness-timeout", "2s")
	base := "http://" + s.HTTPAddr
	sendSpans(t, s.OTLPHTTPAddr, 20)
	var cp string
	waitUntil(t, "a checkpoint of the 20 spans cosigned by both witnesses", func() bool {
		_, cp = httpGet(t, base+"/checkpoint")
		return checkpointSize(cp) >= 20 && cosigLines(cp, origin) == 2
	})
	size1 := checkpointSize(cp)
	cpFile := filepath.Join(t.TempDir(), "cp.txt")
	verifyCP := func(note string, args ...string) (string, error) {
		if err := os.WriteFile(cpFile, []byte(note), 0o600); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, err := run(t, newVerifyCmd(), append([]string{"--key", vkey, "--checkpoint", cpFile}, args...)...)
		return stdout + stderr, err
	}
	if out, err := verifyCP(cp, "--witness", w1.key, "--witness", w2.key); err != nil {
		t.Fatalf("verify with both witnesses: %v\n%s", err, out)
	}

	// Witness 2 down.
	w2.stop(t)
	sendSpans(t, s.OTLPHTTPAddr, 10)
	waitUntil(t, "a larger checkpoint with one cosignature", func() bool {
		_, cp = httpGet(t, base+"/checkpoint")
		return checkpointSize(cp) > size1 && cosigLines(cp, origin) == 1
	})
	size2 := checkpointSize(cp)
	waitUntil(t, "/readyz degraded", func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusOK && strings.Contains(body, `"degraded"`) && strings.Contains(body, addr2)
	})
	_, metrics := httpGet(t, base+"/metrics")
	wantMatch(t, "metrics", metrics, `agentledger_witness_up\{key="example.com/w2",witness="http://`+addr2+`"\} 0`)
	wantMatch(t, "metrics", metrics, `agentledger_witness_up\{key="example.com/w1",witness="http://[^"]+"\} 1`)
	if out, err := verifyCP(cp, "--witness", w1.key, "--witness", w2.key); err == nil {
		t.Fatalf("verify with a policy of 2 accepted a checkpoint cosigned by 1\n%s", out)
	}
	if out, err := verifyCP(cp, "--witness", w1.key, "--witness", w2.key, "--min-witnesses", "1"); err != nil {
		t.Fatalf("verify with a policy of 1 of 2: %v\n%s", err, out)
	}

	// Back, on the same state: it cosigns the latest checkpoint.
	w2 = startWitness(t, wdir2, "example.com/w2", addr2, vkey)
	waitUntil(t, "that checkpoint cosigned by both again", func() bool {
		_, cp = httpGet(t, base+"/checkpoint")
		return checkpointSize(cp) >= size2 && cosigLines(cp, origin) == 2
	})
	waitUntil(t, "/readyz ready", func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusOK && strings.Contains(body, `"ready"`)
	})
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// The rewrite: whoever holds the data directory deletes the ledger
	// and rebuilds it with other entries, signed by the same key. The
	// witnesses refuse to cosign it (it is not consistent with what they
	// cosigned).
	for _, f := range []string{sqliteFile, sqliteFile + "-wal", sqliteFile + "-shm"} {
		os.Remove(filepath.Join(dir, f))
	}
	s = startServer(t, dir, "--witness", "http://"+w1.addr+","+w1.key,
		"--witness", "http://"+w2.addr+","+w2.key, "--witness-retry-interval", "100ms")
	if got := s.VerifierKey(t); got != vkey {
		t.Fatalf("rewritten log's key %q, want the data directory's %q", got, vkey)
	}
	base = "http://" + s.HTTPAddr
	sendSpans(t, s.OTLPHTTPAddr, 35)
	waitUntil(t, "the rewritten log's checkpoint and /readyz degraded", func() bool {
		_, cp = httpGet(t, base+"/checkpoint")
		_, ready := httpGet(t, base+"/readyz")
		return checkpointSize(cp) >= 35 && strings.Contains(ready, `"degraded"`)
	})
	if n := cosigLines(cp, origin); n != 0 {
		t.Fatalf("a witness cosigned the rewritten log:\n%s", cp)
	}
	if out, err := verifyCP(cp); err != nil {
		t.Fatalf("without a witness policy the rewrite verifies (it is the log's own key), got %v\n%s", err, out)
	}
	if out, err := verifyCP(cp, "--witness", w1.key, "--witness", w2.key, "--min-witnesses", "1"); err == nil {
		t.Fatalf("verify with a witness policy accepted the rewritten checkpoint\n%s", out)
	}
	_, logs, err := run(t, newMonitorCmd(), "--url", base, "--key", vkey, "--state", filepath.Join(t.TempDir(), "m.state"),
		"--once", "--witness", w1.key, "--min-witnesses", "1")
	if err == nil {
		t.Fatalf("monitor with a witness policy accepted the rewritten checkpoint\n%s", logs)
	}
	wantMatch(t, "monitor log", logs, `level=ERROR msg="UNWITNESSED CHECKPOINT`)
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

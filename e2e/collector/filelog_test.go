package collector

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentledger/agentledger/internal/otelcoltest"
	"github.com/agentledger/agentledger/internal/servetest"
	"github.com/agentledger/agentledger/ledger"
)

// TestFilelogEvidence runs ingest/example-filelog-collector.yaml, only its
// files and addresses changed (testdata/filelog-collector.yaml), in the
// collector: its filelog receivers tail a CloudTrail log file, a Vault
// audit log and a Kubernetes audit log (the fixtures of
// evidence/testdata/scenario) and its exporter sends them over mutual TLS
// to agentledger serve. The ledger then holds exactly the entries that
// agentledger import makes of the same files, each submitted by the
// collector's SPIFFE ID.
func TestFilelogEvidence(t *testing.T) {
	fixtures, err := filepath.Abs(filepath.Join("..", "..", "evidence", "testdata", "scenario"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"cloudtrail": "cloudtrail.json", "vault": "vault_audit.log", "k8s-audit": "k8s_audit.log"}

	// What import makes of the files.
	importDir := t.TempDir()
	for format, file := range files {
		servetest.Run(t, "", "import", "--data-dir", importDir, "--format", format, filepath.Join(fixtures, file))
	}
	imported, _ := entries(t, filepath.Join(importDir, "ledger.db"))
	for _, src := range []string{ledger.SourceCloudTrail, ledger.SourceVault, ledger.SourceK8sAudit} {
		if !slices.ContainsFunc(imported, func(e ledger.Entry) bool { return e.Source == src }) {
			t.Fatalf("import made no %s entries of the fixtures", src)
		}
	}

	c := newCerts(t, "spiffe://e2e.example/ns/audit/sa/otel-filelog")
	dir := t.TempDir()
	s := servetest.Start(t, servetest.Options{DataDir: dir, Args: []string{"--otlp-tls-cert-file", filepath.Join(c.dir, "server.crt"), "--otlp-tls-key-file", filepath.Join(c.dir, "server.key"),
		"--otlp-client-ca-file", filepath.Join(c.dir, "ca.pem")}})
	col := otelcoltest.Start(t, otelcoltest.Options{
		Configs: []string{filepath.Join("..", "..", "ingest", "example-filelog-collector.yaml"), filepath.Join("testdata", "filelog-collector.yaml")},
		Env:     []string{"E2E_FIXTURES=" + fixtures, "E2E_SERVE_GRPC=" + s.OTLPGRPCAddr, "E2E_CERTS=" + c.dir, "E2E_DIR=" + dir},
	})

	// The filelog receivers read on their own schedule: wait until the
	// ledger is as large as import's, or a minute.
	deadline := time.Now().Add(time.Minute)
	for size := uint64(0); size < uint64(len(imported)); size = checkpointSize(t, s.HTTPAddr) {
		if time.Now().After(deadline) {
			t.Fatalf("the ledger holds %d entries after a minute, want %d", size, len(imported))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := col.Stop(t); err != nil {
		t.Errorf("collector: %v", err)
	}
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exited with %v", err)
	}

	got, _ := entries(t, filepath.Join(dir, "ledger.db"))
	key := func(e ledger.Entry) string {
		return strings.Join([]string{string(e.Kind), e.Source, e.TraceID, e.SpanID, e.EventKey, e.Name}, "|")
	}
	want := map[string]bool{}
	for _, e := range imported {
		want[key(e)] = true
	}
	for _, e := range got {
		if !want[key(e)] {
			t.Errorf("filelog entry %s is not one import makes", key(e))
		}
		delete(want, key(e))
		if e.Submitter != c.spiffe {
			t.Errorf("filelog entry %s: submitter %q, want the collector's %q", key(e), e.Submitter, c.spiffe)
		}
	}
	for k := range want {
		t.Errorf("import's entry %s is missing from the filelog path", k)
	}
}

// checkpointSize returns the tree size of serve's latest checkpoint (its
// second line), which GET /checkpoint serves without a token; 0 while
// there is none.
func checkpointSize(t *testing.T, api string) uint64 {
	t.Helper()
	resp, err := http.Get("http://" + api + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return 0
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /checkpoint: %d %s %v", resp.StatusCode, b, err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 3 {
		t.Fatalf("GET /checkpoint: %q is not a checkpoint", b)
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatal(fmt.Errorf("checkpoint size %q: %w", lines[1], err))
	}
	return n
}

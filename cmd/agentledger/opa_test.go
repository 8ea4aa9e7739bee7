package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/policy"
)

// TestServeOPADecisionLogs posts OPA decision batches, as OPA's
// decision-log plugin sends them, to a running serve: an ingest token is
// required, each decision is appended once however often the batch is
// sent, and a malformed batch writes nothing.
func TestServeOPADecisionLogs(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	out, err := exec.Command(binary, "token", "create", "--data-dir", dir, "--role", "ingest", "--name", "opa").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(token, '\n'); i >= 0 {
		token = strings.TrimSpace(token[i+1:])
	}
	admin, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	treeSize := func() uint64 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.HTTPAddr+"/v1/log", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(admin)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var info struct {
			TreeSize uint64 `json:"tree_size"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
			t.Fatal(err)
		}
		return info.TreeSize
	}
	post := func(token, batch string) int {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(batch))
		zw.Close()
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.HTTPAddr+policy.DecisionLogsPath, &buf)
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	batch := `[{"decision_id":"d-1","path":"http/authz/allow","result":true,"timestamp":"2026-12-06T06:00:00Z","input":{"subject":"agent-1","request":{"method":"GET","path":"/v1/x"}}},
	           {"decision_id":"d-2","path":"http/authz/allow","result":false,"timestamp":"2026-12-06T06:00:01Z"}]`
	before := treeSize()
	if got := post("", batch); got != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", got)
	}
	if got := post(strings.TrimSpace(string(admin)), batch); got != http.StatusUnauthorized {
		t.Errorf("with an admin token: %d, want 401", got)
	}
	if got := post(token, `[{"decision_id":"d-3"}]`); got != http.StatusBadRequest {
		t.Errorf("malformed: %d, want 400", got)
	}
	for range 2 {
		if got := post(token, batch); got != http.StatusOK {
			t.Fatalf("POST = %d, want 200", got)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for treeSize() != before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("tree size %d, want %d", treeSize(), before+2)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package main

import (
	"encoding/json"
	"fmt"
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

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/internal/pgcluster"
	"github.com/agentledger/agentledger/internal/readreplica"
	"github.com/agentledger/agentledger/internal/servetest"
)

// replicaGet GETs path from s with the bearer token, decodes the answer into
// v and returns the answer's status and headers.
func replicaGet(t *testing.T, s *servetest.Server, token, path string, v any) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.HTTPAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, b)
		}
	}
	return resp.StatusCode, resp.Header
}

// primaryCheckpoint returns the size of the latest checkpoint in the
// primary's database.
func primaryCheckpoint(t *testing.T, conn *pgx.Conn) uint64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(t.Context(), "SELECT coalesce(max(size), 0) FROM checkpoints").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return uint64(n)
}

// waitSettled waits until the primary's latest checkpoint covers its
// whole tree, and returns its size. Call it once the appends are
// acknowledged.
func waitSettled(t *testing.T, conn *pgx.Conn) uint64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var size, cp int64
		if err := conn.QueryRow(t.Context(), "SELECT size, coalesce(checkpoint_size, -1) FROM tree_head").Scan(&size, &cp); err != nil {
			t.Fatal(err)
		}
		if size == cp {
			return uint64(size)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoint did not reach the tree size %d within 30s", size)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type readyAnswer struct {
	Status  string             `json:"status"`
	Replica *api.ReplicaStatus `json:"replica"`
}

// TestServeReadReplica: serve --read-database answers queries from a
// streaming replica, complete to the replica's latest checkpoint. While
// the replica's replay is paused, appends go on in the primary and the
// answers stay at the old checkpoint, whole and verifiable, with /readyz
// reporting the lag; resumed, the answers catch up.
func TestServeReadReplica(t *testing.T) {
	primary := pgcluster.Start(t)
	replica := primary.Replica(t)
	pdsn, rdsn := primary.DSN("postgres"), replica.DSN("postgres")
	// The replica must hold the current schema before serve opens it.
	if out, err := exec.Command(binary, "migrate", "--database", pdsn).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if err := primary.WaitReplayed(t.Context(), replica); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), pdsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())

	dir := t.TempDir()
	s := startServer(t, dir, "--database", pdsn, "--read-database", rdsn)
	vkey := s.VerifierKey(t)
	raw, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))

	// logAt checks that the API answers at checkpoint size and returns
	// /readyz's replica report.
	logAt := func(size uint64) api.ReplicaStatus {
		t.Helper()
		var li api.LogInfo
		status, h := replicaGet(t, s, token, "/v1/log", &li)
		if status != http.StatusOK || li.TreeSize != size || li.Checkpoint == nil || li.Checkpoint.Size != size {
			t.Fatalf("GET /v1/log = %d, tree size %d, checkpoint %+v; want 200 at size %d", status, li.TreeSize, li.Checkpoint, size)
		}
		if got := h.Get(readreplica.CheckpointHeader); got != strconv.FormatUint(size, 10) {
			t.Errorf("%s = %q, want %d", readreplica.CheckpointHeader, got, size)
		}
		if status, _ := replicaGet(t, s, token, fmt.Sprintf("/v1/entries/%d", size-1), nil); status != http.StatusOK {
			t.Errorf("GET entry %d, the last of the checkpoint: %d, want 200", size-1, status)
		}
		if status, _ := replicaGet(t, s, token, fmt.Sprintf("/v1/entries/%d", size), nil); status != http.StatusNotFound {
			t.Errorf("GET entry %d, beyond the checkpoint: %d, want 404", size, status)
		}
		out, err := exec.Command(binary, "verify", "--key", vkey, "--url", "http://"+s.HTTPAddr, "--token", token, "--all").CombinedOutput()
		if err != nil {
			t.Fatalf("verify --all at size %d: %v\n%s", size, err, out)
		}
		var ready readyAnswer
		if status, _ := replicaGet(t, s, "", "/readyz", &ready); status != http.StatusOK || ready.Replica == nil {
			t.Fatalf("GET /readyz = %d, %+v; want 200 with a replica report", status, ready)
		}
		if ready.Replica.ReplicaCheckpointSize != size {
			t.Errorf("/readyz replica checkpoint size %d, want %d", ready.Replica.ReplicaCheckpointSize, size)
		}
		return *ready.Replica
	}

	sendSpans(t, s.OTLPHTTPAddr, 100)
	p1 := waitSettled(t, conn)
	if err := primary.WaitReplayed(t.Context(), replica); err != nil {
		t.Fatal(err)
	}
	if p1 < 100 {
		t.Fatalf("tree of %d entries after 100 spans", p1)
	}
	logAt(p1)

	if err := replica.PauseReplay(t.Context()); err != nil {
		t.Fatal(err)
	}
	sendSpans(t, s.OTLPHTTPAddr, 100)
	p2 := waitSettled(t, conn)
	if p2 < p1+100 {
		t.Fatalf("tree of %d entries after 100 spans more than %d", p2, p1)
	}
	st := logAt(p1)
	if st.PrimaryCheckpointSize != p2 || st.LagBytes <= 0 || st.LagSeconds <= 0 {
		t.Errorf("/readyz of a paused replica = %+v, want primary checkpoint size %d and a lag in bytes and seconds", st, p2)
	}

	if err := replica.ResumeReplay(t.Context()); err != nil {
		t.Fatal(err)
	}
	p3 := primaryCheckpoint(t, conn)
	if err := primary.WaitReplayed(t.Context(), replica); err != nil {
		t.Fatal(err)
	}
	if st := logAt(p3); st.PrimaryCheckpointSize != p3 {
		t.Errorf("/readyz of a replica caught up = %+v, want primary checkpoint size %d", st, p3)
	}
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit: %v", err)
	}
}

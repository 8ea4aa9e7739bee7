package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/agentledger/agentledger/ledger"
)

// helperEnv names the database file that TestHelperProcess appends to.
const helperEnv = "AGENTLEDGER_SQLITE_HELPER_DB"

// TestHelperProcess is not a test: TestDurability runs the test binary
// again with helperEnv set, and this appends batches to the store until it is
// killed, printing each index after the Update that holds it returned.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process of TestDurability")
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	sizes := []int{1, 2, 7, 200}
	for i := 0; ; i++ {
		n := sizes[i%len(sizes)]
		var recs []ledger.Record
		err := s.Update(ctx, nil, func(h ledger.TreeHead, _ map[[32]byte]ledger.Existing) (*ledger.Batch, error) {
			recs = make([]ledger.Record, n)
			for i := range recs {
				recs[i] = testRecord(t, h.Size+uint64(i))
			}
			return grow(h, recs)
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, r := range recs {
			fmt.Fprintln(out, r.Index)
		}
		if err := out.Flush(); err != nil {
			os.Exit(2)
		}
	}
}

// TestDurability kills a process that appends to the store with SIGKILL,
// several times, and checks after each kill that every index the process
// acknowledged is stored and that the tree head is consistent.
func TestDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := newPath(t)
	acked := make(map[uint64]bool)
	for round, kills := range []int{1, 150, 400, 1000, 3000} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+path)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			idx, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				continue // the test framework's own output
			}
			acked[idx] = true
			if n++; n == kills {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Lines written before the kill were acknowledged too, and read above.
		if err := cmd.Wait(); err == nil {
			t.Fatalf("round %d: helper exited cleanly, want killed", round)
		}
		if n < kills {
			t.Fatalf("round %d: helper acknowledged %d indices before it died, want at least %d", round, n, kills)
		}

		s, err := Open(t.Context(), path)
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		h := checkTree(t, t.Context(), s)
		for idx := range acked {
			if idx >= h.Size {
				t.Fatalf("round %d: acknowledged index %d missing: tree size %d after kill", round, idx, h.Size)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d indices acknowledged in all, tree size %d after kill", round, len(acked), h.Size)
	}
}

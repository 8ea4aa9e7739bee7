package ingest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoStoreDrivers checks that the receiver does not link the store
// drivers: a collector that hands it an open ledger (agentledger serve)
// or takes it from ledgerext needs neither pgx nor SQLite here.
func TestNoStoreDrivers(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/jackc/pgx", "modernc.org/sqlite", "github.com/agentledger/agentledger/internal/backend", "github.com/agentledger/agentledger/ledger/postgres", "github.com/agentledger/agentledger/ledger/sqlite"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("the receiver links %s", dep)
			}
		}
	}
}

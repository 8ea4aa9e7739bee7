package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
	"github.com/agentledger/agentledger/ledger/sqlite"
	"github.com/spf13/cobra"
)

// storeFlags are the flags of every command that opens the ledger.
type storeFlags struct {
	dataDir  string
	database string
}

func (f *storeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dataDir, "data-dir", defaultDataDir, "directory for the embedded SQLite ledger, the signer key and the ledger secret")
	cmd.Flags().StringVar(&f.database, "database", "", "Postgres URL (postgres://…) of the ledger; empty means the embedded SQLite ledger in --data-dir")
}

func isPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// openStore opens (and migrates) the ledger store: Postgres when
// databaseURL is set, else SQLite in dataDir.
func openStore(ctx context.Context, dataDir, databaseURL string) (ledger.Store, error) {
	switch {
	case databaseURL == "":
		s, err := sqlite.Open(ctx, filepath.Join(dataDir, sqliteFile))
		if err != nil {
			return nil, fmt.Errorf("open embedded ledger: %w", err)
		}
		return s, nil
	case isPostgres(databaseURL):
		s, err := postgres.Open(ctx, databaseURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres ledger: %w", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("--database %q: want a postgres:// or postgresql:// URL, or nothing for the embedded SQLite ledger", redactURL(databaseURL))
	}
}

// redactURL hides a password in a database URL for messages.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				return u[:i+3] + rest[:c] + ":xxxxx" + rest[at:]
			}
		}
	}
	return u
}

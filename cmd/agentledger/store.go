package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/agentledger/agentledger/internal/backend"
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

// openStore opens (and migrates) the ledger store: Postgres when
// databaseURL is set, else SQLite in dataDir.
func openStore(ctx context.Context, dataDir, databaseURL string) (backend.Store, error) {
	target, err := storeTarget(dataDir, databaseURL)
	if err != nil {
		return nil, err
	}
	s, err := backend.Open(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", redactURL(target), err)
	}
	return s, nil
}

// storeTarget returns the database string the flags name: the Postgres
// URL, or the embedded SQLite file in dataDir.
func storeTarget(dataDir, databaseURL string) (string, error) {
	switch {
	case databaseURL == "":
		return filepath.Join(dataDir, sqliteFile), nil
	case backend.IsPostgres(databaseURL):
		return databaseURL, nil
	default:
		return "", fmt.Errorf("--database %q: want a postgres:// or postgresql:// URL, or nothing for the embedded SQLite ledger", redactURL(databaseURL))
	}
}

// redactURL hides a password in a database URL for messages; a SQLite
// path is returned as it is.
func redactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(a database URL that does not parse)"
	}
	return u.Redacted()
}

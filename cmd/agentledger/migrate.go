package main

import (
	"fmt"
	"path/filepath"

	"github.com/agentledger/agentledger/ledger/postgres"
	"github.com/agentledger/agentledger/ledger/sqlite"
	"github.com/spf13/cobra"
)

func newMigrateCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the ledger's database migrations",
		Long: `migrate brings the ledger database's schema up to this binary's version. It
is idempotent, and refuses a database whose schema is newer than the binary.
serve also migrates when it starts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			switch {
			case sf.database == "":
				if err := sqlite.Migrate(ctx, filepath.Join(sf.dataDir, sqliteFile)); err != nil {
					return fmt.Errorf("migrate: %w", err)
				}
			case isPostgres(sf.database):
				if err := postgres.Migrate(ctx, sf.database); err != nil {
					return fmt.Errorf("migrate: %w", err)
				}
			default:
				return fmt.Errorf("--database %q: want a postgres:// URL", redactURL(sf.database))
			}
			fmt.Fprintln(cmd.OutOrStdout(), "migrations are current")
			return nil
		},
	}
	sf.register(cmd)
	return withEnv(cmd)
}

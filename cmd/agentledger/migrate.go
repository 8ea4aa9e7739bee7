package main

import (
	"fmt"

	"github.com/agentledger/agentledger/internal/backend"
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
			target, err := storeTarget(sf.dataDir, sf.database)
			if err != nil {
				return err
			}
			if err := backend.Migrate(cmd.Context(), target); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "migrations are current")
			return nil
		},
	}
	sf.register(cmd)
	return withEnv(cmd)
}

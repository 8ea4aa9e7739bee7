package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/internal/keyfile"
	"github.com/agentledger/agentledger/ledger"
	"github.com/spf13/cobra"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke bearer tokens of the query API and of OTLP ingest",
		Long: `token manages the bearer tokens of the query API. A token has a name and a
role: auditor (checkpoints, tiles, proofs, entries without content),
responder (plus the linked views and content) or admin (plus erasure).
A token of role ingest is for an OTLP sender: serve accepts it as
"authorization: Bearer <token>" on OTLP requests and records "token:<name>"
as the submitter of every entry they write; it allows nothing of the query
API. Revoking a token refuses it from the next request on.
Only the SHA-256 of a token is stored; create prints the token once.
These commands work while serve runs on the same store.

On Postgres, token rows are written only by the role agentledger_admin
(which the migration creates), never by agentledger_writer, the role of the
ingest path: run create and revoke as a login role granted
agentledger_admin (or the schema's owner); list needs either role. A serve
whose role is not granted agentledger_admin cannot create the first admin
token or answer the token API's create and revoke: create tokens with this
command instead.`,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var (
		sf   storeFlags
		name string
		role string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a token and print it once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return err
			}
			ts, err := openStore(cmd.Context(), sf.dataDir, sf.database)
			if err != nil {
				return err
			}
			defer ts.Close()
			secret, _, err := auth.Create(cmd.Context(), ts, name, r)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			fmt.Fprintf(cmd.ErrOrStderr(), "token %q (%s) created; it is shown only this once\n", name, r)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the token's name: who or what uses it (required)")
	cmd.Flags().StringVar(&role, "role", "", "auditor, responder, admin or ingest (required)")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("role")
	return withEnv(cmd)
}

func newTokenListCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (names, roles, dates; never the tokens)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := openStore(cmd.Context(), sf.dataDir, sf.database)
			if err != nil {
				return err
			}
			defer ts.Close()
			tokens, err := ts.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tROLE\tCREATED\tREVOKED")
			for _, t := range tokens {
				revoked := "-"
				if !t.Active() {
					revoked = t.Revoked.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Name, t.Role, t.Created.Format(time.RFC3339), revoked)
			}
			return w.Flush()
		},
	}
	sf.register(cmd)
	return withEnv(cmd)
}

func newTokenRevokeCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke the active token named NAME",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := openStore(cmd.Context(), sf.dataDir, sf.database)
			if err != nil {
				return err
			}
			defer ts.Close()
			if _, err := ts.RevokeToken(cmd.Context(), args[0], time.Now().UTC().Truncate(time.Microsecond)); err != nil {
				if errors.Is(err, ledger.ErrNotFound) {
					return fmt.Errorf("no active token named %q", args[0])
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %q revoked\n", args[0])
			return nil
		},
	}
	sf.register(cmd)
	return withEnv(cmd)
}

// firstAdminToken creates an admin token named "admin" and writes it to
// the data directory (mode 0600) when the store has no token yet. It
// returns the file's path when the file exists, and refuses the file if
// group or others may read it, as it refuses the key files.
func firstAdminToken(ctx context.Context, ts auth.Store, dir string) (string, error) {
	path := filepath.Join(dir, adminTokenFile)
	if _, err := keyfile.Read(path); err == nil {
		return path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	tokens, err := ts.ListTokens(ctx)
	if err != nil {
		return "", fmt.Errorf("list tokens: %w", err)
	}
	if len(tokens) > 0 {
		return "", nil
	}
	secret, _, err := auth.Create(ctx, ts, "admin", auth.RoleAdmin)
	if err != nil {
		return "", fmt.Errorf("%w (on Postgres, serve's role needs agentledger_admin to create it; or create a token with agentledger token create as such a role)", err)
	}
	if err := writeSecretFile(path, []byte(secret+"\n")); err != nil {
		return "", err
	}
	return path, nil
}

package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/agentledger/agentledger/evidence"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

func newImportCmd() *cobra.Command {
	var (
		sf             storeFlags
		format         string
		maxRecordBytes int
	)
	cmd := &cobra.Command{
		Use:   "import --format cloudtrail|vault|k8s-audit|keycloak [FILE|-]",
		Short: "Append an issuer's or provider's audit log to the ledger",
		Long: `import reads the audit log of a credential issuer or provider from FILE, or
standard input when FILE is - or absent, and appends its records to the
ledger, each marked with its source:

  cloudtrail  AWS CloudTrail: a log file as delivered to S3 ({"Records": [...]}),
              or events as EventBridge or CloudWatch Logs deliver them
  vault       the HashiCorp Vault file audit device (JSON lines)
  k8s-audit   the Kubernetes audit log (audit.k8s.io/v1 Event, JSON lines)
  keycloak    Keycloak events (the admin API's JSON array, or JSON lines)

Gzip-compressed input is recognised. Credential issuance and revocation
become credential entries; requests made with a credential become api_call
entries. Raw secrets in the records are replaced by their keyed
fingerprints, as for OTLP spans. Importing the same records again appends
nothing: each entry is keyed by the source's own event ID.

A record that cannot be read is refused whole and reported with its record
and line number; the other records are imported. The command exits with
an error if any record was refused. It works while serve runs on the same
store, and must use serve's --data-dir: its signer key signs the checkpoint
that covers the import, and its ledger secret keys the fingerprints, so
that a responder's lookup of a raw token finds them.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := evidence.ParseFormat(format)
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			name := "-"
			if len(args) == 1 {
				name = args[0]
			}
			var in io.Reader = cmd.InOrStdin()
			if name != "-" {
				file, err := os.Open(name)
				if err != nil {
					return err
				}
				defer file.Close()
				in = file
			}
			n, err := openNode(sf.dataDir, defaultLogName, false)
			if err != nil {
				return err
			}
			redactor, err := secrets.NewRedactor(n.secret, secrets.Config{})
			if err != nil {
				return err
			}
			p, err := evidence.NewParser(redactor, evidence.Config{Format: f, MaxRecordBytes: maxRecordBytes})
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, sf.dataDir, sf.database)
			if err != nil {
				return err
			}
			defer store.Close()
			before, err := store.Head(ctx)
			if err != nil {
				return err
			}
			l, err := ledger.OpenBound(ctx, store, ledger.Config{Signer: n.signer, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			st, err := evidence.Import(ctx, p, l, in, func(r evidence.Record) {
				fmt.Fprintf(stderr, "%s: %v\n", name, r.Err)
			})
			if err == nil {
				// A checkpoint covers what was imported, so it can be proved
				// at once.
				_, err = l.Checkpoint(ctx)
			}
			if cerr := l.Close(ctx); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("import %s: %w", name, err)
			}
			after, err := store.Head(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d records, %d entries; the ledger grew from %d to %d entries\n",
				name, st.Records, st.Entries, before.Size, after.Size)
			if st.Refused > 0 {
				return errors.New(plural(st.Refused, "record") + " refused")
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&format, "format", "", "the records' format: cloudtrail, vault, k8s-audit or keycloak (required)")
	cmd.Flags().IntVar(&maxRecordBytes, "max-record-bytes", evidence.DefaultMaxRecordBytes, "the largest record accepted; a larger one is refused")
	cmd.MarkFlagRequired("format")
	return withEnv(cmd)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

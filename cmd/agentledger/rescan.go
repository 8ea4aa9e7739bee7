package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// defaultRescanPage is the number of entries rescan reads per query.
const defaultRescanPage = 500

// rescanFinding is stored content in which the current rules find secrets.
type rescanFinding struct {
	ref   ledger.ContentRef
	rules []string
	fps   []string
}

func newRescanCmd() *cobra.Command {
	var (
		sf            storeFlags
		erase         bool
		actor, reason string
		pageSize      int
	)
	cmd := &cobra.Command{
		Use:   "rescan",
		Short: "Re-run the current secret rules over stored content, and erase what they find",
		Long: `rescan reads every piece of content still stored in the ledger (message
text, tool arguments and results) and runs the current secret detection of
ingest over it: what it finds is what the rules of the day it was ingested
missed. It prints, for each piece of content, the entry, the content name,
the rules that matched and the fingerprints of the secrets (never the
secrets), so that a responder can look the credentials up.

With --erase it then erases those pieces of content through the audited
erasure path: one erasure entry, naming --actor and --reason, is appended to
the log; the leaves and their proofs stay intact. The fingerprints use the
ledger secret of --data-dir, which must exist (also with --database).`,
		Example: `  agentledger rescan --data-dir /var/lib/agentledger
  agentledger rescan --database postgres://ledger@db/ledger --data-dir /etc/agentledger \
      --erase --actor alice@example.com --reason "INC-2291: rule for dop_v1_ tokens added"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pageSize <= 0 {
				return fmt.Errorf("--page-size %d: want at least 1", pageSize)
			}
			if erase && (actor == "" || reason == "") {
				return errors.New("--erase needs --actor and --reason: they are recorded in the erasure entry")
			}
			for _, f := range []string{secretFile, signerKeyFile} {
				if _, err := os.Stat(filepath.Join(sf.dataDir, f)); errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("no %s in --data-dir %s: rescan needs the ledger's secret and signer key", f, sf.dataDir)
				}
			}
			if sf.database == "" {
				if _, err := os.Stat(filepath.Join(sf.dataDir, sqliteFile)); errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("no ledger in --data-dir %s (and no --database)", sf.dataDir)
				}
			}
			n, err := openNode(sf.dataDir, "", false)
			if err != nil {
				return err
			}
			red, err := secrets.NewRedactor(n.secret, secrets.Config{})
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, sf.dataDir, sf.database)
			if err != nil {
				return err
			}
			defer store.Close()
			out := cmd.OutOrStdout()
			found, scanned, err := rescan(ctx, store, red, pageSize, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "content scanned: %d; with secrets the current rules find: %d\n", scanned, len(found))
			if !erase || len(found) == 0 {
				return nil
			}
			refs := make([]ledger.ContentRef, len(found))
			for i, f := range found {
				refs[i] = f.ref
			}
			return eraseFound(ctx, store, n.signer, refs, actor, reason, out)
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&erase, "erase", false, "erase the content in which secrets are found (needs --actor and --reason)")
	cmd.Flags().StringVar(&actor, "actor", "", "who erases, recorded in the erasure entry")
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the erasure entry")
	cmd.Flags().IntVar(&pageSize, "page-size", defaultRescanPage, "entries read per query")
	return withEnv(cmd)
}

// rescan runs red over every stored piece of content in the tree as it is now, prints
// one line for each in which it finds secrets, and returns those and the number of
// pieces scanned. AWS access key IDs alone are not secrets and are not reported.
func rescan(ctx context.Context, store ledger.Reader, red *secrets.Redactor, pageSize int, out io.Writer) ([]rescanFinding, int, error) {
	head, err := store.Head(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("read tree head: %w", err)
	}
	var found []rescanFinding
	scanned := 0
	for start := uint64(0); start < head.Size; start += uint64(pageSize) {
		recs, err := store.Records(ctx, start, min(head.Size, start+uint64(pageSize)))
		if err != nil {
			return nil, 0, fmt.Errorf("read entries from %d: %w", start, err)
		}
		for _, rec := range recs {
			for _, c := range rec.Content {
				if c.Data == nil {
					continue
				}
				scanned++
				_, fs, changed := red.RedactText(string(c.Data))
				if !changed {
					continue
				}
				f := rescanFinding{ref: ledger.ContentRef{Index: rec.Index, Name: c.Name}}
				for _, x := range fs {
					if x.Fingerprint == "" {
						continue
					}
					if !slices.Contains(f.rules, x.Rule) {
						f.rules = append(f.rules, x.Rule)
					}
					f.fps = append(f.fps, x.Fingerprint)
				}
				found = append(found, f)
				fmt.Fprintf(out, "entry %d content %q: %d secret(s), rules %s: %s\n",
					rec.Index, c.Name, len(f.fps), strings.Join(f.rules, ", "), strings.Join(f.fps, " "))
			}
		}
	}
	return found, scanned, nil
}

// eraseFound erases refs with one erasure entry and signs a checkpoint that covers it.
func eraseFound(ctx context.Context, store ledger.KeyedStore, signer *ledger.Signer, refs []ledger.ContentRef, actor, reason string, out io.Writer) error {
	l, err := ledger.OpenBound(ctx, store, ledger.Config{Signer: signer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	idx, err := l.Erase(ctx, refs, actor, reason)
	if err == nil {
		_, err = l.Checkpoint(ctx)
	}
	if cerr := l.Close(context.WithoutCancel(ctx)); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	fmt.Fprintf(out, "erased %d piece(s) of content by erasure entry %d\n", len(refs), idx)
	return nil
}

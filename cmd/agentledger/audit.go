package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/ledger/audit"
	"github.com/agentledger/agentledger/ledger/verify"
)

// keyFlags are the flags that give the log's verifier key.
type keyFlags struct {
	key, keyFile string
	rotations    []string
}

func (f *keyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.key, "key", "", "the log's verifier key, <name>+<hash>+<key> as keygen prints it")
	cmd.Flags().StringVar(&f.keyFile, "key-file", "", "file holding the log's verifier key")
	cmd.Flags().StringArrayVar(&f.rotations, "rotation", nil, "key rotation bundle (agentledger rotate-key writes it), in order: trust the new key it introduces, signed by the key before it; repeatable")
}

// verifierKey returns the log's current verifier key: the key from --key or
// --key-file, checked, or the last one the --rotation bundles introduce.
func (f *keyFlags) verifierKey() (string, error) {
	keys, err := f.verifierKeys()
	if err != nil {
		return "", err
	}
	return keys[len(keys)-1], nil
}

// verifierKeys returns the pinned key followed by each key the --rotation
// bundles introduce, in order.
func (f *keyFlags) verifierKeys() ([]string, error) {
	k := f.key
	switch {
	case f.key != "" && f.keyFile != "":
		return nil, errors.New("give --key or --key-file, not both")
	case f.keyFile != "":
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--key-file: %w", err)
		}
		k = string(b)
	case f.key == "":
		return nil, errors.New("the log's verifier key is required (--key or --key-file): pin the key you trust, never take it from the server")
	}
	k = strings.TrimSpace(k)
	if strings.HasPrefix(k, "PRIVATE+KEY+") {
		return nil, errors.New("that is the log's signer key; give its verifier key (keygen prints it)")
	}
	if _, err := note.NewVerifier(k); err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	keys := []string{k}
	for _, path := range f.rotations {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--rotation: %w", err)
		}
		r, err := verify.Rotation(b, k)
		if err != nil {
			return nil, fmt.Errorf("--rotation %s: %w", path, err)
		}
		k = r.NewKey
		keys = append(keys, k)
	}
	return keys, nil
}

func newAuditCmd() *cobra.Command {
	var (
		sf    storeFlags
		kf    keyFlags
		opts  audit.Options
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Re-derive the stored ledger and check it against every signed checkpoint",
		Long: `audit reads every stored entry and tile of the ledger database and checks,
without trusting the database: each leaf hash is SHA-256(0x00 ‖ leaf), each
leaf decodes and agrees with its stored columns, stored content matches the
leaf's commitments (and content that is gone was erased by an erasure
entry), the tiles hold the tree the leaves make, the tree head is that
tree's, and every stored checkpoint is signed by --key and commits to that
tree at its size, with sizes that never go down. In the same pass over the
leaves it rebuilds the verifiable index and compares it with every signed
index note, the stored key lists and map nodes, and every entry_refs row.

It prints what it checked and exits 0 when everything matches; otherwise it
names the first divergence (the entry, tile or checkpoint, and what
differs) and exits non-zero. It may run while the server appends: it covers
the tree as it was when it started.`,
		Example: `  agentledger audit --database postgres://auditor@db/ledger --key "$(cat ledger.vkey)"
  agentledger audit --data-dir /var/lib/agentledger --key-file ledger.vkey`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vkey, err := kf.verifierKey()
			if err != nil {
				return err
			}
			if sf.database == "" {
				// Do not create an empty ledger where none is.
				if _, err := os.Stat(filepath.Join(sf.dataDir, sqliteFile)); errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("no ledger in --data-dir %s (and no --database)", sf.dataDir)
				}
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, sf.dataDir, sf.database)
			if err != nil {
				return err
			}
			defer store.Close()
			errOut := cmd.ErrOrStderr()
			if !quiet {
				last := time.Now()
				opts.Progress = func(r audit.Report) {
					if time.Since(last) >= 2*time.Second {
						last = time.Now()
						fmt.Fprintf(errOut, "audit: %d of %d entries checked\n", r.Entries, r.Size)
					}
				}
			}
			opts.Index = true
			rep, err := audit.Run(ctx, store, vkey, opts)
			if err != nil {
				return err
			}
			printAudit(cmd, rep, vkey)
			if rep.Divergence != nil {
				return fmt.Errorf("audit found a divergence: %s", rep.Divergence)
			}
			irep := rep.Index
			printIndexAudit(cmd, irep)
			if !irep.OK() {
				return fmt.Errorf("audit found %d divergence(s) of the verifiable index; the first: %s", len(irep.Divergences)+irep.More, irep.Divergences[0])
			}
			return nil
		},
	}
	sf.register(cmd)
	kf.register(cmd)
	cmd.Flags().IntVar(&opts.PageSize, "page-size", audit.DefaultPageSize, "entries read per query (the first and last pages are smaller, so that the checks start early and end soon after the last read)")
	cmd.Flags().IntVar(&opts.Workers, "workers", 0, "goroutines that hash and check entries (0: one per CPU)")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "do not print progress")
	return withEnv(cmd)
}

func printAudit(cmd *cobra.Command, rep *audit.Report, vkey string) {
	out := cmd.OutOrStdout()
	name := vkey
	if v, err := note.NewVerifier(vkey); err == nil {
		name = v.Name()
	}
	fmt.Fprintf(out, "tree head: size %d, root %s\n", rep.Size, base64.StdEncoding.EncodeToString(rep.Root[:]))
	fmt.Fprintf(out, "entries checked: %d (leaf hash, leaf format, columns, level-0 tile hash)\n", rep.Entries)
	fmt.Fprintf(out, "content checked against commitments: %d; erased by erasure entries: %d\n", rep.Content, rep.Erased)
	fmt.Fprintf(out, "tile hashes compared: %d\n", rep.TileHashes)
	fmt.Fprintf(out, "checkpoints verified (signed by %s, root at their size): %d", name, rep.Checkpoints)
	if rep.Later > 0 {
		fmt.Fprintf(out, "; %d more signed while the audit ran", rep.Later)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "took %v (%.0f entries/s)\n", rep.Elapsed.Round(time.Millisecond), rep.Rate())
	if rep.Divergence == nil {
		fmt.Fprintln(out, "OK: the stored ledger is the tree every checkpoint signed")
	} else {
		fmt.Fprintf(out, "DIVERGENCE at entry %d: %s\n", rep.Divergence.Index, rep.Divergence)
	}
}

func printIndexAudit(cmd *cobra.Command, rep *audit.IndexReport) {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "index: %d notes verified (signature, checkpoint, map root rebuilt from the leaves)\n", rep.Notes)
	if rep.NotesV1 > 0 {
		fmt.Fprintf(out, "index: %d notes of index version 1 verified (signature, checkpoint), kept from before the upgrade\n", rep.NotesV1)
	}
	fmt.Fprintf(out, "index: %d key lists and the map compared at size %d; %d entry_refs rows checked; took %v\n",
		rep.Keys, rep.KeysAt, rep.Refs, rep.Elapsed.Round(time.Millisecond))
	if rep.OK() {
		fmt.Fprintln(out, "OK: the verifiable index and entry_refs are those the leaves give")
		return
	}
	for _, d := range rep.Divergences {
		fmt.Fprintf(out, "DIVERGENCE at entry %d: %s\n", d.Index, d)
	}
	if rep.More > 0 {
		fmt.Fprintf(out, "and %d more\n", rep.More)
	}
}

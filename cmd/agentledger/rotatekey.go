package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentledger/agentledger/internal/keyfile"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/verify"
)

func newRotateKeyCmd() *cobra.Command {
	var (
		sf              storeFlags
		newKey, outPath string
	)
	cmd := &cobra.Command{
		Use:   "rotate-key --new-key FILE --out BUNDLE",
		Short: "Rotate the log's signer key: the old key signs in the new one, in the log",
		Long: `rotate-key replaces the log's checkpoint signer key. The data directory's
key (the log's current key, as the database records it) and the new key
(--new-key, a signer key file keygen wrote for the same log name) both sign
a statement, a C2SP signed note

  agentledger-key-rotation/v1
  <origin>
  <old verifier key>
  <new verifier key>
  <tree size>

which is appended to the log as a span entry named agentledger.key_rotation
(ledger/FORMAT.md), covered by a checkpoint signed by the old key. The
database then records the new key, and the data directory's signer.key is
replaced by it. --out receives the rotation bundle (the entry's leaf, that
checkpoint and the inclusion proof): give it to verify, monitor and audit
with --rotation, beside the old pinned key, to accept the new key's
checkpoints. Stop every writer first; start them again with the new key:
from now on the database refuses the old one.`,
		Example: `  agentledger keygen --out new.key
  agentledger rotate-key --data-dir /var/lib/agentledger --new-key new.key --out rotation-1.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if newKey == "" || outPath == "" {
				return errors.New("--new-key and --out are required")
			}
			keyPath := filepath.Join(sf.dataDir, signerKeyFile)
			if _, err := os.Stat(keyPath); err != nil {
				return fmt.Errorf("the data directory's signer key: %w", err)
			}
			n, err := openNode(sf.dataDir, "", false)
			if err != nil {
				return err
			}
			skey, err := keyfile.Read(newKey)
			if err != nil {
				return fmt.Errorf("--new-key: %w", err)
			}
			next, err := ledger.NewSigner(string(skey))
			if err != nil {
				return fmt.Errorf("--new-key %s: %w", newKey, err)
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, sf.dataDir, sf.database)
			if err != nil {
				return err
			}
			defer store.Close()
			l, err := ledger.OpenBound(ctx, store, ledger.Config{Signer: n.signer, CheckpointInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				return err
			}
			cur, err := ledger.CurrentKey(ctx, store)
			if err != nil {
				l.Close(ctx)
				return err
			}
			head, err := store.Head(ctx)
			if err != nil {
				l.Close(ctx)
				return err
			}
			msg, err := ledger.SignRotation(n.signer, next, head.Size)
			if err != nil {
				l.Close(ctx)
				return err
			}
			idx, err := l.Append(ctx, []ledger.Entry{ledger.RotationEntry(msg, head.Size, time.Now())})
			if err != nil {
				l.Close(ctx)
				return fmt.Errorf("append the key rotation: %w", err)
			}
			cp, err := l.Checkpoint(ctx)
			if cerr := l.Close(ctx); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("sign a checkpoint over the key rotation: %w", err)
			}
			at := idx[0].Index
			recs, err := store.RecordsAt(ctx, []uint64{at})
			if err != nil || len(recs) != 1 {
				return fmt.Errorf("read the key rotation entry %d: %v", at, err)
			}
			proof, err := ledger.CheckpointInclusionProof(ctx, store, at, cp)
			if err != nil {
				return fmt.Errorf("prove the key rotation entry: %w", err)
			}
			bundle, err := json.MarshalIndent(verify.RotationBundle{Index: at, Leaf: recs[0].Leaf, Checkpoint: string(cp.Note), Proof: proof}, "", "  ")
			if err != nil {
				return err
			}
			if _, err := verify.Rotation(bundle, n.signer.VerifierKey()); err != nil {
				return fmt.Errorf("check the rotation bundle: %w", err)
			}
			if err := os.WriteFile(outPath, append(bundle, '\n'), 0o644); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			if err := store.AddLogKey(ctx, ledger.LogKey{Seq: cur.Seq + 1, Origin: cur.Origin, VerifierKey: next.VerifierKey(), Time: time.Now()}); err != nil {
				return fmt.Errorf("record the new key: %w", err)
			}
			tmp := keyPath + ".new"
			if err := writeSecretFile(tmp, append(skey, '\n')); err != nil {
				return err
			}
			if err := os.Rename(tmp, keyPath); err != nil {
				return fmt.Errorf("install the new signer key: %w", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "key rotation: entry %d, checkpoint of size %d signed by %s\n", at, cp.Size, n.signer.VerifierKey())
			fmt.Fprintf(out, "rotation bundle: %s\n", outPath)
			fmt.Fprintf(out, "verifier key: %s\n", next.VerifierKey())
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&newKey, "new-key", "", "the new signer key file (keygen writes one)")
	cmd.Flags().StringVar(&outPath, "out", "", "file to write the rotation bundle to")
	return withEnv(cmd)
}

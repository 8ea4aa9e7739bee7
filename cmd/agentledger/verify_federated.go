package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/verify"
)

// verifyFederated runs verify --credential ID --federated --trust FILE.
func verifyFederated(cmd *cobra.Command, f *verifyFlags) error {
	switch {
	case !f.federated || f.trust == "":
		return errors.New("--federated and --trust go together")
	case f.url == "" || f.credential == "":
		return errors.New("--federated needs --url and --credential")
	case f.all || f.content:
		return errors.New("--federated takes neither --all nor --content (a federated view carries no content)")
	case f.key != "" || f.keyFile != "" || len(f.rotations) > 0:
		return errors.New("--federated takes the logs' keys from --trust, not --key, --key-file or --rotation")
	case f.checkpoint != "" || f.oldCheckpoint != "" || f.leaf != "" || f.proof != "" || f.indexSet:
		return errors.New("--federated is online: give no files")
	case len(splitList(f.witnesses.keys)) > 0:
		return errors.New("--federated does not check witness cosignatures yet: verify each shard's checkpoint with --url and --witness")
	}
	b, err := os.ReadFile(f.trust)
	if err != nil {
		return fmt.Errorf("--trust: %w", err)
	}
	trust, err := verify.ParseTrust(b)
	if err != nil {
		return fmt.Errorf("--trust %s: %w", f.trust, err)
	}
	c := &verify.Client{BaseURL: f.url, Token: f.token}
	rep, err := c.VerifyFederatedCredential(cmd.Context(), f.credential, verify.FederatedOptions{Trust: trust, Wait: f.wait})
	out := cmd.OutOrStdout()
	if rep != nil {
		for _, s := range rep.Shards {
			printCheckpoint(cmd, "shard "+s.Name+": checkpoint", s.Checkpoint)
			fmt.Fprintf(out, "shard %s: credential %q: %d entries verified (leaf, leaf hash, inclusion proof) from %d page(s) of its view: %s\n",
				s.Name, f.credential, len(s.Entries), s.Pages, joinIndices(s.Entries))
			fmt.Fprintf(out, "shard %s: credential %q: facts of %d entry objects match their leaves\n", s.Name, f.credential, s.Facts)
			fmt.Fprintf(out, "shard %s: credential %q: the view is %s: the signed index lists %d entries for it\n",
				s.Name, f.credential, s.Complete, s.Complete.Indexed[ledger.Ref{Key: ledger.RefCredential, Value: f.credential}.String()])
		}
	}
	if err != nil {
		return fmt.Errorf("credential %q, federated: %w", f.credential, err)
	}
	fmt.Fprintf(out, "credential %q: every shard of the %d trusted logs answered and verified\nverified\n", f.credential, len(trust))
	return nil
}

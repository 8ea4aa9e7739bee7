package main

import (
	"fmt"
	"os"

	"github.com/agentledger/agentledger/ledger"
	"github.com/spf13/cobra"
)

func newKeygenCmd() *cobra.Command {
	var out, name string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Write a new checkpoint signer key and print its verifier key",
		Long: `keygen writes a new Ed25519 signed-note signer key to --out (file mode
0600, refusing to overwrite) and prints the verifier key, in the form
<name>+<hash>+<key>, that auditors pin to check checkpoints.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			skey, vkey, err := ledger.GenerateKey(name)
			if err != nil {
				return err
			}
			if err := writeSecretFile(out, []byte(skey+"\n")); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "signer.key", "file to write the signer key to")
	cmd.Flags().StringVar(&name, "log-name", defaultLogName, "the log's name: the checkpoint origin and key name")
	return withEnv(cmd)
}

// writeSecretFile creates path with mode 0600 and writes data, refusing to
// overwrite an existing file.
func writeSecretFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

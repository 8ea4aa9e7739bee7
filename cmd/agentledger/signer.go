package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/agentledger/agentledger/internal/keyfile"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/signer"
)

// pkcs11PINEnv holds the PKCS#11 user PIN: never a flag, which would show
// in process lists.
const pkcs11PINEnv = "AGENTLEDGER_PKCS11_PIN"

// openSignerBackend opens the signer backend spec names: "unix:PATH", a
// signer process listening on a Unix socket, or a PKCS#11 URI, a key in a
// token, for the log named logName.
func openSignerBackend(spec, logName string) (*ledger.Signer, error) {
	if strings.HasPrefix(spec, "pkcs11:") {
		cfg, err := signer.ParsePKCS11URI(spec)
		if err != nil {
			return nil, fmt.Errorf("--signer: %w", err)
		}
		cfg.PIN, cfg.Origin = os.Getenv(pkcs11PINEnv), logName
		p, err := signer.OpenPKCS11(cfg)
		if err != nil {
			return nil, fmt.Errorf("--signer: %w", err)
		}
		return ledger.NewSignerFrom(p, p.VerifierKey())
	}
	path, ok := strings.CutPrefix(spec, "unix:")
	if !ok || path == "" {
		return nil, fmt.Errorf("--signer %q: want unix:PATH (a signer process), a pkcs11: URI, or nothing for the data directory's key file", spec)
	}
	r, err := signer.Dial(path)
	if err != nil {
		return nil, err
	}
	s, err := ledger.NewSignerFrom(r, r.VerifierKey())
	if err != nil {
		return nil, fmt.Errorf("--signer %s: %w", spec, err)
	}
	return s, nil
}

func newSignerCmd() *cobra.Command {
	var keyPath, socket, state string
	cmd := &cobra.Command{
		Use:   "signer --key FILE --socket PATH --state FILE",
		Short: "Hold the log's signer key in a process of its own, and sign over a Unix socket",
		Long: `signer reads the checkpoint signer key and serves signatures on a Unix
socket (mode 0600), so that serve --signer unix:PATH never holds the key: a
process that can write the data directory or the database cannot re-sign a
rewritten log. It signs only checkpoints of its log whose tree size never
goes back, and whose root never changes at one size (the last one signed is
kept in --state, written before the signature is returned), and verifiable
index notes; it refuses everything else, such as a key rotation statement
(sign those with the key file). It does not check that a checkpoint is
consistent with the last: a witness does (see README).`,
		Example: `  agentledger signer --key /etc/agentledger-signer/signer.key --socket /run/agentledger/signer.sock --state /var/lib/agentledger-signer/state
  agentledger serve --signer unix:/run/agentledger/signer.sock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyPath == "" || socket == "" || state == "" {
				return errors.New("--key, --socket and --state are required")
			}
			skey, err := keyfile.Read(keyPath)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			ls, err := ledger.NewSigner(string(skey))
			if err != nil {
				return fmt.Errorf("--key %s: %w", keyPath, err)
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			srv, err := signer.NewServer(string(skey), ls.VerifierKey(), state, logger)
			if err != nil {
				return err
			}
			if err := os.Remove(socket); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale socket: %w", err)
			}
			old := syscall.Umask(0o077)
			l, err := net.Listen("unix", socket)
			syscall.Umask(old)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", socket, err)
			}
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sigs)
			go func() {
				<-sigs
				l.Close()
			}()
			fmt.Fprintf(cmd.OutOrStdout(), "verifier key: %s\nlistening on %s\n", ls.VerifierKey(), socket)
			return srv.Serve(l)
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "the signer key file (keygen writes one; mode 0600)")
	cmd.Flags().StringVar(&socket, "socket", "", "the Unix socket to listen on (created mode 0600)")
	cmd.Flags().StringVar(&state, "state", "", "file that keeps the size and root of the last checkpoint signed")
	return withEnv(cmd)
}

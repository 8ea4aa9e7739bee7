package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/agentledger/agentledger/internal/devcert"
	"github.com/spf13/cobra"
)

// The files dev-certs writes.
const (
	devCAFile         = "ca.pem"
	devServerCertFile = "server.crt"
	devServerKeyFile  = "server.key"
	devClientCertFile = "client.crt"
	devClientKeyFile  = "client.key"
)

func newDevCertsCmd() *cobra.Command {
	var (
		dir      string
		names    []string
		spiffeID string
		validity time.Duration
		force    bool
	)
	cmd := &cobra.Command{
		Use:   "dev-certs",
		Short: "Make a development CA, a server certificate and a SPIFFE client certificate for mutual TLS",
		Long: `dev-certs writes, into --dir, a new certificate authority (ca.pem; its key
is not kept), a server certificate for agentledger (server.crt, server.key)
valid for --server-name, localhost and 127.0.0.1, and a client certificate
(client.crt, client.key) whose URI SAN is --client-spiffe-id, as in a SPIFFE
X.509-SVID. Keys are written with mode 0600. docker-compose.yml runs it so
that the collector and agentledger speak mutual TLS:

  agentledger serve --otlp-tls-cert-file server.crt --otlp-tls-key-file server.key \
      --otlp-client-ca-file ca.pem

It does nothing if --dir already holds the files, unless --force. For
development only: in production, use your CA, SPIRE or cert-manager.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return devCerts(cmd, dir, names, spiffeID, validity, force)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "certs", "directory to write the certificates and keys into")
	fl.StringSliceVar(&names, "server-name", []string{"agentledger"}, "DNS names of the server certificate, besides localhost and 127.0.0.1")
	fl.StringVar(&spiffeID, "client-spiffe-id", "spiffe://agentledger.local/otel-collector", "SPIFFE ID of the client certificate: the submitter of what its holder sends")
	fl.DurationVar(&validity, "validity", 365*24*time.Hour, "how long the certificates are valid")
	fl.BoolVar(&force, "force", false, "replace existing files")
	return withEnv(cmd)
}

func devCerts(cmd *cobra.Command, dir string, names []string, spiffeID string, validity time.Duration, force bool) error {
	if validity <= 0 {
		return fmt.Errorf("--validity %v: want a positive duration", validity)
	}
	if !force {
		if _, err := os.Stat(filepath.Join(dir, devCAFile)); err == nil {
			fmt.Fprintf(cmd.OutOrStdout(), "%s already holds a development CA; nothing to do (--force replaces it)\n", dir)
			return nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	ca, err := devcert.NewCA("agentledger development CA", validity)
	if err != nil {
		return err
	}
	now := time.Now()
	srvCert, srvKey, err := ca.Issue(devcert.Request{CommonName: names[0], DNSNames: slices.Concat(names, []string{"localhost"}),
		IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, NotAfter: now.Add(validity)})
	if err != nil {
		return err
	}
	cliCert, cliKey, err := ca.Issue(devcert.Request{CommonName: "otlp-client", SPIFFEID: spiffeID, NotAfter: now.Add(validity)})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{devCAFile, ca.CertPEM(), 0o644},
		{devServerCertFile, srvCert, 0o644},
		{devServerKeyFile, srvKey, 0o600},
		{devClientCertFile, cliCert, 0o644},
		{devClientKeyFile, cliKey, 0o600},
	} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote a development CA, a server certificate for %v and a client certificate for %s into %s\n", names, spiffeID, dir)
	return nil
}

// writeFileAtomic writes data to path through a temporary file renamed
// into place, so that a reader never sees half a file.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"

	"github.com/agentledger/agentledger/internal/demo"
	"github.com/spf13/cobra"
)

func newDemoCmd() *cobra.Command {
	var (
		target  string
		useHTTP bool
		uiURL   string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Send realistic agent traffic to a running agentledger over OTLP",
		Long: `demo sends agent runs over real OTLP to a running agentledger: agents that
obtain short-lived credentials (an OAuth token exchange from a platform token,
a SPIFFE JWT-SVID, an AWS STS session), reason over several LLM steps with tool
calls, call APIs with the credentials, wait for a human approval, and one
credential that leaks and is used from another run. It prints the credential
IDs and the links to open in the UI. serve --demo runs it against itself once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := demo.Send(cmd.Context(), demo.Config{Target: target, HTTP: useHTTP})
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			printDemo(cmd.OutOrStdout(), res, uiURL)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "target", "localhost:4317", "OTLP endpoint (host:port) of the agentledger to send to")
	cmd.Flags().BoolVar(&useHTTP, "http", false, "send OTLP/HTTP (to port 4318) instead of OTLP/gRPC")
	cmd.Flags().StringVar(&uiURL, "ui-url", "http://127.0.0.1:8080", "base URL of the agentledger UI, for the printed links")
	return withEnv(cmd)
}

func printDemo(w io.Writer, res *demo.Result, uiURL string) {
	fmt.Fprintf(w, "\nDemo traffic sent: %d agent runs.\n\n", len(res.Runs))
	for _, r := range res.Runs {
		fmt.Fprintf(w, "  run %s  %-14s %s\n", r.TraceID, r.Agent, r.Summary)
	}
	fmt.Fprintln(w, "\nCredentials:")
	names := make([]string, 0, len(res.Credentials))
	for n := range res.Credentials {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-48s %s\n", n, res.Credentials[n])
	}
	fmt.Fprintf(w, "\nThe credential %s leaked: run %s obtained it, run %s used it.\n", res.LeakedCredential, res.LegitRun, res.ForeignRun)
	fmt.Fprintf(w, "Open it in the UI:   %s/#/credentials/%s\n", uiURL, url.PathEscape(res.LeakedCredential))
	fmt.Fprintf(w, "The foreign run:     %s/#/runs/%s\n", uiURL, res.ForeignRun)
	fmt.Fprintf(w, "Or paste the leaked raw token into the UI's search box; it is looked up by fingerprint:\n  %s\n", res.LeakedToken)
	if res.LeakedSession != "" {
		fmt.Fprintf(w, "\nCloudTrail saw the AWS session %s used from %s, and no agent run accounts for it:\n", res.LeakedSession, demo.AttackerIP)
		fmt.Fprintf(w, "  %s/#/credentials/%s\n", uiURL, url.PathEscape(res.LeakedSession))
	}
}

// serveDemoFlags are serve's flags for --demo.
type serveDemoFlags struct {
	clientCertFile, clientKeyFile string
}

func (d *serveDemoFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&d.clientCertFile, "demo-client-cert-file", "", "--demo with mutual TLS (--otlp-client-ca-file): the PEM client certificate the demo's sender presents; empty for agentledger dev-certs' client.crt beside the client CA file")
	fl.StringVar(&d.clientKeyFile, "demo-client-key-file", "", "PEM private key of --demo-client-cert-file")
}

// serveDemoConfig returns how serve --demo reaches this server's own OTLP
// receiver: its gRPC listener, else its HTTP one, on loopback when it
// listens on every address. When OTLP is served over TLS, the demo trusts
// the server's own certificate (--otlp-tls-cert-file) and, when mutual TLS
// is required, presents --demo-client-cert-file, or else the client
// certificate agentledger dev-certs wrote beside the client CA file.
func serveDemoConfig(f serveFlags) (demo.Config, error) {
	cfg := demo.Config{Target: f.otlpGRPCAddr}
	if cfg.Target == "" {
		cfg = demo.Config{Target: f.otlpHTTPAddr, HTTP: true}
	}
	if cfg.Target == "" {
		return cfg, errors.New("no OTLP listener to send to (--otlp-grpc-addr and --otlp-http-addr are both empty)")
	}
	host, port, err := net.SplitHostPort(cfg.Target)
	if err != nil {
		return cfg, fmt.Errorf("OTLP address %q: %w", cfg.Target, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	cfg.Target = net.JoinHostPort(host, port)
	if f.otlpTLSCertFile == "" {
		return cfg, nil
	}
	roots, serverName, err := pinServerCert(f.otlpTLSCertFile, host)
	if err != nil {
		return cfg, err
	}
	cfg.TLS = &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
	certFile, keyFile := f.demoFlags.clientCertFile, f.demoFlags.clientKeyFile
	if (certFile == "") != (keyFile == "") {
		return cfg, errors.New("--demo-client-cert-file and --demo-client-key-file go together")
	}
	if certFile == "" && f.otlpClientCAFile != "" {
		dir := filepath.Dir(f.otlpClientCAFile)
		certFile, keyFile = filepath.Join(dir, devClientCertFile), filepath.Join(dir, devClientKeyFile)
		if _, err := os.Stat(certFile); errors.Is(err, fs.ErrNotExist) {
			return cfg, fmt.Errorf("mutual TLS (--otlp-client-ca-file) needs a client certificate for the demo's sender: "+
				"set --demo-client-cert-file and --demo-client-key-file, or keep agentledger dev-certs' %s and %s in %s",
				devClientCertFile, devClientKeyFile, dir)
		}
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return cfg, fmt.Errorf("demo client certificate: %w", err)
		}
		cfg.TLS.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// pinServerCert returns a pool of the certificates in the server's own
// certificate file, so that the demo trusts exactly the certificate its
// server presents, and the name to check it for: host if the certificate
// names it, else the certificate's first DNS name.
func pinServerCert(certFile, host string) (*x509.CertPool, string, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, "", fmt.Errorf("read --otlp-tls-cert-file: %w", err)
	}
	pool := x509.NewCertPool()
	var leaf *x509.Certificate
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, "", fmt.Errorf("--otlp-tls-cert-file: %w", err)
		}
		if leaf == nil {
			leaf = c
		}
		pool.AddCert(c)
	}
	switch {
	case leaf == nil:
		return nil, "", fmt.Errorf("--otlp-tls-cert-file %s holds no certificate", certFile)
	case leaf.VerifyHostname(host) == nil:
		return pool, host, nil
	case len(leaf.DNSNames) > 0:
		return pool, leaf.DNSNames[0], nil
	}
	return nil, "", fmt.Errorf("the OTLP certificate in %s names neither %s nor any DNS name, so the demo cannot verify it", certFile, host)
}

// runDemo sends the demo traffic to this server's own OTLP receiver.
func runDemo(ctx context.Context, out io.Writer, logger *slog.Logger, cfg demo.Config, uiURL string) {
	res, err := demo.Send(ctx, cfg)
	if err != nil {
		logger.Error("demo traffic", "err", err)
		return
	}
	printDemo(out, res, uiURL)
}

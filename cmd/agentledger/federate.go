package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentledger/agentledger/internal/keyfile"
	"github.com/agentledger/agentledger/query"
)

// federateFlags are serve's flags of the federated credential view: the
// other shards it asks.
type federateFlags struct {
	peers      []string
	tokensFile string
	caFile     string
	timeout    time.Duration
}

func (f *federateFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.peers, "federate", nil, "another shard the federated credential view (/v1/federation/credentials/{id}) asks, NAME=URL of its query API; repeatable (the environment variable holds space-separated NAME=URL pairs). Each needs a token in --federate-tokens-file")
	fl.StringVar(&f.tokensFile, "federate-tokens-file", "", "file (mode 0600) of the responder tokens for the --federate shards, one \"NAME TOKEN\" line each")
	fl.StringVar(&f.caFile, "federate-ca-file", "", "PEM CA certificates that the --federate shards' https certificates must chain to; default the system's roots")
	fl.DurationVar(&f.timeout, "federate-timeout", query.DefaultFederationTimeout, "how long the federated view waits for each --federate shard before naming it as not answering")
}

// federation returns the query server's federation, nil without
// --federate.
func (f *federateFlags) federation() (*query.Federation, error) {
	peers := splitList(f.peers)
	if len(peers) == 0 {
		if f.tokensFile != "" || f.caFile != "" {
			return nil, errors.New("--federate-tokens-file and --federate-ca-file need --federate")
		}
		return nil, nil
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--federate-timeout %v: want a positive duration", f.timeout)
	}
	if f.tokensFile == "" {
		return nil, errors.New("--federate needs --federate-tokens-file: a responder token of each shard")
	}
	b, err := keyfile.Read(f.tokensFile)
	if err != nil {
		return nil, fmt.Errorf("--federate-tokens-file: %w", err)
	}
	tokens, err := parsePeerTokens(b)
	if err != nil {
		return nil, fmt.Errorf("--federate-tokens-file %s: %w", f.tokensFile, err)
	}
	fed := &query.Federation{Timeout: f.timeout}
	for _, p := range peers {
		name, url, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("--federate %q: want NAME=URL", p)
		}
		tok, ok := tokens[name]
		if !ok {
			return nil, fmt.Errorf("--federate %s: --federate-tokens-file has no token for it", name)
		}
		delete(tokens, name)
		fed.Peers = append(fed.Peers, query.Peer{Name: name, URL: url, Token: tok})
	}
	for name := range tokens {
		return nil, fmt.Errorf("--federate-tokens-file names %s, which no --federate gives", name)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--federate-ca-file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--federate-ca-file %s: no PEM certificates", f.caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	fed.Client = &http.Client{Transport: tr}
	if err := fed.Validate(); err != nil {
		return nil, err
	}
	return fed, nil
}

// parsePeerTokens reads "NAME TOKEN" lines; blank lines and lines starting
// with # are skipped.
func parsePeerTokens(b []byte) (map[string]string, error) {
	out := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want NAME TOKEN", n)
		}
		if _, dup := out[fields[0]]; dup {
			return nil, fmt.Errorf("line %d: %s is given twice", n, fields[0])
		}
		out[fields[0]] = fields[1]
	}
	return out, sc.Err()
}

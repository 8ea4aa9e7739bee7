package main

import (
	"fmt"
	"net"

	"github.com/agentledger/agentledger/ingest"
)

// isLoopback reports whether the listen address addr binds loopback only.
// An empty host (all interfaces) is not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackOnly reports whether every OTLP listener of f is on loopback.
func loopbackOnly(f serveFlags) bool {
	for _, a := range []string{f.otlpGRPCAddr, f.otlpHTTPAddr} {
		if a != "" && !isLoopback(a) {
			return false
		}
	}
	return true
}

// ingestExposure checks that OTLP leaves loopback only with TLS, or with
// --insecure-ingest; it reports the latter case, which serve warns about
// at every start.
func ingestExposure(f serveFlags, t ingest.TLSFiles) (insecure bool, err error) {
	if loopbackOnly(f) || t.Enabled() {
		return false, nil
	}
	if !f.insecureIngest {
		return false, fmt.Errorf("OTLP address %s/%s is not loopback and has no TLS: set --otlp-tls-cert-file and --otlp-tls-key-file (and --otlp-client-ca-file for mutual TLS), or --insecure-ingest to accept unauthenticated senders from the network",
			f.otlpGRPCAddr, f.otlpHTTPAddr)
	}
	return true, nil
}

// ingestAuthSummary says how OTLP senders authenticate, for serve's banner.
func ingestAuthSummary(f serveFlags, t ingest.TLSFiles) string {
	switch {
	case t.ClientCAFile != "":
		return "mutual TLS: a client certificate from --otlp-client-ca-file, its SPIFFE ID or subject recorded as the submitter"
	case t.Enabled() && (f.insecureIngest || loopbackOnly(f)):
		return "TLS; ingest tokens recorded as submitters, unauthenticated senders accepted"
	case t.Enabled():
		return "TLS with ingest tokens (agentledger token create --role ingest)"
	case f.insecureIngest && !loopbackOnly(f):
		return "UNAUTHENTICATED on a network address (--insecure-ingest)"
	}
	return "loopback only, unauthenticated (set --otlp-tls-cert-file and --otlp-tls-key-file to listen beyond loopback)"
}

// parsePublicTiles parses --public-tiles: none, hashes (the Merkle tiles)
// or all (the entry bundles too). true and false, its values when it was
// a boolean, mean hashes and none.
func parsePublicTiles(v string) (tiles, entries bool, err error) {
	switch v {
	case "none", "false", "":
		return false, false, nil
	case "hashes", "true":
		return true, false, nil
	case "all":
		return true, true, nil
	}
	return false, false, fmt.Errorf("--public-tiles %q: want none, hashes or all", v)
}

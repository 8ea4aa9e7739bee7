package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevCerts: dev-certs writes a CA, a server certificate for the names
// given and a SPIFFE client certificate, keys 0600, and leaves them alone
// when run again.
func TestDevCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	run := func() string {
		out, err := exec.Command(binary, "dev-certs", "--dir", dir, "--server-name", "agentledger,ledger.internal",
			"--client-spiffe-id", "spiffe://acme.example/collector").CombinedOutput()
		if err != nil {
			t.Fatalf("dev-certs: %v\n%s", err, out)
		}
		return string(out)
	}
	run()
	for name, mode := range map[string]os.FileMode{devCAFile: 0o644, devServerCertFile: 0o644, devServerKeyFile: 0o600, devClientCertFile: 0o644, devClientKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v; want mode %v", name, err, fi.Mode().Perm(), mode)
		}
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(read(devCAFile)) {
		t.Fatal("ca.pem holds no certificate")
	}
	for _, c := range []struct {
		cert, key string
		usage     x509.ExtKeyUsage
		check     func(*x509.Certificate) bool
	}{
		{devServerCertFile, devServerKeyFile, x509.ExtKeyUsageServerAuth, func(c *x509.Certificate) bool { return c.VerifyHostname("ledger.internal") == nil }},
		{devClientCertFile, devClientKeyFile, x509.ExtKeyUsageClientAuth, func(c *x509.Certificate) bool {
			return len(c.URIs) == 1 && c.URIs[0].String() == "spiffe://acme.example/collector"
		}},
	} {
		pair, err := tls.X509KeyPair(read(c.cert), read(c.key))
		if err != nil {
			t.Fatalf("%s: %v", c.cert, err)
		}
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil || !c.check(pair.Leaf) {
			t.Errorf("%s: verify %v, names %v %v", c.cert, err, pair.Leaf.DNSNames, pair.Leaf.URIs)
		}
	}
	before := read(devCAFile)
	if out := run(); !strings.Contains(out, "nothing to do") || string(read(devCAFile)) != string(before) {
		t.Errorf("a second dev-certs replaced the CA: %q", out)
	}
}

package certfile

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentledger/agentledger/internal/devcert"
)

func write(t *testing.T, ca *devcert.CA, dir, cn string) {
	t.Helper()
	cert, key, err := ca.Issue(devcert.Request{CommonName: cn, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"tls.crt": cert, "tls.key": key} {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func served(t *testing.T, r *Reloader) string {
	t.Helper()
	c, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || c == nil {
		t.Fatalf("GetCertificate = %v, %v", c, err)
	}
	return c.Leaf.Subject.CommonName
}

// TestReload: a replaced pair is served after the interval; a mismatched
// pair (the certificate replaced before its key) keeps the previous one in
// service instead of failing handshakes.
func TestReload(t *testing.T) {
	ca, err := devcert.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write(t, ca, dir, "one")
	r, err := New(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, r); got != "one" {
		t.Fatalf("served %q, want one", got)
	}
	// Only the certificate replaced: it does not match the key.
	other := t.TempDir()
	write(t, ca, other, "two")
	b, err := os.ReadFile(filepath.Join(other, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := served(t, r); got != "one" || r.Err() == nil {
		t.Errorf("half-replaced pair: served %q (err %v), want one and a reload error", got, r.Err())
	}
	write(t, ca, dir, "three")
	if got := served(t, r); got != "three" || r.Err() != nil {
		t.Errorf("replaced pair: served %q (err %v), want three", got, r.Err())
	}
}

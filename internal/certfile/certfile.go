// Package certfile serves a TLS certificate from files that are replaced
// while the server runs.
package certfile

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// Reloader serves a certificate and key from files and reads them again,
// at most once an interval, when a handshake asks for the certificate: a
// rotated pair (SPIRE and cert-manager rotate hourly) is served without a
// restart. A pair that fails to load (a half-written file, a key that does
// not match) leaves the previous one in service until the next check.
type Reloader struct {
	certFile, keyFile string
	interval          time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	raw     []byte // the files' bytes the cert was loaded from
	next    time.Time
	lastErr error
}

// New loads the pair once and returns its reloader.
func New(certFile, keyFile string, interval time.Duration) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, interval: interval}
	if err := r.load(time.Now()); err != nil {
		return nil, err
	}
	return r, nil
}

// load reads the files and, if they changed, parses the pair. The caller
// holds r.mu or owns r.
func (r *Reloader) load(now time.Time) error {
	r.next = now.Add(r.interval)
	cert, err := os.ReadFile(r.certFile)
	if err != nil {
		return fmt.Errorf("read TLS certificate: %w", err)
	}
	key, err := os.ReadFile(r.keyFile)
	if err != nil {
		return fmt.Errorf("read TLS key: %w", err)
	}
	raw := append(cert, key...)
	if r.cert != nil && bytes.Equal(raw, r.raw) {
		return nil
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.raw = &pair, raw
	return nil
}

// GetCertificate is a tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.After(r.next) {
		r.lastErr = r.load(now)
	}
	return r.cert, nil
}

// Err returns the error of the last reload, nil if it succeeded.
func (r *Reloader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

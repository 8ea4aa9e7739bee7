package approval

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Defaults of a JWKSSource that fetches a URL.
const (
	// DefaultJWKSRefresh is how often the JWKS is fetched again.
	DefaultJWKSRefresh = 5 * time.Minute
	// DefaultJWKSTimeout bounds one fetch.
	DefaultJWKSTimeout = 10 * time.Second
	// minJWKSRefetch is the least time between two fetches that an
	// unknown kid asks for, so that forged kids cannot make the server
	// hammer the JWKS host.
	minJWKSRefetch = 30 * time.Second
)

// JWKSSource holds the approvers' JWKS, read from a file once, or fetched
// from an HTTPS URL and refreshed: every Refresh interval, and soon after
// a signature names a kid the set lacks (at most once per 30s). A failed
// fetch keeps the last good set. Safe for concurrent use.
type JWKSSource struct {
	url     string // empty: a file, read once
	client  *http.Client
	refresh time.Duration
	onError func(error)
	wake    chan struct{}

	mu      sync.Mutex
	keys    *JWKS
	fetched time.Time
}

// JWKSOptions tunes a JWKSSource; zero values take the defaults.
type JWKSOptions struct {
	Refresh time.Duration
	Timeout time.Duration
	// Client fetches the URL (its redirects are limited to https); nil:
	// the default transport. Tests give one that trusts their server.
	Client *http.Client
	// OnError is told of a failed refresh (the last keys stay in use);
	// nil: not told.
	OnError func(error)
}

// NewJWKSSource reads the JWKS at loc: an https:// URL (fetched now, so
// that a wrong URL fails at start) or a file path.
func NewJWKSSource(ctx context.Context, loc string, opt JWKSOptions) (*JWKSSource, error) {
	s := &JWKSSource{refresh: opt.Refresh, onError: opt.OnError, wake: make(chan struct{}, 1)}
	if s.refresh <= 0 {
		s.refresh = DefaultJWKSRefresh
	}
	if !strings.Contains(loc, "://") {
		f, err := os.Open(loc)
		if err != nil {
			return nil, fmt.Errorf("approval jwks: %w", err)
		}
		defer f.Close()
		if s.keys, err = ParseJWKS(f); err != nil {
			return nil, fmt.Errorf("%s: %w", loc, err)
		}
		return s, nil
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("approval jwks: %w", err)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("approval jwks: %s: want an https URL", loc)
	}
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultJWKSTimeout
	}
	client := http.Client{Timeout: timeout}
	if opt.Client != nil {
		client = *opt.Client
		if client.Timeout <= 0 {
			client.Timeout = timeout
		}
	}
	client.CheckRedirect = httpsOnly
	s.url, s.client = u.String(), &client
	if err := s.fetch(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Keys returns the current key set.
func (s *JWKSSource) Keys() *JWKS {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys
}

// Verify verifies a compact JWS approval against the current keys; an
// unknown kid wakes the refresher, so that a key added since the last
// fetch is known to the next approval.
func (s *JWKSSource) Verify(st Statement, compact string, used time.Time) Result {
	res := s.Keys().VerifyJWS(st, compact, used)
	if res.Status == StatusUnknownKey && s.url != "" {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return res
}

// Run refreshes a fetched JWKS until ctx ends; for a file it returns at
// once.
func (s *JWKSSource) Run(ctx context.Context) {
	if s.url == "" {
		return
	}
	t := time.NewTicker(s.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
			s.mu.Lock()
			recent := time.Since(s.fetched) < minJWKSRefetch
			s.mu.Unlock()
			if recent {
				continue
			}
		}
		if err := s.fetch(ctx); err != nil && s.onError != nil {
			s.onError(err)
		}
	}
}

// fetch gets the JWKS URL and, if it parses, makes it the current set.
func (s *JWKSSource) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return fmt.Errorf("approval jwks: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("approval jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("approval jwks: %s: %s", s.url, resp.Status)
	}
	keys, err := ParseJWKS(resp.Body)
	if err != nil {
		return fmt.Errorf("approval jwks: %s: %w", s.url, err)
	}
	if keys.Len() == 0 {
		return errors.New("approval jwks: the set has no keys")
	}
	s.mu.Lock()
	s.keys, s.fetched = keys, time.Now()
	s.mu.Unlock()
	return nil
}

// httpsOnly refuses a redirect away from https, and long redirect chains.
func httpsOnly(req *http.Request, via []*http.Request) error {
	if req.URL.Scheme != "https" {
		return fmt.Errorf("redirect to %s: want https", req.URL.Redacted())
	}
	if len(via) >= 5 {
		return errors.New("over 5 redirects")
	}
	return nil
}

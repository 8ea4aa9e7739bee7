package query

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentledger/agentledger/auth"
)

// countingTokens counts the lookups of a token store.
type countingTokens struct {
	auth.Store
	lookups atomic.Int64
}

func (c *countingTokens) LookupToken(ctx context.Context, hash [sha256.Size]byte) (auth.Token, error) {
	c.lookups.Add(1)
	return c.Store.LookupToken(ctx, hash)
}

// TestTokenCache: an active token is looked up once for the requests of
// tokenCacheTTL, an unknown one on every request, and a token revoked
// behind the server's back is refused once tokenCacheTTL has passed.
func TestTokenCache(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{noFixture: true})
		tokens := &countingTokens{Store: w.store}
		cfg := w.srv.cfg
		cfg.Tokens = tokens
		srv, err := NewServer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		get := func(secret string) int {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/log", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, req)
			return rec.Code
		}
		secret, _, err := auth.Create(t.Context(), w.store, "cached", auth.RoleAuditor)
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name        string
			secret      string
			wait        time.Duration
			revoke      bool
			status      int
			wantLookups int64
		}{
			{"first use", secret, 0, false, http.StatusOK, 1},
			{"second use", secret, 0, false, http.StatusOK, 1},
			{"unknown token", "alt_unknown", 0, false, http.StatusUnauthorized, 2},
			{"unknown token again", "alt_unknown", 0, false, http.StatusUnauthorized, 3},
			{"revoked in the store, after the TTL", secret, tokenCacheTTL, true, http.StatusUnauthorized, 4},
		}
		for _, st := range steps {
			if st.revoke {
				if _, err := w.store.RevokeToken(t.Context(), "cached", time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(st.wait)
			if got := get(st.secret); got != st.status {
				t.Errorf("%s: GET /v1/log = %d, want %d", st.name, got, st.status)
			}
			if got := tokens.lookups.Load(); got != st.wantLookups {
				t.Errorf("%s: %d lookups so far, want %d", st.name, got, st.wantLookups)
			}
		}
	})
}

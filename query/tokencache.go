package query

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/agentledger/agentledger/auth"
)

// tokenCacheTTL is how long an active token, once looked up, is admitted
// without another lookup: a token revoked through another process (the
// CLI, another server) is refused at most this long after its revocation;
// one revoked through this server at once. It saves the round trip of the
// lookup on every request of a client that sends many.
const tokenCacheTTL = time.Second

// maxCachedTokens bounds the cache; when it is full it starts afresh.
const maxCachedTokens = 1024

// tokenCache holds active tokens recently looked up, by hash. Only tokens
// the store returned as active are held, so requests with made-up tokens
// cannot fill it.
type tokenCache struct {
	mu     sync.Mutex
	tokens map[[sha256.Size]byte]cachedToken
	gen    uint64 // counts clears
}

type cachedToken struct {
	t  auth.Token
	at time.Time
}

// get returns the active token of hash looked up within tokenCacheTTL, or
// else the generation to pass to put after a lookup.
func (c *tokenCache) get(hash [sha256.Size]byte) (auth.Token, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, ok := c.tokens[hash]
	if !ok || time.Since(ct.at) >= tokenCacheTTL {
		return auth.Token{}, false, c.gen
	}
	return ct.t, true, c.gen
}

// put holds t, which a lookup that began at time at, in generation gen,
// found active. If the cache was cleared since, the lookup may have read
// the token before its revocation, and t is not held.
func (c *tokenCache) put(t auth.Token, at time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.tokens == nil || len(c.tokens) >= maxCachedTokens {
		c.tokens = make(map[[sha256.Size]byte]cachedToken)
	}
	c.tokens[t.Hash] = cachedToken{t: t, at: at}
}

// clear forgets every token, after a revocation.
func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens = nil
	c.gen++
}

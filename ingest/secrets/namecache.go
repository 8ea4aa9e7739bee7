package secrets

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
)

// nameCacheSets is how many sets of two attribute names a [Redactor]
// remembers the verdict of. Spans of one kind carry the same few dozen
// names, so deciding each name once instead of once per span takes
// keyGrams and the patterns off ingest's hot path. Two ways a set keep two
// names of one hash from replacing each other on every span.
const nameCacheSets = 512

// maxCachedName is the longest name whose verdict is remembered, so that
// the cache holds at most 2 × nameCacheSets × maxCachedName bytes of names
// however many distinct names senders use.
const maxCachedName = 64

// nameVerdict is what nameRules.match said of name.
type nameVerdict struct {
	name   string
	rule   string
	secret bool
}

// nameCache remembers recent verdicts of nameRules.match, in the set of
// the name's hash. It is safe for concurrent use without locks: a way holds
// an immutable verdict, and a name whose verdict a race replaced is decided
// again.
type nameCache struct {
	seed maphash.Seed
	ways [2 * nameCacheSets]atomic.Pointer[nameVerdict]
}

// match is n.match(name), remembered in c.
func (c *nameCache) match(n *nameRules, name string) (string, bool) {
	if len(name) > maxCachedName {
		return n.match(name)
	}
	h := maphash.String(c.seed, name)
	set := c.ways[2*(h%nameCacheSets):][:2]
	for i := range set {
		if v := set[i].Load(); v != nil && v.name == name {
			return v.rule, v.secret
		}
	}
	rule, secret := n.match(name)
	way := &set[h/nameCacheSets%2]
	if set[0].Load() == nil {
		way = &set[0]
	} else if set[1].Load() == nil {
		way = &set[1]
	}
	way.Store(&nameVerdict{name: strings.Clone(name), rule: rule, secret: secret})
	return rule, secret
}

package secrets

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
)

// nameCacheSets is how many sets of two attribute names a [Redactor]
// remembers. Spans of one kind carry the same few dozen names, so deciding
// each name once instead of once per span takes keyGrams, the patterns and
// the scan of the name off ingest's hot path. Two ways a set keep two
// names of one hash from replacing each other on every span.
const nameCacheSets = 512

// maxCachedName is the longest name that is remembered, so that the cache
// holds at most 2 × nameCacheSets × maxCachedName bytes of names however
// many distinct names senders use.
const maxCachedName = 64

// nameVerdict is what a Redactor decided about name: whether values of
// that name are secret (nameRules.match), by which rule.
type nameVerdict struct {
	name   string
	rule   string
	secret bool
}

// nameCache remembers the verdicts on recent names, in the set of the
// name's hash. It holds only names in which RedactText finds nothing, so
// that no secret sent as a name stays in memory. It is safe for concurrent
// use without locks: a way holds an immutable verdict, and a name whose
// verdict a race replaced is decided again.
type nameCache struct {
	seed maphash.Seed
	ways [2 * nameCacheSets]atomic.Pointer[nameVerdict]
}

// remembered returns the verdict on name, deciding it on a miss, or nil
// for a name that is not remembered: one longer than maxCachedName, or
// one that RedactText would change or report.
func (r *Redactor) remembered(name string) *nameVerdict {
	if len(name) > maxCachedName {
		return nil
	}
	c := &r.verdicts
	h := maphash.String(c.seed, name)
	set := c.ways[2*(h%nameCacheSets):][:2]
	for i := range set {
		if v := set[i].Load(); v != nil && v.name == name {
			return v
		}
	}
	if _, f, changed := r.RedactText(name); changed || len(f) > 0 {
		return nil
	}
	rule, secret := r.names.match(name)
	v := &nameVerdict{name: strings.Clone(name), rule: rule, secret: secret}
	way := &set[h/nameCacheSets%2]
	if set[0].Load() == nil {
		way = &set[0]
	} else if set[1].Load() == nil {
		way = &set[1]
	}
	way.Store(v)
	return v
}

// matchName is r.names.match(name), remembered.
func (r *Redactor) matchName(name string) (string, bool) {
	if v := r.remembered(name); v != nil {
		return v.rule, v.secret
	}
	return r.names.match(name)
}

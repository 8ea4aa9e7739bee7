package secrets

import (
	"fmt"
	"hash/maphash"
	"sync"
	"testing"
)

// TestNameCacheAgrees checks that the cache gives every name the verdict
// nameRules gives it, while more names than it has ways evict each other
// and several goroutines use it at once.
func TestNameCacheAgrees(t *testing.T) {
	rules := newNameRules([]string{"x-internal-auth"})
	var names []string
	for i := range 4 * nameCacheSets {
		names = append(names,
			fmt.Sprintf("app.attr_%d", i), fmt.Sprintf("svc.%d.api_key", i), fmt.Sprintf("gen_ai.usage.%d.output_tokens", i),
			fmt.Sprintf("X-Internal-Auth.%d", i), fmt.Sprintf("http.request.header.x-%d-token", i))
	}
	c := nameCache{seed: maphash.MakeSeed()}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for pass := range 2 {
				for i := range names {
					name := names[(i*(g+1)+pass)%len(names)]
					wantRule, wantSecret := rules.match(name)
					if rule, secret := c.match(&rules, name); rule != wantRule || secret != wantSecret {
						t.Errorf("cached match(%q) = %q, %v, want %q, %v", name, rule, secret, wantRule, wantSecret)
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestNameCacheRemembers checks that a name's verdict is decided once: asked
// again, even of other rules, the cache answers what the first rules said.
// Two names of one set both stay.
func TestNameCacheRemembers(t *testing.T) {
	secretRules, noRules := newNameRules([]string{"*" + "zz*"}), nameRules{}
	c := nameCache{seed: maphash.MakeSeed()}
	a, b := "app.zz_first", ""
	set := maphash.String(c.seed, a) % nameCacheSets
	for i := 0; b == ""; i++ {
		if n := fmt.Sprintf("app.zz_%d", i); maphash.String(c.seed, n)%nameCacheSets == set {
			b = n
		}
	}
	for _, name := range []string{a, b} {
		if _, secret := c.match(&secretRules, name); !secret {
			t.Fatalf("match(%q) = not secret, want secret", name)
		}
	}
	for _, name := range []string{a, b, a} {
		if rule, secret := c.match(&noRules, name); !secret || rule != "*zz*" {
			t.Errorf("match(%q) asked again = %q, %v, want the remembered \"*zz*\", true", name, rule, secret)
		}
	}
	long := "app.zz_" + string(make([]byte, maxCachedName))
	c.match(&secretRules, long)
	if _, secret := c.match(&noRules, long); secret {
		t.Errorf("match of a %d-byte name was remembered, want names over %d bytes decided each time", len(long), maxCachedName)
	}
}

package secrets

import (
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"testing"
)

// TestNameCacheAgrees checks that remembered names get the verdicts and
// the redaction they would get without the cache, while more names than
// it has ways evict each other and several goroutines use it at once.
func TestNameCacheAgrees(t *testing.T) {
	r := newTestRedactor(t, Config{ExtraSecretKeys: []string{"x-internal-auth"}})
	var names []string
	for i := range 4 * nameCacheSets {
		names = append(names,
			fmt.Sprintf("app.attr_%d", i), fmt.Sprintf("svc.%d.api_key", i), fmt.Sprintf("gen_ai.usage.%d.output_tokens", i),
			fmt.Sprintf("X-Internal-Auth.%d", i), fmt.Sprintf("http.request.header.x-%d-token", i))
	}
	names = append(names, "note ghp_0123456789abcdefghijABCDEFGHIJklmnop", "AKIAIOSFODNN7EXAMPLE")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for pass := range 2 {
				for i := range names {
					name := names[(i*(g+1)+pass)%len(names)]
					wantRule, wantSecret := r.names.match(name)
					if rule, secret := r.matchName(name); rule != wantRule || secret != wantSecret {
						t.Errorf("matchName(%q) = %q, %v, want %q, %v", name, rule, secret, wantRule, wantSecret)
					}
					want, wantF, wantChanged := r.RedactText(name)
					if got, f, changed := r.RedactName(name); got != want || len(f) != len(wantF) || changed != wantChanged {
						t.Errorf("RedactName(%q) = %q, %d findings, %v, want %q, %d, %v", name, got, len(f), changed, want, len(wantF), wantChanged)
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestNameCacheRemembers checks that a name's verdict is decided once (two
// names of one set both stay), and that names with secrets in them, or
// longer than maxCachedName, are not kept.
func TestNameCacheRemembers(t *testing.T) {
	r := newTestRedactor(t, Config{ExtraSecretKeys: []string{"*zz*"}})
	a, b := "app.zz_first", ""
	set := maphash.String(r.verdicts.seed, a) % nameCacheSets
	for i := 0; b == ""; i++ {
		if n := fmt.Sprintf("app.zz_%d", i); maphash.String(r.verdicts.seed, n)%nameCacheSets == set {
			b = n
		}
	}
	withSecret := "zz ghp_0123456789abcdefghijABCDEFGHIJklmnop"
	long := "app.zz_" + strings.Repeat("x", maxCachedName)
	for _, name := range []string{a, b, withSecret, long} {
		if _, secret := r.matchName(name); !secret {
			t.Fatalf("matchName(%q) = not secret, want secret", name)
		}
	}
	r.names = nameRules{} // no name is secret any longer, unless remembered
	for _, name := range []string{a, b, a} {
		if rule, secret := r.matchName(name); !secret || rule != "*zz*" {
			t.Errorf("matchName(%q) asked again = %q, %v, want the remembered \"*zz*\", true", name, rule, secret)
		}
	}
	for _, name := range []string{withSecret, long} {
		if _, secret := r.matchName(name); secret {
			t.Errorf("matchName(%q) was remembered, want it decided each time", name)
		}
	}
}

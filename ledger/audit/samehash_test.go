package audit

import (
	"testing"

	"github.com/agentledger/agentledger/ledger"
)

// TestSameHash checks sameHash against ==, for a difference in each bit of
// each of the four words it loads.
func TestSameHash(t *testing.T) {
	var a [ledger.HashSize]byte
	for i := range a {
		a[i] = byte(i*7 + 1)
	}
	b := a
	if !sameHash(&a, &b) {
		t.Fatalf("sameHash(a, a) = false")
	}
	for i := range ledger.HashSize {
		for bit := range 8 {
			b := a
			b[i] ^= 1 << bit
			if sameHash(&a, &b) || sameHash(&b, &a) {
				t.Errorf("sameHash = true for hashes that differ in byte %d, bit %d", i, bit)
			}
		}
	}
}

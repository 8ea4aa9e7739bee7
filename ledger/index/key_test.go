package index

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ledger"
)

// TestLabel checks that Label is SHA-256 of "<name>:<value>" for short and
// long values, and that a short key's label costs no allocation.
func TestLabel(t *testing.T) {
	for _, k := range []ledger.Ref{
		{Key: ledger.RefTrace, Value: "4bf92f3577b34da6a3ce929d0e0e4736"},
		{Key: ledger.RefTarget, Value: strings.Repeat("a", ledger.MaxRefValue)},
	} {
		if got, want := Label(k), sha256.Sum256([]byte(k.Key+":"+k.Value)); got != want {
			t.Errorf("Label(%.40s) = %x, want %x", k, got, want)
		}
	}
	k := ledger.Ref{Key: ledger.RefCredential, Value: "cred-1"}
	if n := testing.AllocsPerRun(100, func() { Label(k) }); n != 0 {
		t.Errorf("Label allocates %v times, want 0", n)
	}
}

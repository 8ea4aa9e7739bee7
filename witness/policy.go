package witness

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Policy is what a verifier asks of a checkpoint: at least Min valid
// cosignatures by distinct witnesses of a known set.
type Policy struct {
	witnesses []note.Verifier
	min       int
}

// NewPolicy returns the policy "at least min of the witnesses whose
// cosignature keys are keys". min 0 with no keys asks for nothing.
func NewPolicy(keys []string, min int) (*Policy, error) {
	if min < 0 || min > len(keys) {
		return nil, fmt.Errorf("witness policy: --min-witnesses %d: want 0 to the %d witness keys given", min, len(keys))
	}
	p := &Policy{min: min}
	seen := map[string]bool{}
	for _, k := range keys {
		v, err := NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("witness policy: %w", err)
		}
		if seen[v.Name()] {
			return nil, fmt.Errorf("witness policy: two keys named %s", v.Name())
		}
		seen[v.Name()] = true
		p.witnesses = append(p.witnesses, v)
	}
	return p, nil
}

// Min returns how many cosignatures the policy asks for.
func (p *Policy) Min() int { return p.min }

// Check verifies the cosignatures on msg, a signed checkpoint note (whose
// log signature the caller checks with ledger.OpenCheckpoint), and returns
// the names of the witnesses that validly cosigned it. It fails when fewer
// than Min did, or when a line claims a known witness key and does not
// verify: a forged or replayed cosignature is evidence, not noise.
func (p *Policy) Check(msg []byte) ([]string, error) {
	if len(p.witnesses) == 0 {
		return nil, nil
	}
	n, err := note.Open(msg, note.VerifierList(p.witnesses...))
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unverified):
		n = nil
	case err != nil:
		return nil, fmt.Errorf("witness cosignature does not verify: %w", err)
	}
	var names []string
	if n != nil {
		for _, s := range n.Sigs {
			names = append(names, s.Name)
		}
	}
	if len(names) < p.min {
		return names, fmt.Errorf("checkpoint has %d valid witness cosignatures (%s), the policy asks for %d", len(names), strings.Join(names, ", "), p.min)
	}
	return names, nil
}

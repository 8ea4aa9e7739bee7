package ledger

import (
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// NewSignerFrom returns a Signer for a signer backend (a key file, a signer
// process, …) given as a note.Signer, whose verifier key is vkey. The key's
// name and hash must be the backend's.
func NewSignerFrom(s note.Signer, vkey string) (*Signer, error) {
	vkey = strings.TrimSpace(vkey)
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("signer's verifier key: %w", err)
	}
	if v.Name() != s.Name() || v.KeyHash() != s.KeyHash() {
		return nil, fmt.Errorf("%w: verifier key %s is not the signer's (%s, key hash %08x)", ErrInvalid, vkey, s.Name(), s.KeyHash())
	}
	if err := ValidOrigin(s.Name()); err != nil {
		return nil, err
	}
	return &Signer{signer: s, vkey: vkey}, nil
}

package ledger

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// Signer signs checkpoints for one log. The log's origin, the first line of
// every checkpoint, is the signer's key name, as C2SP tlog-checkpoint
// recommends.
type Signer struct {
	signer note.Signer
}

// NewSigner returns a Signer for a note signer key of the form
// "PRIVATE+KEY+<name>+<hash>+<key>" (as GenerateKey writes).
func NewSigner(skey string) (*Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, fmt.Errorf("parse signer key: %w", err)
	}
	return &Signer{signer: s}, nil
}

// GenerateKey returns a new Ed25519 signer key and its verifier key for a log
// named origin.
func GenerateKey(origin string) (skey, vkey string, err error) {
	if err := ValidOrigin(origin); err != nil {
		return "", "", err
	}
	skey, vkey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	return skey, vkey, nil
}

// ValidOrigin checks that origin can name a log: a non-empty note key name
// (no whitespace and no '+').
func ValidOrigin(origin string) error {
	if origin == "" || strings.ContainsAny(origin, "+ \t\n\r") {
		return fmt.Errorf("%w: log name %q: want a non-empty name without spaces or '+'", ErrInvalid, origin)
	}
	return nil
}

// Origin returns the log origin, the checkpoint's first line.
func (s *Signer) Origin() string { return s.signer.Name() }

// Sign returns the signed checkpoint note for a tree of size and root.
func (s *Signer) Sign(size uint64, root [HashSize]byte) ([]byte, error) {
	body := log.Checkpoint{Origin: s.Origin(), Size: size, Hash: root[:]}.Marshal()
	msg, err := note.Sign(&note.Note{Text: string(body)}, s.signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// VerifiedCheckpoint is a checkpoint whose signature was verified.
type VerifiedCheckpoint struct {
	Origin string
	Size   uint64
	Root   [HashSize]byte
}

// OpenCheckpoint verifies a signed checkpoint note with the verifier key
// vkey ("<name>+<hash>+<key>") and parses it strictly. Unknown extra
// signatures (witness cosignatures) are ignored, as C2SP requires.
func OpenCheckpoint(msg []byte, vkey string) (*VerifiedCheckpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("parse verifier key: %w", err)
	}
	cp, _, _, err := log.ParseCheckpoint(msg, v.Name(), v)
	if err != nil {
		var unknown *note.UnverifiedNoteError
		if errors.As(err, &unknown) {
			return nil, fmt.Errorf("checkpoint is not signed by %s", v.Name())
		}
		return nil, fmt.Errorf("open checkpoint: %w", err)
	}
	if len(cp.Hash) != HashSize {
		return nil, fmt.Errorf("checkpoint root of %d bytes, want %d", len(cp.Hash), HashSize)
	}
	out := &VerifiedCheckpoint{Origin: cp.Origin, Size: cp.Size}
	copy(out.Root[:], cp.Hash)
	return out, nil
}

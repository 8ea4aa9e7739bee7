package ledger

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
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
	vkey   string
}

// NewSigner returns a Signer for a note signer key of the form
// "PRIVATE+KEY+<name>+<hash>+<key>" (as GenerateKey writes).
func NewSigner(skey string) (*Signer, error) {
	skey = strings.TrimSpace(skey)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("parse signer key: %w", err)
	}
	vkey, err := verifierKey(skey)
	if err != nil {
		return nil, err
	}
	return &Signer{signer: s, vkey: vkey}, nil
}

// verifierKey derives the verifier key "<name>+<hash>+<key>" from a signer
// key "PRIVATE+KEY+<name>+<hash>+<key>" whose key is the Ed25519
// algorithm byte followed by the 32-byte seed.
func verifierKey(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return "", errors.New("parse signer key: want PRIVATE+KEY+<name>+<hash>+<key>")
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != 1 {
		return "", errors.New("parse signer key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(parts[2], pub)
	if err != nil {
		return "", fmt.Errorf("derive verifier key: %w", err)
	}
	return vkey, nil
}

// VerifierKey returns the verifier key "<name>+<hash>+<key>" that checks
// this signer's checkpoints.
func (s *Signer) VerifierKey() string { return s.vkey }

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
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return nil, fmt.Errorf("checkpoint is not signed by %s", v.Name())
		}
		return nil, fmt.Errorf("open checkpoint: %w", err)
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, fmt.Errorf("parse checkpoint: %w", err)
	}
	if cp.Origin != v.Name() {
		return nil, fmt.Errorf("checkpoint origin %q is not the key's log %q", cp.Origin, v.Name())
	}
	if len(cp.Hash) != HashSize {
		return nil, fmt.Errorf("checkpoint root of %d bytes, want %d", len(cp.Hash), HashSize)
	}
	out := &VerifiedCheckpoint{Origin: cp.Origin, Size: cp.Size}
	copy(out.Root[:], cp.Hash)
	return out, nil
}

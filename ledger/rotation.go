package ledger

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// RotationHeader is the first line of a key rotation statement.
const RotationHeader = "agentledger-key-rotation/v1"

// RotationName is the name of the span entry that carries a key rotation
// statement, and RotationAttr the attribute that holds the signed note.
const (
	RotationName = "agentledger.key_rotation"
	RotationAttr = "agentledger.key_rotation.note"
)

// Rotation is a verified key rotation statement: the log Origin's key
// OldKey introduces NewKey when the tree has Size entries (the statement's
// own entry is entry Size).
type Rotation struct {
	Origin string
	OldKey string
	NewKey string
	Size   uint64
}

// text returns the statement's note text.
func (r Rotation) text() string {
	return fmt.Sprintf("%s\n%s\n%s\n%s\n%d\n", RotationHeader, r.Origin, r.OldKey, r.NewKey, r.Size)
}

// SignRotation returns the C2SP signed note by which the log's key old
// introduces new at tree size size, signed by both keys.
func SignRotation(old, new *Signer, size uint64) ([]byte, error) {
	if old.Origin() != new.Origin() {
		return nil, fmt.Errorf("%w: rotate log %q to a key for %q: a log keeps its name", ErrInvalid, old.Origin(), new.Origin())
	}
	if old.VerifierKey() == new.VerifierKey() {
		return nil, fmt.Errorf("%w: the new key is the old key", ErrInvalid)
	}
	r := Rotation{Origin: old.Origin(), OldKey: old.VerifierKey(), NewKey: new.VerifierKey(), Size: size}
	msg, err := note.Sign(&note.Note{Text: r.text()}, old.signer, new.signer)
	if err != nil {
		return nil, fmt.Errorf("sign key rotation: %w", err)
	}
	return msg, nil
}

// OpenRotation verifies a key rotation statement against the log's current
// verifier key oldKey: it must name oldKey as the old key and carry valid
// signatures by oldKey and by the new key it introduces.
func OpenRotation(msg []byte, oldKey string) (*Rotation, error) {
	text, _, ok := strings.Cut(string(msg), "\n\n")
	if !ok {
		return nil, fmt.Errorf("%w: key rotation: not a signed note", ErrInvalid)
	}
	lines := strings.Split(text, "\n")
	if len(lines) != 5 || lines[0] != RotationHeader {
		return nil, fmt.Errorf("%w: key rotation: want %s, origin, old key, new key and tree size", ErrInvalid, RotationHeader)
	}
	size, err := strconv.ParseUint(lines[4], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[4] {
		return nil, fmt.Errorf("%w: key rotation: tree size %q", ErrInvalid, lines[4])
	}
	r := &Rotation{Origin: lines[1], OldKey: lines[2], NewKey: lines[3], Size: size}
	if r.OldKey != strings.TrimSpace(oldKey) {
		return nil, fmt.Errorf("key rotation from %s, but the log's key is %s", r.OldKey, oldKey)
	}
	for _, k := range []string{r.OldKey, r.NewKey} {
		if name, _, _ := strings.Cut(k, "+"); name != r.Origin {
			return nil, fmt.Errorf("%w: key rotation: key %s is not named for log %q", ErrInvalid, k, r.Origin)
		}
	}
	ov, err := note.NewVerifier(r.OldKey)
	if err != nil {
		return nil, fmt.Errorf("key rotation: old key: %w", err)
	}
	nv, err := note.NewVerifier(r.NewKey)
	if err != nil {
		return nil, fmt.Errorf("key rotation: new key: %w", err)
	}
	n, err := note.Open(msg, note.VerifierList(ov, nv))
	if err != nil {
		return nil, fmt.Errorf("key rotation: %w", err)
	}
	signed := map[uint32]bool{}
	for _, s := range n.Sigs {
		signed[s.Hash] = true
	}
	if !signed[ov.KeyHash()] || !signed[nv.KeyHash()] {
		return nil, errors.New("key rotation: want signatures by both the old and the new key")
	}
	return r, nil
}

// RotationEntry returns the entry that appends the signed statement msg
// to the log: a span entry named RotationName whose attribute RotationAttr
// holds the note.
func RotationEntry(msg []byte, size uint64, at time.Time) Entry {
	return Entry{
		Kind:     KindSpan,
		EventKey: "key-rotation/" + strconv.FormatUint(size, 10),
		Name:     RotationName,
		Start:    at.UTC(),
		End:      at.UTC(),
		Attrs:    []Attr{{Key: RotationAttr, Value: string(msg)}},
	}
}

// RotationFromLeaf verifies the key rotation statement that the entry at
// index with leaf bytes leaf carries, against the log's current key oldKey.
// The statement's tree size must not exceed index: it is appended after
// the tree it names.
func RotationFromLeaf(leaf []byte, index uint64, oldKey string) (*Rotation, error) {
	d, err := DecodeLeaf(leaf)
	if err != nil {
		return nil, fmt.Errorf("key rotation entry %d: %w", index, err)
	}
	msg, ok := d.Entry.Attr(RotationAttr)
	if d.Entry.Kind != KindSpan || d.Entry.Name != RotationName || !ok {
		return nil, fmt.Errorf("entry %d is not a key rotation", index)
	}
	r, err := OpenRotation([]byte(msg), oldKey)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", index, err)
	}
	if r.Size > index {
		return nil, fmt.Errorf("entry %d: key rotation names tree size %d, after its own entry", index, r.Size)
	}
	return r, nil
}

package index

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/ledger"
)

// NoteHeader is the first line of every index note.
const NoteHeader = "agentledger-index/v2"

// NoteHeaderV1 is the first line of the index notes of version 1, which a
// database indexed before version 2 keeps in its history: the Indexer
// builds the version-2 index beside them (ledger/FORMAT.md, "Upgrading
// from version 1").
const NoteHeaderV1 = "agentledger-index/v1"

// ErrIndexVersion reports that the store's latest index note is of another
// index version than NoteHeader's: version 1, written before the key
// function filed a leaf under every agent name (ledger/FORMAT.md,
// "Verifiable index (version 2)"). Its map was built with another key
// function, so lookups do not serve it and the Indexer does not extend it:
// at the first checkpoint beyond it the Indexer builds version 2 from index
// 0 beside it (FORMAT.md, "Upgrading from version 1").
var ErrIndexVersion = errors.New("index: the stored index is of another version")

// checkVersion returns an error wrapping ErrIndexVersion when the stored
// note n is not of this index version.
func checkVersion(n Note) error {
	if first, _, _ := bytes.Cut(n.Note, []byte("\n")); string(first) != NoteHeader {
		return fmt.Errorf("%w: the latest index note (size %d) starts %.40q, not %q; the index of version 2 is built from index 0 at the next checkpoint beyond it",
			ErrIndexVersion, n.Size, first, NoteHeader)
	}
	return nil
}

// Note is a signed commitment of the index: the map root of the index of
// the first Size entries, bound to the checkpoint of that size.
type Note struct {
	Size     uint64
	TreeRoot [HashSize]byte
	MapRoot  [HashSize]byte
	// Note is the signed note, as FORMAT.md specifies it.
	Note []byte
	Time time.Time
}

// NoteText returns the text of the index note for origin.
func NoteText(origin string, size uint64, treeRoot, mapRoot [HashSize]byte) string {
	return fmt.Sprintf("%s\n%s\n%d\n%s\n%s\n", NoteHeader, origin, size,
		base64.StdEncoding.EncodeToString(treeRoot[:]), base64.StdEncoding.EncodeToString(mapRoot[:]))
}

// SignNote returns the index note for the map root mapRoot of the index of
// the checkpoint of size and treeRoot, signed by s.
func SignNote(s *ledger.Signer, size uint64, treeRoot, mapRoot [HashSize]byte) (Note, error) {
	msg, err := s.SignNote(NoteText(s.Origin(), size, treeRoot, mapRoot))
	if err != nil {
		return Note{}, fmt.Errorf("sign index note: %w", err)
	}
	return Note{Size: size, TreeRoot: treeRoot, MapRoot: mapRoot, Note: msg}, nil
}

// OpenNote verifies an index note signed by the log key vkey
// ("<name>+<hash>+<key>") and parses it strictly: the header line, the
// key's name as origin, a decimal size and two base64 32-byte hashes.
// Extra signatures are ignored; extra lines are not allowed.
func OpenNote(msg []byte, vkey string) (Note, error) {
	return openNote(msg, vkey, NoteHeader)
}

// OpenNoteV1 is OpenNote for an index note of version 1 (NoteHeaderV1): it
// checks the signature, origin and fields; what its map root commits to
// cannot be checked with the key function of version 2.
func OpenNoteV1(msg []byte, vkey string) (Note, error) {
	return openNote(msg, vkey, NoteHeaderV1)
}

// IsV1 reports whether n is an index note of version 1.
func IsV1(n Note) bool {
	first, _, _ := bytes.Cut(n.Note, []byte("\n"))
	return string(first) == NoteHeaderV1
}

func openNote(msg []byte, vkey, header string) (Note, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return Note{}, fmt.Errorf("parse verifier key: %w", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return Note{}, fmt.Errorf("index note is not signed by %s", v.Name())
		}
		return Note{}, fmt.Errorf("open index note: %w", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 6 || lines[5] != "" || lines[0] != header {
		return Note{}, fmt.Errorf("index note: want %q and four lines", header)
	}
	if lines[1] != v.Name() {
		return Note{}, fmt.Errorf("index note origin %q is not the key's log %q", lines[1], v.Name())
	}
	out := Note{Note: bytes.Clone(msg)}
	if out.Size, err = strconv.ParseUint(lines[2], 10, 64); err != nil || lines[2] != strconv.FormatUint(out.Size, 10) {
		return Note{}, fmt.Errorf("index note: size %q is not a decimal number", lines[2])
	}
	for i, dst := range []*[HashSize]byte{&out.TreeRoot, &out.MapRoot} {
		h, err := base64.StdEncoding.DecodeString(lines[3+i])
		if err != nil || len(h) != HashSize {
			return Note{}, fmt.Errorf("index note: line %d is not a base64 32-byte hash", 4+i)
		}
		copy(dst[:], h)
	}
	return out, nil
}

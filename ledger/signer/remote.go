// Package signer holds checkpoint signer backends besides the key file:
// a signer process that holds the key and serves signatures over a Unix
// socket, so that the key never enters the ingest process.
//
// A backend is a golang.org/x/mod/sumdb/note.Signer (Name, KeyHash, Sign),
// the one interface ledger.NewSignerFrom takes. What each backend supports:
//
//   - the key file (ledger.NewSigner): Ed25519, checkpoints, index notes
//     and key rotation statements;
//   - the remote signer (Dial, Server): Ed25519 from a key file the signer
//     process reads; it signs checkpoints of the log whose size never goes
//     back (and whose root does not change at one size) and verifiable
//     index notes, nothing else.
//
// The protocol, on a Unix stream socket: a request is one byte, 'K' (the
// verifier key) or 'S' (sign), then for 'S' a 4-byte big-endian length and
// the note text. The answer is one byte, 0 for success or 1 for an error,
// a 4-byte big-endian length and the verifier key, the signature or the
// error message.
package signer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// MaxMessage bounds a request's note text and an answer.
const MaxMessage = 64 << 10

const (
	opKey  = 'K'
	opSign = 'S'
)

// Remote is a note.Signer whose key lives in a signer process.
type Remote struct {
	path    string
	vkey    string
	name    string
	hash    uint32
	timeout time.Duration
	mu      sync.Mutex
}

// Dial asks the signer process at the Unix socket path for its verifier
// key and returns a signer that sends it each note to sign.
func Dial(path string) (*Remote, error) {
	r := &Remote{path: path, timeout: 10 * time.Second}
	b, err := r.call(opKey, nil)
	if err != nil {
		return nil, fmt.Errorf("remote signer %s: %w", path, err)
	}
	v, err := note.NewVerifier(string(b))
	if err != nil {
		return nil, fmt.Errorf("remote signer %s: verifier key: %w", path, err)
	}
	r.vkey, r.name, r.hash = string(b), v.Name(), v.KeyHash()
	return r, nil
}

// VerifierKey returns the signer's verifier key.
func (r *Remote) VerifierKey() string { return r.vkey }

// Name implements note.Signer.
func (r *Remote) Name() string { return r.name }

// KeyHash implements note.Signer.
func (r *Remote) KeyHash() uint32 { return r.hash }

// Sign implements note.Signer: the signer process signs msg, or refuses.
func (r *Remote) Sign(msg []byte) ([]byte, error) {
	sig, err := r.call(opSign, msg)
	if err != nil {
		return nil, fmt.Errorf("remote signer %s: %w", r.path, err)
	}
	return sig, nil
}

// call sends one request on a new connection and reads its answer.
func (r *Remote) call(op byte, msg []byte) ([]byte, error) {
	if len(msg) > MaxMessage {
		return nil, fmt.Errorf("message of %d bytes exceeds %d", len(msg), MaxMessage)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := net.DialTimeout("unix", r.path, r.timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(r.timeout))
	req := []byte{op}
	if op == opSign {
		req = binary.BigEndian.AppendUint32(req, uint32(len(msg)))
		req = append(req, msg...)
	}
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	status, body, err := readAnswer(bufio.NewReader(c))
	if err != nil {
		return nil, err
	}
	if status != 0 {
		return nil, fmt.Errorf("refused: %s", body)
	}
	return body, nil
}

func readAnswer(br *bufio.Reader) (byte, []byte, error) {
	status, err := br.ReadByte()
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	body, err := readFrame(br)
	return status, body, err
}

func readFrame(br io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(br, n[:]); err != nil {
		return nil, fmt.Errorf("read length: %w", err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > MaxMessage {
		return nil, fmt.Errorf("frame of %d bytes exceeds %d", size, MaxMessage)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, fmt.Errorf("read frame: %w", err)
	}
	return b, nil
}

// errNotAllowed means the signer process signs only checkpoints and index
// notes.
var errNotAllowed = errors.New("the signer signs only checkpoints of its log and verifiable index notes")

// firstLine returns msg's first line.
func firstLine(msg []byte) string {
	l, _, _ := strings.Cut(string(msg), "\n")
	return l
}

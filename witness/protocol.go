package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/agentledger/agentledger/ledger"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Limits of the tlog-witness protocol.
const (
	// MaxProofLines is the most consistency proof lines a request carries,
	// as C2SP tlog-witness allows.
	MaxProofLines = 63
	// MaxRequestBytes bounds an add-checkpoint request body.
	MaxRequestBytes = 16 << 10
	// MaxResponseBytes bounds an add-checkpoint answer.
	MaxResponseBytes = 8 << 10
	// SizeContentType is the media type of a 409 answer's body, the
	// witness's latest size of the log.
	SizeContentType = "text/x.tlog.size"
)

// NewVerifier returns the cosignature/v1 verifier of a witness key
// "<name>+<hash>+<key>".
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := fnote.NewVerifierForCosignatureV1(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("witness key %q: %w", vkey, err)
	}
	return v, nil
}

// FormatRequest returns the body of an add-checkpoint request: "old
// <size>", the consistency proof lines, a blank line and the signed
// checkpoint.
func FormatRequest(old uint64, proof [][]byte, checkpoint []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(checkpoint)
	return b.Bytes()
}

// ParseRequest parses an add-checkpoint request body strictly.
func ParseRequest(body []byte) (old uint64, proof [][]byte, checkpoint []byte, err error) {
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return 0, nil, nil, errors.New("want \"old <size>\" as the first line")
	}
	num, ok := strings.CutPrefix(string(line), "old ")
	if !ok {
		return 0, nil, nil, errors.New("want \"old <size>\" as the first line")
	}
	old, err = strconv.ParseUint(num, 10, 64)
	if err != nil || strconv.FormatUint(old, 10) != num {
		return 0, nil, nil, fmt.Errorf("old size %q: want a decimal number", num)
	}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return 0, nil, nil, errors.New("want a blank line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(proof) == MaxProofLines {
			return 0, nil, nil, fmt.Errorf("more than %d proof lines", MaxProofLines)
		}
		h, err := base64.StdEncoding.Strict().DecodeString(string(line))
		if err != nil || len(h) != ledger.HashSize {
			return 0, nil, nil, fmt.Errorf("proof line %d: want a base64 %d-byte hash", len(proof)+1, ledger.HashSize)
		}
		proof = append(proof, h)
	}
	return old, proof, rest, nil
}

// sigLine formats a signed-note signature line.
func sigLine(name string, hash uint32, sig []byte) string {
	b := make([]byte, 4, 4+len(sig))
	b[0], b[1], b[2], b[3] = byte(hash>>24), byte(hash>>16), byte(hash>>8), byte(hash)
	b = append(b, sig...)
	return "— " + name + " " + base64.StdEncoding.EncodeToString(b) + "\n"
}

// CheckCosignature checks that line, a signature line "— <name> <base64>",
// is a valid cosignature by v of the signed checkpoint note, and returns it
// normalised (one line, ending in a newline).
func CheckCosignature(checkpoint []byte, line string, v note.Verifier) (string, error) {
	line = strings.TrimSuffix(line, "\n")
	if line == "" || strings.Contains(line, "\n") {
		return "", errors.New("cosignature: want one signature line")
	}
	msg := append(append([]byte(nil), checkpoint...), line+"\n"...)
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return "", fmt.Errorf("cosignature of %s: %w", v.Name(), err)
	}
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			return "— " + s.Name + " " + s.Base64 + "\n", nil
		}
	}
	return "", fmt.Errorf("cosignature of %s: not in the answer", v.Name())
}

// decodeSeed decodes the key of a note signer key: the Ed25519 algorithm
// byte followed by the 32-byte seed.
func decodeSeed(b64 string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) != 33 || key[0] != 1 {
		return nil, errors.New("witness key: not an Ed25519 key")
	}
	return key[1:], nil
}

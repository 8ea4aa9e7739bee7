package verify

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/layout"
)

// Limits on what the client reads.
const (
	// maxBody bounds a JSON answer.
	maxBody = 64 << 20
	// maxBundle bounds an entry bundle: 256 entries of up to 65535 bytes,
	// each with a 2-byte length.
	maxBundle = ledger.TileWidth * (2 + ledger.MaxLeafSize)
	// DefaultTimeout is the timeout of the HTTP client used when
	// Client.HTTPClient is nil.
	DefaultTimeout = 30 * time.Second
)

var defaultHTTPClient = &http.Client{Timeout: DefaultTimeout}

// Client reads an agentledger server's checkpoints, tiles, entries and
// proofs and verifies them. Its zero value is not usable: set BaseURL.
type Client struct {
	// BaseURL is the server's URL, such as "https://ledger.example.com".
	BaseURL string
	// Token is the bearer token sent with every request, if set. Checkpoints
	// are served without one; tiles, entries and proofs need the auditor
	// role.
	Token string
	// HTTPClient sends the requests. Nil means a client with
	// DefaultTimeout.
	HTTPClient *http.Client
	// VerifierKey ("<name>+<hash>+<key>") verifies checkpoints. The
	// verifying methods need it.
	VerifierKey string
	// Policy, if set, is asked of every checkpoint the verifying methods
	// fetch: enough valid witness cosignatures (witness.Policy).
	Policy Policy
}

// Policy decides whether a signed checkpoint note carries the witness
// cosignatures a verifier asks for; witness.Policy implements it.
type Policy interface {
	// Check returns the names of the witnesses that validly cosigned note,
	// or an error when they are too few or a cosignature is invalid.
	Check(note []byte) ([]string, error)
}

// checkPolicy applies c.Policy, if any, to a checkpoint note.
func (c *Client) checkPolicy(note []byte) error {
	if c.Policy == nil {
		return nil
	}
	if _, err := c.Policy.Check(note); err != nil {
		return &UnwitnessedError{Note: note, Err: err}
	}
	return nil
}

// UnwitnessedError is a checkpoint, signed by the log's key, that lacks the
// witness cosignatures the policy asks for: a log that did not show it to
// its witnesses, or a rewrite re-signed with the log's own key.
type UnwitnessedError struct {
	Note []byte
	Err  error
}

func (e *UnwitnessedError) Error() string {
	return "checkpoint refused by the witness policy: " + e.Err.Error()
}

func (e *UnwitnessedError) Unwrap() error { return e.Err }

// HTTPError is an answer with a status other than 200.
type HTTPError struct {
	URL    string
	Status int
	// Code and Message are from the API's error envelope, when it sent one.
	Code    string
	Message string
}

func (e *HTTPError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("GET %s: %d %s: %s", e.URL, e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("GET %s: %d %s", e.URL, e.Status, http.StatusText(e.Status))
}

// get fetches path (relative to BaseURL, with its query) and returns the
// body, reading at most limit bytes.
func (c *Client) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	if c.BaseURL == "" {
		return nil, errors.New("verify client: no base URL")
	}
	u := strings.TrimRight(c.BaseURL, "/") + "/" + strings.TrimLeft(path, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		he := &HTTPError{URL: u, Status: resp.StatusCode}
		var env api.ErrorBody
		if json.Unmarshal(body, &env) == nil {
			he.Code, he.Message = env.Error.Code, env.Error.Message
		}
		return nil, he
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("GET %s: answer longer than %d bytes", u, limit)
	}
	return body, nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	b, err := c.get(ctx, path, maxBody)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// LatestCheckpoint returns the server's latest signed checkpoint note, as
// /checkpoint serves it. It does not verify it.
func (c *Client) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	return c.get(ctx, "checkpoint", 1<<20)
}

// VerifiedCheckpoint fetches the latest checkpoint and verifies its
// signature with c.VerifierKey.
func (c *Client) VerifiedCheckpoint(ctx context.Context) (*ledger.VerifiedCheckpoint, []byte, error) {
	note, err := c.LatestCheckpoint(ctx)
	if err != nil {
		return nil, nil, err
	}
	cp, err := Checkpoint(note, c.VerifierKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%s/checkpoint: %w", strings.TrimRight(c.BaseURL, "/"), err)
	}
	if err := c.checkPolicy(note); err != nil {
		return nil, nil, fmt.Errorf("%s/checkpoint: %w", strings.TrimRight(c.BaseURL, "/"), err)
	}
	return cp, note, nil
}

// Entry fetches entry index and returns it with its leaf bytes, decoded
// from the answer's base64 leaf; the entry has no content. It does not
// verify it.
func (c *Client) Entry(ctx context.Context, index uint64) (*api.Entry, []byte, error) {
	return c.entry(ctx, index, false)
}

// EntryContent fetches entry index and returns it with its leaf bytes and
// the content the token may read; the server records the read in the
// ledger. It does not verify it.
func (c *Client) EntryContent(ctx context.Context, index uint64) (*api.Entry, []byte, error) {
	return c.entry(ctx, index, true)
}

func (c *Client) entry(ctx context.Context, index uint64, content bool) (*api.Entry, []byte, error) {
	var e api.EntryAnswer
	path := "v1/entries/" + strconv.FormatUint(index, 10) + "?content=" + strconv.FormatBool(content)
	if err := c.getJSON(ctx, path, &e); err != nil {
		return nil, nil, err
	}
	if e.Index != index {
		return nil, nil, fmt.Errorf("asked for entry %d, got entry %d", index, e.Index)
	}
	if e.Leaf == "" {
		return nil, nil, fmt.Errorf("entry %d: the answer has no leaf", index)
	}
	leaf, err := base64.StdEncoding.DecodeString(e.Leaf)
	if err != nil {
		return nil, nil, fmt.Errorf("entry %d: leaf: %w", index, err)
	}
	return &e.Entry, leaf, nil
}

// InclusionProof fetches the inclusion proof of entry index in the tree of
// size.
func (c *Client) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	var p api.InclusionProof
	path := fmt.Sprintf("v1/proofs/inclusion?index=%d&tree_size=%d", index, size)
	if err := c.getJSON(ctx, path, &p); err != nil {
		return nil, err
	}
	if p.Index != index || p.TreeSize != size {
		return nil, fmt.Errorf("asked for the inclusion of %d in size %d, got a proof for %d in %d", index, size, p.Index, p.TreeSize)
	}
	return decodeHashes(p.Hashes)
}

// ConsistencyProof fetches the consistency proof from the tree of size
// from to the tree of size to.
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	var p api.ConsistencyProof
	path := fmt.Sprintf("v1/proofs/consistency?from=%d&to=%d", from, to)
	if err := c.getJSON(ctx, path, &p); err != nil {
		return nil, err
	}
	if p.From != from || p.To != to {
		return nil, fmt.Errorf("asked for consistency from %d to %d, got a proof from %d to %d", from, to, p.From, p.To)
	}
	return decodeHashes(p.Hashes)
}

// Credential fetches the credential view of id, as JSON; cursor continues
// a view whose usages were truncated ("" for the first page). With
// content, the view includes the content the token may read (and the
// server records the read).
func (c *Client) Credential(ctx context.Context, id, cursor string, content bool) (json.RawMessage, error) {
	q := url.Values{"content": {strconv.FormatBool(content)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	path := "v1/credentials/" + url.PathEscape(id) + "?" + q.Encode()
	b, err := c.get(ctx, path, maxBody)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("GET %s: not JSON", path)
	}
	return b, nil
}

// proofSource serves what verifying an answer needs besides the answer:
// leaves and proofs. A Client fetches them from the server; a proved view
// carries them.
type proofSource interface {
	leaf(ctx context.Context, index uint64) ([]byte, error)
	inclusionProof(ctx context.Context, index, size uint64) ([][]byte, error)
	consistencyProof(ctx context.Context, from, to uint64) ([][]byte, error)
}

func (c *Client) leaf(ctx context.Context, index uint64) ([]byte, error) {
	_, leaf, err := c.Entry(ctx, index)
	return leaf, err
}

func (c *Client) inclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	return c.InclusionProof(ctx, index, size)
}

func (c *Client) consistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	return c.ConsistencyProof(ctx, from, to)
}

// Tile fetches the hashes of a tile of the given width: width·32 bytes.
func (c *Client) Tile(ctx context.Context, level uint8, index uint64, width int) ([]byte, error) {
	t := layout.Tile{Level: level, Index: index, Width: width}
	if err := t.Valid(); err != nil {
		return nil, err
	}
	b, err := c.get(ctx, t.Path(), ledger.TileWidth*ledger.HashSize)
	if err != nil {
		return nil, err
	}
	if len(b) != width*ledger.HashSize {
		return nil, fmt.Errorf("tile %d/%d: %d bytes, want %d hashes", level, index, len(b), width)
	}
	return b, nil
}

// EntryBundle fetches the entry bundle index of the given width and
// returns its entries, the leaves index·256 … index·256+width-1.
func (c *Client) EntryBundle(ctx context.Context, index uint64, width int) ([][]byte, error) {
	t := layout.Tile{Entries: true, Index: index, Width: width}
	if err := t.Valid(); err != nil {
		return nil, fmt.Errorf("entry bundle: %w", err)
	}
	b, err := c.get(ctx, t.Path(), maxBundle)
	if err != nil {
		return nil, err
	}
	leaves, err := ParseBundle(b)
	if err != nil {
		return nil, fmt.Errorf("entry bundle %d: %w", index, err)
	}
	if len(leaves) != width {
		return nil, fmt.Errorf("entry bundle %d: %d entries, want %d", index, len(leaves), width)
	}
	return leaves, nil
}

// ParseBundle splits a C2SP tlog-tiles entry bundle into its entries, each
// prefixed with its length as a big-endian uint16.
func ParseBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("entry %d: truncated length", len(out))
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, fmt.Errorf("entry %d: %d bytes, want %d", len(out), len(b)-2, n)
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out, nil
}

// parseLeafHash parses a leaf hash as the API reports it: hex.
func parseLeafHash(s string) ([ledger.HashSize]byte, error) {
	var h [ledger.HashSize]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ledger.HashSize {
		if b, err = base64.StdEncoding.DecodeString(s); err != nil || len(b) != ledger.HashSize {
			return h, fmt.Errorf("leaf hash %q is not a hex SHA-256 hash", s)
		}
	}
	copy(h[:], b)
	return h, nil
}

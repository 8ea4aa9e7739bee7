package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// maxViewPages bounds how many pages of a credential view are followed.
const maxViewPages = 1000

// CredentialReport is what VerifyCredential checked.
type CredentialReport struct {
	// Checkpoint is the checkpoint every entry was proved against.
	Checkpoint *ledger.VerifiedCheckpoint
	// Entries are the indices of the entries the view reported, each
	// verified, ascending.
	Entries []uint64
	// Facts is the number of entry objects in the view whose facts were
	// compared with their leaf; Content the number of pieces of content
	// checked against their commitment.
	Facts   int
	Content int
	// Pages is the number of pages of the view read.
	Pages int
	// Complete is what the verifiable index proved about the view: that it
	// reports every entry carrying the credential ID as of an index note.
	Complete *Completeness
}

// CredentialOptions tune VerifyCredential.
type CredentialOptions struct {
	// Wait is how long to wait for a checkpoint that covers every entry
	// the view reports; the server signs one within seconds of an append.
	Wait time.Duration
	// Content asks the view for content, which is then checked against its
	// commitments too. The server records the read in an access entry, and
	// returns content only to the responder role.
	Content bool
}

// reported is an entry as an answer reports it: every JSON object that has
// an "index" and a "leaf_hash".
type reported struct {
	index    uint64
	leafHash [ledger.HashSize]byte
	obj      map[string]json.RawMessage
}

// VerifyCredential fetches the credential view of id (every page of it)
// and verifies every entry it reports against the latest checkpoint: it
// fetches the entry's leaf, checks the leaf hash the view reported, checks
// the entry's inclusion proof, and compares the facts the view states
// about the entry (kind, IDs, name, times, attributes, content
// commitments) with its leaf, and any content it returns with the
// commitment. An entry newer than the latest checkpoint is waited for, up
// to opts.Wait.
//
// It then checks the view's own completeness block: that it proves, as of
// the checkpoint the entries were verified against, the credential ID and
// each fingerprint the view names, and that the view reports every entry
// the credential ID's list holds and every API call or credential event of
// each fingerprint's list. If the block's index note is older than that
// checkpoint, the view is read again, up to opts.Wait.
func (c *Client) VerifyCredential(ctx context.Context, id string, opts CredentialOptions) (*CredentialReport, error) {
	deadline := time.Now().Add(opts.Wait)
	for {
		rep, err := c.verifyCredential(ctx, id, opts, deadline)
		if !errors.Is(err, errIndexBehind) || time.Now().After(deadline) {
			if errors.Is(err, errIndexBehind) {
				err = fmt.Errorf("credential %q: %w; verify again after the next checkpoint", id, err)
			}
			return rep, err
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (c *Client) verifyCredential(ctx context.Context, id string, opts CredentialOptions, deadline time.Time) (*CredentialReport, error) {
	rep := &CredentialReport{}
	byIndex := make(map[uint64][]reported)
	cursor := ""
	var (
		block *api.Completeness
		need  = []ledger.Ref{{Key: ledger.RefCredential, Value: id}}
	)
	for {
		view, err := c.Credential(ctx, id, cursor, opts.Content)
		if err != nil {
			return rep, err
		}
		rep.Pages++
		if err := collect(view, byIndex); err != nil {
			return rep, fmt.Errorf("credential view: %w", err)
		}
		var page struct {
			Truncated    bool              `json:"usages_truncated"`
			NextCursor   string            `json:"next_cursor"`
			Completeness *api.Completeness `json:"completeness"`
			Credential   struct {
				Fingerprints []string `json:"fingerprints"`
			} `json:"credential"`
		}
		_ = json.Unmarshal(view, &page)
		if rep.Pages == 1 {
			block = page.Completeness
			for _, fp := range page.Credential.Fingerprints {
				need = append(need, ledger.Ref{Key: ledger.RefFingerprint, Value: fp})
			}
		}
		if !page.Truncated || page.NextCursor == "" || page.NextCursor == cursor {
			break
		}
		if rep.Pages >= maxViewPages {
			return rep, fmt.Errorf("credential view: more than %d pages", maxViewPages)
		}
		cursor = page.NextCursor
	}
	indices := slices.Sorted(maps.Keys(byIndex))
	if len(indices) == 0 {
		return rep, fmt.Errorf("credential %q: the view reports no entries", id)
	}

	cp, _, err := c.VerifiedCheckpoint(ctx)
	if err != nil {
		return rep, err
	}
	for last := indices[len(indices)-1]; last >= cp.Size; {
		if time.Now().After(deadline) {
			return rep, fmt.Errorf("entry %d is newer than the latest checkpoint (size %d); verify again once a checkpoint covers it", last, cp.Size)
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(time.Second):
		}
		if cp, _, err = c.VerifiedCheckpoint(ctx); err != nil {
			return rep, err
		}
	}
	rep.Checkpoint = cp

	for _, idx := range indices {
		e, leaf, err := c.Entry(ctx, idx)
		if err != nil {
			return rep, err
		}
		lh := ledger.LeafHash(leaf)
		if served, err := parseLeafHash(e.LeafHash); err != nil || served != lh {
			return rep, fmt.Errorf("entry %d: /v1/entries reports leaf hash %s but its leaf hashes to %x", idx, e.LeafHash, lh)
		}
		p, err := c.InclusionProof(ctx, idx, cp.Size)
		if err != nil {
			return rep, err
		}
		if err := inclusion(cp, leaf, idx, p); err != nil {
			return rep, err
		}
		d, err := ledger.DecodeLeaf(leaf)
		if err != nil {
			return rep, fmt.Errorf("entry %d: leaf does not decode: %w", idx, err)
		}
		for _, r := range byIndex[idx] {
			if r.leafHash != lh {
				return rep, fmt.Errorf("entry %d: the view reports leaf hash %x but the entry's leaf hashes to %x", idx, r.leafHash, lh)
			}
			n, checked, err := compareFacts(r.obj, d)
			if err != nil {
				return rep, fmt.Errorf("entry %d: the view says %w", idx, err)
			}
			if checked {
				rep.Facts++
			}
			rep.Content += n
		}
		rep.Entries = append(rep.Entries, idx)
	}
	comp, err := checkComplete(ctx, c, c.VerifierKey, cp, block, need, byIndex, func(k ledger.Ref, idx uint64) (bool, error) {
		if k.Key == ledger.RefCredential {
			return true, nil // the view reports every entry that names the credential
		}
		// A fingerprint is also carried by the steps and tools whose text
		// held the secret; the view reports its API calls and events.
		kind, err := verifiedKind(ctx, c, cp, idx)
		return kind == ledger.KindAPICall || kind == ledger.KindCredential, err
	})
	if err != nil {
		return rep, err
	}
	rep.Complete = comp
	if !comp.Complete() {
		return rep, fmt.Errorf("credential %q: the view is %s", id, comp)
	}
	return rep, nil
}

// verifiedKind reads entry idx from src and proves it in checkpoint cp,
// and returns its kind.
func verifiedKind(ctx context.Context, src proofSource, cp *ledger.VerifiedCheckpoint, idx uint64) (ledger.Kind, error) {
	leaf, err := src.leaf(ctx, idx)
	if err != nil {
		return "", err
	}
	p, err := src.inclusionProof(ctx, idx, cp.Size)
	if err != nil {
		return "", err
	}
	if err := inclusion(cp, leaf, idx, p); err != nil {
		return "", err
	}
	d, err := ledger.DecodeLeaf(leaf)
	if err != nil {
		return "", fmt.Errorf("entry %d: leaf does not decode: %w", idx, err)
	}
	return d.Entry.Kind, nil
}

// collect walks a JSON document and records every object that carries an
// "index" and a "leaf_hash".
func collect(doc json.RawMessage, out map[uint64][]reported) error {
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 {
		return nil
	}
	switch doc[0] {
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(doc, &obj); err != nil {
			return err
		}
		if ri, ok := obj["index"]; ok {
			if rh, ok := obj["leaf_hash"]; ok {
				var idx uint64
				var lhs string
				if err := json.Unmarshal(ri, &idx); err != nil {
					return fmt.Errorf("index %s: %w", ri, err)
				}
				if err := json.Unmarshal(rh, &lhs); err != nil {
					return fmt.Errorf("entry %d: leaf_hash %s: %w", idx, rh, err)
				}
				lh, err := parseLeafHash(lhs)
				if err != nil {
					return fmt.Errorf("entry %d: %w", idx, err)
				}
				out[idx] = append(out[idx], reported{index: idx, leafHash: lh, obj: obj})
			}
		}
		for _, v := range obj {
			if err := collect(v, out); err != nil {
				return err
			}
		}
	case '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(doc, &arr); err != nil {
			return err
		}
		for _, v := range arr {
			if err := collect(v, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// compareFacts compares the entry facts an answer object states with the
// decoded leaf, and content it returns with the leaf's commitments. It
// reports how many pieces of content it checked and whether the object
// stated entry facts (a "kind") at all.
func compareFacts(obj map[string]json.RawMessage, d *ledger.DecodedLeaf) (int, bool, error) {
	if _, ok := obj["kind"]; !ok {
		return 0, false, nil
	}
	var e api.Entry
	raw, _ := json.Marshal(obj)
	if err := json.Unmarshal(raw, &e); err != nil {
		return 0, true, fmt.Errorf("an entry the client cannot read: %v", err)
	}
	le := &d.Entry
	for _, f := range []struct{ name, got, want string }{
		{"kind", e.Kind, string(le.Kind)},
		{"source", e.Source, le.Source},
		{"submitter", e.Submitter, le.Submitter},
		{"trace_id", e.TraceID, le.TraceID},
		{"span_id", e.SpanID, le.SpanID},
		{"parent_span_id", e.ParentSpanID, le.ParentSpanID},
		{"event_key", e.EventKey, le.EventKey},
		{"name", e.Name, le.Name},
	} {
		if _, stated := obj[f.name]; (stated || f.want != "") && f.got != f.want {
			return 0, true, fmt.Errorf("%s %q, but its leaf says %q", f.name, f.got, f.want)
		}
	}
	for _, f := range []struct {
		name string
		got  *time.Time
		want time.Time
	}{{"start", e.Start, le.Start}, {"end", e.End, le.End}} {
		if (f.got == nil) != f.want.IsZero() || f.got != nil && !f.got.Equal(f.want) {
			return 0, true, fmt.Errorf("%s %v, but its leaf says %v", f.name, f.got, f.want)
		}
	}
	if _, stated := obj["attributes"]; stated || len(le.Attrs) > 0 {
		if len(e.Attributes) != len(le.Attrs) {
			return 0, true, fmt.Errorf("%d attributes, but its leaf has %d", len(e.Attributes), len(le.Attrs))
		}
		for _, a := range le.Attrs {
			if v, ok := e.Attributes[a.Key]; !ok || v != a.Value {
				return 0, true, fmt.Errorf("attribute %s = %q, but its leaf says %q", a.Key, v, a.Value)
			}
		}
	}
	checked := 0
	if _, stated := obj["content"]; stated || len(d.Commitments) > 0 {
		if len(e.Content) != len(d.Commitments) {
			return 0, true, fmt.Errorf("%d pieces of content, but its leaf commits to %d", len(e.Content), len(d.Commitments))
		}
		for _, cm := range d.Commitments {
			i := slices.IndexFunc(e.Content, func(c api.Content) bool { return c.Name == cm.Name })
			if i < 0 {
				return 0, true, fmt.Errorf("no content %q, but its leaf commits to it", cm.Name)
			}
			ct := e.Content[i]
			if ct.Commitment != hex.EncodeToString(cm.Hash[:]) {
				return 0, true, fmt.Errorf("content %q has commitment %s, but its leaf commits to %x", ct.Name, ct.Commitment, cm.Hash)
			}
			if ct.FailsCommitment {
				return 0, true, fmt.Errorf("content %q that the server finds does not match its commitment %x", ct.Name, cm.Hash)
			}
			if ct.Data == nil {
				continue
			}
			sum, err := contentHash(ct)
			if err != nil {
				return 0, true, fmt.Errorf("content %q: %v", ct.Name, err)
			}
			if !bytes.Equal(sum, cm.Hash[:]) {
				return 0, true, fmt.Errorf("content %q that does not match its commitment %x", ct.Name, cm.Hash)
			}
			checked++
		}
	}
	return checked, true, nil
}

// contentHash returns SHA-256(salt ‖ data) of content c, whose Data is
// set: the commitment its leaf must hold.
func contentHash(c api.Content) ([]byte, error) {
	salt, err := base64.StdEncoding.DecodeString(c.Salt)
	if err != nil {
		return nil, fmt.Errorf("salt: %w", err)
	}
	var data []byte
	switch c.Encoding {
	case "utf-8", "":
		data = []byte(*c.Data)
	case "base64":
		if data, err = base64.StdEncoding.DecodeString(*c.Data); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
	default:
		return nil, errors.New("unknown encoding " + c.Encoding)
	}
	h := sha256.New()
	h.Write(salt)
	h.Write(data)
	return h.Sum(nil), nil
}

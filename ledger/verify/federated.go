package verify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// Trust maps the origin of each log a verifier trusts to the verifier key
// of its checkpoints ("<origin>+<hash>+<key>").
type Trust map[string]string

// ParseTrust reads a trust file: one verifier key per line, each naming its
// log's origin; blank lines and lines starting with # are skipped. An
// origin given twice is an error.
func ParseTrust(b []byte) (Trust, error) {
	t := make(Trust)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := note.NewVerifier(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: not a verifier key: %v", n, err)
		}
		if _, dup := t[v.Name()]; dup {
			return nil, fmt.Errorf("line %d: log %q is given twice", n, v.Name())
		}
		t[v.Name()] = line
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t) == 0 {
		return nil, errors.New("no verifier keys")
	}
	return t, nil
}

// FederatedOptions tune VerifyFederatedCredential.
type FederatedOptions struct {
	// Trust lists the logs whose shards must answer, with their keys.
	// Required.
	Trust Trust
	// Wait is how long to ask again while a shard's answer reports entries
	// newer than its checkpoint, or its index lags its checkpoint.
	Wait time.Duration
}

// ShardReport is what was verified of one shard's part of a federated
// view.
type ShardReport struct {
	// Name is the shard's name in the answer; Origin its log's origin.
	Name, Origin string
	CredentialReport
}

// FederatedReport is what VerifyFederatedCredential checked: a report for
// each shard whose part verified, in the answer's order.
type FederatedReport struct {
	Shards []ShardReport
}

// errPending says a proved view reports entries newer than its checkpoint.
var errPending = errors.New("the view reports entries newer than its checkpoint")

// VerifyFederatedCredential reads the federated view of credential id
// (/v1/federation/credentials/{id}, every page of every shard) and verifies
// each shard's part against the key that opts.Trust gives for the origin
// the part claims, with VerifyProvedCredential. It fails, naming every
// shard at fault, when a shard did not answer, answers for a log the trust
// does not list or that another shard answered for too, or fails its
// verification; and when a log of the trust has no shard in the answer.
// The server that federates is not trusted: every part is checked against
// its own log's key.
func (c *Client) VerifyFederatedCredential(ctx context.Context, id string, opts FederatedOptions) (*FederatedReport, error) {
	if len(opts.Trust) == 0 {
		return nil, errors.New("federated verification needs the trusted logs' keys")
	}
	deadline := time.Now().Add(opts.Wait)
	for {
		rep, err := c.verifyFederated(ctx, id, opts.Trust)
		retry := errors.Is(err, errPending) || errors.Is(err, errIndexBehind)
		if !retry || time.Now().After(deadline) {
			if retry {
				err = fmt.Errorf("%w; verify again after the next checkpoint", err)
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

func (c *Client) federated(ctx context.Context, id, shard, cursor string) (*api.FederatedCredentialView, error) {
	q := url.Values{}
	if shard != "" {
		q.Set("shard", shard)
		q.Set("cursor", cursor)
	}
	path := "v1/federation/credentials/" + url.PathEscape(id)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var v api.FederatedCredentialView
	if err := c.getJSON(ctx, path, &v); err != nil {
		return nil, err
	}
	if v.CredentialID != id {
		return nil, fmt.Errorf("asked for the federated view of credential %q, got one of %q", id, v.CredentialID)
	}
	return &v, nil
}

func (c *Client) verifyFederated(ctx context.Context, id string, trust Trust) (*FederatedReport, error) {
	v, err := c.federated(ctx, id, "", "")
	if err != nil {
		return nil, err
	}
	rep := &FederatedReport{}
	var errs []error
	seen := make(map[string]string) // origin → shard name
	for _, sh := range v.Shards {
		if !sh.Answered {
			errs = append(errs, fmt.Errorf("shard %s did not answer: %s", sh.Name, sh.Error))
			continue
		}
		pages, err := c.shardPages(ctx, id, sh)
		if err != nil {
			errs = append(errs, fmt.Errorf("shard %s: %w", sh.Name, err))
			continue
		}
		r, err := VerifyProvedCredential(ctx, id, pages, trust)
		if err != nil {
			errs = append(errs, fmt.Errorf("shard %s: %w", sh.Name, err))
			continue
		}
		if other, dup := seen[r.Checkpoint.Origin]; dup {
			errs = append(errs, fmt.Errorf("shard %s: answers for log %s, as shard %s does", sh.Name, r.Checkpoint.Origin, other))
			continue
		}
		seen[r.Checkpoint.Origin] = sh.Name
		rep.Shards = append(rep.Shards, ShardReport{Name: sh.Name, Origin: r.Checkpoint.Origin, CredentialReport: *r})
	}
	for _, origin := range slices.Sorted(maps.Keys(trust)) {
		if _, ok := seen[origin]; !ok {
			errs = append(errs, fmt.Errorf("log %s: no shard's answer for it verified", origin))
		}
	}
	return rep, errors.Join(errs...)
}

// shardPages returns the pages of shard sh's view: its first answer, then
// each next page asked of that shard alone.
func (c *Client) shardPages(ctx context.Context, id string, sh api.ShardAnswer) ([]json.RawMessage, error) {
	pages := []json.RawMessage{sh.Answer}
	cursor := ""
	for {
		var p struct {
			View struct {
				Truncated  bool   `json:"usages_truncated"`
				NextCursor string `json:"next_cursor"`
			} `json:"view"`
		}
		if err := json.Unmarshal(pages[len(pages)-1], &p); err != nil {
			return nil, fmt.Errorf("page %d: %w", len(pages), err)
		}
		if !p.View.Truncated || p.View.NextCursor == "" || p.View.NextCursor == cursor {
			return pages, nil
		}
		if len(pages) >= maxViewPages {
			return nil, fmt.Errorf("more than %d pages", maxViewPages)
		}
		cursor = p.View.NextCursor
		v, err := c.federated(ctx, id, sh.Name, cursor)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", len(pages)+1, err)
		}
		i := slices.IndexFunc(v.Shards, func(s api.ShardAnswer) bool { return s.Name == sh.Name })
		switch {
		case i < 0:
			return nil, fmt.Errorf("page %d: the answer has no part of this shard", len(pages)+1)
		case !v.Shards[i].Answered:
			return nil, fmt.Errorf("page %d: did not answer: %s", len(pages)+1, v.Shards[i].Error)
		}
		pages = append(pages, v.Shards[i].Answer)
	}
}

// provedPage is one page of a proved view, its checkpoint verified, with
// its leaves by index.
type provedPage struct {
	cp     *ledger.VerifiedCheckpoint
	leaves map[uint64][]byte
	proofs map[uint64][][]byte
	// consistency is the proof from the completeness block's size to cp's.
	consistency [][]byte
	blockSize   uint64
}

func (p *provedPage) leaf(_ context.Context, index uint64) ([]byte, error) {
	l, ok := p.leaves[index]
	if !ok {
		return nil, fmt.Errorf("the answer carries no leaf of entry %d", index)
	}
	return l, nil
}

func (p *provedPage) inclusionProof(_ context.Context, index, size uint64) ([][]byte, error) {
	pr, ok := p.proofs[index]
	if !ok || size != p.cp.Size {
		return nil, fmt.Errorf("the answer carries no proof of entry %d in the tree of size %d", index, size)
	}
	return pr, nil
}

func (p *provedPage) consistencyProof(_ context.Context, from, to uint64) ([][]byte, error) {
	if from != p.blockSize || to != p.cp.Size {
		return nil, fmt.Errorf("the answer carries no consistency proof from tree size %d to %d", from, to)
	}
	return p.consistency, nil
}

// VerifyProvedCredential verifies the pages of one log's proved view of
// credential id (/v1/credentials/{id}/proved) offline, with the key trust
// gives for the origin the answer claims: an origin trust does not list is
// refused. It checks each page's checkpoint signature, that the view is of
// credential id, and every entry the view reports as VerifyCredential does
// (the leaf the answer carries, its leaf hash, its inclusion proof in the
// page's checkpoint, the facts the view states), then the completeness
// block of the first page against that page's checkpoint. A view that
// reports no entry is verified too: its block proves the log holds none.
func VerifyProvedCredential(ctx context.Context, id string, pages []json.RawMessage, trust Trust) (*CredentialReport, error) {
	rep := &CredentialReport{}
	byIndex := make(map[uint64][]reported)
	var (
		first  *provedPage
		block  *api.Completeness
		need   = []ledger.Ref{{Key: ledger.RefCredential, Value: id}}
		origin string
	)
	for n, raw := range pages {
		var ans struct {
			Origin      string           `json:"origin"`
			Checkpoint  string           `json:"checkpoint"`
			View        json.RawMessage  `json:"view"`
			Leaves      []api.ProvedLeaf `json:"leaves"`
			Pending     []uint64         `json:"pending"`
			Consistency []string         `json:"consistency"`
		}
		if err := json.Unmarshal(raw, &ans); err != nil {
			return rep, fmt.Errorf("page %d: not a proved view: %w", n+1, err)
		}
		vkey, ok := trust[ans.Origin]
		if !ok {
			return rep, fmt.Errorf("the answer is for log %q, which the trusted keys do not list", ans.Origin)
		}
		if origin != "" && ans.Origin != origin {
			return rep, fmt.Errorf("page %d is for log %q, page 1 for %q", n+1, ans.Origin, origin)
		}
		origin = ans.Origin
		cp, err := Checkpoint([]byte(ans.Checkpoint), vkey)
		if err != nil {
			return rep, fmt.Errorf("page %d: %w", n+1, err)
		}
		if len(ans.Pending) > 0 {
			return rep, fmt.Errorf("entries %v: %w (size %d)", ans.Pending, errPending, cp.Size)
		}
		pg := &provedPage{cp: cp, leaves: make(map[uint64][]byte), proofs: make(map[uint64][][]byte)}
		for _, l := range ans.Leaves {
			leaf, err := base64.StdEncoding.DecodeString(l.Leaf)
			if err != nil {
				return rep, fmt.Errorf("entry %d: leaf: %w", l.Index, err)
			}
			p, err := decodeHashes(l.Inclusion)
			if err != nil {
				return rep, fmt.Errorf("entry %d: inclusion proof: %w", l.Index, err)
			}
			pg.leaves[l.Index], pg.proofs[l.Index] = leaf, p
		}
		if pg.consistency, err = decodeHashes(ans.Consistency); err != nil {
			return rep, fmt.Errorf("consistency proof: %w", err)
		}
		var view struct {
			Credential struct {
				ID           string   `json:"id"`
				Fingerprints []string `json:"fingerprints"`
			} `json:"credential"`
			Completeness *api.Completeness `json:"completeness"`
		}
		if err := json.Unmarshal(ans.View, &view); err != nil {
			return rep, fmt.Errorf("page %d: view: %w", n+1, err)
		}
		if view.Credential.ID != id {
			return rep, fmt.Errorf("page %d is a view of credential %q, not %q", n+1, view.Credential.ID, id)
		}
		page := make(map[uint64][]reported)
		if err := collect(ans.View, page); err != nil {
			return rep, fmt.Errorf("page %d: %w", n+1, err)
		}
		for _, idx := range slices.Sorted(maps.Keys(page)) {
			if err := verifyReported(ctx, pg, idx, page[idx], rep); err != nil {
				return rep, err
			}
			byIndex[idx] = append(byIndex[idx], page[idx]...)
		}
		rep.Pages++
		if n == 0 {
			first, block, rep.Checkpoint = pg, view.Completeness, cp
			if block != nil {
				pg.blockSize = block.Size
			}
			for _, fp := range view.Credential.Fingerprints {
				need = append(need, ledger.Ref{Key: ledger.RefFingerprint, Value: fp})
			}
		}
	}
	if first == nil {
		return rep, errors.New("no answer")
	}
	rep.Entries = slices.Sorted(maps.Keys(byIndex))
	comp, err := checkComplete(ctx, first, trust[origin], first.cp, block, need, byIndex, func(k ledger.Ref, idx uint64) (bool, error) {
		if k.Key == ledger.RefCredential {
			return true, nil
		}
		kind, err := verifiedKind(ctx, first, first.cp, idx)
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

// verifyReported verifies entry idx, as the objects rs of a view report
// it, with the leaf and proof src carries for it.
func verifyReported(ctx context.Context, src *provedPage, idx uint64, rs []reported, rep *CredentialReport) error {
	leaf, err := src.leaf(ctx, idx)
	if err != nil {
		return err
	}
	p, err := src.inclusionProof(ctx, idx, src.cp.Size)
	if err != nil {
		return err
	}
	if err := inclusion(src.cp, leaf, idx, p); err != nil {
		return err
	}
	d, err := ledger.DecodeLeaf(leaf)
	if err != nil {
		return fmt.Errorf("entry %d: leaf does not decode: %w", idx, err)
	}
	lh := ledger.LeafHash(leaf)
	for _, r := range rs {
		if r.leafHash != lh {
			return fmt.Errorf("entry %d: the view reports leaf hash %x but the entry's leaf hashes to %x", idx, r.leafHash, lh)
		}
		n, checked, err := compareFacts(r.obj, d)
		if err != nil {
			return fmt.Errorf("entry %d: the view says %w", idx, err)
		}
		if checked {
			rep.Facts++
		}
		rep.Content += n
	}
	return nil
}

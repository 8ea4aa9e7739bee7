package query

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

const (
	// MaxCompletenessKeys bounds the index keys one completeness block
	// proves; an answer that used more proves the first ones.
	MaxCompletenessKeys = 64
	// MaxUnindexed bounds the unindexed entries a block names.
	MaxUnindexed = 1000
	// maxSinceParams bounds the since parameters of one request.
	maxSinceParams = MaxCompletenessKeys
)

// sinceParams parses the since parameters of a request, each
// "<count>:<key>": the client verified the key's first count indices and
// asks only for the rest.
func sinceParams(c echo.Context) (map[string]uint64, error) {
	vals := c.QueryParams()["since"]
	if len(vals) > maxSinceParams {
		return nil, badRequest("at most %d since parameters", maxSinceParams)
	}
	out := make(map[string]uint64, len(vals))
	for _, v := range vals {
		n, key, ok := strings.Cut(v, ":")
		if !ok {
			return nil, badRequest("since must be <count>:<key>, key <name>:<value>")
		}
		count, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return nil, badRequest("since must be <count>:<key>, count a decimal number")
		}
		k, err := index.ParseKey(key)
		if err != nil {
			return nil, badRequest("since must be <count>:<key>, key <name>:<value>, name one of trace, credential, credential_parent, fingerprint, agent, target")
		}
		out[k.String()] = count
	}
	return out, nil
}

// keySet collects the index keys an answer used, once each, in order.
type keySet []ledger.Ref

func (k *keySet) add(name string, values ...string) {
	for _, v := range values {
		r := ledger.Ref{Key: name, Value: v}
		if v == "" || len(v) > ledger.MaxRefValue || slices.Contains(*k, r) {
			continue
		}
		*k = append(*k, r)
	}
}

// credentialKeys adds the keys a credential view of id used: the
// credential's ID, its children's parent ID, and its fingerprints.
func (k *keySet) credential(v *api.CredentialView, extra ...string) {
	k.add(ledger.RefCredential, v.Credential.ID)
	k.add(ledger.RefCredentialParent, v.Credential.ID)
	k.add(ledger.RefFingerprint, v.Credential.Fingerprints...)
	k.add(ledger.RefFingerprint, extra...)
}

// completeness builds the block of keys for the request c, or nil when the
// ledger has no index or no index note yet.
func (s *Server) completeness(c echo.Context, keys keySet) (*api.Completeness, error) {
	p := s.startCompleteness(c, keys)
	defer p.stop()
	return p.wait()
}

// pendingBlock is a completeness block built while the answer it goes
// with is.
type pendingBlock struct {
	keys   keySet
	done   chan struct{}
	cancel context.CancelFunc
	b      *api.Completeness
	err    error
}

// startCompleteness starts building the block of keys for the request c:
// wait returns it. The caller calls stop when it no longer needs it.
func (s *Server) startCompleteness(c echo.Context, keys keySet) *pendingBlock {
	p := &pendingBlock{keys: keys, done: make(chan struct{}), cancel: func() {}}
	ir, ok := s.cfg.Reader.(indexReader)
	since, err := sinceParams(c)
	if !ok || err != nil {
		p.err = err
		close(p.done)
		return p
	}
	if len(keys) > MaxCompletenessKeys {
		keys = keys[:MaxCompletenessKeys]
	}
	var ctx context.Context
	ctx, p.cancel = context.WithCancel(c.Request().Context())
	go func() {
		defer close(p.done)
		b, err := buildCompleteness(ctx, ir, keys, since)
		switch {
		case errors.Is(err, ledger.ErrNotFound):
		case errors.Is(err, ledger.ErrInvalid):
			p.err = badRequest("a since count is beyond its key's list")
		case err != nil:
			p.err = fail("completeness", err)
		default:
			p.b = b
		}
	}()
	return p
}

// wait returns the block, once built.
func (p *pendingBlock) wait() (*api.Completeness, error) {
	<-p.done
	return p.b, p.err
}

// stop abandons the block if it is still being built, and waits for it.
func (p *pendingBlock) stop() {
	p.cancel()
	<-p.done
}

// completenessReader is what a completeness block reads: the index's
// lookups, the checkpoint of the index note, and the entries newer than it.
type completenessReader interface {
	index.LookupReader
	FindMany(ctx context.Context, qs []ledger.FindQuery) ([]ledger.Found, error)
	Records(ctx context.Context, start, end uint64) ([]ledger.Record, error)
	Checkpoint(ctx context.Context, size uint64) (ledger.Checkpoint, error)
}

// buildCompleteness looks up every key at one index note. A store that
// reads the index in one snapshot reads the note's checkpoint and the
// entries beyond the note with it; others take two more round trips.
func buildCompleteness(ctx context.Context, r completenessReader, keys []ledger.Ref, since map[string]uint64) (*api.Completeness, error) {
	from := make([]uint64, len(keys))
	for i, k := range keys {
		from[i] = since[k.String()]
	}
	b := &api.Completeness{Keys: make([]index.Proof, 0, len(keys)), Unindexed: []uint64{}}
	a, err := index.LookupKeysBeyond(ctx, r, keys, from, MaxUnindexed+1)
	if err != nil {
		return nil, err
	}
	for _, p := range a.Proofs {
		b.Keys = append(b.Keys, *p)
	}
	if len(a.Proofs) > 0 {
		b.Size = a.Proofs[0].Size
	} else {
		n, err := r.LatestIndexNote(ctx)
		if err != nil {
			return nil, err
		}
		b.Size = n.Size
	}
	cp := a.Checkpoint
	if cp == nil || cp.Size != b.Size {
		c, err := r.Checkpoint(ctx, b.Size)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d of the index note: %w", b.Size, err)
		}
		cp = &c
	}
	b.Checkpoint = string(cp.Note)
	if b.Lost, err = lostEntries(ctx, r, b.Size, keys, a.Proofs); err != nil {
		return nil, err
	}
	beyond := a.Beyond
	if beyond == nil && len(keys) > 0 {
		if beyond, err = unindexed(ctx, b.Size, r, keys); err != nil {
			return nil, err
		}
	}
	for _, idx := range beyond {
		b.Unindexed = append(b.Unindexed, idx...)
	}
	slices.Sort(b.Unindexed)
	b.Unindexed = slices.Compact(b.Unindexed)
	if len(b.Unindexed) > MaxUnindexed {
		b.Unindexed, b.UnindexedTruncated = b.Unindexed[:MaxUnindexed], true
	}
	return b, nil
}

// unindexed returns, for each of keys, its first entries at or beyond
// size, with one lookup for all of them.
func unindexed(ctx context.Context, size uint64, r completenessReader, keys []ledger.Ref) ([][]uint64, error) {
	qs := make([]ledger.FindQuery, len(keys))
	for i, k := range keys {
		qs[i] = ledger.FindQuery{Ref: k, From: size, Limit: MaxUnindexed + 1}
	}
	found, err := r.FindMany(ctx, qs)
	if err != nil {
		return nil, fmt.Errorf("entries of %d keys beyond the index: %w", len(keys), err)
	}
	if len(found) != len(qs) {
		return nil, fmt.Errorf("entries beyond the index: %d answers to %d lookups", len(found), len(qs))
	}
	out := make([][]uint64, len(found))
	for i, f := range found {
		out[i] = f.Indices
	}
	return out, nil
}

// maxLostScan bounds the entries lostEntries reads to find a key's lost
// entries; beyond it the block names none (the client still sees the count
// missing).
const maxLostScan = 1 << 21

// lostScanBatch is how many entries lostEntries reads at once.
const lostScanBatch = 4096

// lostEntries finds, for each whole-list proof whose list is shorter than
// the signed count (references lost behind the store's back), the entries
// below size whose leaves carry its key and that the list lacks, by
// reading the leaves. An intact ledger never reads any.
func lostEntries(ctx context.Context, r completenessReader, size uint64, keys []ledger.Ref, ps []*index.Proof) ([]api.LostEntries, error) {
	short := make(map[ledger.Ref]*index.Proof)
	for i, p := range ps {
		if p.Since == 0 && uint64(len(p.Indices)) < p.Count {
			short[keys[i]] = p
		}
	}
	if len(short) == 0 || size > maxLostScan {
		return nil, nil
	}
	found := make(map[ledger.Ref][]uint64)
	for start := uint64(0); start < size; start += lostScanBatch {
		recs, err := r.Records(ctx, start, min(size, start+lostScanBatch))
		if err != nil {
			return nil, fmt.Errorf("read entries %d and on for lost references: %w", start, err)
		}
		for i := range recs {
			bare := recs[i]
			bare.Content = nil
			e, _, err := bare.Decode()
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", bare.Index, err)
			}
			for _, k := range ledger.IndexKeys(e) {
				if p := short[k]; p != nil {
					if _, listed := slices.BinarySearch(p.Indices, bare.Index); !listed {
						found[k] = append(found[k], bare.Index)
					}
				}
			}
		}
	}
	var out []api.LostEntries
	for i, k := range keys {
		if idx := found[k]; len(idx) > 0 && short[k] == ps[i] {
			out = append(out, api.LostEntries{Key: k.String(), Indices: idx})
		}
	}
	return out, nil
}

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
	ir, ok := s.cfg.Reader.(indexReader)
	if !ok {
		return nil, nil
	}
	since, err := sinceParams(c)
	if err != nil {
		return nil, err
	}
	if len(keys) > MaxCompletenessKeys {
		keys = keys[:MaxCompletenessKeys]
	}
	b, err := buildCompleteness(c.Request().Context(), ir, keys, since)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return nil, nil
	case errors.Is(err, ledger.ErrInvalid):
		return nil, badRequest("a since count is beyond its key's list")
	case err != nil:
		return nil, fail("completeness", err)
	}
	return b, nil
}

// completenessReader is what a completeness block reads: the index's
// lookups, the checkpoint of the index note, and the entries newer than it.
type completenessReader interface {
	index.LookupReader
	FindMany(ctx context.Context, qs []ledger.FindQuery) ([]ledger.Found, error)
	Head(ctx context.Context) (ledger.TreeHead, error)
	Checkpoint(ctx context.Context, size uint64) (ledger.Checkpoint, error)
}

// buildCompleteness looks up every key at one index note.
func buildCompleteness(ctx context.Context, r completenessReader, keys []ledger.Ref, since map[string]uint64) (*api.Completeness, error) {
	from := make([]uint64, len(keys))
	for i, k := range keys {
		from[i] = since[k.String()]
	}
	b := &api.Completeness{Keys: make([]index.Proof, 0, len(keys)), Unindexed: []uint64{}}
	ps, err := index.LookupKeys(ctx, r, keys, from)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		b.Keys = append(b.Keys, *p)
	}
	if len(ps) > 0 {
		b.Size = ps[0].Size
	} else {
		n, err := r.LatestIndexNote(ctx)
		if err != nil {
			return nil, err
		}
		b.Size = n.Size
	}
	cp, err := r.Checkpoint(ctx, b.Size)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d of the index note: %w", b.Size, err)
	}
	b.Checkpoint = string(cp.Note)
	if err := unindexed(ctx, b, r, keys); err != nil {
		return nil, err
	}
	return b, nil
}

// unindexed fills in the entries of keys at or beyond block b's size,
// with one lookup for all of them.
func unindexed(ctx context.Context, b *api.Completeness, r completenessReader, keys []ledger.Ref) error {
	head, err := r.Head(ctx)
	if err != nil {
		return fmt.Errorf("entries beyond the index: %w", err)
	}
	if head.Size <= b.Size || len(keys) == 0 {
		return nil
	}
	qs := make([]ledger.FindQuery, len(keys))
	for i, k := range keys {
		qs[i] = ledger.FindQuery{Ref: k, From: b.Size, Limit: MaxUnindexed + 1}
	}
	found, err := r.FindMany(ctx, qs)
	if err != nil {
		return fmt.Errorf("entries of %d keys beyond the index: %w", len(keys), err)
	}
	if len(found) != len(qs) {
		return fmt.Errorf("entries beyond the index: %d answers to %d lookups", len(found), len(qs))
	}
	for _, f := range found {
		b.Unindexed = append(b.Unindexed, f.Indices...)
	}
	slices.Sort(b.Unindexed)
	b.Unindexed = slices.Compact(b.Unindexed)
	if len(b.Unindexed) > MaxUnindexed {
		b.Unindexed, b.UnindexedTruncated = b.Unindexed[:MaxUnindexed], true
	}
	return nil
}

package query

import (
	"encoding/base64"
	"errors"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// MaxProvedListed bounds the entries a proved view carries that its
// completeness block lists but the view does not report.
const MaxProvedListed = 1000

// GET /v1/credentials/{id}/proved?cursor=&limit=
//
// The credential view with the leaf and inclusion proof of every entry it
// reports, against one signed checkpoint: an answer that can be verified
// offline with the log's key alone, as a federated view carries it. It
// never returns content. A credential the log knows nothing of is answered
// too (an empty view whose completeness block proves it), so that a shard
// without a use is told apart from a shard that did not answer.
func (s *Server) provedCredential(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	l, err := queryListing(c)
	if err != nil {
		return err
	}
	p, err := s.provedView(c, id, l)
	if err != nil {
		return err
	}
	return s.reply(c, nil, http.StatusOK, p)
}

// provedView builds the proved credential view of id.
func (s *Server) provedView(c echo.Context, id string, l listing) (*api.ProvedCredentialView, error) {
	ctx := c.Request().Context()
	rd := newRender(false)
	v, _, err := s.credentialAnswer(c, rd, id, l)
	if err != nil {
		return nil, err
	}
	shown := rd.shownIndices()
	listed := listedOnly(v.Completeness, shown)
	p := &api.ProvedCredentialView{Origin: s.origin, View: v, Leaves: []api.ProvedLeaf{}, Pending: []uint64{}, Consistency: []string{}}
	if len(listed) > MaxProvedListed {
		listed, p.LeavesTruncated = listed[:MaxProvedListed], true
	}
	// The checkpoint is read after the view, so that it covers every entry
	// the view reports but those appended since the last checkpoint.
	cp, err := s.latest(c)
	if err != nil {
		return nil, err
	}
	if b := v.Completeness; b != nil && (len(shown) == 0 || shown[len(shown)-1] < b.Size) {
		// Prove against the block's own checkpoint: then the verifier needs
		// no consistency proof between the two.
		if cp, err = s.cfg.Reader.Checkpoint(ctx, b.Size); err != nil {
			return nil, fail("read the completeness block's checkpoint", err)
		}
	} else if b != nil && b.Size > 0 && b.Size < cp.Size {
		hashes, err := ledger.ConsistencyProof(ctx, s.cfg.Reader, b.Size, cp.Size)
		if err != nil {
			return nil, fail("consistency proof", err)
		}
		p.Consistency = b64(hashes)
	}
	p.Checkpoint = string(cp.Note)
	all := slices.Concat(shown, listed)
	slices.Sort(all)
	all = slices.Compact(all)
	var proved []uint64
	for _, i := range all {
		if i >= cp.Size {
			p.Pending = append(p.Pending, i)
			continue
		}
		proved = append(proved, i)
	}
	for len(proved) > 0 {
		chunk := proved[:min(len(proved), fetchBatch)]
		proved = proved[len(chunk):]
		recs, err := s.cfg.Reader.RecordsAt(ctx, chunk)
		if err != nil {
			return nil, fail("read entries", err)
		}
		if len(recs) != len(chunk) {
			return nil, &internalError{op: "read entries", err: errors.New("an entry below the checkpoint is missing")}
		}
		for _, r := range recs {
			hashes, err := ledger.CheckpointInclusionProof(ctx, s.cfg.Reader, r.Index, cp)
			if err != nil {
				return nil, fail("inclusion proof", err)
			}
			p.Leaves = append(p.Leaves, api.ProvedLeaf{Index: r.Index, Leaf: base64.StdEncoding.EncodeToString(r.Leaf), Inclusion: b64(hashes)})
		}
	}
	return p, nil
}

// listedOnly returns the entries that completeness block b lists for its
// keys and that are not in shown (ascending), below the block's size.
func listedOnly(b *api.Completeness, shown []uint64) []uint64 {
	if b == nil {
		return nil
	}
	var out []uint64
	for _, k := range b.Keys {
		for _, i := range k.Indices {
			if _, ok := slices.BinarySearch(shown, i); !ok {
				out = append(out, i)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

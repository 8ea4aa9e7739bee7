package query

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// GET /v1/entries/{index}: the entry, its leaf bytes and leaf hash, and
// its content (with salts) for callers that may read content.
func (s *Server) entry(c echo.Context) error {
	raw, err := pathParam(c, "index")
	if err != nil {
		return err
	}
	i, err := parseUint("index", raw)
	if err != nil {
		return err
	}
	content, err := queryContent(c)
	if err != nil {
		return err
	}
	nodes, err := newFetcher(s.cfg.Reader).fetch(c.Request().Context(), []uint64{i})
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return notFound("entry %d is beyond the tree", i)
	}
	rd := newRender(content)
	e := rd.entry(nodes[0], true)
	e.Leaf = base64.StdEncoding.EncodeToString(nodes[0].rec.Leaf)
	e.DedupKey = hex.EncodeToString(nodes[0].rec.DedupKey[:])
	return s.reply(c, rd, http.StatusOK, api.EntryAnswer{Entry: e, Findings: rd.findingList()})
}

// latest returns the latest checkpoint, or a 404 if none was signed.
func (s *Server) latest(c echo.Context) (ledger.Checkpoint, error) {
	cp, err := s.cfg.Reader.LatestCheckpoint(c.Request().Context())
	if errors.Is(err, ledger.ErrNotFound) {
		return cp, notFound("no checkpoint has been signed yet")
	}
	if err != nil {
		return cp, fail("read latest checkpoint", err)
	}
	return cp, nil
}

// checkpointCacheTTL is how long the latest checkpoint read for a proof is
// reused. A proof against a checkpoint a second old is as good as any: the
// answer carries the checkpoint it proves against.
const checkpointCacheTTL = time.Second

// latestCovering returns a recent checkpoint, the latest read within
// checkpointCacheTTL when it covers entry index, else the latest.
func (s *Server) latestCovering(c echo.Context, index uint64) (ledger.Checkpoint, error) {
	s.cpMu.Lock()
	cp, at := s.cp, s.cpAt
	s.cpMu.Unlock()
	if !at.IsZero() && time.Since(at) < checkpointCacheTTL && index < cp.Size {
		return cp, nil
	}
	cp, err := s.latest(c)
	if err != nil {
		return cp, err
	}
	s.cpMu.Lock()
	if cp.Size >= s.cp.Size {
		s.cp, s.cpAt = cp, time.Now()
	}
	s.cpMu.Unlock()
	return cp, nil
}

// noteAt returns the signed checkpoint of size, or "" when none was
// signed at that size.
func (s *Server) noteAt(c echo.Context, size uint64) (string, error) {
	cp, err := s.cfg.Reader.Checkpoint(c.Request().Context(), size)
	if errors.Is(err, ledger.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fail("read checkpoint", err)
	}
	return string(cp.Note), nil
}

// GET /v1/proofs/inclusion?index=&tree_size= : tree_size defaults to the
// latest checkpoint's size, whose note the answer then carries.
func (s *Server) inclusionProof(c echo.Context) error {
	index, err := parseUint("index", c.QueryParam("index"))
	if err != nil {
		return err
	}
	size, explicit, err := queryUint(c, "tree_size")
	if err != nil {
		return err
	}
	var (
		note   string
		hashes [][]byte
	)
	if !explicit {
		var cp ledger.Checkpoint
		if cp, err = s.latestCovering(c, index); err != nil {
			return err
		}
		size, note = cp.Size, string(cp.Note)
		if index >= size {
			return newError(http.StatusNotFound, CodeNotCheckpointed,
				"entry %d is not covered by the latest checkpoint (tree size %d); retry after the next checkpoint", index, size)
		}
		hashes, err = ledger.CheckpointInclusionProof(c.Request().Context(), s.cfg.Reader, index, cp)
	} else if index >= size {
		return badRequest("index %d is not below tree_size %d", index, size)
	} else {
		// A checkpoint of that size, which the answer carries, shows that
		// the tree reached it: then the tree head need not be read.
		cp, cerr := s.cfg.Reader.Checkpoint(c.Request().Context(), size)
		switch {
		case cerr == nil:
			note = string(cp.Note)
			hashes, err = ledger.CheckpointInclusionProof(c.Request().Context(), s.cfg.Reader, index, cp)
		case errors.Is(cerr, ledger.ErrNotFound):
			hashes, err = ledger.InclusionProof(c.Request().Context(), s.cfg.Reader, index, size)
		default:
			return fail("read checkpoint", cerr)
		}
	}
	if err != nil {
		if errors.Is(err, ledger.ErrNotFound) {
			return notFound("tree size %d is beyond the tree", size)
		}
		return fail("inclusion proof", err)
	}
	return c.JSON(http.StatusOK, api.InclusionProof{Index: index, TreeSize: size, Hashes: b64(hashes), Checkpoint: note})
}

// GET /v1/proofs/consistency?from=&to= : to defaults to the latest
// checkpoint's size.
func (s *Server) consistencyProof(c echo.Context) error {
	from, err := parseUint("from", c.QueryParam("from"))
	if err != nil {
		return err
	}
	if from == 0 {
		return badRequest("from must be at least 1: every tree extends the empty tree")
	}
	to, explicit, err := queryUint(c, "to")
	if err != nil {
		return err
	}
	var note string
	if !explicit {
		cp, err := s.latest(c)
		if err != nil {
			return err
		}
		to, note = cp.Size, string(cp.Note)
	}
	if from > to {
		return badRequest("from %d is beyond to %d", from, to)
	}
	hashes, err := ledger.ConsistencyProof(c.Request().Context(), s.cfg.Reader, from, to)
	if err != nil {
		if errors.Is(err, ledger.ErrNotFound) {
			return notFound("tree size %d is beyond the tree", to)
		}
		return fail("consistency proof", err)
	}
	if explicit {
		if note, err = s.noteAt(c, to); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, api.ConsistencyProof{From: from, To: to, Hashes: b64(hashes), Checkpoint: note})
}

func b64(hashes [][]byte) []string {
	out := make([]string, len(hashes))
	for i, h := range hashes {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

// checkpointCacheControl lets the mutable checkpoint be cached only
// briefly, as C2SP tlog-tiles asks.
const checkpointCacheControl = "max-age=1"

// GET /checkpoint and /v1/checkpoint: the latest signed checkpoint, as
// text.
func (s *Server) checkpointNote(c echo.Context) error {
	cp, err := s.latest(c)
	if err != nil {
		return err
	}
	if c.Path() == "/checkpoint" {
		c.Response().Header().Set(echo.HeaderCacheControl, checkpointCacheControl)
	}
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", cp.Note)
}

func checkpointInfo(cp ledger.Checkpoint) api.CheckpointInfo {
	return api.CheckpointInfo{Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root[:]), Time: timePtr(cp.Time), Note: string(cp.Note)}
}

// GET /v1/checkpoints?cursor=&limit= : checkpoints in ascending size, and
// the latest.
func (s *Server) checkpoints(c echo.Context) error {
	l, err := queryListing(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cps, err := s.cfg.Reader.Checkpoints(ctx, l.cursor, l.limit+1)
	if err != nil {
		return fail("read checkpoints", err)
	}
	out := &api.CheckpointList{Checkpoints: []api.CheckpointInfo{}}
	if len(cps) > l.limit {
		out.NextCursor = encodeCursor(cps[l.limit].Size)
		cps = cps[:l.limit]
	}
	for _, cp := range cps {
		out.Checkpoints = append(out.Checkpoints, checkpointInfo(cp))
	}
	latest, err := s.cfg.Reader.LatestCheckpoint(ctx)
	switch {
	case err == nil:
		info := checkpointInfo(latest)
		out.Latest = &info
	case !errors.Is(err, ledger.ErrNotFound):
		return fail("read latest checkpoint", err)
	}
	return c.JSON(http.StatusOK, out)
}

// GET /v1/log: the log's origin, verifier key, size and latest checkpoint.
func (s *Server) logInfo(c echo.Context) error {
	ctx := c.Request().Context()
	head, err := s.cfg.Reader.Head(ctx)
	if err != nil {
		return fail("read tree head", err)
	}
	out := &api.LogInfo{Origin: s.origin, VerifierKey: s.cfg.VerifierKey, TreeSize: head.Size}
	latest, err := s.cfg.Reader.LatestCheckpoint(ctx)
	switch {
	case err == nil:
		info := checkpointInfo(latest)
		out.Checkpoint = &info
	case !errors.Is(err, ledger.ErrNotFound):
		return fail("read latest checkpoint", err)
	}
	return c.JSON(http.StatusOK, out)
}

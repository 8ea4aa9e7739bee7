package query

import (
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ledger"
)

// maxReason bounds an erasure's reason.
const maxReason = 1024

// maxErasureList bounds the list of erased content an erasure entry holds
// (erasure.targets), leaving room in ledger.MaxLeafSize for the rest.
const maxErasureList = 60000

// POST /v1/erasures: erase the content of entries chosen by index, trace or
// credential, appending the erasure entry that records it. Leaves and
// proofs are unchanged.
func (s *Server) erase(c echo.Context) error {
	var req api.ErasureRequest
	if err := s.decodeJSON(c, &req, `{"indices"|"trace_id"|"credential_id": ..., "content_names": [...], "reason": "..."}`); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(req.Reason) == "":
		return badRequest("reason is required")
	case len(req.Reason) > maxReason || !utf8.ValidString(req.Reason) || strings.IndexByte(req.Reason, 0) >= 0:
		return badRequest("reason must be UTF-8 text of at most %d bytes", maxReason)
	}
	chosen := 0
	for _, set := range []bool{len(req.Indices) > 0, req.TraceID != "", req.CredentialID != ""} {
		if set {
			chosen++
		}
	}
	if chosen != 1 {
		return badRequest("name exactly one of indices, trace_id and credential_id")
	}
	if len(req.Indices) > MaxErase {
		return badRequest("at most %d indices per erasure", MaxErase)
	}
	for _, n := range req.ContentNames {
		if err := checkValue("content name", n); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	f := newFetcher(s.cfg.Reader)
	idx := slices.Clone(req.Indices)
	var ref ledger.Ref
	switch {
	case req.TraceID != "":
		id, err := parseTraceID(req.TraceID)
		if err != nil {
			return err
		}
		ref = ledger.Ref{Key: ledger.RefTrace, Value: id}
	case req.CredentialID != "":
		if err := checkValue("credential_id", req.CredentialID); err != nil {
			return err
		}
		ref = ledger.Ref{Key: ledger.RefCredential, Value: req.CredentialID}
	}
	if ref.Key != "" {
		var err error
		if idx, err = f.find(ctx, ref, 0, MaxErase+1); err != nil {
			return err
		}
		if len(idx) > MaxErase {
			return badRequest("more than %d entries match; erase them by index, in parts", MaxErase)
		}
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	nodes, err := f.fetch(ctx, idx)
	if err != nil {
		return err
	}
	if ref.Key == "" && len(nodes) < len(idx) {
		for _, i := range idx {
			if !slices.ContainsFunc(nodes, func(n *node) bool { return n.index() == i }) {
				return notFound("entry %d is beyond the tree", i)
			}
		}
	}
	var targets []ledger.ContentRef
	res := &api.ErasureResult{Erased: []api.ErasedEntry{}}
	for _, n := range nodes {
		var names []string
		// Content that fails its commitment is stored still, and may be
		// erased like any other.
		for _, cm := range n.cms {
			stored := slices.Contains(n.failing, cm.Name) || slices.ContainsFunc(n.e.Content, func(c ledger.Content) bool { return c.Name == cm.Name })
			if stored && (len(req.ContentNames) == 0 || slices.Contains(req.ContentNames, cm.Name)) {
				names = append(names, cm.Name)
			}
		}
		if len(names) == 0 {
			continue
		}
		if len(req.ContentNames) == 0 {
			targets = append(targets, ledger.ContentRef{Index: n.index()})
		} else {
			for _, name := range names {
				targets = append(targets, ledger.ContentRef{Index: n.index(), Name: name})
			}
		}
		res.Erased = append(res.Erased, api.ErasedEntry{Index: n.index(), LeafHash: hex.EncodeToString(n.rec.LeafHash[:]), Names: names})
	}
	if len(targets) == 0 {
		return notFound("the chosen entries hold no content to erase")
	}
	// The erasure entry lists every target in its leaf.
	listed := 0
	for _, t := range targets {
		listed += len(strconv.FormatUint(t.Index, 10)) + len(t.Name) + 2
	}
	if listed > maxErasureList {
		return badRequest("the erasure names too much content for one erasure entry; erase in parts")
	}
	i, err := s.cfg.Log.Erase(ctx, targets, token(c).Name, req.Reason)
	if errors.Is(err, ledger.ErrTooLarge) {
		return badRequest("the erasure names too much content for one erasure entry; erase in parts")
	}
	if err != nil {
		return fail("erase", err)
	}
	res.ErasureIndex = i
	s.logger.Info("query: erased content", "actor", token(c).Name, "erasure_index", i, "entries", len(res.Erased))
	return c.JSON(http.StatusOK, res)
}

func tokenInfo(t auth.Token) api.TokenInfo {
	return api.TokenInfo{Name: t.Name, Role: string(t.Role), Created: t.Created.UTC(), Revoked: timePtr(t.Revoked)}
}

// GET /v1/tokens
func (s *Server) listTokens(c echo.Context) error {
	ts, err := s.cfg.Tokens.ListTokens(c.Request().Context())
	if err != nil {
		return fail("list tokens", err)
	}
	out := api.TokenList{Tokens: make([]api.TokenInfo, 0, len(ts))}
	for _, t := range ts {
		out.Tokens = append(out.Tokens, tokenInfo(t))
	}
	return c.JSON(http.StatusOK, out)
}

// POST /v1/tokens {"name": ..., "role": ...}: the token is in this answer
// only.
func (s *Server) createToken(c echo.Context) error {
	var req api.NewTokenRequest
	if err := s.decodeJSON(c, &req, `{"name": "...", "role": "auditor"|"responder"|"admin"}`); err != nil {
		return err
	}
	if err := auth.ValidName(req.Name); err != nil {
		return badRequest("name must be 1 to %d letters, digits and . _ - @ :", auth.MaxNameLength)
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return badRequest("role must be auditor, responder or admin")
	}
	secret, t, err := auth.Create(c.Request().Context(), s.cfg.Tokens, req.Name, role)
	if errors.Is(err, ledger.ErrConflict) {
		return newError(http.StatusConflict, CodeConflict, "an active token is named %q", req.Name)
	}
	if err != nil {
		return fail("create token", err)
	}
	s.logger.Info("query: token created", "actor", token(c).Name, "token", t.Name, "role", string(t.Role))
	return c.JSON(http.StatusCreated, api.NewToken{Token: secret, TokenInfo: tokenInfo(t)})
}

// DELETE /v1/tokens/{name}: revoke the active token of that name.
func (s *Server) revokeToken(c echo.Context) error {
	name, err := pathParam(c, "name")
	if err != nil {
		return err
	}
	t, err := s.cfg.Tokens.RevokeToken(c.Request().Context(), name, time.Now().UTC().Truncate(time.Microsecond))
	s.tokens.clear() // even after a failure: the revocation may have committed
	if errors.Is(err, ledger.ErrNotFound) {
		return notFound("no active token is named %q", name)
	}
	if err != nil {
		return fail("revoke token", err)
	}
	s.logger.Info("query: token revoked", "actor", token(c).Name, "token", t.Name)
	return c.JSON(http.StatusOK, tokenInfo(t))
}

// servesUI reports whether a request no route matched is for the UI: a
// GET or HEAD outside the API, when a UI is configured.
func (s *Server) servesUI(c echo.Context) bool {
	p := c.Request().URL.Path
	api := p == "/v1" || strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/tile/")
	method := c.Request().Method
	return s.cfg.UI != nil && !api && (method == http.MethodGet || method == http.MethodHead)
}

// ui serves the file of the UI the path names, or index.html for any path
// that is not a file, so that a single-page application can route.
func (s *Server) ui(c echo.Context) error {
	p := c.Request().URL.Path
	name := strings.TrimPrefix(path.Clean("/"+p), "/")
	if name == "" {
		name = "index.html"
	}
	if fi, err := fs.Stat(s.cfg.UI, name); err != nil || fi.IsDir() {
		name = "index.html"
	}
	// The embedded files carry no modification time: revalidate every
	// one, so that an upgraded binary's scripts are never mixed with old ones.
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeFileFS(c.Response(), c.Request(), s.cfg.UI, name)
	return nil
}

package query

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// indexReader is the optional capability of a Reader that holds the
// verifiable index (both stores do).
type indexReader interface {
	ledger.Reader
	index.Reader
}

// GET /v1/index?key=<name>:<value>&since=n : the key's list of indices at
// the latest index note, from position since on, with the proof that it is
// complete (ledger/FORMAT.md, "Verifiable index").
func (s *Server) indexLookup(c echo.Context) error {
	ir, ok := s.cfg.Reader.(indexReader)
	if !ok {
		return notFound("this ledger has no verifiable index")
	}
	raw := c.QueryParam("key")
	if raw == "" {
		return badRequest("key is required")
	}
	key, err := index.ParseKey(raw)
	if err != nil {
		return badRequest("key must be <name>:<value>, name one of trace, credential, credential_parent, fingerprint, agent, target, value 1 to %d bytes", ledger.MaxRefValue)
	}
	since, _, err := queryUint(c, "since")
	if err != nil {
		return err
	}
	p, err := index.Lookup(c.Request().Context(), ir, key, since)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return newError(http.StatusNotFound, CodeNotCheckpointed, "the index has no signed note yet; retry after the next checkpoint")
	case errors.Is(err, ledger.ErrInvalid):
		return badRequest("since %d is beyond the key's list", since)
	case err != nil:
		return fail("index lookup", err)
	}
	return c.JSON(http.StatusOK, p)
}

// GET /v1/index/note : the latest signed index note, as text, for monitors
// that replay the index.
func (s *Server) indexNote(c echo.Context) error {
	ir, ok := s.cfg.Reader.(indexReader)
	if !ok {
		return notFound("this ledger has no verifiable index")
	}
	n, err := ir.LatestIndexNote(c.Request().Context())
	if errors.Is(err, ledger.ErrNotFound) {
		return newError(http.StatusNotFound, CodeNotCheckpointed, "the index has no signed note yet; retry after the next checkpoint")
	}
	if err != nil {
		return fail("index note", err)
	}
	if index.IsV1(n) {
		// Served as no note, as lookups do, until the index of version 2
		// is built beside it (ledger/FORMAT.md, "Upgrading from version 1").
		return newError(http.StatusNotFound, CodeNotCheckpointed, "the index is being rebuilt at version 2; retry after the next checkpoint")
	}
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", n.Note)
}

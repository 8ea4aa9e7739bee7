package query

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/layout"
)

// Cache-Control of tiles and entry bundles: a tile of a given width never
// changes.
const (
	tileCacheControlPublic  = "public, max-age=31536000, immutable"
	tileCacheControlPrivate = "private, max-age=31536000, immutable"
)

// GET /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>], as C2SP
// tlog-tiles specifies.
func (s *Server) tile(c echo.Context) error {
	if c.Request().URL.RawPath != "" {
		return badRequest("malformed tile path")
	}
	t, err := layout.Parse(strings.TrimPrefix(c.Request().URL.Path, "/"))
	if err != nil {
		return badRequest("%v", err)
	}
	if t.Entries != (c.Path() == "/tile/entries/*") {
		// An entry bundle only through its own route, whose role guards it.
		return notFound("no tile %s on this route", t.Path())
	}
	ctx := c.Request().Context()
	var body []byte
	if t.Entries {
		start, end := t.EntryRange()
		recs, err := s.cfg.Reader.Records(ctx, start, end)
		if err != nil {
			return fail("read entry bundle", err)
		}
		if len(recs) != t.Width {
			return notFound("entry bundle %s is beyond the tree", t.Path())
		}
		for i, r := range recs {
			if r.Index != start+uint64(i) || len(r.Leaf) > ledger.MaxLeafSize {
				return &internalError{op: "entry bundle", err: ledger.ErrCorrupt}
			}
			body = binary.BigEndian.AppendUint16(body, uint16(len(r.Leaf)))
			body = append(body, r.Leaf...)
		}
	} else {
		id := ledger.TileID{Level: t.Level, Index: t.Index}
		body, err = ledger.TileHashes(ctx, s.cfg.Reader, id, t.Width)
		if errors.Is(err, ledger.ErrNotFound) {
			return notFound("tile %s is beyond the tree", t.Path())
		}
		if err != nil {
			return fail("read tile", err)
		}
	}
	cc := tileCacheControlPrivate
	if (t.Entries && s.cfg.PublicEntries) || (!t.Entries && s.cfg.PublicTiles) {
		cc = tileCacheControlPublic
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, cc)
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if t.Entries && acceptsGzip(c.Request()) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		if err := zw.Close(); err != nil {
			return &internalError{op: "compress entry bundle", err: err}
		}
		h.Set(echo.HeaderContentEncoding, "gzip")
		body = buf.Bytes()
	}
	return c.Blob(http.StatusOK, "application/octet-stream", body)
}

// acceptsGzip reports whether the request accepts a gzip response: entry
// bundles are compressed, as C2SP tlog-tiles recommends.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get(echo.HeaderAcceptEncoding), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			return strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0"
		}
	}
	return false
}

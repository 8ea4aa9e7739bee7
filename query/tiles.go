package query

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/agentledger/agentledger/ledger"
)

// maxTilePath bounds a tile path; the longest valid one is far shorter.
const maxTilePath = 128

// maxTileLevel is the highest tile level C2SP tlog-tiles allows.
const maxTileLevel = 63

// Cache-Control of tiles and entry bundles: a tile of a given width never
// changes.
const (
	tileCacheControlPublic  = "public, max-age=31536000, immutable"
	tileCacheControlPrivate = "private, max-age=31536000, immutable"
)

// parseTile parses a C2SP tlog-tiles path, "tile/<L>/<N>[.p/<W>]" or
// "tile/entries/<N>[.p/<W>]", strictly: it must be the canonical encoding
// of the tile. It reuses golang.org/x/mod/sumdb/tlog's parser, whose paths
// also name the tile height: "tile/8/<L>/…" and "tile/8/data/…".
func parseTile(path string) (t tlog.Tile, entries bool, ok bool) {
	rest, found := strings.CutPrefix(path, "tile/")
	if !found || len(path) > maxTilePath {
		return t, false, false
	}
	if after, isEntries := strings.CutPrefix(rest, "entries/"); isEntries {
		rest, entries = "data/"+after, true
	} else if strings.HasPrefix(rest, "data/") {
		return t, false, false
	}
	t, err := tlog.ParseTilePath("tile/8/" + rest)
	if err != nil || t.H != ledger.TileHeight || t.L > maxTileLevel || t.N < 0 {
		return t, false, false
	}
	return t, entries, true
}

// GET /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>], as C2SP
// tlog-tiles specifies.
func (s *Server) tile(c echo.Context) error {
	if c.Request().URL.RawPath != "" {
		return badRequest("malformed tile path")
	}
	t, entries, ok := parseTile(strings.TrimPrefix(c.Request().URL.Path, "/"))
	if !ok {
		return badRequest("malformed tile path: want tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")
	}
	ctx := c.Request().Context()
	var body []byte
	if entries {
		start := uint64(t.N) * ledger.TileWidth
		recs, err := s.cfg.Reader.Records(ctx, start, start+uint64(t.W))
		if err != nil {
			return fail("read entry bundle", err)
		}
		if len(recs) != t.W {
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
		id := ledger.TileID{Level: uint8(t.L), Index: uint64(t.N)}
		var err error
		body, err = ledger.TileHashes(ctx, s.cfg.Reader, id, t.W)
		if errors.Is(err, ledger.ErrNotFound) {
			return notFound("tile %d/%d of width %d is beyond the tree", t.L, t.N, t.W)
		}
		if err != nil {
			return fail("read tile", err)
		}
	}
	cc := tileCacheControlPrivate
	if s.cfg.PublicTiles {
		cc = tileCacheControlPublic
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, cc)
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if entries && acceptsGzip(c.Request()) {
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

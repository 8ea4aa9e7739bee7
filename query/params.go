package query

import (
	"encoding/base64"
	"encoding/binary"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/ledger"
)

// pathParam returns the path parameter name, unescaped once. Echo matches
// routes on the raw path when it holds escapes (an ID may contain "/" as
// %2F), so the value is unescaped here, exactly once.
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if c.Request().URL.RawPath != "" {
		u, err := url.PathUnescape(v)
		if err != nil {
			return "", badRequest("%s: malformed escape", name)
		}
		v = u
	}
	if err := checkValue(name, v); err != nil {
		return "", err
	}
	return v, nil
}

// checkValue checks an identifier given by a caller: non-empty, at most
// ledger.MaxRefValue bytes (longer values are never indexed), UTF-8
// without NUL.
func checkValue(name, v string) error {
	switch {
	case v == "":
		return badRequest("%s is empty", name)
	case len(v) > ledger.MaxRefValue:
		return badRequest("%s is longer than %d bytes", name, ledger.MaxRefValue)
	case !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0:
		return badRequest("%s is not valid UTF-8 text", name)
	}
	return nil
}

// queryValue returns query parameter name, checked with checkValue, or ""
// when absent.
func queryValue(c echo.Context, name string) (string, error) {
	v := c.QueryParam(name)
	if v == "" {
		return "", nil
	}
	return v, checkValue(name, v)
}

// parseUint parses a decimal index or tree size.
func parseUint(name, s string) (uint64, error) {
	if s == "" {
		return 0, badRequest("%s is required", name)
	}
	if len(s) > 20 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, badRequest("%s must be a non-negative decimal integer", name)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, badRequest("%s is out of range", name)
	}
	return n, nil
}

// queryUint parses an optional numeric query parameter; ok is false when
// it is absent.
func queryUint(c echo.Context, name string) (n uint64, ok bool, err error) {
	s := c.QueryParam(name)
	if s == "" {
		return 0, false, nil
	}
	n, err = parseUint(name, s)
	return n, err == nil, err
}

// queryBool parses an optional boolean query parameter.
func queryBool(c echo.Context, name string, def bool) (bool, error) {
	switch c.QueryParam(name) {
	case "":
		return def, nil
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, badRequest("%s must be true or false", name)
}

// queryTime parses an optional RFC 3339 time.
func queryTime(c echo.Context, name string) (time.Time, error) {
	s := c.QueryParam(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || len(s) > 64 {
		return time.Time{}, badRequest("%s must be an RFC 3339 time", name)
	}
	return t.UTC(), nil
}

// cursorVersion starts every cursor, so that their encoding can change.
const cursorVersion = 1

// encodeCursor returns the opaque cursor that continues a listing at
// ledger index (or tree size) n.
func encodeCursor(n uint64) string {
	var b [9]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], n)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// listing is where a page of a listing starts and how long it is: the
// cursor and limit parameters every listing takes.
type listing struct {
	// cursor is the ledger index (or tree size) the page starts at; 0
	// when the parameter is absent.
	cursor uint64
	// limit is 1 to MaxLimit, DefaultLimit when the parameter is absent.
	limit int
}

// queryListing parses the cursor and limit parameters.
func queryListing(c echo.Context) (listing, error) {
	var l listing
	if s := c.QueryParam("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != 9 || b[0] != cursorVersion {
			return l, badRequest("cursor is malformed; pass next_cursor from a previous answer")
		}
		l.cursor = binary.BigEndian.Uint64(b[1:])
	}
	n, ok, err := queryUint(c, "limit")
	switch {
	case err != nil:
		return l, err
	case !ok:
		l.limit = DefaultLimit
	case n < 1 || n > MaxLimit:
		return l, badRequest("limit must be between 1 and %d", MaxLimit)
	default:
		l.limit = int(n)
	}
	return l, nil
}

// queryContent parses the content parameter (true when absent) and
// reports whether the answer returns content: asked for, and readable with
// the request's token.
func queryContent(c echo.Context) (bool, error) {
	content, err := queryBool(c, "content", true)
	return content && mayReadContent(c), err
}

// queryView parses the cursor, limit and content parameters of a view
// that pages through entries with their content, and returns the render
// its answer is built with.
func queryView(c echo.Context) (listing, *render, error) {
	l, err := queryListing(c)
	if err != nil {
		return l, nil, err
	}
	content, err := queryContent(c)
	if err != nil {
		return l, nil, err
	}
	return l, newRender(content), nil
}

// parseTraceID checks a trace ID: 32 hex digits, not all zero, as OTLP
// renders it. Upper case is accepted and lowered.
func parseTraceID(s string) (string, error) {
	if len(s) != 32 {
		return "", badRequest("trace_id must be 32 hex digits")
	}
	s = strings.ToLower(s)
	if strings.TrimLeft(s, "0123456789abcdef") != "" {
		return "", badRequest("trace_id must be 32 hex digits")
	}
	if strings.Trim(s, "0") == "" {
		return "", badRequest("trace_id must not be all zeros")
	}
	return s, nil
}

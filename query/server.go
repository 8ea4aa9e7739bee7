package query

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ledger"
)

// Server is the query API. Its Handler serves every endpoint; the OpenAPI
// document at /v1/openapi.json lists them.
type Server struct {
	cfg    Config
	logger *slog.Logger
	origin string
	e      *echo.Echo
	routes []route

	cpMu sync.Mutex
	cp   ledger.Checkpoint // the latest checkpoint read for a proof
	cpAt time.Time         // when it was read

	tokens tokenCache
}

// route is a registered endpoint and the role it needs; an empty role
// means open to anyone.
type route struct {
	method, path string
	role         auth.Role
}

// Keys of values a request carries through its echo.Context.
const (
	ctxToken     = "agentledger.token"
	ctxRequestID = "agentledger.request_id"
)

// open marks an endpoint that needs no token.
const open auth.Role = ""

// NewServer validates cfg and returns a server.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, origin: cfg.Origin}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.origin == "" {
		s.origin = cfg.Log.Origin()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe)
	s.e = e

	s.add(http.MethodGet, "/healthz", open, s.healthz)
	s.add(http.MethodGet, "/readyz", open, s.readyz)
	s.add(http.MethodGet, "/checkpoint", open, s.checkpointNote)
	s.add(http.MethodGet, "/v1/openapi.json", open, s.openAPI)
	tiles, entries := auth.RoleAuditor, auth.RoleAuditor
	if cfg.PublicTiles {
		tiles = open
	}
	if cfg.PublicEntries {
		entries = open
	}
	s.add(http.MethodGet, "/tile/entries/*", entries, s.tile)
	s.add(http.MethodGet, "/tile/*", tiles, s.tile)

	s.add(http.MethodGet, "/v1/log", auth.RoleAuditor, s.logInfo)
	s.add(http.MethodGet, "/v1/checkpoint", auth.RoleAuditor, s.checkpointNote)
	s.add(http.MethodGet, "/v1/checkpoints", auth.RoleAuditor, s.checkpoints)
	s.add(http.MethodGet, "/v1/proofs/inclusion", auth.RoleAuditor, s.inclusionProof)
	s.add(http.MethodGet, "/v1/proofs/consistency", auth.RoleAuditor, s.consistencyProof)
	s.add(http.MethodGet, "/v1/entries/:index", auth.RoleAuditor, s.entry)
	s.add(http.MethodGet, "/v1/index", auth.RoleAuditor, s.indexLookup)
	s.add(http.MethodGet, "/v1/index/note", auth.RoleAuditor, s.indexNote)

	s.add(http.MethodGet, "/v1/credentials/:id", auth.RoleResponder, s.credential)
	s.add(http.MethodGet, "/v1/credentials/:id/blast-radius", auth.RoleResponder, s.blastRadius)
	s.add(http.MethodGet, "/v1/credentials/:id/proved", auth.RoleResponder, s.provedCredential)
	s.add(http.MethodGet, "/v1/federation/credentials/:id", auth.RoleResponder, s.federatedCredential)
	s.add(http.MethodPost, "/v1/credentials/lookup", auth.RoleResponder, s.lookup)
	s.add(http.MethodGet, "/v1/runs/:trace_id", auth.RoleResponder, s.run)
	s.add(http.MethodGet, "/v1/agents/:agent_id/runs", auth.RoleResponder, s.agentRuns)
	s.add(http.MethodGet, "/v1/search", auth.RoleResponder, s.search)
	s.add(http.MethodGet, "/v1/findings", auth.RoleResponder, s.findings)

	s.add(http.MethodPost, "/v1/erasures", auth.RoleAdmin, s.erase)
	s.add(http.MethodGet, "/v1/tokens", auth.RoleAdmin, s.listTokens)
	s.add(http.MethodPost, "/v1/tokens", auth.RoleAdmin, s.createToken)
	s.add(http.MethodDelete, "/v1/tokens/:name", auth.RoleAdmin, s.revokeToken)
	return s, nil
}

// Handler returns the HTTP handler of every endpoint.
func (s *Server) Handler() http.Handler { return s.e }

func (s *Server) add(method, path string, role auth.Role, h echo.HandlerFunc) {
	var mw []echo.MiddlewareFunc
	if role != open {
		mw = append(mw, s.authorize(role))
	}
	if strings.HasPrefix(path, "/v1/") {
		mw = append(mw, noStore)
	}
	s.e.Add(method, path, h, mw...)
	s.routes = append(s.routes, route{method: method, path: path, role: role})
}

// noStore keeps answers, which may hold content, out of shared caches.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return next(c)
	}
}

// observe gives each request an ID, recovers a panic into a 500 answer
// that reveals nothing, renders errors, and logs one line per request. It
// never logs a body or a header.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		start := time.Now()
		rid := newID(8)
		c.Set(ctxRequestID, rid)
		c.Response().Header().Set(echo.HeaderXRequestID, rid)
		c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.Error("query: panic", "request_id", rid, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				err = &internalError{op: "handler", err: errors.New("panic")}
			}
			if err != nil {
				c.Error(err)
				err = nil
			}
			attrs := []any{
				"request_id", rid,
				"method", c.Request().Method,
				"route", c.Path(),
				"status", c.Response().Status,
				"bytes", c.Response().Size,
				"duration", time.Since(start),
			}
			if t, ok := c.Get(ctxToken).(auth.Token); ok {
				attrs = append(attrs, "actor", t.Name, "role", string(t.Role))
			}
			s.logger.Info("query: request", attrs...)
		}()
		return next(c)
	}
}

// handleError answers err with the error envelope. Internal errors are
// logged and answered without detail.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	rid, _ := c.Get(ctxRequestID).(string)
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if he.Code == http.StatusNotFound && s.servesUI(c) {
			if err := s.ui(c); err == nil {
				return
			}
		}
		err = fromEcho(he)
	}
	status, body := envelope(err, rid)
	if status >= 500 {
		s.logger.Error("query: request failed", "request_id", rid, "route", c.Path(), "err", err)
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="agentledger"`)
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, body)
	}
	if err != nil {
		s.logger.Warn("query: write error answer", "request_id", rid, "err", err)
	}
}

// fromEcho translates the errors echo itself raises.
func fromEcho(he *echo.HTTPError) error {
	switch he.Code {
	case http.StatusNotFound:
		return notFound("no such endpoint")
	case http.StatusMethodNotAllowed:
		return newError(he.Code, CodeMethodNotAllowed, "method not allowed")
	case http.StatusRequestEntityTooLarge:
		return newError(he.Code, CodeTooLarge, "request body too large")
	case http.StatusUnauthorized:
		return newError(he.Code, CodeUnauthorized, "a bearer token is required")
	}
	if he.Code >= 400 && he.Code < 500 {
		return newError(he.Code, CodeBadRequest, "%s", http.StatusText(he.Code))
	}
	return &internalError{op: "echo", err: he}
}

// authorize admits requests whose bearer token has role need or a
// stronger one.
func (s *Server) authorize(need auth.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			t, err := s.authenticate(c)
			if err != nil {
				return err
			}
			c.Set(ctxToken, t)
			if !t.Role.Allows(need) {
				return newError(http.StatusForbidden, CodeForbidden, "this needs the %s role; the token has %s", need, t.Role)
			}
			return next(c)
		}
	}
}

// authenticate returns the active token the request presents. Tokens are
// looked up by their SHA-256, and the stored hash is compared in constant
// time. An active token looked up within tokenCacheTTL is not looked up
// again.
func (s *Server) authenticate(c echo.Context) (auth.Token, error) {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	scheme, secret, _ := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return auth.Token{}, newError(http.StatusUnauthorized, CodeUnauthorized, "a bearer token is required")
	}
	invalid := newError(http.StatusUnauthorized, CodeUnauthorized, "invalid or revoked token")
	if len(secret) > auth.MaxTokenLength {
		return auth.Token{}, invalid
	}
	hash := auth.Hash(secret)
	t, ok, gen := s.tokens.get(hash)
	if ok {
		return t, nil
	}
	at := time.Now()
	t, err := s.cfg.Tokens.LookupToken(c.Request().Context(), hash)
	if errors.Is(err, ledger.ErrNotFound) {
		return auth.Token{}, invalid
	}
	if err != nil {
		return auth.Token{}, fail("look up token", err)
	}
	if subtle.ConstantTimeCompare(t.Hash[:], hash[:]) != 1 || !t.Active() {
		return auth.Token{}, invalid
	}
	s.tokens.put(t, at, gen)
	return t, nil
}

// token returns the token that authenticated the request.
func token(c echo.Context) auth.Token {
	t, _ := c.Get(ctxToken).(auth.Token)
	return t
}

// mayReadContent reports whether the request's token may read content.
func mayReadContent(c echo.Context) bool {
	t := token(c)
	return t.Role.Allows(auth.RoleResponder)
}

// reply sends body. It logs and reports each finding of the answer. If
// the answer returns content, an access entry that records the read is
// appended to the ledger first; if that fails, no content is sent.
func (s *Server) reply(c echo.Context, rd *render, status int, body any) error {
	if rd != nil {
		rid, _ := c.Get(ctxRequestID).(string)
		for _, f := range rd.findingList() {
			s.logger.Warn("query: finding", "request_id", rid, "code", f.Code, "entry", f.Entry, "content", f.Content)
			if s.cfg.Observer != nil && f.Code == api.FindingContentFailsCommitment {
				s.cfg.Observer.ContentFailsCommitment(f.Entry, f.Content)
			}
		}
		if idx := rd.readIndices(); len(idx) > 0 {
			// The answer is encoded while the access entry commits; it
			// is sent only once the entry is committed.
			recorded := make(chan error, 1)
			go func() { recorded <- s.recordAccess(c, idx) }()
			out, encErr := encodeJSON(c, body)
			if err := <-recorded; err != nil {
				rid, _ := c.Get(ctxRequestID).(string)
				s.logger.Error("query: record access", "request_id", rid, "err", err)
				return newError(http.StatusServiceUnavailable, CodeUnavailable,
					"the read could not be recorded in the ledger, so no content is returned; retry")
			}
			if encErr != nil {
				return fail("encode answer", encErr)
			}
			return c.Blob(status, echo.MIMEApplicationJSON, out)
		}
	}
	return c.JSON(status, body)
}

// encodeJSON encodes body as c.JSON would send it.
func encodeJSON(c echo.Context, body any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if _, pretty := c.QueryParams()["pretty"]; pretty || c.Echo().Debug {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(body); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeJSON reads a JSON body of at most MaxBodyBytes into v, rejecting
// unknown fields and trailing data. Its errors never quote the body.
func (s *Server) decodeJSON(c echo.Context, v any, shape string) error {
	r := c.Request()
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return newError(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body exceeds %d bytes", s.cfg.MaxBodyBytes)
	}
	body := http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = terr
			if err == nil {
				err = errors.New("trailing data")
			}
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return newError(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body exceeds %d bytes", s.cfg.MaxBodyBytes)
	case err != nil:
		return badRequest("the body must be one JSON object %s", shape)
	}
	return nil
}

func newID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadyTimeout)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.logger.Warn("query: not ready", "err", err)
			return newError(http.StatusServiceUnavailable, CodeUnavailable, "not ready")
		}
	}
	out := map[string]any{"status": "ready"}
	if s.cfg.Replica != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadyTimeout)
		defer cancel()
		r, err := s.cfg.Replica(ctx)
		if err != nil {
			s.logger.Warn("query: read replica not ready", "err", err)
			return newError(http.StatusServiceUnavailable, CodeUnavailable, "not ready")
		}
		out["replica"] = r
	}
	if s.cfg.Degraded != nil {
		if d := s.cfg.Degraded(); len(d) > 0 {
			out["status"], out["witnesses_not_cosigning"] = "degraded", d
		}
	}
	return c.JSON(http.StatusOK, out)
}

package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/api"
)

// Federation defaults and limits.
const (
	// DefaultFederationTimeout bounds the answer of one peer.
	DefaultFederationTimeout = 10 * time.Second
	// DefaultMaxPeerAnswer bounds the body of one peer's answer.
	DefaultMaxPeerAnswer = 32 << 20
	// MaxPeers bounds the peers one server federates.
	MaxPeers = 64
	// maxPeerError bounds how much of a peer's error answer is read.
	maxPeerError = 64 << 10
)

// Federation names the other shards, each an agentledger log served by its
// own server, that a federated view asks besides the local log.
type Federation struct {
	// Peers are the other shards, asked in this order.
	Peers []Peer
	// Timeout bounds each peer's answer. Zero means
	// DefaultFederationTimeout.
	Timeout time.Duration
	// MaxAnswerBytes bounds each peer's answer body; a longer answer is a
	// failed shard. Zero means DefaultMaxPeerAnswer.
	MaxAnswerBytes int64
	// Client sends the requests to the peers; it must verify their TLS
	// certificates. Nil means a client with Go's default TLS
	// configuration (the system's roots). Redirects are never followed.
	Client *http.Client
}

// Peer is one other shard.
type Peer struct {
	// Name names the shard in answers, such as "shard-b".
	Name string
	// URL is the base URL of its query API, http or https.
	URL string
	// Token is a bearer token of the responder role on that server.
	Token string
}

// Validate checks the federation's configuration.
func (f *Federation) Validate() error {
	var errs []error
	if len(f.Peers) > MaxPeers {
		errs = append(errs, fmt.Errorf("%d peers, at most %d", len(f.Peers), MaxPeers))
	}
	names := make(map[string]bool)
	for _, p := range f.Peers {
		if err := checkValue("peer name", p.Name); err != nil || strings.ContainsAny(p.Name, "=, \t\n") {
			errs = append(errs, fmt.Errorf("peer name %q: want a short name without spaces, commas or '='", p.Name))
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("peer name %q given twice", p.Name))
		}
		names[p.Name] = true
		u, err := url.Parse(p.URL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("peer %s: URL: %v", p.Name, err))
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			errs = append(errs, fmt.Errorf("peer %s: URL %q: want http(s)://host[:port][/path]", p.Name, p.URL))
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, fmt.Errorf("peer %s: URL: no user information, query or fragment (the token goes in the token file)", p.Name))
		}
		if p.Token == "" {
			errs = append(errs, fmt.Errorf("peer %s: no token (a responder token of that server)", p.Name))
		}
	}
	if f.Timeout < 0 || f.MaxAnswerBytes < 0 {
		errs = append(errs, errors.New("negative timeout or answer bound"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("federation: %w", err)
	}
	return nil
}

// GET /v1/federation/credentials/{id}?shard=&cursor=&limit=
//
// Asks the local log and every peer, concurrently, for its proved view of
// the credential (/v1/credentials/{id}/proved) and returns each shard's
// answer as it sent it, with the shards that failed named with their
// error. With shard, only that shard is asked: to read a shard's next page
// with cursor.
func (s *Server) federatedCredential(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	l, err := queryListing(c)
	if err != nil {
		return err
	}
	if len(c.QueryParams()["since"]) > 0 {
		return badRequest("since is not taken by a federated view: each shard's completeness block is whole")
	}
	only, err := queryValue(c, "shard")
	if err != nil {
		return err
	}
	var fed Federation
	if s.cfg.Federation != nil {
		fed = *s.cfg.Federation
	}
	if only != "" && only != s.origin && !hasPeer(fed.Peers, only) {
		return badRequest("shard %q is not one this server federates", only)
	}
	if l.cursor > 0 && only == "" {
		return badRequest("cursor is one shard's: give shard too")
	}
	out := &api.FederatedCredentialView{CredentialID: id, Shards: []api.ShardAnswer{}}
	var peers []Peer
	for _, p := range fed.Peers {
		if only == "" || only == p.Name {
			peers = append(peers, p)
		}
	}
	answers := make([]api.ShardAnswer, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() { answers[i] = fed.ask(c.Request().Context(), p, id, c.Request().URL.Query()) })
	}
	if only == "" || only == s.origin {
		out.Shards = append(out.Shards, s.localShard(c, id, l))
	}
	wg.Wait()
	out.Shards = append(out.Shards, answers...)
	return c.JSON(http.StatusOK, out)
}

func hasPeer(peers []Peer, name string) bool {
	for _, p := range peers {
		if p.Name == name {
			return true
		}
	}
	return false
}

// localShard is the local log's part of a federated answer.
func (s *Server) localShard(c echo.Context, id string, l listing) api.ShardAnswer {
	sa := api.ShardAnswer{Name: s.origin, Local: true, Origin: s.origin}
	p, err := s.provedView(c, id, l)
	if err == nil {
		sa.Answer, err = json.Marshal(p)
	}
	if err != nil {
		rid, _ := c.Get(ctxRequestID).(string)
		status, body := envelope(err, rid)
		if status >= 500 {
			s.logger.Error("query: federated view: local shard", "request_id", rid, "err", err)
		}
		sa.Error = fmt.Sprintf("%d %s: %s", status, body.Error.Code, body.Error.Message)
		return sa
	}
	sa.Answered = true
	return sa
}

// ask asks peer p for its proved view of credential id, passing on the
// request's cursor and limit.
func (f *Federation) ask(ctx context.Context, p Peer, id string, in url.Values) api.ShardAnswer {
	sa := api.ShardAnswer{Name: p.Name, URL: p.URL}
	timeout, limit, hc := f.Timeout, f.MaxAnswerBytes, f.Client
	if timeout == 0 {
		timeout = DefaultFederationTimeout
	}
	if limit == 0 {
		limit = DefaultMaxPeerAnswer
	}
	if hc == nil {
		hc = &http.Client{}
	}
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	q := url.Values{}
	for _, k := range []string{"cursor", "limit"} {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	u := strings.TrimRight(p.URL, "/") + "/v1/credentials/" + url.PathEscape(id) + "/proved"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		sa.Error = err.Error()
		return sa
	}
	req.Header.Set("Authorization", "Bearer "+p.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := noRedirect.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			sa.Error = fmt.Sprintf("no answer within %v", timeout)
		} else {
			sa.Error = err.Error()
		}
		return sa
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxPeerError))
		var env api.ErrorBody
		sa.Error = "HTTP " + strconv.Itoa(resp.StatusCode)
		if json.Unmarshal(body, &env) == nil && env.Error.Code != "" {
			sa.Error += " " + env.Error.Code + ": " + env.Error.Message
		}
		return sa
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		sa.Error = "reading the answer: " + err.Error()
		return sa
	case int64(len(body)) > limit:
		sa.Error = fmt.Sprintf("answer longer than %d bytes", limit)
		return sa
	}
	var head struct {
		Origin string `json:"origin"`
	}
	if err := json.Unmarshal(body, &head); err != nil || head.Origin == "" {
		sa.Error = "the answer is not a proved credential view"
		return sa
	}
	sa.Answered, sa.Origin, sa.Answer = true, head.Origin, body
	return sa
}

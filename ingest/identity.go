package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/client"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ledger"
)

// Prefixes of a submitter identity (see "### Submitter" in
// ledger/FORMAT.md). A SPIFFE ID is recorded as it is, spiffe://….
const (
	SubmitterX509  = "x509:"
	SubmitterToken = "token:"
	SubmitterAuth  = "auth:"
)

// errUnauthenticated is the cause of every refusal for want of a valid
// credential. The receiver answers it with Unauthenticated (HTTP 401),
// which exporters do not retry.
var errUnauthenticated = errors.New("unauthenticated")

// Authentication says how the receiver decides who sent a request.
type Authentication struct {
	// Tokens, if set, holds the ingest tokens: a request with
	// "authorization: Bearer <token>" (gRPC metadata or HTTP header) is
	// accepted only if the token is active and has the role ingest, and
	// its entries record "token:<name>".
	Tokens auth.Store
	// RequireSubmitter refuses every request whose sender was not
	// authenticated (by client certificate, ingest token or the
	// collector's auth extension).
	RequireSubmitter bool
	// GRPCAuthenticator and HTTPAuthenticator name the collector auth
	// extension each protocol's configuration uses, for the submitter of a
	// request it accepted without reporting a subject. Empty when none is
	// configured.
	GRPCAuthenticator, HTTPAuthenticator string
}

// httpPeerKey keys the HTTP request's transport facts in a context; the
// receiver's HTTP middleware puts them there (the OTLP receiver does not
// hand the TLS state or headers to its consumer).
type httpPeerKey struct{}

type httpPeer struct {
	tls           *tls.ConnectionState
	authorization string
}

// overHTTP reports whether ctx is an OTLP/HTTP request's.
func overHTTP(ctx context.Context) bool {
	_, ok := ctx.Value(httpPeerKey{}).(httpPeer)
	return ok
}

// submitter returns the authenticated identity of the request ctx belongs
// to: the verified client certificate's SPIFFE ID or subject, else the
// ingest token's name, else what the collector's auth extension reported;
// "" for an unauthenticated request, if that is allowed. A presented
// credential that is not valid is refused even where unauthenticated
// requests are allowed.
func (a *Authentication) submitter(ctx context.Context) (string, error) {
	state, authz := transport(ctx)
	var id string
	if state != nil && len(state.VerifiedChains) > 0 && len(state.VerifiedChains[0]) > 0 {
		s, err := certSubmitter(state.VerifiedChains[0][0])
		if err != nil {
			return "", err
		}
		id = s
	}
	if authz != "" && a.Tokens != nil {
		name, err := a.token(ctx, authz)
		if err != nil {
			return "", err
		}
		if id == "" {
			id = SubmitterToken + name
		}
	}
	if id == "" {
		authenticator := a.GRPCAuthenticator
		if overHTTP(ctx) {
			authenticator = a.HTTPAuthenticator
		}
		id = authSubmitter(client.FromContext(ctx).Auth, authenticator)
	}
	if id == "" && a.RequireSubmitter {
		return "", fmt.Errorf("%w: present a client certificate or an ingest token", errUnauthenticated)
	}
	if len(id) > ledger.MaxSubmitter || !utf8.ValidString(id) || strings.ContainsAny(id, "\x00\r\n") {
		return "", fmt.Errorf("%w: the authenticated identity (%d bytes) is not a valid submitter", errUnauthenticated, len(id))
	}
	return id, nil
}

// transport returns the request's TLS state and authorization header or
// metadata, whether it came over gRPC or HTTP.
func transport(ctx context.Context) (*tls.ConnectionState, string) {
	if p, ok := ctx.Value(httpPeerKey{}).(httpPeer); ok {
		return p.tls, p.authorization
	}
	var state *tls.ConnectionState
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			state = &ti.State
		}
	}
	var authz string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			authz = v[0]
		}
	}
	return state, authz
}

// certSubmitter is the submitter of a verified client certificate: its
// SPIFFE ID if it has one (an X.509-SVID has exactly one URI SAN), else
// x509: and its subject.
func certSubmitter(c *x509.Certificate) (string, error) {
	var spiffe []string
	for _, u := range c.URIs {
		if u.Scheme == "spiffe" {
			spiffe = append(spiffe, u.String())
		}
	}
	switch {
	case len(spiffe) == 1:
		return spiffe[0], nil
	case len(spiffe) > 1:
		return "", fmt.Errorf("%w: the client certificate has %d SPIFFE IDs, want one", errUnauthenticated, len(spiffe))
	}
	return SubmitterX509 + c.Subject.String(), nil
}

// token checks a bearer ingest token and returns its name.
func (a *Authentication) token(ctx context.Context, authz string) (string, error) {
	scheme, tok, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", fmt.Errorf("%w: authorization: want Bearer and an ingest token", errUnauthenticated)
	}
	if len(tok) > auth.MaxTokenLength {
		return "", fmt.Errorf("%w: ingest token too long", errUnauthenticated)
	}
	t, err := a.Tokens.LookupToken(ctx, auth.Hash(tok))
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return "", fmt.Errorf("%w: unknown ingest token", errUnauthenticated)
	case err != nil:
		return "", fmt.Errorf("look up ingest token: %w", err)
	case !t.Active():
		return "", fmt.Errorf("%w: ingest token %q is revoked", errUnauthenticated, t.Name)
	case t.Role != auth.RoleIngest:
		return "", fmt.Errorf("%w: token %q has role %s, not ingest", errUnauthenticated, t.Name, t.Role)
	}
	return t.Name, nil
}

// authSubmitter is the submitter a collector auth extension vouched for:
// auth: and the subject it reported, or its ID when it reported none
// (bearertokenauth reports none; the request reached the consumer, so it
// passed). "" when no auth extension is configured.
func authSubmitter(d client.AuthData, authenticator string) string {
	if d != nil {
		for _, name := range []string{"subject", "sub"} {
			if s, ok := d.GetAttribute(name).(string); ok && s != "" {
				return SubmitterAuth + s
			}
		}
	}
	if authenticator == "" {
		return ""
	}
	return SubmitterAuth + authenticator
}

// authStatus is the error a consumer returns for a refused sender:
// Unauthenticated (HTTP 401), not retried. The reason is logged, not sent:
// the sender is not authenticated.
var authStatus = status.Error(codes.Unauthenticated, "unauthenticated: present a valid client certificate or ingest token")

// newAuthentication returns the authentication cfg asks for, with the
// ingest tokens of tokens if it accepts them.
func newAuthentication(cfg *Config, tokens auth.Store) Authentication {
	a := Authentication{RequireSubmitter: cfg.RequireSubmitter}
	if cfg.IngestTokens {
		a.Tokens = tokens
	}
	if g := cfg.Protocols.GRPC.Get(); g != nil {
		if c := g.Auth.Get(); c != nil {
			a.GRPCAuthenticator = c.AuthenticatorID.String()
		}
	}
	if h := cfg.Protocols.HTTP.Get(); h != nil {
		if c := h.ServerConfig.Auth.Get(); c != nil {
			a.HTTPAuthenticator = c.Config.AuthenticatorID.String()
		}
	}
	return a
}

// attribute records submitter in every entry of a request and applies
// the binding policy, if there is one.
func (r *ledgerReceiver) attribute(entries []ledger.Entry, submitter string) error {
	for i := range entries {
		entries[i].Submitter = submitter
	}
	if r.approvers != nil {
		verifyApprovals(r.approvers, entries)
	}
	if r.binding == nil {
		return nil
	}
	return r.binding.check(submitter, entries)
}

// refused reports a request refused for want of a valid credential, or
// one whose credential could not be checked (then retryable), and returns
// the error the OTLP receiver answers with.
func (r *ledgerReceiver) refused(ctx context.Context, s Signal, items int, err error) error {
	if !errors.Is(err, errUnauthenticated) {
		return r.failed(ctx, s, items, err)
	}
	markReported(ctx)
	r.set.Logger.Warn("refused unauthenticated OTLP request", zap.String("signal", string(s)), zap.Int("items", items), zap.Error(err))
	if r.observer != nil {
		r.observer.Rejected(s, items, err)
	}
	return authStatus
}

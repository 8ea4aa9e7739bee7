package policy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// Defaults of DecisionLogsConfig.
const (
	// DefaultMaxBodyBytes bounds a request body as sent (compressed).
	DefaultMaxBodyBytes = 4 << 20
	// DefaultMaxDecodedBytes bounds a batch after decompression, so a
	// small gzip body cannot expand without limit.
	DefaultMaxDecodedBytes = 16 << 20
)

// DecisionLogsPath is where serve mounts DecisionLogs on its API address:
// OPA's service URL is the API's URL and /v1/opa, to which OPA adds /logs.
const DecisionLogsPath = "/v1/opa/logs"

// Appender appends entries to the ledger; *ledger.Log is one.
type Appender interface {
	Append(ctx context.Context, entries []ledger.Entry) ([]ledger.Index, error)
}

// DecisionLogsConfig configures DecisionLogs.
type DecisionLogsConfig struct {
	// Log receives the entries.
	Log Appender
	// Tokens holds the ingest tokens: OPA presents one as its service's
	// bearer credential, and the token's name becomes the entries'
	// submitter (token:<name>).
	Tokens auth.Store
	// Redactor fingerprints secrets in inputs and results.
	Redactor *secrets.Redactor
	// MaxBodyBytes and MaxDecodedBytes bound a request before and after
	// decompression; zero means the defaults.
	MaxBodyBytes, MaxDecodedBytes int64
	// Logger logs refused requests; nil discards.
	Logger *slog.Logger
}

// DecisionLogs is the endpoint OPA's decision-log plugin posts to: point
// a service at the ledger's API (services.<name>.url =
// https://ledger/v1/opa) with an ingest token as its bearer credential,
// and decision_logs.service at that service; OPA posts gzip-compressed
// JSON arrays of decision events to <url>/logs. A batch is written whole
// or not at all; a batch sent again appends nothing (each decision's event
// key is opa/<decision_id>).
type DecisionLogs struct {
	cfg DecisionLogsConfig
}

// NewDecisionLogs returns the endpoint, checking cfg.
func NewDecisionLogs(cfg DecisionLogsConfig) (*DecisionLogs, error) {
	if cfg.Log == nil || cfg.Tokens == nil || cfg.Redactor == nil {
		return nil, errors.New("policy: decision logs need a log, a token store and a redactor")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxDecodedBytes <= 0 {
		cfg.MaxDecodedBytes = DefaultMaxDecodedBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &DecisionLogs{cfg: cfg}, nil
}

// submitterToken prefixes an ingest token's name in a submitter, as
// ingest.SubmitterToken does for OTLP senders (the package does not import
// ingest, so that it builds without the collector).
const submitterToken = "token:"

// errTooLarge marks a body over a limit.
var errTooLarge = errors.New("too large")

// ServeHTTP handles POST <prefix>/logs.
func (d *DecisionLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		d.fail(w, r, http.StatusMethodNotAllowed, "want POST")
		return
	}
	name, err := d.authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="agentledger"`)
		d.fail(w, r, http.StatusUnauthorized, err.Error())
		return
	}
	batch, err := d.read(w, r)
	switch {
	case errors.Is(err, errTooLarge):
		d.fail(w, r, http.StatusRequestEntityTooLarge, err.Error())
		return
	case err != nil:
		d.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	entries, err := ParseOPA(d.cfg.Redactor, batch)
	if err != nil {
		d.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	for i := range entries {
		entries[i].Submitter = submitterToken + name
	}
	if len(entries) > 0 {
		if _, err := d.cfg.Log.Append(r.Context(), entries); err != nil {
			d.cfg.Logger.Error("append OPA decisions", "err", err)
			http.Error(w, "the ledger could not append the decisions; retry", http.StatusServiceUnavailable)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// authenticate checks the bearer ingest token and returns its name.
func (d *DecisionLogs) authenticate(r *http.Request) (string, error) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", errors.New("authorization: want Bearer and an ingest token")
	}
	if len(tok) > auth.MaxTokenLength {
		return "", errors.New("ingest token too long")
	}
	t, err := d.cfg.Tokens.LookupToken(r.Context(), auth.Hash(tok))
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return "", errors.New("unknown ingest token")
	case err != nil:
		return "", fmt.Errorf("look up ingest token: %w", err)
	case !t.Active():
		return "", fmt.Errorf("ingest token %q is revoked", t.Name)
	case t.Role != auth.RoleIngest:
		return "", fmt.Errorf("token %q has role %s, not ingest", t.Name, t.Role)
	}
	return t.Name, nil
}

// read reads the body within MaxBodyBytes and, when it is gzip (by its
// Content-Encoding or its magic bytes), decompresses it within
// MaxDecodedBytes.
func (d *DecisionLogs) read(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, d.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("body: %w: limit %d bytes", errTooLarge, d.cfg.MaxBodyBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch {
	case enc == "gzip" || bytes.HasPrefix(body, []byte{0x1f, 0x8b}):
	case enc == "" || enc == "identity":
		if int64(len(body)) > d.cfg.MaxDecodedBytes {
			return nil, fmt.Errorf("body: %w: limit %d bytes", errTooLarge, d.cfg.MaxDecodedBytes)
		}
		return body, nil
	default:
		return nil, fmt.Errorf("content-encoding %q: want gzip or none", clip(enc))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, d.cfg.MaxDecodedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if int64(len(out)) > d.cfg.MaxDecodedBytes {
		return nil, fmt.Errorf("decompressed body: %w: limit %d bytes", errTooLarge, d.cfg.MaxDecodedBytes)
	}
	return out, nil
}

func (d *DecisionLogs) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	d.cfg.Logger.Warn("OPA decision logs refused", "status", code, "remote", r.RemoteAddr, "err", msg)
	http.Error(w, msg, code)
}

package query

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/policy"
)

// TokenStore keeps the server's bearer tokens; the Postgres and SQLite
// stores implement it.
type TokenStore = auth.Store

// Defaults and limits.
const (
	// DefaultMaxBodyBytes bounds a request body.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultReadyTimeout bounds the readiness check of /readyz, so that a
	// hanging database makes the server unready rather than the probe hang.
	DefaultReadyTimeout = 2 * time.Second
	// DefaultLimit is the page size of a paginated answer when the caller
	// gives none.
	DefaultLimit = 100
	// MaxLimit is the largest page size a caller may ask for.
	MaxLimit = 1000
	// MaxUsageRuns is the most runs one page of a credential's usages
	// covers; the page ends early, with a cursor, when more runs follow.
	MaxUsageRuns = 10
	// MaxRunEntries is the most entries of one run loaded to link a
	// credential's usage or issuance (chain of thought, causes).
	MaxRunEntries = 5000
	// MaxLineage is the most credentials a lineage lists.
	MaxLineage = 256
	// MaxScan is the most entries one search or listing examines before it
	// returns what it found with a cursor to continue.
	MaxScan = 10000
	// MaxBlastCalls is the most API calls a blast radius reports.
	MaxBlastCalls = 10000
	// MaxErase is the most entries one erasure request may name or select;
	// the erasure entry must also list them all within ledger.MaxLeafSize.
	MaxErase = 5000
)

// Config configures a Server.
type Config struct {
	// ApprovalGate, if set, names the actions that require a signed
	// approval: a call of one without a verified approval has the finding
	// approval_missing in the credential view.
	ApprovalGate *approval.Gate
	// AttestationAllow, if set, is the allow-list of image digests and
	// models a run may attest: a run that used a credential and attests
	// another has the finding attestation_mismatch.
	AttestationAllow *policy.AttestationAllow
	// Reader is the ledger the server reads. Required.
	Reader ledger.Reader
	// Log appends the access entries that record reads of content, and
	// erasures. Required: content is never served without its access
	// entry.
	Log *ledger.Log
	// Tokens keeps the bearer tokens. Required.
	Tokens TokenStore
	// Fingerprint returns the keyed fingerprint "hmac-sha256:<hex>" of a
	// raw secret, as ingest computes it with the ledger secret. Required.
	Fingerprint func(token string) string
	// LookupSecrets returns the values that ingest may have fingerprinted in
	// a responder's pasted text (the credential after "Bearer ", a PEM body,
	// the value of each key=value line, …), as secrets.Redactor.LookupSecrets
	// does; the lookup searches the fingerprint of each. Optional: nil means
	// the pasted text alone.
	LookupSecrets func(text string) []string
	// VerifierKey is the note verifier key of the log's checkpoints,
	// "<origin>+<hash>+<key>", served at /v1/log. Optional; when set its
	// name must be the origin.
	VerifierKey string
	// Origin is the log's origin, the first line of its checkpoints. Empty
	// means Log's.
	Origin string
	// Logger receives one line per request and the details of internal
	// errors. Nil means slog.Default().
	Logger *slog.Logger
	// PublicTiles serves the Merkle tree tiles (/tile/<L>/...) without a
	// token, as witnesses and monitors need; otherwise they need the
	// auditor role.
	PublicTiles bool
	// PublicEntries also serves the entry bundles (/tile/entries/...)
	// without a token. They hold the leaves, which name agents, credential
	// IDs and the token names of access entries. It needs PublicTiles.
	PublicEntries bool
	// UI, if set, is served at / with index.html as the fallback for any
	// path that is not a file, for a single-page application.
	UI fs.FS
	// Ready reports whether the server can answer, for /readyz. Nil means
	// always ready.
	Ready func(ctx context.Context) error
	// Degraded, if set, names what works only in part, for /readyz: the
	// witnesses whose latest cosigning failed. The server still answers
	// 200, with status "degraded": appends and reads go on, and a load
	// balancer must not take the node out for a witness's outage.
	Degraded func() []string
	// Replica, if set, reports how far the replica that Reader reads lags
	// behind the primary that Log writes, for /readyz. An error makes the
	// server unready.
	Replica func(ctx context.Context) (api.ReplicaStatus, error)
	// ReadyTimeout bounds one call of Ready; when it passes, /readyz
	// answers 503. Zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// MaxBodyBytes bounds request bodies. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Observer, if set, is told of what the server finds wrong in the
	// ledger while answering, for metrics.
	Observer Observer
	// Federation, if set, names the other shards whose logs a federated
	// credential view (/v1/federation/credentials/{id}) asks besides this
	// one. Nil means the federated view asks this log alone.
	Federation *Federation
}

// Observer is told of what the server finds wrong in the ledger while
// answering. Its methods must be safe for concurrent use and return
// quickly.
type Observer interface {
	// ContentFailsCommitment is called for each piece of stored content
	// that an answer found not to match its commitment, each time an answer
	// finds it.
	ContentFailsCommitment(entry uint64, name string)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Reader == nil {
		errs = append(errs, errors.New("reader is required"))
	}
	if c.Log == nil {
		errs = append(errs, errors.New("log is required (access entries record every read of content)"))
	}
	if c.Tokens == nil {
		errs = append(errs, errors.New("token store is required"))
	}
	if c.Fingerprint == nil {
		errs = append(errs, errors.New("fingerprint function is required"))
	}
	if c.ReadyTimeout < 0 {
		errs = append(errs, fmt.Errorf("ready timeout %v is negative", c.ReadyTimeout))
	}
	if c.PublicEntries && !c.PublicTiles {
		errs = append(errs, errors.New("public entries need public tiles"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("max body bytes %d is negative", c.MaxBodyBytes))
	}
	origin := c.Origin
	if origin == "" && c.Log != nil {
		origin = c.Log.Origin()
	}
	if origin != "" {
		if err := ledger.ValidOrigin(origin); err != nil {
			errs = append(errs, err)
		}
	}
	if c.VerifierKey != "" {
		v, err := note.NewVerifier(strings.TrimSpace(c.VerifierKey))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("verifier key: %v", err))
		case origin != "" && v.Name() != origin:
			errs = append(errs, fmt.Errorf("verifier key is for %q, not the log origin %q", v.Name(), origin))
		}
	}
	if c.Federation != nil {
		if err := c.Federation.Validate(); err != nil {
			errs = append(errs, err)
		}
		for _, p := range c.Federation.Peers {
			if p.Name == origin {
				errs = append(errs, fmt.Errorf("federation: peer name %q is this log's origin, the local shard's name", p.Name))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("query config: %w", err)
	}
	return nil
}

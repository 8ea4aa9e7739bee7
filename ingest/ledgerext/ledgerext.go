// Package ledgerext is the agentledger collector extension: it owns the
// ledger a collector writes to (the store, the ledger.Log with its signing
// loop, and the secret redactor), so that every agentledger receiver of
// the collector that names it shares one Log and one signer.
//
// The store drivers (pgx for Postgres, modernc SQLite) are linked where
// this package is: a collector build with the receiver alone, handed an
// open ledger (as agentledger serve does with ingest.NewFactoryWithLedger),
// does not need them.
//
//	extensions:
//	  agentledger:
//	    database: ${env:AGENTLEDGER_DATABASE}
//	    signer_key_file: /etc/agentledger/signer.key
//	    secret_file: /etc/agentledger/secret
//	    commit_timeout: 30s  # optional, ledger.DefaultCommitTimeout
//	    max_pending: 1024    # optional, ledger.DefaultMaxPending
//	receivers:
//	  agentledger:
//	    ledger: agentledger
//	    protocols: {grpc: }
//	service:
//	  extensions: [agentledger]
package ledgerext

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/agentledger/agentledger/ingest"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/internal/backend"
	"github.com/agentledger/agentledger/internal/keyfile"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// TypeName is the extension's component type in collector configurations.
const TypeName = "agentledger"

var componentType = component.MustNewType(TypeName)

// Config is the configuration of the agentledger extension: which ledger
// it opens and how it fingerprints secrets.
type Config struct {
	// Database is the ledger store: a postgres:// (or postgresql://) URL or
	// the path of a SQLite file.
	Database string `mapstructure:"database"`
	// SignerKeyFile holds the note signer key that signs checkpoints
	// ("PRIVATE+KEY+<origin>+…", as agentledger keygen writes). It must be
	// accessible to its owner only (mode 0600).
	SignerKeyFile string `mapstructure:"signer_key_file"`
	// SecretFile holds the ledger secret, the HMAC key of secret
	// fingerprints (at least 32 bytes, mode 0600; see ingest.ReadSecretFile).
	SecretFile string `mapstructure:"secret_file"`
	// Redaction configures secret detection, for every receiver that
	// writes through this extension.
	Redaction secrets.Config `mapstructure:"redaction"`
	// CommitTimeout bounds each commit transaction and checkpoint signing
	// (ledger.Config.CommitTimeout); zero means
	// ledger.DefaultCommitTimeout.
	CommitTimeout time.Duration `mapstructure:"commit_timeout"`
	// MaxPending is how many appends may wait for a commit before the
	// receivers push back (ledger.Config.MaxPending); zero means
	// ledger.DefaultMaxPending.
	MaxPending int `mapstructure:"max_pending"`
}

var _ component.Config = (*Config)(nil)

// Validate checks that the configuration names a ledger. The redaction
// section is validated by its own Validate, which the collector calls too.
func (c *Config) Validate() error {
	var errs []error
	if c.Database == "" {
		errs = append(errs, errors.New("database: must be set (a postgres:// URL or a SQLite file path)"))
	}
	if c.SignerKeyFile == "" {
		errs = append(errs, errors.New("signer_key_file: must be set"))
	}
	if c.SecretFile == "" {
		errs = append(errs, errors.New("secret_file: must be set"))
	}
	if c.CommitTimeout < 0 {
		errs = append(errs, fmt.Errorf("commit_timeout: %v is negative", c.CommitTimeout))
	}
	if c.MaxPending < 0 {
		errs = append(errs, fmt.Errorf("max_pending: %d is negative", c.MaxPending))
	}
	return errors.Join(errs...)
}

// NewFactory returns the factory of the agentledger extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(componentType, func() component.Config { return &Config{} },
		func(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
			return &ledgerExtension{cfg: cfg.(*Config), set: set}, nil
		}, component.StabilityLevelDevelopment)
}

// ledgerExtension opens the ledger on Start and closes it on Shutdown,
// after the receivers that write to it have shut down (the collector
// shuts extensions down last).
type ledgerExtension struct {
	cfg *Config
	set extension.Settings

	mu     sync.Mutex
	store  backend.Store
	log    *ledger.Log
	ledger ingest.Ledger
}

var _ ingest.LedgerProvider = (*ledgerExtension)(nil)

// Ledger returns the open ledger; ok is false before Start succeeded or
// after Shutdown.
func (e *ledgerExtension) Ledger() (ingest.Ledger, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ledger, e.log != nil
}

// Start opens the store, the log (which starts the signing loop) and the
// redactor.
func (e *ledgerExtension) Start(ctx context.Context, _ component.Host) error {
	if err := errors.Join(e.cfg.Redaction.Validate(), e.cfg.Validate()); err != nil {
		return fmt.Errorf("agentledger extension: %w", err)
	}
	key, err := ingest.ReadSecretFile(e.cfg.SecretFile)
	if err != nil {
		return fmt.Errorf("agentledger extension: %w", err)
	}
	redactor, err := secrets.NewRedactor(key, e.cfg.Redaction)
	if err != nil {
		return fmt.Errorf("agentledger extension: %w", err)
	}
	skey, err := keyfile.Read(e.cfg.SignerKeyFile)
	if err != nil {
		return fmt.Errorf("agentledger extension: read signer key file: %w", err)
	}
	signer, err := ledger.NewSigner(string(skey))
	if err != nil {
		return fmt.Errorf("agentledger extension: signer key file %s: %w", e.cfg.SignerKeyFile, err)
	}
	store, err := backend.Open(ctx, e.cfg.Database)
	if err != nil {
		return fmt.Errorf("agentledger extension: open ledger store: %w", err)
	}
	log, err := ledger.OpenBound(ctx, store, ledger.Config{Signer: signer, Logger: ingest.SlogLogger(e.set.Logger), Follower: index.NewIndexer(store, signer),
		CommitTimeout: e.cfg.CommitTimeout, MaxPending: e.cfg.MaxPending})
	if err != nil {
		store.Close()
		return fmt.Errorf("agentledger extension: %w", err)
	}
	e.mu.Lock()
	e.store, e.log = store, log
	e.ledger = ingest.Ledger{Log: log, Redactor: redactor, Tokens: store}
	e.mu.Unlock()
	return nil
}

// Shutdown closes the log (committing what it accepted and signing a final
// checkpoint) and then the store.
func (e *ledgerExtension) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	store, log := e.store, e.log
	e.store, e.log, e.ledger = nil, nil, ingest.Ledger{}
	e.mu.Unlock()
	if log == nil {
		return nil
	}
	err := log.Close(ctx)
	if cerr := store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

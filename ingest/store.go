package ingest

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/internal/backend"
	"github.com/agentledger/agentledger/internal/keyfile"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
)

// ReadSecretFile reads the ledger secret, the key of secret fingerprints,
// from path: the file's content without surrounding white space, decoded
// if it is all hex digits. It must give at least secrets.MinKeySize bytes,
// and, like every key file, be accessible to its owner only (mode 0600;
// see keyfile.Read). Whoever fingerprints for this ledger (the receiver,
// agentledger serve, a responder's lookup) must read the key the same way.
func ReadSecretFile(path string) ([]byte, error) {
	raw, err := keyfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	key := bytes.TrimSpace(raw)
	if d, err := hex.DecodeString(string(key)); err == nil {
		key = d
	}
	if len(key) < secrets.MinKeySize {
		return nil, fmt.Errorf("secret file %s: %d bytes of key, want at least %d", path, len(key), secrets.MinKeySize)
	}
	return key, nil
}

// ownedLedger is a ledger the receiver opened from its configuration and
// closes on shutdown.
type ownedLedger struct {
	store    backend.Store
	log      *ledger.Log
	redactor *secrets.Redactor
}

// openLedger opens the store, the log and the redactor a collector-hosted
// receiver's configuration names.
func openLedger(ctx context.Context, cfg *Config, logger *slog.Logger) (_ *ownedLedger, err error) {
	key, err := ReadSecretFile(cfg.SecretFile)
	if err != nil {
		return nil, err
	}
	redactor, err := secrets.NewRedactor(key, cfg.Redaction)
	if err != nil {
		return nil, err
	}
	skey, err := keyfile.Read(cfg.SignerKeyFile)
	if err != nil {
		return nil, fmt.Errorf("read signer key file: %w", err)
	}
	signer, err := ledger.NewSigner(string(skey))
	if err != nil {
		return nil, fmt.Errorf("signer key file %s: %w", cfg.SignerKeyFile, err)
	}
	store, err := backend.Open(ctx, cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("open ledger store: %w", err)
	}
	log, err := ledger.OpenBound(ctx, store, ledger.Config{Signer: signer, Logger: logger, Follower: index.NewIndexer(store, signer)})
	if err != nil {
		store.Close()
		return nil, err
	}
	return &ownedLedger{store: store, log: log, redactor: redactor}, nil
}

// close closes the log (committing what it accepted and signing a final
// checkpoint) and then the store.
func (o *ownedLedger) close(ctx context.Context) error {
	err := o.log.Close(ctx)
	if cerr := o.store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

package ledger

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// LogKey is a verifier key the database records for its log: number 0 is
// the key the log was started with, each later one a key rotation.
type LogKey struct {
	Seq         int
	Origin      string
	VerifierKey string
	Time        time.Time
}

// KeyStore records the keys of a store's log. Postgres and SQLite
// implement it; the table is append-only.
type KeyStore interface {
	// LogKeys returns the recorded keys in order of Seq, none if the log
	// has no key yet.
	LogKeys(ctx context.Context) ([]LogKey, error)
	// AddLogKey records k, which must be numbered one past the last key
	// (0 for the first) and name the same log; ErrConflict if another
	// writer recorded that number first.
	AddLogKey(ctx context.Context, k LogKey) error
}

// KeyHash returns the 4-byte key hash of a verifier key
// "<name>+<hash>+<key>", the prefix of its note signatures.
func KeyHash(vkey string) ([]byte, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || len(parts[1]) != 8 {
		return nil, fmt.Errorf("%w: verifier key %q: want <name>+<hash>+<key>", ErrInvalid, vkey)
	}
	h, err := hex.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: verifier key %q: %w", ErrInvalid, vkey, err)
	}
	return h, nil
}

// CurrentKey returns the log's latest recorded key, or ErrNotFound.
func CurrentKey(ctx context.Context, ks KeyStore) (LogKey, error) {
	keys, err := ks.LogKeys(ctx)
	if err != nil {
		return LogKey{}, err
	}
	if len(keys) == 0 {
		return LogKey{}, fmt.Errorf("%w: the log has no recorded key", ErrNotFound)
	}
	return keys[len(keys)-1], nil
}

// ErrWrongKey means a signer is not the key the database records for its
// log.
var ErrWrongKey = errors.New("signer is not the log's key")

// BindKey ties the store's log to the signer's verifier key vkey: the first
// writer records it (after checking that the latest stored checkpoint, if
// any, is signed by it), and every later one must present the latest
// recorded key. Every process that opens a Log calls it first.
func BindKey(ctx context.Context, store Reader, ks KeyStore, vkey string) error {
	origin, _, _ := strings.Cut(vkey, "+")
	cur, err := CurrentKey(ctx, ks)
	if errors.Is(err, ErrNotFound) {
		cp, cerr := store.LatestCheckpoint(ctx)
		switch {
		case cerr == nil:
			if _, err := OpenCheckpoint(cp.Note, vkey); err != nil {
				return fmt.Errorf("%w: the database's latest checkpoint (size %d) is not signed by this signer's key %s: %w", ErrWrongKey, cp.Size, vkey, err)
			}
		case !errors.Is(cerr, ErrNotFound):
			return fmt.Errorf("bind log key: %w", cerr)
		}
		aerr := ks.AddLogKey(ctx, LogKey{Seq: 0, Origin: origin, VerifierKey: vkey, Time: time.Now()})
		if aerr == nil {
			return nil
		}
		// Another writer may have recorded the first key meanwhile.
		if cur, err = CurrentKey(ctx, ks); err != nil {
			return fmt.Errorf("bind log key: %w", aerr)
		}
	}
	if err != nil {
		return fmt.Errorf("bind log key: %w", err)
	}
	if cur.VerifierKey != vkey {
		return fmt.Errorf("%w: the database's log %q is signed by key %s (key %d of the log), but this signer's key is %s for log %q; use the log's key, or rotate to the new one with agentledger rotate-key",
			ErrWrongKey, cur.Origin, cur.VerifierKey, cur.Seq, vkey, origin)
	}
	return nil
}

// KeyedStore is a store that records its log's keys.
type KeyedStore interface {
	Store
	KeyStore
}

// OpenBound binds store's log to cfg.Signer's key (see BindKey) and opens a
// Log on it. Every command that writes to a database opens its Log so.
func OpenBound(ctx context.Context, store KeyedStore, cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := BindKey(ctx, store, store, cfg.Signer.VerifierKey()); err != nil {
		return nil, err
	}
	return Open(store, cfg)
}

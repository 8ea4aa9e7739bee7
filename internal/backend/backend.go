// Package backend is the one place that chooses a ledger store from a
// database string: a postgres:// or postgresql:// URL is Postgres, anything
// else the path of an embedded SQLite file. The binary and the collector
// receiver both open their store through it.
package backend

import (
	"context"
	"errors"
	"strings"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/postgres"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// Store is what both backends provide: the ledger, its verifiable index,
// the query API's tokens, and a readiness check (reachable, schema current).
type Store interface {
	ledger.Store
	ledger.KeyStore
	index.Store
	auth.Store
	Ready(ctx context.Context) error
}

var (
	_ Store = (*postgres.Store)(nil)
	_ Store = (*sqlite.Store)(nil)
)

// IsPostgres reports whether database is a Postgres URL.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// Open opens and migrates the store database names.
func Open(ctx context.Context, database string) (Store, error) {
	if IsPostgres(database) {
		return postgres.Open(ctx, database)
	}
	return sqlite.Open(ctx, database)
}

// OpenCurrent opens the store database names without changing its schema,
// for a database role that may not (Postgres agentledger_writer): it fails
// unless the schema is current. An embedded SQLite file is migrated as Open
// does; its owner is the process.
func OpenCurrent(ctx context.Context, database string) (Store, error) {
	if IsPostgres(database) {
		return postgres.New(ctx, postgres.Config{DSN: database, NoMigrate: true})
	}
	return sqlite.Open(ctx, database)
}

// OpenReadOnly opens the Postgres database, such as a streaming replica of
// the ledger's, for reads only; its schema must be current. SQLite has no
// replicas: anything but a Postgres URL is refused.
func OpenReadOnly(ctx context.Context, database string) (*postgres.Store, error) {
	if !IsPostgres(database) {
		return nil, errors.New("a read-only store is a Postgres database: want a postgres:// or postgresql:// URL")
	}
	return postgres.OpenReadOnly(ctx, database)
}

// Migrate brings the schema of the store database names up to date without
// keeping it open.
func Migrate(ctx context.Context, database string) error {
	if IsPostgres(database) {
		return postgres.Migrate(ctx, database)
	}
	return sqlite.Migrate(ctx, database)
}

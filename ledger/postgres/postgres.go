// Package postgres is the Postgres store of the ledger, built on pgx.
//
// All tables live in the first schema of the connection's search_path, so
// one database can hold several ledgers. The schema is created and upgraded
// by the migrations embedded in the binary (package migrations); the tables
// that hold entries, references, tiles and checkpoints reject UPDATE, DELETE
// and TRUNCATE, and content can be deleted only by a transaction that
// appends the erasure entry recording it. The database also refuses rows the
// store could not have written, such as an entry the tree head never counts,
// and changes of the tree head that do not grow it consistently. The
// migrations create two roles: agentledger_writer, everything the store's
// ledger writes need, and agentledger_admin, which alone writes tokens.
//
// Write transactions lock the singleton tree head row FOR UPDATE, so every
// writer of one database, in any number of processes, is serialised by the
// database. Their statements are pipelined and bulk rows are written with
// COPY.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentledger/agentledger/ledger"
)

// Config configures a Store.
type Config struct {
	// DSN is the Postgres connection string, a URL or key=value pairs as
	// pgx accepts them (including pool_max_conns and search_path).
	// Required.
	DSN string
	// MaxConns is the most connections the store opens. Zero means the
	// DSN's pool_max_conns, or pgxpool's default.
	MaxConns int32
	// NoMigrate makes New check that the schema is current instead of
	// migrating it, for a role that may not change the schema or for a read
	// replica.
	NoMigrate bool
	// ReadOnly opens the store for reads only, such as on a streaming
	// replica (--read-database): it implies NoMigrate, and every
	// transaction of its connections is read-only
	// (default_transaction_read_only), so that a write through it fails.
	ReadOnly bool
	// Tracer, if set, traces every statement the store sends (pgx's
	// tracelog or otelpgx adapters, or a benchmark's round-trip count).
	Tracer pgx.QueryTracer
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.DSN == "" {
		return errors.New("postgres config: dsn is required")
	}
	if c.MaxConns < 0 {
		return fmt.Errorf("postgres config: max conns %d is negative", c.MaxConns)
	}
	return nil
}

// Store is the Postgres store. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	probes ledger.DedupProbes // whether write transactions probe dedup keys

	vacuums    chan string // erasing transactions, for the vacuumer
	stop       context.CancelFunc
	vacuumDone chan struct{}
}

var _ ledger.Store = (*Store)(nil)

// Open connects to the database dsn names, migrates its schema and returns
// the store. It is New with a Config holding only the DSN.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return New(ctx, Config{DSN: dsn})
}

// New connects to the database, migrates its schema (or, with NoMigrate,
// checks that it is current) and returns the store. It fails if the database
// schema is newer than this binary's migrations.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if cfg.Tracer != nil {
		pc.ConnConfig.Tracer = cfg.Tracer
	}
	if _, set := pc.ConnConfig.RuntimeParams["jit"]; !set {
		// The ledger's queries are index scans; compiling them costs more
		// than it saves (measured: 633 ms of JIT in a 1.7 s page read).
		pc.ConnConfig.RuntimeParams["jit"] = "off"
	}
	if cfg.ReadOnly {
		pc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool}
	if cfg.NoMigrate || cfg.ReadOnly {
		err = s.Ready(ctx)
	} else {
		err = migrate(ctx, pool)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	vctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.vacuums, s.stop, s.vacuumDone = make(chan string, 1), stop, make(chan struct{})
	go s.vacuumer(vctx)
	return s, nil
}

// OpenReadOnly connects to the database dsn names for reads only, such as a
// streaming replica, and checks that its schema is current. It is New with
// ReadOnly set.
func OpenReadOnly(ctx context.Context, dsn string) (*Store, error) {
	return New(ctx, Config{DSN: dsn, ReadOnly: true})
}

// Migrate brings the schema of the database dsn names up to date, as
// `agentledger migrate` does. It is idempotent, and safe to run
// concurrently with other migrations of the same database.
func Migrate(ctx context.Context, dsn string) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

// Ready reports whether the database is reachable and its schema is the one
// this binary's migrations define, for a readiness probe.
func (s *Store) Ready(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("postgres: read schema version: %w", translate(err))
	}
	return checkVersion(v, len(ms))
}

// Close stops the rewrite of the content table after an erasure, if one
// runs, and releases the store's connections.
func (s *Store) Close() error {
	s.stop()
	<-s.vacuumDone
	s.pool.Close()
	return nil
}

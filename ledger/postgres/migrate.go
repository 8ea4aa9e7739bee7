package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/migrations"
)

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations, postgres/NNNN_name.up.sql,
// in version order. Versions must run 1, 2, … without a gap.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations.Postgres, "postgres/*.up.sql")
	if err != nil {
		return nil, fmt.Errorf("postgres: list migrations: %w", err)
	}
	ms := make([]migration, 0, len(names))
	for i, name := range names { // fs.Glob sorts, and versions are zero-padded
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("postgres: migration %s: want version %d", name, i+1)
		}
		b, err := migrations.Postgres.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("postgres: read migration: %w", err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	return ms, nil
}

// beginner starts transactions: a pool or a connection.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// migrate applies the pending migrations in one transaction, holding an
// advisory lock named after the schema so that concurrent migrators of one
// schema apply each migration once. The applied versions are recorded in
// schema_migrations.
func migrate(ctx context.Context, db beginner) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", translate(err))
	}
	defer tx.Rollback(ctx)

	var schema *string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("postgres: migrate: %w", translate(err))
	}
	if schema == nil {
		return fmt.Errorf("postgres: migrate: no schema of the search_path exists")
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('agentledger.migrate'), hashtext($1))`, *schema); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", translate(err))
	}
	// The table is created only when missing: CREATE TABLE IF NOT EXISTS
	// needs the CREATE privilege even when the table exists.
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass(format('%I.schema_migrations', current_schema())) IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: migrate: %w", translate(err))
	}
	if !exists {
		if _, err := tx.Exec(ctx, `CREATE TABLE schema_migrations (
			version    integer     PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("postgres: migrate: create schema_migrations: %w", translate(err))
		}
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("postgres: migrate: read schema version: %w", translate(err))
	}
	if current > len(ms) {
		return newerError(current, len(ms))
	}
	if current == len(ms) {
		return nil
	}
	for _, m := range ms[current:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, translate(err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
			return fmt.Errorf("postgres: migration %s: record version: %w", m.name, translate(err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: commit: %w", translate(err))
	}
	return nil
}

func newerError(db, binary int) error {
	return fmt.Errorf("postgres: database schema version %d is newer than this binary (%d); upgrade agentledger", db, binary)
}

// checkVersion reports whether the database schema version db is the
// binary's.
func checkVersion(db, binary int) error {
	switch {
	case db > binary:
		return newerError(db, binary)
	case db < binary:
		return fmt.Errorf("postgres: database schema version %d is older than this binary (%d); run agentledger migrate", db, binary)
	}
	return nil
}

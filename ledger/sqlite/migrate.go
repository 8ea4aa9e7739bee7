package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agentledger/agentledger/migrations"
)

// migration is one numbered schema migration, migrations/sqlite/NNNN_name.up.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations in version order. Their
// versions must be 1, 2, … without a gap.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations.SQLite, "sqlite/*.up.sql")
	if err != nil {
		return nil, fmt.Errorf("sqlite: list migrations: %w", err)
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("sqlite: migration %s: want NNNN_name.up.sql", base)
		}
		b, err := fs.ReadFile(migrations.SQLite, name)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read migration: %w", err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqlite: migration %s: version %d, want %d", m.name, m.version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("sqlite: no migrations embedded")
	}
	return ms, nil
}

// Migrate creates the database file at path if it does not exist (mode
// 0600) and applies the migrations it lacks, in one transaction. Running it
// again changes nothing. It fails, changing nothing, if the database's
// schema is newer than this binary's.
func Migrate(ctx context.Context, path string) error {
	w, err := openWriter(path, syncFull)
	if err != nil {
		return err
	}
	err = migrate(ctx, w)
	if cerr := w.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sqlite: close: %w", cerr)
	}
	return err
}

// migrate applies the pending migrations on the writer w. The transaction
// takes the write lock when it begins, so that processes migrating one file
// at once apply each migration once.
func migrate(ctx context.Context, w *sql.DB) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1].version
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("migrate", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return wrap("migrate", err)
	}
	current, err := schemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	if current > latest {
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary (%d); upgrade agentledger", current, latest)
	}
	if current == latest {
		return nil
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.name, translate(err))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			m.version, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("sqlite: migration %s: record version: %w", m.name, translate(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap("migrate: commit", err)
	}
	return nil
}

// schemaVersion returns the version of the last migration applied, 0 when
// none was.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, wrap("read schema version", err)
	}
	var v int
	if err := q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, wrap("read schema version", err)
	}
	return v, nil
}

// Ready reports whether the database is reachable and its schema is the
// one this binary expects.
func (s *Store) Ready(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	v, err := schemaVersion(ctx, s.r)
	if err != nil {
		return err
	}
	if want := ms[len(ms)-1].version; v != want {
		return fmt.Errorf("sqlite: database schema version %d, this binary's is %d", v, want)
	}
	return nil
}

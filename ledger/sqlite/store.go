// Package sqlite is the embedded SQLite store of the ledger: one file, no
// server, for a zero-setup single node. It uses modernc.org/sqlite, a pure-Go
// SQLite, in WAL mode: writes go through a single connection, reads through a
// pool of read-only connections that do not block the writer.
//
// Several processes may open the same file (a server and `agentledger
// verify`, say): write transactions take SQLite's write lock when they begin,
// so writers are serialised by the database, never by process memory.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"

	"github.com/agentledger/agentledger/ledger"

	// The pure-Go driver, registered as "sqlite".
	_ "modernc.org/sqlite"
)

// FileMode is the mode of a database file the store creates. Open refuses a
// file that group or others may access: SQLite has no roles, so file
// permissions are what keeps the ledger's rows from other users.
const FileMode fs.FileMode = 0o600

// Synchronous modes (PRAGMA synchronous) of the store's connections.
const (
	// syncFull syncs the WAL on every commit, so that an acknowledged append
	// survives power loss as well as a killed process.
	syncFull = "FULL"
	// syncNormal syncs the WAL only at checkpoints: a commit survives a killed
	// process but the last ones may be lost with power. Benchmarks only.
	syncNormal = "NORMAL"
)

// walCheckpointPages is the size of the write-ahead log, in pages, at which
// a commit copies it back into the database file. A commit writes every page
// it changed to the log, and random index pages (dedup keys, trace IDs)
// change in almost every commit; a checkpoint writes each page once however
// many commits changed it. Ten times SQLite's default (about 40 MiB) writes
// 10–17% fewer bytes per entry than the default in BenchmarkUpdate, at the
// cost of a larger log and a longer pause at each checkpoint.
const walCheckpointPages = 10000

// busyTimeoutMillis is how long a connection waits for a lock held by another
// connection or process before it fails with SQLITE_BUSY.
const busyTimeoutMillis = 10000

// Store is a ledger.Store in a SQLite database file. It is safe for
// concurrent use.
type Store struct {
	w  *sql.DB // one connection; every write transaction runs on it
	r  *sql.DB // read-only pool
	st writeStmts

	probes ledger.DedupProbes // whether write transactions look up dedup keys
}

var _ ledger.Store = (*Store)(nil)

// Open opens the ledger database at path, creating the file (mode 0600) and
// applying the schema migrations it lacks. It fails if the file is
// accessible by group or others, or if its schema is newer than this binary.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, syncFull)
}

func open(ctx context.Context, path, sync string) (_ *Store, err error) {
	w, err := openWriter(path, sync)
	if err != nil {
		return nil, err
	}
	s := &Store{w: w}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := migrate(ctx, w); err != nil {
		return nil, err
	}
	s.r, err = sql.Open("sqlite", dsn(path, false, sync))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open read pool: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	if err := s.r.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open read pool: %w", translate(err))
	}
	if err := s.st.prepare(ctx, w); err != nil {
		return nil, err
	}
	return s, nil
}

// openWriter creates the database file if need be, checks its mode and
// returns a handle of one connection for writing.
func openWriter(path, sync string) (*sql.DB, error) {
	if err := createFile(path); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn(path, true, sync))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	return w, nil
}

// createFile creates the database file with FileMode unless it exists, and
// fails if group or others may access it. SQLite creates the -wal and -shm
// files beside it with the same mode.
func createFile(path string) error {
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return fmt.Errorf("%w: sqlite: database path %q: want a file name without '?'", ledger.ErrInvalid, path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("sqlite: create database file: %w", err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("sqlite: database file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("sqlite: database file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&^FileMode != 0 {
		return fmt.Errorf("sqlite: database file %s has mode %04o: group or others may access it; chmod %04o it", path, perm, FileMode)
	}
	return nil
}

// dsn returns the data source name of a connection to path. The pragmas are
// in the DSN so that every connection of a pool gets them: WAL, so that
// readers never block the writer; foreign keys; a busy timeout, so that a
// writer waits for another process's transaction rather than failing;
// synchronous FULL, so that a commit is on disk before Update returns;
// the checkpoint size; and secure_delete, so that SQLite overwrites what a
// delete removes (erased content) with zeros instead of leaving it in free
// space of the file. The writer begins every transaction IMMEDIATE, taking the write lock at BEGIN,
// so that its reads of the tree head are never stale; readers are
// query_only.
func dsn(path string, write bool, sync string) string {
	q := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMillis),
		"_pragma=foreign_keys(1)",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(" + sync + ")",
		fmt.Sprintf("_pragma=wal_autocheckpoint(%d)", walCheckpointPages),
		"_pragma=secure_delete(1)",
	}
	if write {
		q = append(q, "_txlock=immediate")
	} else {
		q = append(q, "_pragma=query_only(1)")
	}
	return path + "?" + strings.Join(q, "&")
}

// WriterDSN returns the data source name, pragmas included, of the
// connection the store writes to path with: benchmarks open their raw
// baselines with it, so that both write under the same settings.
func WriterDSN(path string) string { return dsn(path, true, syncFull) }

// Close releases the store's connections.
func (s *Store) Close() error {
	var errs []error
	errs = append(errs, s.st.close())
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// readTx runs fn in a read transaction on the read pool, so that everything
// fn reads comes from one snapshot of the database. It always rolls back.
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback()
	return fn(tx)
}

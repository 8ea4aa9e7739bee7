package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

const (
	// vacuumSnapshotTimeout bounds how long the vacuumer waits for the
	// transactions that may still see erased rows to end.
	vacuumSnapshotTimeout = 10 * time.Minute
	// vacuumPoll is how often the vacuumer looks for those transactions.
	vacuumPoll = 50 * time.Millisecond
	// vacuumLockTimeout bounds how long the vacuumer waits for the content
	// table's lock. Appends that write content wait behind it meanwhile.
	vacuumLockTimeout = 5 * time.Second
	// vacuumRunTimeout bounds a rewrite, and so how long Close may wait
	// for one.
	vacuumRunTimeout = 10 * time.Minute
)

// requestVacuum asks the vacuumer to rewrite the content table once the
// erasure of transaction xid is visible to every transaction. A request
// not yet taken up is replaced: waiting for the later erasure covers both.
func (s *Store) requestVacuum(xid string) {
	for {
		select {
		case s.vacuums <- xid:
			return
		default:
		}
		select {
		case <-s.vacuums:
		default:
		}
	}
}

// vacuumer rewrites the content table with VACUUM FULL after each erasure,
// until ctx ends, so that erased rows leave the table's files. A DELETE
// leaves the row's bytes in its page, and a plain VACUUM, although it frees
// the row, leaves the bytes of a row that was the last written to its page
// in the page's free space: only a rewrite removes them. A rewrite keeps
// the rows that a transaction begun before the erasure may still read, so
// the vacuumer first waits, up to vacuumSnapshotTimeout, for such
// transactions of the database (and replication slots that hold rows for a
// standby) to end. It works in the background so that an erasure does not
// hold up appends while it waits; VACUUM FULL holds an exclusive lock on the
// content table, and so the appends that write content, for as long as the
// rewrite takes. When ctx ends (Close), a pending rewrite runs at once,
// without waiting, before the vacuumer returns.
//
// Only the table's owner (or, on Postgres 17 and later, a holder of
// MAINTAIN on it) may vacuum it: as agentledger_writer on an older server
// the rewrite is skipped and logged, and the erased bytes stay until the
// table's pages are reused or the owner runs VACUUM FULL content. The
// erasures have committed, so failures are logged.
func (s *Store) vacuumer(ctx context.Context) {
	defer close(s.vacuumDone)
	for {
		select {
		case xid := <-s.vacuums:
			s.vacuumErased(ctx, xid)
		case <-ctx.Done():
			select {
			case xid := <-s.vacuums:
				s.vacuumErased(ctx, xid)
			default:
			}
			return
		}
	}
}

// vacuumErased runs vacuumContent and logs its failure.
func (s *Store) vacuumErased(wait context.Context, xid string) {
	if err := s.vacuumContent(wait, xid); err != nil {
		slog.Default().Warn("postgres: erased content stays in the content table's files until its owner runs VACUUM FULL content", "err", err)
	}
}

// olderSnapshots counts the other sessions of the database, and the
// replication slots, whose oldest snapshot or transaction is not younger
// than transaction $1: those may still read the rows $1 deleted.
const olderSnapshots = `SELECT count(*) FROM (
	SELECT backend_xmin AS x, backend_xid AS y FROM pg_stat_activity
	WHERE datname = current_database() AND pid <> pg_backend_pid()
	UNION ALL
	SELECT xmin, NULL FROM pg_replication_slots) s
	WHERE age(s.x) >= age($1::xid) OR age(s.y) >= age($1::xid)`

// vacuumContent waits for the transactions older than xid, until wait ends,
// and rewrites the content table. It reports a rewrite the store's role may
// not do.
func (s *Store) vacuumContent(wait context.Context, xid string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(wait), vacuumRunTimeout)
	defer cancel()
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer c.Release()
	deadline := time.Now().Add(vacuumSnapshotTimeout)
	poll := time.NewTicker(vacuumPoll)
	defer poll.Stop()
	for {
		var older int
		if err := c.QueryRow(ctx, olderSnapshots, xid).Scan(&older); err != nil {
			return fmt.Errorf("look for older snapshots: %w", err)
		}
		if older == 0 {
			break
		}
		if time.Now().After(deadline) || wait.Err() != nil {
			slog.Default().Warn("postgres: vacuuming content although transactions begun before an erasure still run; they keep the erased rows", "transactions", older)
			break
		}
		select {
		case <-wait.Done():
		case <-poll.C:
		}
	}
	filenode := func() (uint32, error) {
		var n uint32
		err := c.QueryRow(ctx, `SELECT pg_relation_filenode('content')`).Scan(&n)
		return n, err
	}
	before, err := filenode()
	if err != nil {
		return fmt.Errorf("content table: %w", err)
	}
	// The connection returns to the pool: its lock timeout is set for the
	// VACUUM only.
	if _, err := c.Exec(ctx, fmt.Sprintf(`SET lock_timeout = %d`, vacuumLockTimeout.Milliseconds())); err != nil {
		return fmt.Errorf("set lock timeout: %w", err)
	}
	_, err = c.Exec(ctx, `VACUUM (FULL) content`)
	if _, rerr := c.Exec(ctx, `RESET lock_timeout`); rerr != nil {
		c.Conn().Close(ctx) // the pool drops a closed connection
	}
	if err != nil {
		return fmt.Errorf("vacuum content: %w", err)
	}
	after, err := filenode()
	if err != nil {
		return fmt.Errorf("content table: %w", err)
	}
	if after == before {
		// A VACUUM its role may not run is skipped with a warning only.
		return errors.New("vacuum content: skipped: the store's role may not vacuum the content table")
	}
	return nil
}

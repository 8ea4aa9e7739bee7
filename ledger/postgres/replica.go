package postgres

import (
	"context"
	"fmt"
	"time"
)

// Replication is how far a store's database lags behind its primary, as
// ReplicationLag measures it.
type Replication struct {
	// Standby says whether the database is a standby (in recovery). A
	// database that is not lags by nothing.
	Standby bool
	// LagBytes is how much of the primary's write-ahead log the standby
	// has not replayed yet.
	LagBytes int64
	// Lag is the time since the standby last replayed a transaction, when
	// LagBytes is not zero; zero when it has replayed everything.
	Lag time.Duration
}

// ReplicationLag measures how far s's database, a streaming replica of
// primary's, lags behind it: the primary's current write-ahead log position
// is read first, then compared with what s has replayed. Neither query
// needs a privilege.
func (s *Store) ReplicationLag(ctx context.Context, primary *Store) (Replication, error) {
	var lsn string
	if err := primary.pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
		return Replication{}, fmt.Errorf("postgres: primary's WAL position: %w", translate(err))
	}
	var (
		r       Replication
		seconds *float64
	)
	err := s.pool.QueryRow(ctx, `SELECT pg_is_in_recovery(),
			CASE WHEN pg_is_in_recovery() THEN greatest(pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()), 0)::bigint ELSE 0 END,
			extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8`, lsn).
		Scan(&r.Standby, &r.LagBytes, &seconds)
	if err != nil {
		return Replication{}, fmt.Errorf("postgres: replica's replay position: %w", translate(err))
	}
	if r.LagBytes > 0 && seconds != nil {
		r.Lag = time.Duration(*seconds * float64(time.Second))
	}
	return r, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/internal/backend"
	"github.com/agentledger/agentledger/internal/readreplica"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
)

// readStore is where the query API reads: the ledger's store, or with
// --read-database a streaming replica of it. Writes (access entries,
// erasures, tokens) go to the ledger's store either way.
type readStore struct {
	reader  ledger.Reader
	ready   func(ctx context.Context) error
	replica func(ctx context.Context) (api.ReplicaStatus, error)
	wrap    func(http.Handler) http.Handler
	close   func()
}

// openReadStore opens the read side of serve: store itself when
// readDatabase is empty, else the replica readDatabase names, read a
// checkpoint at a time.
func openReadStore(ctx context.Context, readDatabase, database string, store backend.Store) (*readStore, error) {
	if readDatabase == "" {
		return &readStore{reader: servedReader(store), ready: store.Ready, wrap: func(h http.Handler) http.Handler { return h }, close: func() {}}, nil
	}
	primary, ok := store.(*postgres.Store)
	if !ok || !backend.IsPostgres(database) {
		return nil, errors.New("--read-database needs --database: a read replica is of a Postgres ledger")
	}
	if !backend.IsPostgres(readDatabase) {
		return nil, fmt.Errorf("--read-database %q: want a postgres:// or postgresql:// URL", redactURL(readDatabase))
	}
	rep, err := backend.OpenReadOnly(ctx, readDatabase)
	if err != nil {
		return nil, fmt.Errorf("open read replica %s: %w", redactURL(readDatabase), err)
	}
	return &readStore{
		reader: readreplica.NewReader(cosignedReader{Store: rep, cos: rep}),
		ready: func(ctx context.Context) error {
			return errors.Join(store.Ready(ctx), rep.Ready(ctx))
		},
		replica: func(ctx context.Context) (api.ReplicaStatus, error) {
			return replicaStatus(ctx, primary, rep)
		},
		wrap:  readreplica.Middleware,
		close: func() { rep.Close() },
	}, nil
}

// replicaStatus measures how far rep lags behind primary, for /readyz.
func replicaStatus(ctx context.Context, primary, rep *postgres.Store) (api.ReplicaStatus, error) {
	lag, err := rep.ReplicationLag(ctx, primary)
	if err != nil {
		return api.ReplicaStatus{}, err
	}
	st := api.ReplicaStatus{LagBytes: lag.LagBytes, LagSeconds: lag.Lag.Seconds()}
	for _, s := range []struct {
		store *postgres.Store
		size  *uint64
	}{{primary, &st.PrimaryCheckpointSize}, {rep, &st.ReplicaCheckpointSize}} {
		cp, err := s.store.LatestCheckpoint(ctx)
		switch {
		case err == nil:
			*s.size = cp.Size
		case !errors.Is(err, ledger.ErrNotFound):
			return api.ReplicaStatus{}, err
		}
	}
	return st, nil
}

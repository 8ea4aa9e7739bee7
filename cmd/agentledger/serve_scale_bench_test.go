package main

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/internal/pgcluster"
	"github.com/agentledger/agentledger/internal/servetest"
)

// benchBatch is the spans of one OTLP export in BenchmarkServeWriters.
const benchBatch = 100

// BenchmarkServeWriters sends b.N spans over OTLP/HTTP, in exports of
// benchBatch, two senders per serve process, to one serve process on one
// log, to three serve processes on one log, and to two logs (shards, each
// its own database, key and serve process) of one private Postgres
// cluster, in the same run: writers=1 is the baseline of the others. It
// reports the
// throughput and, per span, the CPU time of the serve processes and of
// their Postgres backends and the write-ahead log written. The cluster runs
// with fsync off (see pgcluster): the figures are of CPU and lock
// contention, not of a disk.
//
//	go test -run '^$' -bench BenchmarkServeWriters -benchtime 6000x ./cmd/agentledger/
func BenchmarkServeWriters(b *testing.B) {
	cluster := pgcluster.Start(b)
	for i, c := range []struct {
		name          string
		logs, writers int
	}{{"writers=1", 1, 1}, {"writers=3", 1, 3}, {"shards=2", 2, 1}} {
		b.Run(c.name, func(b *testing.B) {
			benchWriters(b, cluster, fmt.Sprintf("bench_%d_%d", i, b.N), c.logs, c.writers)
		})
	}
}

// benchWriters runs writers serve processes on each of logs databases.
func benchWriters(b *testing.B, cluster *pgcluster.Cluster, prefix string, logs, writers int) {
	admin, err := pgx.Connect(b.Context(), cluster.DSN("postgres"))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(context.Background())
	var (
		dbs     []string
		servers []*servetest.Server
	)
	for l := range logs {
		db := fmt.Sprintf("%s_%d", prefix, l)
		if _, err := admin.Exec(b.Context(), "CREATE DATABASE "+db); err != nil {
			b.Fatal(err)
		}
		dbs = append(dbs, db)
		dir := b.TempDir()
		for range writers {
			servers = append(servers, startServer(b, dir, "--database", cluster.DSN(db), "--log-level", "warn"))
		}
	}
	batches := make(chan spanBatch, b.N/benchBatch+1)
	for n := b.N; n > 0; n -= benchBatch {
		batches <- newSpanBatch(min(n, benchBatch))
	}
	close(batches)

	before := benchUsage(b, admin, dbs, servers)
	b.ResetTimer()
	var (
		wg   sync.WaitGroup
		errs = make(chan error, 2*writers)
	)
	for _, s := range servers {
		for range 2 {
			exp := newExporter(b, s.OTLPHTTPAddr)
			wg.Go(func() {
				for batch := range batches {
					if err := exp.ExportSpans(b.Context(), batch.spans); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	after := benchUsage(b, admin, dbs, servers)
	elapsed := b.Elapsed()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "spans/s")
	b.ReportMetric(float64(after.serve-before.serve)/float64(time.Microsecond)/float64(b.N), "serve-cpu-µs/span")
	b.ReportMetric(float64(after.backends-before.backends)/float64(time.Microsecond)/float64(b.N), "pg-cpu-µs/span")
	var wal int64
	if err := admin.QueryRow(b.Context(), "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint", after.lsn, before.lsn).Scan(&wal); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(wal)/float64(b.N), "wal-B/span")
	b.ReportMetric(0, "ns/op")

	for _, s := range servers {
		if err := s.Stop(b, syscall.SIGTERM); err != nil {
			b.Fatalf("serve exit: %v", err)
		}
	}
	var entries int64
	for _, db := range dbs {
		conn, err := pgx.Connect(b.Context(), cluster.DSN(db))
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		err = conn.QueryRow(b.Context(), "SELECT size FROM tree_head").Scan(&n)
		conn.Close(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		entries += n
	}
	if entries < int64(b.N) {
		b.Fatalf("trees of %d entries after %d spans", entries, b.N)
	}
}

// usage is the CPU time used so far by the serve processes and by the
// Postgres backends of the benchmark's databases, and the cluster's WAL
// position.
type usage struct {
	serve, backends time.Duration
	lsn             string
}

// benchUsage reads the CPU times from /proc, the backends' from the pids
// pg_stat_activity lists for dbs. A backend that exits between two readings
// is not counted; the serve processes keep their pool's connections.
func benchUsage(b *testing.B, admin *pgx.Conn, dbs []string, servers []*servetest.Server) usage {
	b.Helper()
	var u usage
	for _, s := range servers {
		u.serve += procCPU(b, s.Pid())
	}
	rows, _ := admin.Query(b.Context(), "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1)", dbs)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	for _, pid := range pids {
		if d, err := readProcCPU(int(pid)); err == nil { // a backend may have exited
			u.backends += d
		}
	}
	if err := admin.QueryRow(b.Context(), "SELECT pg_current_wal_lsn()::text").Scan(&u.lsn); err != nil {
		b.Fatal(err)
	}
	return u
}

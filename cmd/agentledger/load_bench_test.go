package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agentledger/agentledger/ingest"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/internal/loadgen"
	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/internal/sqlitetest"
	"github.com/agentledger/agentledger/ledger"
)

// loadRuns is how many times each case runs; the benchmark reports the
// minimum, median and maximum of each figure.
const loadRuns = 3

// benchAppName names serve's Postgres connections, so that the benchmark
// finds its backends in pg_stat_activity.
const benchAppName = "agentledger-bench-serve"

// BenchmarkServeLoad measures ingest from outside: serve runs as a process
// of its own, on Postgres and on SQLite, and agentledger loadgen, another
// process, sends it pre-marshalled OTLP/HTTP requests of 1 000 distinct
// agent-shaped spans from 1, 4, 16 and 64 senders. Each run is followed by
// a raw write of the same rows (entries with their leaves, references and
// content, prepared as the ledger prepares them) into equally indexed
// tables without triggers or tree, by one connection, one transaction per
// request: the floor. On Postgres it is bare COPY (internal/pgtest
// Baseline); on SQLite bare prepared INSERTs of 64 rows each, as the
// store's, into a database opened with the store's pragmas
// (internal/sqlitetest Baseline).
//
// serve runs with the default --checkpoint-interval (1 s), not the 100 ms
// of the other tests' servers: each interval signs a checkpoint and updates
// the index in transactions of their own, whose fixed cost, ten times a
// second, was a tenth of the CPU of serve's backends per span (36 against
// 32 ms per 1 000 spans at 4 senders).
//
// Each run sends max(60, 8 × senders) requests. A sender refused for load
// waits the Retry-After (1 s; up to 3 s under heavy load) before it
// retries; with two requests a sender, as runs had before, a run at 16 or
// 64 senders lasted one or two seconds and measured mostly those waits at
// its start and end, not the ledger's throughput under that many senders.
//
// Each case runs loadRuns times, logs each run's main figures (in order:
// the ledger grows from run to run), and reports, as -min, -med and -max:
//
//   - spans/s: spans acknowledged per second, as loadgen measured;
//   - ratio: ingest's rate over the raw write's for the same rows;
//   - ack-p50-ms, ack-p99-ms: acknowledgement latency per attempt;
//   - delivery-p99-ms: the time from a request's first attempt to its
//     acknowledgement, its retries' waits included;
//   - pushbacks: retryable answers (429/503) loadgen retried;
//   - rss-MiB: serve's peak resident set during the run (VmHWM, reset
//     before the run through /proc/<pid>/clear_refs);
//   - srv-cpu-ms/1k: serve's CPU time (user+system, /proc/<pid>/stat) per
//     1 000 spans;
//   - db-cpu-ms/1k: the CPU time of serve's Postgres backends (found by
//     application_name in pg_stat_activity) per 1 000 spans (SQLite runs
//     in serve's process: its CPU is part of srv-cpu-ms/1k);
//   - allocs/span: serve's heap allocations (go_memstats_mallocs_total
//     on its /metrics) per span.
//
// Run it (the 64-sender case loads the machine most; select cases with
// the -bench pattern; all eight cases take longer than go test's default
// timeout of 10 minutes):
//
//	go test -run '^$' -bench 'BenchmarkServeLoad/postgres/senders=4$' -benchtime 1x ./cmd/agentledger/
//	go test -run '^$' -bench BenchmarkServeLoad -benchtime 1x -timeout 90m ./cmd/agentledger/
func BenchmarkServeLoad(b *testing.B) {
	for _, backend := range []string{"postgres", "sqlite"} {
		b.Run(backend, func(b *testing.B) {
			var raw func(testing.TB, []ledger.Record)
			if backend == "postgres" {
				raw = pgtest.NewBaseline(b).Copy
			} else {
				raw = sqlitetest.NewBaseline(b).Insert
			}
			for _, senders := range []int{1, 4, 16, 64} {
				b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
					var database string // each case a new ledger: serve's data directory holds its key
					if backend == "postgres" {
						database = pgtest.NewSchema(b) + "&application_name=" + benchAppName
					}
					benchServeLoad(b, database, raw, senders)
				})
			}
		})
	}
}

// nextRequest numbers the requests of all runs, so that each run sends
// new spans and COPY writes new rows.
var nextRequest int

// loadRun is what one run measured.
type loadRun struct {
	spansPerSec, ratio, ackP50, ackP99, deliveryP99, pushbacks, rssMiB, srvCPU, dbCPU, allocs float64
}

// benchServeLoad runs the load of senders against serve on database
// (empty: SQLite in its data directory), and raw, the baseline, on the same
// rows.
func benchServeLoad(b *testing.B, database string, raw func(testing.TB, []ledger.Record), senders int) {
	args := []string{"--otlp-grpc-addr", "", "--log-level", "warn", "--checkpoint-interval", ledger.DefaultCheckpointInterval.String()}
	if database != "" {
		args = append(args, "--database", database)
	}
	srv := startServer(b, b.TempDir(), args...)
	defer srv.Signal(syscall.SIGKILL)
	pid := srv.Pid()
	count := max(60, 8*senders)

	secret := make([]byte, 32)
	rand.Read(secret)
	r, err := secrets.NewRedactor(secret, secrets.Config{})
	if err != nil {
		b.Fatal(err)
	}
	mapper, err := ingest.NewMapper(r, ingest.MappingConfig{}, ingest.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	var pg *pgx.Conn
	if database != "" {
		if pg, err = pgx.Connect(b.Context(), pgtest.BaseDSN()); err != nil {
			b.Fatal(err)
		}
		defer pg.Close(context.Background())
	}

	var runs []loadRun
	for range b.N {
		for range loadRuns {
			first := nextRequest
			nextRequest += count
			if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
				b.Logf("cannot reset serve's peak RSS: %v", err)
			}
			srvBefore := procCPU(b, pid)
			dbBefore := backendsCPU(b, pg)
			mallocsBefore := scrapeMetric(b, srv.HTTPAddr, "go_memstats_mallocs_total")
			res := runLoadgen(b, srv.OTLPHTTPAddr, senders, first, count)
			srvCPU := procCPU(b, pid) - srvBefore
			dbCPU := backendsCPU(b, pg).since(dbBefore)
			mallocs := scrapeMetric(b, srv.HTTPAddr, "go_memstats_mallocs_total") - mallocsBefore
			rss, err := procStatusKiBOf(pid, "VmHWM")
			if err != nil {
				b.Fatal(err)
			}
			per1k := float64(res.Spans) / 1000
			run := loadRun{
				spansPerSec: res.SpansPerSecond, ackP50: res.AckP50 * 1000, ackP99: res.AckP99 * 1000, deliveryP99: res.DeliveryP99 * 1000,
				pushbacks: float64(res.Pushbacks), rssMiB: float64(rss) / 1024,
				srvCPU: srvCPU.Seconds() * 1000 / per1k, dbCPU: dbCPU.Seconds() * 1000 / per1k,
				allocs: mallocs / float64(res.Spans),
				ratio:  rawRows(b, raw, mapper, first, count).Seconds() / res.Seconds,
			}
			b.Logf("run %d: %.0f spans/s, ratio %.3f, ack p99 %.0f ms, delivery p99 %.0f ms, %.0f pushbacks, serve %.1f and db %.1f ms CPU per 1 000 spans",
				len(runs)+1, run.spansPerSec, run.ratio, run.ackP99, run.deliveryP99, run.pushbacks, run.srvCPU, run.dbCPU)
			runs = append(runs, run)
		}
	}
	report := func(unit string, get func(loadRun) float64) {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = get(r)
		}
		slices.Sort(v)
		b.ReportMetric(v[0], unit+"-min")
		b.ReportMetric(v[len(v)/2], unit+"-med")
		b.ReportMetric(v[len(v)-1], unit+"-max")
	}
	report("spans/s", func(r loadRun) float64 { return r.spansPerSec })
	report("ratio", func(r loadRun) float64 { return r.ratio })
	if pg != nil {
		report("db-cpu-ms/1k", func(r loadRun) float64 { return r.dbCPU })
	}
	report("ack-p50-ms", func(r loadRun) float64 { return r.ackP50 })
	report("ack-p99-ms", func(r loadRun) float64 { return r.ackP99 })
	report("delivery-p99-ms", func(r loadRun) float64 { return r.deliveryP99 })
	report("pushbacks", func(r loadRun) float64 { return r.pushbacks })
	report("rss-MiB", func(r loadRun) float64 { return r.rssMiB })
	report("srv-cpu-ms/1k", func(r loadRun) float64 { return r.srvCPU })
	report("allocs/span", func(r loadRun) float64 { return r.allocs })
}

// runLoadgen runs agentledger loadgen, a process of its own, and returns
// what it measured.
func runLoadgen(b *testing.B, otlpHTTP string, senders, first, count int) loadgen.Result {
	b.Helper()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(b.Context(), binary, "loadgen", "--url", "http://"+otlpHTTP+"/v1/traces",
		"--senders", strconv.Itoa(senders), "--first", strconv.Itoa(first), "--requests", strconv.Itoa(count))
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("loadgen: %v\n%s", err, stderr.String())
	}
	var res loadgen.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		b.Fatalf("loadgen output: %v\n%s", err, out.String())
	}
	return res
}

// rawRows writes the rows of requests [first, first+count) with the raw
// baseline, one call (one transaction) per request, and returns the time
// the writes took (their preparation is not timed).
func rawRows(b *testing.B, raw func(testing.TB, []ledger.Record), m *ingest.Mapper, first, count int) time.Duration {
	b.Helper()
	var d time.Duration
	for n := first; n < first+count; n++ {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(loadgen.Request(n)); err != nil {
			b.Fatal(err)
		}
		entries, err := ingest.Map(b.Context(), req.Traces(), m)
		if err != nil {
			b.Fatal(err)
		}
		recs, err := ledger.PrepareRecords(entries)
		if err != nil {
			b.Fatal(err)
		}
		for i := range recs {
			recs[i].Index = uint64(n*loadgen.EntriesPerRequest + i)
		}
		start := time.Now()
		raw(b, recs)
		d += time.Since(start)
	}
	return d
}

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ).
const clockTick = 10 * time.Millisecond

// procCPU returns the CPU time, user and system, process pid has used.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	d, err := readProcCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func readProcCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis; utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// cpuByPID is the CPU time of each of a set of processes.
type cpuByPID map[int]time.Duration

// since returns the CPU time the processes of c used since before: a
// process not in before counts whole.
func (c cpuByPID) since(before cpuByPID) time.Duration {
	var d time.Duration
	for pid, t := range c {
		d += t - before[pid]
	}
	return d
}

// backendsCPU returns the CPU time of serve's Postgres backends; nil if pg
// is nil (SQLite).
func backendsCPU(b *testing.B, pg *pgx.Conn) cpuByPID {
	b.Helper()
	if pg == nil {
		return nil
	}
	rows, err := pg.Query(b.Context(), "SELECT pid FROM pg_stat_activity WHERE application_name = $1", benchAppName)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	c := cpuByPID{}
	for _, pid := range pids {
		if d, err := readProcCPU(int(pid)); err == nil { // a backend may just have exited
			c[int(pid)] = d
		}
	}
	return c
}

// procStatusKiBOf returns a field of /proc/<pid>/status given in kB, such
// as VmHWM, the peak resident set.
func procStatusKiBOf(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		name, value, ok := strings.Cut(line, ":")
		if ok && name == field {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

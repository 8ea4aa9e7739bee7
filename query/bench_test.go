package query

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/postgres"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// Benchmark sizes, from the environment so that `make bench` measures the
// issue's 1 000 000 entries and a quick run can use fewer.
const (
	// envBenchEntries is how many entries BenchmarkCredentialView seeds;
	// default 1 000 000.
	envBenchEntries = "AGENTLEDGER_BENCH_ENTRIES"
	// envBenchSamples is how many requests one iteration of each
	// sub-benchmark sends; default 500.
	envBenchSamples = "AGENTLEDGER_BENCH_SAMPLES"
	// envBenchStore picks the store: postgres (default) or sqlite.
	envBenchStore = "AGENTLEDGER_BENCH_STORE"
	// envBenchDSN, if set, is a Postgres database the benchmark seeds once
	// and reuses while it holds enough entries, instead of a fresh schema.
	envBenchDSN = "AGENTLEDGER_BENCH_DSN"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Shape of the seeded ledger: agent runs of 20 entries (an agent entry,
// an attestation, 5 LLM steps with content, 4 tools, 4 API calls, 4 plain
// spans, and in every fifth run a credential issue or exchange); one
// credential per 100 entries; each run calls APIs with its own or other
// runs' credentials.
const (
	benchRunEntries   = 20
	benchEntriesPerCr = 100
)

type benchLedger struct {
	srv *Server
	// rt counts the statements the store sends to Postgres (nil on
	// SQLite): the round trips of an answer.
	rt *roundTrips
	// floor is a pool of its own on the same database, for the SQL floor.
	floor *pgxpool.Pool
	// plain is srv without the verifiable index: its answers carry no
	// completeness block.
	plain *Server
	// stepwise is srv reading the index without index.SnapshotReader.
	stepwise    *Server
	token       string
	runs        int
	credentials int
	size        uint64
}

func seedBench(b *testing.B) *benchLedger {
	entries := envInt(envBenchEntries, 1_000_000)
	var (
		st      store
		analyze func()
		bl      = &benchLedger{}
	)
	switch os.Getenv(envBenchStore) {
	case "sqlite":
		s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		st = s
	default:
		dsn := os.Getenv(envBenchDSN)
		if dsn == "" {
			dsn = pgtest.NewSchema(b)
		}
		rt := &roundTrips{}
		s, err := postgres.New(b.Context(), postgres.Config{DSN: dsn, Tracer: rt})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		st = s
		bl.rt = rt
		if bl.floor, err = pgxpool.New(b.Context(), dsn); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(bl.floor.Close)
		// Collect the planner's statistics after the bulk load, as
		// autovacuum would (the test cluster may run without it).
		analyze = func() {
			conn, err := pgx.Connect(b.Context(), dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(b.Context())
			if _, err := conn.Exec(b.Context(), `ANALYZE entries, entry_refs, content, tiles, checkpoints, index_keys, index_nodes, index_notes`); err != nil {
				b.Fatal(err)
			}
		}
	}
	skey, vkey, err := ledger.GenerateKey(testOrigin)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	log, err := ledger.Open(st, ledger.Config{Signer: signer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { log.Close(b.Context()) })

	bl.runs = entries / benchRunEntries
	bl.credentials = max(1, entries/benchEntriesPerCr)
	head, err := st.Head(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	if head.Size == 0 {
		seed(b, log, bl)
	} else if head.Size < uint64(bl.runs*benchRunEntries) {
		b.Fatalf("%s holds %d entries, fewer than %d and not none: use an empty database", envBenchDSN, head.Size, bl.runs*benchRunEntries)
	}
	cp, err := log.Checkpoint(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	bl.size = cp.Size
	start := time.Now()
	if _, err := index.NewIndexer(st.(index.Store), signer).Update(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Logf("indexed %d entries in %v", cp.Size, time.Since(start).Round(time.Millisecond))
	if analyze != nil && head.Size == 0 {
		analyze()
	}
	name := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	secret, _, err := auth.Create(b.Context(), st, name, auth.RoleResponder)
	if err != nil {
		b.Fatal(err)
	}
	bl.token = secret
	bl.srv, err = NewServer(Config{Reader: st, Log: log, Tokens: st, Fingerprint: fingerprint, VerifierKey: vkey,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	bl.plain, err = NewServer(Config{Reader: struct{ ledger.Reader }{st}, Log: log, Tokens: st, Fingerprint: fingerprint, VerifierKey: vkey,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	// The index read key by key, without the store's one-round-trip
	// snapshot (index.SnapshotReader): the lookup as it was before it.
	type indexed interface {
		store
		index.Reader
	}
	bl.stepwise, err = NewServer(Config{Reader: struct{ indexed }{st.(indexed)}, Log: log, Tokens: st, Fingerprint: fingerprint, VerifierKey: vkey,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return bl
}

// seed appends bl.runs runs from four writers.
func seed(b *testing.B, log *ledger.Log, bl *benchLedger) {
	start := time.Now()
	const runsPerAppend = 50
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var seedErr error
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := range work {
				var batch []ledger.Entry
				for r := first; r < min(first+runsPerAppend, bl.runs); r++ {
					batch = append(batch, benchRun(r, bl.runs, bl.credentials)...)
				}
				if _, err := log.Append(b.Context(), batch); err != nil {
					mu.Lock()
					seedErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for first := 0; first < bl.runs; first += runsPerAppend {
		work <- first
	}
	close(work)
	wg.Wait()
	if seedErr != nil {
		b.Fatal(seedErr)
	}
	n := bl.runs * benchRunEntries
	seeded := time.Since(start)
	b.Logf("seeded %d entries (%d runs, %d credentials) in %v: %.0f entries/s", n, bl.runs, bl.credentials, seeded.Round(time.Millisecond), float64(n)/seeded.Seconds())
}

func benchTrace(r int) string { return fmt.Sprintf("%016x%016x", 0xa11ce<<20|r, r+1) }

func benchCred(c int) string { return fmt.Sprintf("cred-%06d", c) }

// benchRun returns the entries of run r.
func benchRun(r, runs, creds int) []ledger.Entry {
	rng := rand.New(rand.NewPCG(uint64(r), 7))
	trace := benchTrace(r)
	sp := func(n int) string { return fmt.Sprintf("%012x%04x", r, n) }
	t0 := epoch.Add(time.Duration(r) * time.Second)
	agent := fmt.Sprintf("agent-%03d", r%500)
	agentAttrs := func(kv ...string) []ledger.Attr {
		out := []ledger.Attr{{Key: "gen_ai.agent.id", Value: agent}, {Key: "gen_ai.conversation.id", Value: "conv-" + strconv.Itoa(r)},
			{Key: "service.name", Value: "svc-" + strconv.Itoa(r%20)}, {Key: "otel.status_code", Value: "OK"}}
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, ledger.Attr{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	salt := func(name string) []byte {
		s := make([]byte, 32)
		for i := range s {
			s[i] = byte(rng.Uint32())
		}
		return s
	}
	text := func(n int) []byte { return []byte(strings.Repeat("the agent considers the next step. ", n/35+1)[:n]) }
	e := []ledger.Entry{
		{Kind: ledger.KindAgent, TraceID: trace, SpanID: sp(1), Name: "invoke_agent", Start: t0, End: t0.Add(30 * time.Second),
			Attrs: agentAttrs("gen_ai.agent.name", agent, "gen_ai.operation.name", "invoke_agent")},
		{Kind: ledger.KindAttestation, TraceID: trace, SpanID: sp(1), EventKey: "attestation/resource", Name: "attestation", Start: t0,
			Attrs: []ledger.Attr{{Key: "container.image.id", Value: fmt.Sprintf("sha256:%064x", r%37)}, {Key: "gen_ai.request.model", Value: "gpt-4o"}}},
	}
	// The run's own credential: runs 0, 5, 10, … issue credential r/5;
	// a tenth of those exchange it from an earlier one.
	own := -1
	if r%5 == 0 && r/5 < creds {
		own = r / 5
	}
	pick := func(call int) int {
		if own >= 0 && call < 3 {
			return own
		}
		return rng.IntN(creds)
	}
	for i := 0; i < 4; i++ {
		ts := t0.Add(time.Duration(1+6*i) * time.Second)
		callID := fmt.Sprintf("call_%d_%d", r, i)
		e = append(e,
			ledger.Entry{Kind: ledger.KindLLM, TraceID: trace, SpanID: sp(10 + i), ParentSpanID: sp(1), Name: "chat gpt-4o", Start: ts, End: ts.Add(2 * time.Second),
				Attrs: agentAttrs("gen_ai.operation.name", "chat", "gen_ai.request.model", "gpt-4o", "gen_ai.tool.call.ids", callID),
				Content: []ledger.Content{
					{Name: "input.messages", Salt: salt("in"), Data: text(600)},
					{Name: "output.messages", Salt: salt("out"), Data: text(200)},
					{Name: "reasoning", Salt: salt("r"), Data: text(300)},
				}},
			ledger.Entry{Kind: ledger.KindTool, TraceID: trace, SpanID: sp(20 + i), ParentSpanID: sp(1), Name: "execute_tool http", Start: ts.Add(3 * time.Second), End: ts.Add(5 * time.Second),
				Attrs:   agentAttrs("gen_ai.tool.name", "http", "gen_ai.tool.call.id", callID),
				Content: []ledger.Content{{Name: "tool.arguments", Salt: salt("a"), Data: text(100)}, {Name: "tool.result", Salt: salt("res"), Data: text(120)}}},
			ledger.Entry{Kind: ledger.KindAPICall, TraceID: trace, SpanID: sp(30 + i), ParentSpanID: sp(20 + i), Name: "GET", Start: ts.Add(4 * time.Second), End: ts.Add(4500 * time.Millisecond),
				Attrs: []ledger.Attr{{Key: "http.request.method", Value: "GET"}, {Key: "server.address", Value: fmt.Sprintf("api%d.example.com", i)},
					{Key: "url.path", Value: fmt.Sprintf("/v1/items/%d", rng.IntN(1000))}, {Key: "http.response.status_code", Value: "200"},
					{Key: "credential.id", Value: benchCred(pick(i))}}},
			ledger.Entry{Kind: ledger.KindSpan, TraceID: trace, SpanID: sp(40 + i), ParentSpanID: sp(1), Name: "internal", Start: ts, End: ts.Add(time.Second)},
		)
	}
	e = append(e, ledger.Entry{Kind: ledger.KindLLM, TraceID: trace, SpanID: sp(50), ParentSpanID: sp(1), Name: "chat gpt-4o", Start: t0.Add(29 * time.Second),
		Attrs:   agentAttrs("gen_ai.operation.name", "chat", "gen_ai.request.model", "gpt-4o"),
		Content: []ledger.Content{{Name: "output.messages", Salt: salt("final"), Data: text(200)}}})
	if own >= 0 {
		attrs := []ledger.Attr{{Key: "credential.id", Value: benchCred(own)}, {Key: "credential.operation", Value: "issue"},
			{Key: "credential.type", Value: "oauth2_access_token"}, {Key: "credential.issuer", Value: "https://sts.example.com"},
			{Key: "credential.fingerprint", Value: fingerprint("secret-" + benchCred(own))}}
		if own%10 == 9 {
			attrs[1].Value = "exchange"
			attrs = append(attrs, ledger.Attr{Key: "credential.parent_id", Value: benchCred(own / 2)})
		}
		e = append(e, ledger.Entry{Kind: ledger.KindCredential, TraceID: trace, SpanID: sp(20), EventKey: "credential.issue/0", Name: "credential.issue",
			Start: t0.Add(4 * time.Second), Attrs: attrs})
	} else {
		e = append(e, ledger.Entry{Kind: ledger.KindSpan, TraceID: trace, SpanID: sp(51), ParentSpanID: sp(1), Name: "internal", Start: t0})
	}
	return e
}

// roundTrips counts the statements, batches and copies pgx sends: each is
// one round trip to Postgres. It also times them by phase for the request
// whose context carries a *phaseTimes (see withPhases).
type roundTrips struct {
	n atomic.Int64
	// bgCommit is when a transaction of no request (a checkpoint's)
	// last committed, in nanoseconds since the Unix epoch.
	bgCommit atomic.Int64
}

// phaseTimes is the time one request spent in each phase of its round
// trips, summed over the round trips of the phase.
type phaseTimes struct {
	read   atomic.Int64 // statements outside a write transaction
	lock   atomic.Int64 // BEGIN, the tree head lock and the dedup probe
	commit atomic.Int64 // the writes and COMMIT, with its WAL flush
	// behind is set when a transaction of no request committed while
	// this request's write transaction waited for the tree head lock.
	behind atomic.Bool
}

type phaseKey struct{}

// withPhases returns ctx carrying p.
func withPhases(ctx context.Context, p *phaseTimes) context.Context {
	return context.WithValue(ctx, phaseKey{}, p)
}

// phase names a round trip by its statements.
type phase int

const (
	phaseRead phase = iota
	phaseLock
	phaseCommit
)

type traceStart struct {
	at time.Time
	ph phase
}

type traceKey struct{}

// batchPhase names a pipeline: the one that writes and commits a write
// transaction (it moves the head), the one that begins it and locks the
// head, or a read (also a read-only transaction's pipeline).
func batchPhase(b *pgx.Batch) phase {
	q := b.QueuedQueries
	switch {
	case len(q) > 0 && q[len(q)-1].SQL == "COMMIT" && slices.ContainsFunc(q, func(qq *pgx.QueuedQuery) bool {
		return strings.Contains(qq.SQL, "UPDATE tree_head")
	}):
		return phaseCommit
	case len(q) > 1 && strings.HasPrefix(q[0].SQL, "BEGIN") && strings.Contains(q[1].SQL, "FOR UPDATE"):
		return phaseLock
	}
	return phaseRead
}

func (r *roundTrips) start(ctx context.Context, ph phase) context.Context {
	r.n.Add(1)
	return context.WithValue(ctx, traceKey{}, traceStart{at: time.Now(), ph: ph})
}

func (r *roundTrips) end(ctx context.Context) {
	st, ok := ctx.Value(traceKey{}).(traceStart)
	if !ok {
		return
	}
	now := time.Now()
	p, _ := ctx.Value(phaseKey{}).(*phaseTimes)
	if p == nil {
		if st.ph == phaseCommit {
			r.bgCommit.Store(now.UnixNano())
		}
		return
	}
	d := int64(now.Sub(st.at))
	switch st.ph {
	case phaseRead:
		p.read.Add(d)
	case phaseLock:
		p.lock.Add(d)
	case phaseCommit:
		p.commit.Add(d)
	}
	// A transaction of no request that committed while this one's write
	// transaction ran held the head lock it waited for.
	if bg := r.bgCommit.Load(); st.ph != phaseRead && bg >= st.at.UnixNano() {
		p.behind.Store(true)
	}
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return r.start(ctx, phaseRead)
}

func (r *roundTrips) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	r.end(ctx)
}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	return r.start(ctx, batchPhase(d.Batch))
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (r *roundTrips) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	r.end(ctx)
}

func (r *roundTrips) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return r.start(ctx, phaseRead)
}

func (r *roundTrips) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	r.end(ctx)
}

func (r *roundTrips) count() int64 {
	if r == nil {
		return 0
	}
	return r.n.Load()
}

// The SQL floor of an answer: one statement that reads the rows the
// answer is built from, entries with their content, and nothing else.
const (
	// floorCredential reads the entries that name a credential and every
	// entry (with content) of the runs they are in.
	floorCredential = `WITH c AS (SELECT idx FROM entry_refs WHERE key = 'credential' AND value = $1),
		t AS (SELECT DISTINCT e.trace_id FROM entries e JOIN c USING (idx) WHERE e.trace_id <> ''),
		ids AS (SELECT idx FROM c UNION SELECT e.idx FROM entries e WHERE e.trace_id <> '' AND e.trace_id IN (SELECT trace_id FROM t))
		SELECT e.idx, e.leaf, e.leaf_hash, e.kind, e.trace_id, e.time, ct.name, ct.salt, ct.data
		FROM entries e JOIN ids USING (idx) LEFT JOIN content ct ON ct.idx = e.idx ORDER BY e.idx, ct.name COLLATE "C"`
	// floorRun reads every entry of a run, with content.
	floorRun = `SELECT e.idx, e.leaf, e.leaf_hash, e.kind, e.trace_id, e.time, ct.name, ct.salt, ct.data
		FROM entries e LEFT JOIN content ct ON ct.idx = e.idx WHERE e.trace_id = $1 ORDER BY e.idx, ct.name COLLATE "C"`
)

// phaseReport reports the p50 and p99 of one phase's time per request: its
// round trips, summed (reads that run concurrently are each counted).
func phaseReport(b *testing.B, name string, d []time.Duration) {
	slices.Sort(d)
	q := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(q(0.50), name+"-p50-ms")
	b.ReportMetric(q(0.99), name+"-p99-ms")
}

// BenchmarkCredentialView seeds an agent-shaped ledger and measures the
// latency of the credential view (with content, so each appends its
// access entry), the run view, an agent's runs and inclusion proofs,
// through the HTTP handler, reporting p50 and p99, and on Postgres the
// round trips per answer (rt/req). The *_sql_floor sub-benchmarks time,
// the same way, the one statement that reads the rows the answer is built
// from (floorCredential, floorRun): an answer's p50 over its floor's is
// the ratio the goal bounds. durable_commit_floor times the one
// durable commit an answer with content waits for (its access entry's).
// Each answer's time is also split by phase (read, lock, commit: see
// phaseTimes; access is lock and commit), each phase's p50 and p99
// reported, with the share of answers whose access entry waited for a
// checkpoint's transaction (behind-checkpoint/req).
func BenchmarkCredentialView(b *testing.B) {
	bl := seedBench(b)
	samples := envInt(envBenchSamples, 500)
	report := func(b *testing.B, lat []time.Duration) {
		slices.Sort(lat)
		q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
		b.ReportMetric(q(0.50), "p50-ms")
		b.ReportMetric(q(0.99), "p99-ms")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(len(lat)), "ns/req")
		b.ReportMetric(float64(bl.size), "entries")
	}
	measure := func(b *testing.B, srv *Server, target func(rng *rand.Rand) string) {
		rng := rand.New(rand.NewPCG(1, 2))
		var lat, read, lock, commit, access []time.Duration
		behind := 0
		rt0 := bl.rt.count()
		b.ResetTimer()
		for range b.N {
			for range samples {
				var ph phaseTimes
				req := httptest.NewRequestWithContext(withPhases(b.Context(), &ph), http.MethodGet, target(rng), nil)
				req.Header.Set("Authorization", "Bearer "+bl.token)
				rec := httptest.NewRecorder()
				start := time.Now()
				srv.Handler().ServeHTTP(rec, req)
				lat = append(lat, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s = %d %s", req.URL, rec.Code, rec.Body.Bytes())
				}
				read = append(read, time.Duration(ph.read.Load()))
				lock = append(lock, time.Duration(ph.lock.Load()))
				commit = append(commit, time.Duration(ph.commit.Load()))
				access = append(access, time.Duration(ph.lock.Load()+ph.commit.Load()))
				if ph.behind.Load() {
					behind++
				}
			}
		}
		b.StopTimer()
		if bl.rt != nil {
			b.ReportMetric(float64(bl.rt.count()-rt0)/float64(len(lat)), "rt/req")
			phaseReport(b, "read", read)
			if slices.Max(commit) > 0 {
				phaseReport(b, "lock", lock)
				phaseReport(b, "commit", commit)
				phaseReport(b, "access", access)
				b.ReportMetric(float64(behind)/float64(len(lat)), "behind-checkpoint/req")
			}
		}
		report(b, lat)
	}
	floor := func(b *testing.B, sql string, arg func(rng *rand.Rand) string) {
		if bl.floor == nil {
			b.Skip("the SQL floor is measured on Postgres")
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var lat []time.Duration
		b.ResetTimer()
		for range b.N {
			for range samples {
				a := arg(rng)
				start := time.Now()
				rows, _ := bl.floor.Query(b.Context(), sql, a)
				n := 0
				for rows.Next() {
					var (
						idx                        int64
						leaf, leafHash, salt, data []byte
						kind, trace                string
						name                       *string
						t                          *time.Time
					)
					if err := rows.Scan(&idx, &leaf, &leafHash, &kind, &trace, &t, &name, &salt, &data); err != nil {
						b.Fatal(err)
					}
					n++
				}
				lat = append(lat, time.Since(start))
				if err := rows.Err(); err != nil || n == 0 {
					b.Fatalf("floor of %s: %d rows, %v", a, n, err)
				}
			}
		}
		b.StopTimer()
		report(b, lat)
	}
	// commitFloor times the least a durable commit costs on the database:
	// a transaction that writes one WAL record and nothing else, in one
	// round trip, so that its commit waits for the WAL flush. (A
	// transaction only given an ID writes no WAL record before its commit,
	// and Postgres then does not wait for the flush: a floor of that kind
	// measured 0.04 ms where a flushed commit takes milliseconds here.) A
	// view with content waits for one such commit, of its access entry,
	// besides its reads.
	commitFloor := func(b *testing.B) {
		if bl.floor == nil {
			b.Skip("the commit floor is measured on Postgres")
		}
		var lat []time.Duration
		b.ResetTimer()
		for range b.N {
			for range samples {
				start := time.Now()
				var batch pgx.Batch
				batch.Queue(`BEGIN`)
				batch.Queue(`SELECT pg_logical_emit_message(true, 'agentledger-bench', '')`)
				batch.Queue(`COMMIT`)
				if err := bl.floor.SendBatch(b.Context(), &batch).Close(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
		}
		b.StopTimer()
		report(b, lat)
	}
	cred := func(rng *rand.Rand) string { return benchCred(rng.IntN(bl.credentials)) }
	trace := func(rng *rand.Rand) string { return benchTrace(rng.IntN(bl.runs)) }
	b.Run("credential_view_sql_floor", func(b *testing.B) { floor(b, floorCredential, cred) })
	b.Run("durable_commit_floor", commitFloor)
	b.Run("credential_view", func(b *testing.B) {
		measure(b, bl.srv, func(rng *rand.Rand) string { return "/v1/credentials/" + cred(rng) })
	})
	b.Run("credential_view_no_content", func(b *testing.B) {
		measure(b, bl.srv, func(rng *rand.Rand) string { return "/v1/credentials/" + cred(rng) + "?content=false" })
	})
	b.Run("credential_view_no_content_stepwise_index", func(b *testing.B) {
		measure(b, bl.stepwise, func(rng *rand.Rand) string { return "/v1/credentials/" + cred(rng) + "?content=false" })
	})
	b.Run("credential_view_no_content_without_completeness", func(b *testing.B) {
		measure(b, bl.plain, func(rng *rand.Rand) string { return "/v1/credentials/" + cred(rng) + "?content=false" })
	})
	b.Run("run_view_sql_floor", func(b *testing.B) { floor(b, floorRun, trace) })
	b.Run("run_view", func(b *testing.B) {
		measure(b, bl.srv, func(rng *rand.Rand) string { return "/v1/runs/" + trace(rng) })
	})
	b.Run("agent_runs", func(b *testing.B) {
		measure(b, bl.srv, func(rng *rand.Rand) string { return fmt.Sprintf("/v1/agents/agent-%03d/runs", rng.IntN(500)) })
	})
	b.Run("inclusion_proof", func(b *testing.B) {
		measure(b, bl.srv, func(rng *rand.Rand) string { return fmt.Sprintf("/v1/proofs/inclusion?index=%d", rng.Uint64N(bl.size)) })
	})
}

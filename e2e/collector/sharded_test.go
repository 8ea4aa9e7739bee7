package collector

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"

	"github.com/agentledger/agentledger/internal/otelcoltest"
	"github.com/agentledger/agentledger/internal/pgcluster"
	"github.com/agentledger/agentledger/internal/servetest"
	"github.com/agentledger/agentledger/ledger/postgres"
)

// shardRules are the --shard-rule of the two shards behind
// ingest/example-sharded-collector.yaml.
var shardRules = [2]string{"trace-id:0-7", "trace-id:8-f"}

// TestShardedCollector: the stock collector with
// ingest/example-sharded-collector.yaml (only its addresses and certificate
// directory set) in front of two shards, each its own database on one
// Postgres primary, its own --log-name, key and serve with its shard rule,
// and a third serve of shard 0 whose queries read from a pg_basebackup
// streaming replica. 100 000 spans (10 000 with -short) in traces of 10,
// sent through the collector with the OTel SDK's gRPC exporter, are each in
// the ledgers exactly once, in the shard their trace ID names, so no trace
// spans two logs. A span sent straight to the wrong shard is refused whole,
// naming the rule, and counted in that shard's
// agentledger_ingest_misrouted_spans_total, labelled with its log.
func TestShardedCollector(t *testing.T) {
	spans := 100_000
	if testing.Short() {
		spans = 10_000
	}
	const spansPerTrace, tracesPerExport, senders = 10, 50, 4

	cluster := pgcluster.Start(t)
	admin, err := pgx.Connect(t.Context(), cluster.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range shardRules {
		if _, err := admin.Exec(t.Context(), fmt.Sprintf("CREATE DATABASE shard_%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	admin.Close(context.Background())
	replica := cluster.Replica(t)

	c := newCerts(t, "spiffe://e2e.example/ns/observability/sa/otel-shards")
	tlsFlags := []string{"--otlp-tls-cert-file", filepath.Join(c.dir, "server.crt"), "--otlp-tls-key-file", filepath.Join(c.dir, "server.key"),
		"--otlp-client-ca-file", filepath.Join(c.dir, "ca.pem"), "--log-level", "warn"}
	var (
		shards [2]*servetest.Server
		dirs   [2]string
	)
	for i, rule := range shardRules {
		dirs[i] = t.TempDir()
		shards[i] = servetest.Start(t, servetest.Options{DataDir: dirs[i], Args: append([]string{"--database", cluster.DSN(fmt.Sprintf("shard_%d", i)),
			"--log-name", shardLogName(i), "--shard-rule", rule}, tlsFlags...)})
	}
	// serve started shard 0's schema on the primary: the replica has it
	// once it has replayed that far.
	if err := cluster.WaitReplayed(t.Context(), replica); err != nil {
		t.Fatal(err)
	}
	reader := servetest.Start(t, servetest.Options{DataDir: dirs[0], Args: append([]string{"--database", cluster.DSN("shard_0"), "--read-database", replica.DSN("shard_0"),
		"--log-name", shardLogName(0), "--shard-rule", shardRules[0]}, tlsFlags...)})

	col := otelcoltest.Start(t, otelcoltest.Options{
		Configs: []string{filepath.Join("..", "..", "ingest", "example-sharded-collector.yaml"), filepath.Join("testdata", "no-telemetry.yaml")},
		Listen:  []string{"OTLP_GRPC_ENDPOINT", "OTLP_HTTP_ENDPOINT"},
		Env:     []string{"AGENTLEDGER_SHARD_0=" + shards[0].OTLPGRPCAddr, "AGENTLEDGER_SHARD_1=" + shards[1].OTLPGRPCAddr, "AGENTLEDGER_CERTS=" + c.dir},
	})
	in := col.Addr("OTLP_GRPC_ENDPOINT")

	// Send every span through the collector.
	batches := make(chan []sdktrace.ReadOnlySpan, senders)
	sent := make(chan []string, spans/(spansPerTrace*tracesPerExport)+1)
	go func() {
		defer close(batches)
		for n := 0; n < spans; n += spansPerTrace * tracesPerExport {
			b, ids := traceBatch(min(tracesPerExport, (spans-n)/spansPerTrace), spansPerTrace)
			sent <- ids
			select {
			case batches <- b:
			case <-t.Context().Done():
				return
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for range senders {
		exp, err := otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(in), otlptracegrpc.WithInsecure())
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer exp.Shutdown(context.Background())
			for b := range batches {
				if err := exp.ExportSpans(t.Context(), b); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("export to the collector: %v", err)
	}
	close(sent)
	want := map[string]bool{} // span ID -> sent
	for ids := range sent {
		for _, id := range ids {
			want[id] = true
		}
	}
	if len(want) != spans {
		t.Fatalf("%d distinct spans sent, want %d", len(want), spans)
	}

	// The collector queues; wait until the shards hold every span, then
	// stop the collector (it drains its queues) and the serves.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		n := 0
		for i := range shards {
			n += treeSize(t, cluster.DSN(fmt.Sprintf("shard_%d", i)))
		}
		if n >= spans {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 minutes the shards hold %d entries of %d spans", n, spans)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d spans through the collector into 2 shards in %v", spans, time.Since(start).Round(time.Millisecond))
	if err := col.Stop(t); err != nil {
		t.Errorf("collector: %v", err)
	}

	// Each span exactly once, in its trace's shard.
	seen := map[string]int{}
	for i, rule := range shardRules {
		n := 0
		for id, tid := range shardSpanIDs(t, cluster.DSN(fmt.Sprintf("shard_%d", i))) {
			seen[id]++
			n++
			if (tid[0] < '8') != (i == 0) {
				t.Errorf("span %s of trace %s is in shard %d (%s)", id, tid, i, rule)
			}
		}
		t.Logf("shard %d (%s): %d spans", i, rule, n)
		if n < spans/3 {
			t.Errorf("shard %d holds %d of %d spans: the collector did not spread them", i, n, spans)
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("span %s is in the shards %d times, want once", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("the shards hold %d spans, %d were sent", len(seen), len(want))
	}

	// A span of shard 1 sent straight to shard 0 is refused, whole.
	exp, err := otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(shards[0].OTLPGRPCAddr), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
		otlptracegrpc.WithTLSCredentials(credentials.NewTLS(c.clientTLS(true))))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	own, _ := traceBatch(1, 3)
	for len(own) > 0 && own[0].SpanContext().TraceID()[0] >= 0x80 {
		own, _ = traceBatch(1, 3)
	}
	other, _ := traceBatch(1, 1)
	for other[0].SpanContext().TraceID()[0] < 0x80 {
		other, _ = traceBatch(1, 1)
	}
	err = exp.ExportSpans(t.Context(), append(own, other...))
	if err == nil || !strings.Contains(err.Error(), "InvalidArgument") || !strings.Contains(err.Error(), "shard rule trace-id:0-7") {
		t.Errorf("misrouted span sent to shard 0: %v; want InvalidArgument naming the rule", err)
	}
	before := treeSize(t, cluster.DSN("shard_0"))
	for i, s := range shards {
		m := scrape(t, s.HTTPAddr)
		want := 0
		if i == 0 {
			want = 1
		}
		if line := fmt.Sprintf("agentledger_ingest_misrouted_spans_total{log=%q,signal=\"traces\"} %d", shardLogName(i), want); !strings.Contains(m, line) {
			t.Errorf("shard %d's /metrics lacks %s", i, line)
		}
		if line := fmt.Sprintf("agentledger_log_info{log=%q,shard_rule=%q} 1", shardLogName(i), shardRules[i]); !strings.Contains(m, line) {
			t.Errorf("shard %d's /metrics lacks %s", i, line)
		}
	}

	// The reader of shard 0 answers from the replica, caught up.
	if err := cluster.WaitReplayed(t.Context(), replica); err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Replica struct {
			Primary int `json:"primary_checkpoint_size"`
			Replica int `json:"replica_checkpoint_size"`
		} `json:"replica"`
	}
	if err := json.Unmarshal([]byte(get(t, "http://"+reader.HTTPAddr+"/readyz")), &ready); err != nil {
		t.Fatal(err)
	}
	if ready.Replica.Replica == 0 || ready.Replica.Replica != ready.Replica.Primary {
		t.Errorf("reader's /readyz: replica checkpoint size %d, primary %d; want equal and not 0", ready.Replica.Replica, ready.Replica.Primary)
	}
	for _, s := range []*servetest.Server{shards[0], shards[1], reader} {
		if err := s.Stop(t, syscall.SIGTERM); err != nil {
			t.Fatalf("serve of %s: %v", s.DataDir, err)
		}
	}
	if after := treeSize(t, cluster.DSN("shard_0")); after != before {
		t.Errorf("shard 0 grew from %d to %d entries after the refused request", before, after)
	}
}

// shardLogName is shard i's --log-name.
func shardLogName(i int) string { return fmt.Sprintf("shard-%d.e2e.example/agents", i) }

// traceBatch returns traces new traces of n spans each, and their span IDs.
func traceBatch(traces, n int) ([]sdktrace.ReadOnlySpan, []string) {
	res := resource.NewSchemaless(attribute.String("service.name", "sharded-agent"))
	now := time.Now()
	var (
		out []sdktrace.ReadOnlySpan
		ids []string
	)
	for range traces {
		var tid trace.TraceID
		rand.Read(tid[:])
		for i := range n {
			var sid trace.SpanID
			rand.Read(sid[:])
			out = append(out, tracetest.SpanStub{
				Name:        fmt.Sprintf("step %d", i),
				SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
				StartTime:   now,
				EndTime:     now.Add(time.Millisecond),
				Attributes:  []attribute.KeyValue{attribute.String("gen_ai.operation.name", "execute_tool"), attribute.Int("step", i)},
				Resource:    res,
			}.Snapshot())
			ids = append(ids, sid.String())
		}
	}
	return out, ids
}

// treeSize returns the size of the ledger's tree in dsn.
func treeSize(t *testing.T, dsn string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT size FROM tree_head").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// shardSpanIDs reads the whole ledger in dsn and returns the trace ID of
// each span entry by span ID; it fails the test if a span ID occurs twice.
func shardSpanIDs(t *testing.T, dsn string) map[string]string {
	t.Helper()
	store, err := postgres.New(t.Context(), postgres.Config{DSN: dsn, NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	head, err := store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	const page = 5000
	for start := uint64(0); start < head.Size; start += page {
		recs, err := store.Records(t.Context(), start, min(start+page, head.Size))
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			e, _, err := recs[i].Decode()
			if err != nil {
				t.Fatalf("entry %d: %v", recs[i].Index, err)
			}
			if e.SpanID == "" {
				continue
			}
			if _, dup := out[e.SpanID]; dup {
				t.Errorf("span %s is in %s twice", e.SpanID, dsn)
			}
			out[e.SpanID] = e.TraceID
		}
	}
	return out
}

// scrape returns the Prometheus metrics of the serve whose API is at api.
func scrape(t *testing.T, api string) string { return get(t, "http://"+api+"/metrics") }

// get returns the body of a GET of url.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

package ingest

import (
	"context"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// TestFactoryInCollector runs the receiver as a collector does: it opens
// the ledger its configuration names, shares one server between a traces
// and a logs pipeline, forwards each request to the pipeline only after
// committing it, and closes the ledger (with a final checkpoint) on
// shutdown.
func TestFactoryInCollector(t *testing.T) {
	dir := t.TempDir()
	skey, _, err := ledger.GenerateKey("collector.agentledger.example")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dbPath := filepath.Join(dir, "ledger.db")
	httpAddr := freeAddr(t)

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = httpAddr
	cfg.Database = dbPath
	cfg.SignerKeyFile = write("signer.key", skey+"\n")
	cfg.SecretFile = write("secret", hex.EncodeToString(testKey)+"\n")

	// The pipeline's consumer checks that the spans it is handed are
	// already committed.
	var committedFirst, forwarded atomic.Int64
	next, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		s, err := sqlite.Open(ctx, dbPath)
		if err != nil {
			return err
		}
		defer s.Close()
		if h, err := s.Head(ctx); err == nil && h.Size >= uint64(td.SpanCount()) {
			committedFirst.Add(1)
		}
		forwarded.Add(int64(td.SpanCount()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	set := receivertest.NewNopSettings(f.Type())
	tr, err := f.CreateTraces(t.Context(), set, cfg, next)
	if err != nil {
		t.Fatalf("CreateTraces: %v", err)
	}
	logsSink := new(consumertest.LogsSink)
	lr, err := f.CreateLogs(t.Context(), set, cfg, logsSink)
	if err != nil {
		t.Fatalf("CreateLogs: %v", err)
	}
	if tr != lr {
		t.Errorf("traces and logs receivers of one config differ; they must share one server")
	}
	if err := tr.Start(t.Context(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := lr.Start(t.Context(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("second Start: %v", err)
	}

	exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure(), otlptracehttp.WithRetry(fastRetry.http))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	tp, rec := recorder("collector-agent")
	genaiRun(t.Context(), tp.Tracer("agent"))
	spans := rec.Ended()
	if err := exp.ExportSpans(t.Context(), spans); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	if got := forwarded.Load(); got != int64(len(spans)) {
		t.Errorf("forwarded %d spans, want %d", got, len(spans))
	}
	if committedFirst.Load() != 1 {
		t.Errorf("the pipeline saw spans before they were committed")
	}
	// The guard runs in the collector's servers too, and the user's
	// configuration is left as it was.
	if code, st := postRaw(t, "http://"+httpAddr+"/v1/traces", "application/json", []byte("\xff\xfe")); code != http.StatusBadRequest || !strings.Contains(st.GetMessage(), notJSONMessage) {
		t.Errorf("POST bytes that are not UTF-8 as JSON = %d %q, want 400 %q", code, st.GetMessage(), notJSONMessage)
	}
	if mw := cfg.Protocols.HTTP.Get().ServerConfig.Middlewares; len(mw) != 0 {
		t.Errorf("the user's HTTP configuration has middlewares %v, want none", mw)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := lr.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}

	s, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.Size != uint64(len(spans)+1) {
		t.Errorf("tree size = %d, want %d spans + 1 attestation", h.Size, len(spans))
	}
	cp, err := s.LatestCheckpoint(context.Background())
	if err != nil || cp.Size != h.Size {
		t.Errorf("latest checkpoint = size %d, %v; want a final checkpoint of size %d", cp.Size, err, h.Size)
	}

	// The configuration can be started again after shutdown.
	tr2, err := f.CreateTraces(t.Context(), set, cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr2.Start(t.Context(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := tr2.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestFactoryBadLedgerConfig(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = freeAddr(t)
	cfg.Database = filepath.Join(t.TempDir(), "ledger.db")
	cfg.SignerKeyFile = filepath.Join(t.TempDir(), "missing.key")
	cfg.SecretFile = filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(cfg.SecretFile, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := f.CreateTraces(t.Context(), receivertest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Start(t.Context(), componenttest.NewNopHost())
	if err == nil {
		t.Fatal("Start with a short secret succeeded")
	}
	t.Logf("Start: %v", err)
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after a failed Start: %v", err)
	}
}

// TestFactoryKeyFilePermissions checks that the collector-hosted receiver
// refuses a signer key or ledger secret that others can read, as
// agentledger serve does.
func TestFactoryKeyFilePermissions(t *testing.T) {
	skey, _, err := ledger.GenerateKey("collector.agentledger.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name             string
		keyMode, secMode os.FileMode
		wantErr          string
	}{
		{"signer key 0644", 0o644, 0o600, "signer.key: permissions -rw-r--r-- are too open; want 0600"},
		{"secret 0640", 0o600, 0o640, "secret: permissions -rw-r----- are too open; want 0600"},
		{"both 0600", 0o600, 0o600, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name, data string, mode os.FileMode) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, mode); err != nil {
					t.Fatal(err)
				}
				return p
			}
			f := NewFactory()
			cfg := f.CreateDefaultConfig().(*Config)
			cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = freeAddr(t)
			cfg.Database = filepath.Join(dir, "ledger.db")
			cfg.SignerKeyFile = write("signer.key", skey+"\n", tt.keyMode)
			cfg.SecretFile = write("secret", hex.EncodeToString(testKey)+"\n", tt.secMode)
			tr, err := f.CreateTraces(t.Context(), receivertest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := tr.Shutdown(context.Background()); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
			}()
			err = tr.Start(t.Context(), componenttest.NewNopHost())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Start = %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Start = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

// slowStore delays every append, so that a test can shut the server down
// while a request is in flight.
type slowStore struct {
	ledger.Store
	delay   time.Duration
	started chan struct{}
}

func (s *slowStore) Update(ctx context.Context, keys [][ledger.HashSize]byte, fn ledger.UpdateFunc) error {
	if len(keys) > 0 {
		select {
		case s.started <- struct{}{}:
		default:
		}
		time.Sleep(s.delay)
	}
	return s.Store.Update(ctx, keys, fn)
}

// TestShutdownWaitsForInFlight checks that Shutdown lets a request in
// flight commit and be acknowledged, and that nothing is accepted after.
func TestShutdownWaitsForInFlight(t *testing.T) {
	slow := &slowStore{delay: 500 * time.Millisecond, started: make(chan struct{}, 1)}
	tl := newSQLiteLedger(t, func(s ledger.Store) ledger.Store { slow.Store = s; return slow })
	httpAddr := freeAddr(t)
	srv, err := Start(t.Context(), ServerConfig{HTTPAddr: httpAddr, Log: tl.log, Redactor: newRedactor(t), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	td := ptrace.NewTraces()
	testSpan(td, 1, "in flight")
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + httpAddr + "/v1/traces"
	done := make(chan int, 1)
	go func() {
		code, _ := postTraces(t, url, "application/x-protobuf", body)
		done <- code
	}()
	<-slow.started
	start := time.Now()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("Shutdown returned after %v, before the request in flight committed", d)
	}
	if code := <-done; code != http.StatusOK {
		t.Errorf("request in flight during Shutdown = %d, want 200", code)
	}
	if n := len(tl.entries(t)); n != 2 {
		t.Errorf("ledger holds %d entries, want 2", n)
	}
	if resp, err := http.Post(url, "application/x-protobuf", nil); err == nil {
		resp.Body.Close()
		t.Errorf("POST after Shutdown = %d, want a refused connection", resp.StatusCode)
	}
}

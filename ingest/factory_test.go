package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentledger/agentledger/ledger"
)

// ledgerHost is a collector host whose extensions include one that holds
// an open ledger, as ledgerext does.
type ledgerHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h ledgerHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// ledgerHolder is an extension that holds an open ledger.
type ledgerHolder struct {
	component.StartFunc
	component.ShutdownFunc
	l Ledger
}

func (h *ledgerHolder) Ledger() (Ledger, bool) { return h.l, h.l.Log != nil }

var ledgerExtID = component.MustNewID("agentledger")

// TestFactoryInCollector runs the receiver as a collector does: it writes
// to the ledger of the extension its configuration names, shares one
// server between a traces and a logs pipeline, and forwards each request
// to the pipeline only after committing it. A second receiver that names
// the same extension writes to the same log.
func TestFactoryInCollector(t *testing.T) {
	tl := newSQLiteLedger(t, nil)
	host := ledgerHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{
		ledgerExtID: &ledgerHolder{l: Ledger{Log: tl.log, Redactor: newRedactor(t)}},
	}}
	httpAddr, httpAddr2 := freeAddr(t), freeAddr(t)

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = httpAddr
	cfg.Ledger = ledgerExtID
	cfg2 := f.CreateDefaultConfig().(*Config)
	cfg2.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = httpAddr2
	cfg2.Ledger = ledgerExtID

	// The pipeline's consumer checks that the spans it is handed are
	// already committed.
	var committedFirst, forwarded atomic.Int64
	next, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		if h, err := tl.store.Head(ctx); err == nil && h.Size >= uint64(td.SpanCount()) {
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
	set2 := receivertest.NewNopSettings(f.Type())
	set2.ID = component.MustNewIDWithName(TypeName, "second")
	tr2, err := f.CreateTraces(t.Context(), set2, cfg2, consumertest.NewNop())
	if err != nil {
		t.Fatalf("CreateTraces (second): %v", err)
	}
	for i, r := range []component.Component{tr, lr, tr2} {
		if err := r.Start(t.Context(), host); err != nil {
			t.Fatalf("Start %d: %v", i, err)
		}
	}

	var spans []sdktrace.ReadOnlySpan
	for i, addr := range []string{httpAddr, httpAddr2} {
		exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(addr), otlptracehttp.WithInsecure(), otlptracehttp.WithRetry(fastRetry.http))
		if err != nil {
			t.Fatal(err)
		}
		defer exp.Shutdown(context.Background())
		tp, rec := recorder(fmt.Sprintf("collector-agent-%d", i))
		genaiRun(t.Context(), tp.Tracer("agent"))
		ended := rec.Ended()
		if err := exp.ExportSpans(t.Context(), ended); err != nil {
			t.Fatalf("ExportSpans: %v", err)
		}
		spans = append(spans, ended...)
	}
	if got, want := forwarded.Load(), int64(len(spans)/2); got != want {
		t.Errorf("forwarded %d spans, want %d", got, want)
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
	for i, r := range []component.Component{tr, lr, tr2} {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown %d: %v", i, err)
		}
	}
	// Both receivers wrote to the one log: every span, and one
	// attestation per resource.
	if n := len(tl.entries(t)); n != len(spans)+2 {
		t.Errorf("ledger holds %d entries, want %d spans + 2 attestations", n, len(spans))
	}

	// The configuration can be started again after shutdown.
	tr3, err := f.CreateTraces(t.Context(), set, cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr3.Start(t.Context(), host); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := tr3.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestFactoryMissingLedger checks that a receiver refuses to start when
// the extension its configuration names is absent, is not an agentledger
// extension, or has no open ledger.
func TestFactoryMissingLedger(t *testing.T) {
	other := component.MustNewID("other")
	closed := component.MustNewIDWithName("agentledger", "closed")
	host := ledgerHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{
		other: &struct {
			component.StartFunc
			component.ShutdownFunc
		}{},
		closed: &ledgerHolder{},
	}}
	for _, tt := range []struct {
		id   component.ID
		want string
	}{
		{ledgerExtID, `extension "agentledger" is not among the collector's extensions`},
		{other, `extension "other" is not an agentledger extension`},
		{closed, `extension "agentledger/closed" has no open ledger`},
	} {
		t.Run(tt.id.String(), func(t *testing.T) {
			f := NewFactory()
			cfg := f.CreateDefaultConfig().(*Config)
			cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = freeAddr(t)
			cfg.Ledger = tt.id
			tr, err := f.CreateTraces(t.Context(), receivertest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Start(t.Context(), host); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start = %v, want an error with %q", err, tt.want)
			}
			if err := tr.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown after a failed Start: %v", err)
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

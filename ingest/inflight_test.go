package ingest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/tap"

	"github.com/agentledger/agentledger/ledger"
)

// pushbackCounter is an Observer and PushbackObserver that counts
// pushbacks and the highest in-flight bytes, keeps a retry delay reported
// outside [PushbackRetryDelay, MaxPushbackRetryDelay], and closes first
// when the first pushback happens.
type pushbackCounter struct {
	pushbacks   atomic.Int64
	maxInflight atomic.Int64
	failed      atomic.Int64
	badDelay    atomic.Int64
	once        sync.Once
	first       chan struct{}
}

func (p *pushbackCounter) Accepted(Signal, int, int, time.Duration) {}
func (p *pushbackCounter) Rejected(Signal, int, error)              {}
func (p *pushbackCounter) Failed(Signal, int, error)                { p.failed.Add(1) }
func (p *pushbackCounter) Inflight(n int64) {
	for {
		m := p.maxInflight.Load()
		if n <= m || p.maxInflight.CompareAndSwap(m, n) {
			return
		}
	}
}
func (p *pushbackCounter) Pushback(_ Signal, _ int, delay time.Duration) {
	if delay < PushbackRetryDelay || delay > MaxPushbackRetryDelay {
		p.badDelay.Store(int64(delay))
	}
	p.pushbacks.Add(1)
	p.once.Do(func() { close(p.first) })
}

// gateStore holds the first commit until the first pushback (or 30 s),
// so that requests surely overlap and one is surely refused.
type gateStore struct {
	ledger.Store
	gate <-chan struct{}
	once sync.Once
}

func (s *gateStore) Update(ctx context.Context, keys [][ledger.HashSize]byte, fn ledger.UpdateFunc) error {
	if len(keys) > 0 {
		s.once.Do(func() {
			select {
			case <-s.gate:
			case <-time.After(30 * time.Second):
			}
		})
	}
	return s.Store.Update(ctx, keys, fn)
}

// TestInflightPushback sends many concurrent exports with the OTel SDK's
// exporters to a receiver that holds one request at a time: the others are
// refused ResourceExhausted (HTTP 429) with a retry delay, the exporters
// retry, and every span is committed exactly once.
func TestInflightPushback(t *testing.T) {
	for _, transport := range []string{"http", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			obs := &pushbackCounter{first: make(chan struct{})}
			gs := &gateStore{gate: obs.first}
			tl := newSQLiteLedger(t, func(s ledger.Store) ledger.Store { gs.Store = s; return gs })
			grpcAddr, httpAddr := startServer(t, tl, func(c *ServerConfig) {
				c.MaxInflightBytes = 1 // one request at a time
				c.Observer = obs
			})
			const exports, spansPerExport = 8, 20
			var wg sync.WaitGroup
			errs := make(chan error, exports)
			for e := range exports {
				wg.Go(func() {
					exp, err := newRetryingExporter(t, transport, grpcAddr, httpAddr)
					if err != nil {
						errs <- err
						return
					}
					defer exp.Shutdown(context.Background())
					tp, rec := recorder("pushback-test")
					tr := tp.Tracer("t")
					for i := range spansPerExport {
						_, sp := tr.Start(context.Background(), fmt.Sprintf("step %d", i), trace.WithAttributes(attribute.Int("export", e)))
						sp.End()
					}
					if err := exp.ExportSpans(t.Context(), rec.Ended()); err != nil {
						errs <- fmt.Errorf("export %d: %w", e, err)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if n := obs.pushbacks.Load(); n == 0 {
				t.Errorf("pushbacks = 0, want some: %d exports against a limit of one request", exports)
			}
			if n := obs.failed.Load(); n != 0 {
				t.Errorf("failed requests = %d, want 0", n)
			}
			if d := time.Duration(obs.badDelay.Load()); d != 0 {
				t.Errorf("a pushback reported a retry delay of %v, want %v to %v", d, PushbackRetryDelay, MaxPushbackRetryDelay)
			}
			seen := map[string]int{}
			for _, e := range tl.entries(t) {
				if e.Kind == ledger.KindSpan {
					seen[e.TraceID+"/"+e.SpanID]++
				}
			}
			if len(seen) != exports*spansPerExport {
				t.Errorf("%d distinct spans committed, want %d", len(seen), exports*spansPerExport)
			}
			for k, n := range seen {
				if n != 1 {
					t.Errorf("span %s committed %d times, want once", k, n)
				}
			}
		})
	}
}

// heldServer starts a receiver on an SQLite ledger whose first commit is
// held until open is called, and returns its bytes in flight, its
// OTLP/HTTP address and its ledger.
func heldServer(t *testing.T, obs *pushbackCounter) (f *inflight, httpAddr string, open func(), tl *testLedger) {
	gate := make(chan struct{})
	gs := &gateStore{gate: gate}
	tl = newSQLiteLedger(t, func(s ledger.Store) ledger.Store { gs.Store = s; return gs })
	httpAddr = freeAddr(t)
	srv, err := Start(t.Context(), ServerConfig{HTTPAddr: httpAddr, Log: tl.log, Redactor: newRedactor(t), Logger: testLogger(t), Observer: obs})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	open = sync.OnceFunc(func() { close(gate) })
	t.Cleanup(open) // before Shutdown, should the test stop early
	return srv.rcv.(*ledgerReceiver).inflight, httpAddr, open, tl
}

// until waits for cond on f, under its lock.
func until(t *testing.T, f *inflight, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		f.mu.Lock()
		ok := cond()
		f.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// exportOnce exports spans to httpAddr with the OTel SDK's OTLP/HTTP
// exporter, its retries off.
func exportOnce(t *testing.T, httpAddr string, spans []sdktrace.ReadOnlySpan) error {
	exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure(),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		return err
	}
	defer exp.Shutdown(context.Background())
	return exp.ExportSpans(t.Context(), spans)
}

// TestRetryKeyHTTP sends, with the OTel SDK's OTLP/HTTP exporter, the
// same spans twice and other spans once while the room in flight is held
// and nothing more fits: each attempt is refused, the same spans'
// retry is known for the same request, remembered from its first attempt,
// the other spans are a request of their own, and a request admitted is
// forgotten.
func TestRetryKeyHTTP(t *testing.T) {
	obs := &pushbackCounter{first: make(chan struct{})}
	f, httpAddr, openGate, _ := heldServer(t, obs)
	spans := func(name string) []sdktrace.ReadOnlySpan {
		tp, rec := recorder("retry-key-test")
		_, sp := tp.Tracer("t").Start(context.Background(), name)
		sp.End()
		return rec.Ended()
	}
	first, retried, other := spans("first"), spans("retried"), spans("other")
	held := make(chan error, 1)
	go func() { held <- exportOnce(t, httpAddr, first) }()
	until(t, f, "the first request is in flight", func() bool { return f.bytes > 0 })
	f.mu.Lock()
	f.limit = f.bytes // nothing more fits: each attempt is refused, at once or after its wait
	f.mu.Unlock()
	owed := func() map[uint64]owing {
		f.mu.Lock()
		defer f.mu.Unlock()
		return maps.Clone(f.owed)
	}
	if err := exportOnce(t, httpAddr, retried); err == nil {
		t.Fatal("a request was admitted beside a full limit")
	}
	refusedAt := time.Now()
	firstTry := owed()
	if err := exportOnce(t, httpAddr, retried); err == nil {
		t.Fatal("a retry was admitted beside a full limit")
	}
	retry := owed()
	if len(firstTry) != 1 || len(retry) != 1 {
		t.Fatalf("remembered %d then %d requests, want the one request both times", len(firstTry), len(retry))
	}
	var key uint64
	for k, o := range retry {
		key = k
		if o.since != firstTry[k].since || !o.refused.After(refusedAt) {
			t.Fatalf("the retry is remembered since %v, refused at %v; want since the first attempt (%v), refused after %v", o.since, o.refused, firstTry[k].since, refusedAt)
		}
	}
	if err := exportOnce(t, httpAddr, other); err == nil {
		t.Fatal("a request was admitted beside a full limit")
	}
	if o := owed(); len(o) != 2 {
		t.Fatalf("remembered %d requests after other spans were refused, want 2", len(o))
	}
	openGate()
	if err := <-held; err != nil {
		t.Fatalf("first export: %v", err)
	}
	if err := exportOnce(t, httpAddr, retried); err != nil {
		t.Fatalf("the retry once the room is free: %v", err)
	}
	if _, ok := owed()[key]; ok {
		t.Fatal("a request admitted is still remembered")
	}
}

// TestAdmissionWaitHTTP sends, with the OTel SDK's OTLP/HTTP exporter
// and its retries off, a request while another holds the room in flight
// and its commit is held back: the second waits for room instead of being
// refused, and is committed once the first's commit frees it.
func TestAdmissionWaitHTTP(t *testing.T) {
	obs := &pushbackCounter{first: make(chan struct{})}
	f, httpAddr, openGate, tl := heldServer(t, obs)
	export := func(e int) <-chan error {
		errc := make(chan error, 1)
		go func() {
			tp, rec := recorder("admission-test")
			_, sp := tp.Tracer("t").Start(context.Background(), "step", trace.WithAttributes(attribute.Int("export", e)))
			sp.End()
			errc <- exportOnce(t, httpAddr, rec.Ended())
		}()
		return errc
	}
	first := export(1)
	until(t, f, "the first request is in flight", func() bool { return f.bytes > 0 })
	f.mu.Lock()
	size := f.bytes
	// Room for the first request and not a second of the same size, which
	// can wait: it is within the share of the limit that may wait.
	f.limit = size * 9 / 5
	f.mu.Unlock()
	second := export(2)
	until(t, f, "the second request waits", func() bool { return len(f.waiting) == 1 })
	openGate()
	for i, c := range []<-chan error{first, second} {
		if err := <-c; err != nil {
			t.Errorf("export %d: %v", i+1, err)
		}
	}
	if n := obs.pushbacks.Load(); n != 0 {
		t.Errorf("pushbacks = %d, want 0: the second request fits once the first is committed", n)
	}
	spans := 0
	for _, e := range tl.entries(t) {
		if e.Kind == ledger.KindSpan {
			spans++
		}
	}
	if spans != 2 {
		t.Errorf("%d spans committed, want 2", spans)
	}
}

// TestGRPCReleasedBeforeAnswer: a gRPC request's bytes in flight are
// given back when its handler returns, before its answer is sent, so that
// a sender's next request never finds its last one's still held: a
// request larger than the limit, which fits only alone, was refused for
// its own predecessor when the bytes were given back only once the call's
// context ended, after the answer. A call that never reaches the handler
// gives them back when its context ends.
func TestGRPCReleasedBeforeAnswer(t *testing.T) {
	const mib = 1 << 20
	f := newInflight(16*mib, nil)
	g := &guard{r: &ledgerReceiver{inflight: f}}
	g.grpcEstimate.Store(mib)
	info := &tap.Info{FullMethodName: "/opentelemetry.proto.collector.trace.v1.TraceService/Export"}
	held := func() int64 {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.bytes
	}

	callCtx, endCall := context.WithCancel(t.Context())
	defer endCall()
	ctx, err := g.tap(callCtx, info)
	if err != nil {
		t.Fatalf("tap: %v", err)
	}
	handler := func(context.Context, any) (any, error) {
		if n := held(); n != mib {
			t.Errorf("in the handler %d bytes are in flight, want the %d reserved", n, mib)
		}
		return nil, nil
	}
	if _, err := g.intercept(ctx, new(int), &grpc.UnaryServerInfo{FullMethod: info.FullMethodName}, handler); err != nil {
		t.Fatalf("intercept: %v", err)
	}
	if n := held(); n != 0 {
		t.Fatalf("once the handler returned, before the call ended, %d bytes are in flight, want 0", n)
	}
	endCall()
	time.Sleep(10 * time.Millisecond) // the call's end releases nothing twice
	if n := held(); n != 0 {
		t.Fatalf("after the call ended %d bytes are in flight, want 0", n)
	}

	callCtx, endCall = context.WithCancel(t.Context())
	if _, err := g.tap(callCtx, info); err != nil {
		t.Fatalf("tap: %v", err)
	}
	endCall() // the call ends before its handler runs
	for deadline := time.Now().Add(10 * time.Second); held() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a call that ended before its handler still holds %d bytes", held())
		}
	}
}

// newRetryingExporter returns an OTel SDK exporter of transport that
// retries as configured by default, with shorter back-off.
func newRetryingExporter(t *testing.T, transport, grpcAddr, httpAddr string) (sdktrace.SpanExporter, error) {
	if transport == "grpc" {
		return otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond, MaxElapsedTime: 2 * time.Minute}))
	}
	return otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure(),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond, MaxElapsedTime: 2 * time.Minute}))
}

// TestInflightAdapts checks the adaptive limit: it starts at the floor; a
// request larger than the limit fits alone; slow commits lower the limit
// by a quarter, not below the floor; a refusal followed by a fast commit
// raises it by that request's size, not above the maximum.
func TestInflightAdapts(t *testing.T) {
	const mib = 1 << 20
	ctx := t.Context()
	f := newInflight(16*mib, nil)
	if f.limit != minInflightBytes {
		t.Fatalf("a new limit is %d, want the floor %d", f.limit, minInflightBytes)
	}
	f.limit = f.max // as after a while of fast commits under load
	if !f.acquire(ctx, 20*mib, 0, 0) {
		t.Fatal("a request over the limit does not fit with nothing in flight")
	}
	if f.acquire(ctx, 1, 0, 0) {
		t.Fatal("a byte fits beside a request over the limit")
	}
	f.release(20*mib, 0)
	slow, fast := 2*f.target, f.target/2
	for i, want := range []int64{12 * mib, 9 * mib, 6912 * 1024, 5184 * 1024, minInflightBytes, minInflightBytes} {
		if !f.acquire(ctx, mib, 0, 0) {
			t.Fatalf("step %d: 1 MiB does not fit with nothing in flight", i)
		}
		f.release(mib, slow)
		f.lastDecrease = time.Time{} // as if an interval had passed
		if f.limit != want {
			t.Fatalf("limit after %d slow commits = %d, want %d", i+1, f.limit, want)
		}
	}
	if !f.acquire(ctx, 3*mib, 0, 0) || f.acquire(ctx, 2*mib, 0, 0) {
		t.Fatalf("at a limit of 4 MiB, 3 MiB fits and 2 MiB more does not: limit %d", f.limit)
	}
	f.release(3*mib, fast)
	if want := int64(minInflightBytes + 3*mib); f.limit != want {
		t.Fatalf("limit after a refusal and a fast commit = %d, want %d", f.limit, want)
	}
	f.acquire(ctx, mib, 0, 0)
	f.release(mib, fast)
	if want := int64(minInflightBytes + 3*mib); f.limit != want {
		t.Fatalf("limit after a fast commit without a refusal = %d, want %d (unchanged)", f.limit, want)
	}
	for range 20 {
		f.acquire(ctx, 15*mib, 0, 0)
		f.acquire(ctx, 15*mib, 0, 0)
		f.release(15*mib, fast)
	}
	if f.limit != 16*mib {
		t.Fatalf("limit = %d after many raises, want the maximum %d", f.limit, 16*mib)
	}
}

// TestTicketTookFromReservation: a request's commit time counts from when
// its bytes were reserved, before its body was read, as its sender waits
// from then: a request whose body alone took longer than the target lowers
// the limit although its commit was quick.
func TestTicketTookFromReservation(t *testing.T) {
	const mib = 1 << 20
	f := newInflight(16*mib, nil)
	f.target = 20 * time.Millisecond
	f.limit = f.max // as after a while of fast commits under load
	tk := f.reserve(t.Context(), mib, 0, 0)
	if tk == nil {
		t.Fatal("1 MiB does not fit with nothing in flight")
	}
	time.Sleep(2 * f.target) // the body arrives slowly
	tk.committed()
	if tk.took < 2*f.target {
		t.Fatalf("took = %v, want at least the %v since the reservation", tk.took, 2*f.target)
	}
	tk.release()
	if f.limit != 12*mib {
		t.Fatalf("limit after a slow request = %d, want %d", f.limit, 12*mib)
	}
}

// waitFor reserves n bytes of f for a request of key with a wait in a
// goroutine of its own, and returns a channel that yields its ticket (nil:
// refused), once the request waits (or was answered).
func waitFor(t *testing.T, ctx context.Context, f *inflight, n int64, wait time.Duration, key uint64) <-chan *ticket {
	t.Helper()
	f.mu.Lock()
	before := len(f.waiting)
	f.mu.Unlock()
	c := make(chan *ticket, 1)
	go func() { c <- f.reserve(ctx, n, wait, key) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		f.mu.Lock()
		waiting := len(f.waiting)
		f.mu.Unlock()
		if waiting > before || len(c) > 0 {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal("the request neither waits nor is answered")
		}
	}
}

// TestAdmissionWait checks the wait for room: requests that do not fit
// wait in the order they came and are admitted in that order as commits
// free room, ahead of any request that came after them; one that waits
// longer than its wait, or whose sender leaves, is refused and lets those
// behind it in; one is refused at once if the bytes waiting would be more
// than the ledger commits in the wait; and a request's time counts from
// before its wait.
func TestAdmissionWait(t *testing.T) {
	const mib = 1 << 20
	ctx := t.Context()
	long := time.Minute // longer than the test: only room or a cancel ends it
	// held returns a limit of 4 MiB and the ticket of a request of n bytes
	// it holds.
	held := func(n int64) (*inflight, *ticket) {
		f := newInflight(16*mib, nil)
		f.limit = 4 * mib
		return f, f.reserve(ctx, n, 0, 0)
	}

	t.Run("order", func(t *testing.T) {
		f, first := held(3 * mib)
		a := waitFor(t, ctx, f, 2*mib, long, 0)
		b := waitFor(t, ctx, f, mib, long, 0)
		if f.acquire(ctx, mib, 0, 0) {
			t.Fatal("a request that came after the waiting ones took room before them")
		}
		first.release()
		ta, tb := <-a, <-b
		if ta == nil || tb == nil {
			t.Fatal("a waiting request was refused although the room freed fits both")
		}
		if f.bytes != 3*mib || len(f.waiting) != 0 || f.waitingBytes != 0 {
			t.Fatalf("in flight %d, %d waiting of %d bytes; want 3 MiB, none", f.bytes, len(f.waiting), f.waitingBytes)
		}
	})

	t.Run("head of line", func(t *testing.T) {
		f, first := held(3 * mib)
		a := waitFor(t, ctx, f, 3*mib, long, 0)
		b := waitFor(t, ctx, f, mib, long, 0)
		select {
		case <-b:
			t.Fatal("a request was admitted ahead of one that came before it")
		case <-time.After(20 * time.Millisecond):
		}
		first.release()
		if (<-a) == nil || (<-b) == nil {
			t.Fatal("the waiting requests were refused although the room freed fits both")
		}
	})

	t.Run("timeout", func(t *testing.T) {
		f, first := held(3 * mib)
		a := waitFor(t, ctx, f, 3*mib, 30*time.Millisecond, 0)
		b := waitFor(t, ctx, f, mib, long, 0)
		if (<-a) != nil {
			t.Fatal("a request that got no room within its wait was admitted")
		}
		tb := <-b
		if tb == nil {
			t.Fatal("the request behind one that gave up was refused although it fits")
		}
		if f.bytes != 4*mib || f.waitingBytes != 0 || !f.refused {
			t.Fatalf("in flight %d, waiting %d bytes, refused %v; want 4 MiB, 0, true", f.bytes, f.waitingBytes, f.refused)
		}
		first.release()
		tb.release()
	})

	t.Run("sender leaves", func(t *testing.T) {
		f, _ := held(4 * mib)
		cctx, cancel := context.WithCancel(ctx)
		a := waitFor(t, cctx, f, mib, long, 0)
		cancel()
		if (<-a) != nil {
			t.Fatal("a request whose sender left was admitted")
		}
		if len(f.waiting) != 0 || f.waitingBytes != 0 {
			t.Fatalf("%d requests of %d bytes still wait", len(f.waiting), f.waitingBytes)
		}
	})

	t.Run("too many waiting", func(t *testing.T) {
		f := newInflight(16*mib, nil)
		f.limit = 8 * mib
		wait := f.target / 2 // the ledger commits about half the limit in the wait
		f.reserve(ctx, 8*mib, 0, 0)
		waitFor(t, ctx, f, 3*mib, wait, 0)
		start := time.Now()
		if f.reserve(ctx, 2*mib, wait, 0) != nil {
			t.Fatal("a request was admitted beside a full limit")
		}
		if d := time.Since(start); d >= wait {
			t.Fatalf("a request beyond what the ledger commits in the wait waited %v before its refusal", d)
		}
	})

	t.Run("time counts from the wait", func(t *testing.T) {
		f, first := held(4 * mib)
		a := waitFor(t, ctx, f, mib, long, 0)
		time.Sleep(20 * time.Millisecond)
		first.release()
		ta := <-a
		if ta == nil {
			t.Fatal("the waiting request was refused")
		}
		ta.committed()
		if ta.took < 20*time.Millisecond {
			t.Fatalf("took = %v, want at least the 20ms it waited", ta.took)
		}
	})
}

// TestAdmissionRetry checks that a retry of a refused request waits where
// its first attempt would have: ahead of the requests that came after that
// attempt, but not after owedFor; that a request is forgotten once
// admitted; that a request refused after its wait is remembered from its
// first attempt; and that no more than maxOwed are remembered.
func TestAdmissionRetry(t *testing.T) {
	const (
		mib = 1 << 20
		key = 7
	)
	ctx := t.Context()
	long := time.Minute // longer than the test: only room ends it
	// refused returns a limit of 4 MiB holding a request of 3 MiB, which
	// refused a first attempt of a request of key and 3 MiB, and the
	// request held.
	refused := func(t *testing.T) (*inflight, *ticket) {
		f := newInflight(16*mib, nil)
		f.limit = 4 * mib
		first := f.reserve(ctx, 3*mib, 0, 0)
		if f.acquire(ctx, 3*mib, 0, key) {
			t.Fatal("a request that does not fit was admitted without a wait")
		}
		return f, first
	}
	// keys returns the keys of the requests waiting, in order.
	keys := func(f *inflight) []uint64 {
		f.mu.Lock()
		defer f.mu.Unlock()
		var out []uint64
		for _, w := range f.waiting {
			out = append(out, w.key)
		}
		return out
	}

	t.Run("ahead of later requests", func(t *testing.T) {
		f, first := refused(t)
		later := waitFor(t, ctx, f, 3*mib, long, 0)
		retry := waitFor(t, ctx, f, 3*mib, long, key)
		if got := keys(f); !slices.Equal(got, []uint64{key, 0}) {
			t.Fatalf("waiting keys %v, want the retry (%d) ahead of the later request", got, key)
		}
		first.release()
		tr := <-retry
		if tr == nil {
			t.Fatal("the retry was refused although the room freed fits it")
		}
		if _, ok := f.owed[key]; ok || len(later) > 0 {
			t.Fatalf("after the retry's admission: remembered %v, later request answered %v; want neither", ok, len(later) > 0)
		}
		tr.release()
		if (<-later) == nil {
			t.Fatal("the later request was refused although the room freed fits it")
		}
	})

	t.Run("forgotten after owedFor", func(t *testing.T) {
		f, first := refused(t)
		o := f.owed[key]
		o.refused = o.refused.Add(-owedFor - time.Second)
		f.owed[key] = o
		later := waitFor(t, ctx, f, 3*mib, long, 0)
		retry := waitFor(t, ctx, f, 3*mib, long, key)
		if got := keys(f); !slices.Equal(got, []uint64{0, key}) {
			t.Fatalf("waiting keys %v, want the retry (%d) behind the later request", got, key)
		}
		first.release()
		tl := <-later
		if tl == nil {
			t.Fatal("the later request was refused although the room freed fits it")
		}
		tl.release()
		(<-retry).release()
	})

	t.Run("refused after its wait", func(t *testing.T) {
		f := newInflight(16*mib, nil)
		f.limit = 4 * mib
		f.reserve(ctx, 4*mib, 0, 0)
		before := time.Now()
		// The ledger commits 0.6 MiB in the wait: half a MiB may wait.
		wait := 60 * time.Millisecond
		if f.reserve(ctx, mib/2, wait, key) != nil {
			t.Fatal("a request was admitted although nothing was released")
		}
		if o, ok := f.owed[key]; !ok || o.since.Before(before) || o.refused.Sub(o.since) < wait {
			t.Fatalf("remembered %v (%+v), want since its attempt at %v, refused after its wait", ok, o, before)
		}
		since := f.owed[key].since
		if f.acquire(ctx, mib/2, 0, key) || f.owed[key].since != since {
			t.Fatalf("a second refusal remembers since %v, want the first attempt's %v", f.owed[key].since, since)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		f, _ := refused(t)
		now := time.Now()
		for k := range uint64(maxOwed - 1) {
			f.owed[100+k] = owing{since: now, refused: now}
		}
		if f.acquire(ctx, 3*mib, 0, 1) || len(f.owed) != maxOwed {
			t.Fatalf("%d remembered, want %d: no more than maxOwed", len(f.owed), maxOwed)
		}
		if _, ok := f.owed[1]; ok {
			t.Fatal("a request was remembered beyond maxOwed")
		}
		for k, o := range f.owed {
			o.refused = now.Add(-owedFor - time.Second)
			f.owed[k] = o
		}
		if f.acquire(ctx, 3*mib, 0, 1) || len(f.owed) != 1 {
			t.Fatalf("%d remembered, want 1: those refused more than owedFor ago forgotten", len(f.owed))
		}
	})
}

// TestRetryDelay checks the retry delay a refusal asks for: 1 s with no
// history; longer while far more requests are refused than committed, so
// that about retriesPerCommit retries come back for each commit, up to
// MaxPushbackRetryDelay; 1 s again once the pipeline emptied, as then the
// waiting senders' retries are too few to keep it busy.
func TestRetryDelay(t *testing.T) {
	if d := (*inflight)(nil).retryDelay(); d != PushbackRetryDelay {
		t.Fatalf("no limit: delay %v, want %v", d, PushbackRetryDelay)
	}
	for _, tt := range []struct {
		name      string
		delay     time.Duration // the delay asked for until now
		seconds   []second      // the last complete seconds, latest first
		wantDelay time.Duration
	}{
		{"no history", 0, nil, time.Second},
		{"few refused", time.Second, []second{{refused: 15, committed: 10}}, time.Second},
		{"twice as many refused as committed", time.Second, []second{{refused: 40, committed: 10}}, 2 * time.Second},
		{"many refused", time.Second, []second{{refused: 50, committed: 10}}, 3 * time.Second},
		{"more than the longest delay", time.Second, []second{{refused: 500, committed: 10}}, MaxPushbackRetryDelay},
		{"refused within the delay", 2 * time.Second, []second{{refused: 25, committed: 10}, {refused: 25, committed: 8}, {refused: 90, committed: 9}}, 3 * time.Second},
		{"busiest second", 2 * time.Second, []second{{refused: 30, committed: 2}, {refused: 10, committed: 20}}, time.Second},
		{"nothing committed", 2 * time.Second, []second{{refused: 30}}, 2 * time.Second},
		{"emptied", 3 * time.Second, []second{{refused: 30, committed: 10}, {refused: 30, committed: 10, emptied: true}}, time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for {
				f := newInflight(DefaultMaxInflightBytes, nil)
				f.delay = tt.delay
				u := time.Now().Unix()
				for i, s := range tt.seconds {
					s.unix = u - 1 - int64(i)
					f.seconds[s.unix%int64(retryWindow)] = s
				}
				d := f.retryDelay()
				if time.Now().Unix() != u {
					continue // the second changed under the test: again
				}
				if d != tt.wantDelay {
					t.Fatalf("delay %v, want %v", d, tt.wantDelay)
				}
				return
			}
		})
	}
}

// TestRetryDelayCounts checks what retryDelay counts: refusals, commits
// (not releases of requests that failed) and a pipeline that emptied.
func TestRetryDelayCounts(t *testing.T) {
	ctx := t.Context()
	for {
		f := newInflight(4<<20, nil)
		u := time.Now().Unix()
		if !f.acquire(ctx, 3<<20, 0, 0) {
			t.Fatal("3 MiB does not fit with nothing in flight")
		}
		for range 5 {
			if f.acquire(ctx, 2<<20, 0, 0) {
				t.Fatal("2 MiB fit beside 3 MiB under a limit of 4 MiB")
			}
		}
		f.acquire(ctx, 1, 0, 0)
		f.release(1, time.Millisecond)
		f.acquire(ctx, 1, 0, 0)
		f.release(1, 0) // not committed
		c := f.seconds[u%int64(retryWindow)]
		if time.Now().Unix() != u {
			continue
		}
		if c.unix != u || c.refused != 5 || c.committed != 1 || c.emptied {
			t.Fatalf("second: %+v, want 5 refused, 1 committed, not emptied", c)
		}
		f.release(3<<20, time.Millisecond)
		if c := f.seconds[u%int64(retryWindow)]; time.Now().Unix() == u && !c.emptied {
			t.Fatalf("second: %+v, want emptied", c)
		}
		return
	}
}

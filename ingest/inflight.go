package ingest

import (
	"context"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// DefaultMaxInflightBytes bounds the requests the receiver holds at a time,
// counted in uncompressed OTLP protobuf bytes (see TargetAckLatency for
// the lower limit it keeps under load). A request holds several
// times its size while it is mapped and waits for its commit (the decoded
// request, its entries, their leaves and content), about 8 bytes of heap
// per byte: 24 MiB of requests keep serve under 300 MiB resident.
const DefaultMaxInflightBytes = 24 << 20

// PushbackRetryDelay is the least wait a refused request's answer asks
// for (gRPC RetryInfo; HTTP Retry-After, in whole seconds); under heavy
// load it asks for more, up to MaxPushbackRetryDelay (see
// inflight.retryDelay).
const PushbackRetryDelay = time.Second

// MaxPushbackRetryDelay is the longest wait a refused request's answer
// asks for.
const MaxPushbackRetryDelay = 3 * time.Second

// retriesPerCommit is how many refused requests the retry delay lets come
// back for each request committed in the same time: more than one, so
// that the retries still fill the room the commits free.
const retriesPerCommit = 2

// pushbackMessage is what a sender refused for load learns.
const pushbackMessage = "the ledger is busy: too many bytes in flight; retry later"

// PushbackObserver, if the receiver's Observer implements it, is told of
// the receiver's load, for metrics. Its methods are called concurrently
// and must not block.
type PushbackObserver interface {
	// Inflight reports the bytes of the requests the receiver holds now.
	Inflight(bytes int64)
	// Pushback reports a request refused because the receiver held too
	// many bytes: it was answered ResourceExhausted (HTTP 429) asking its
	// sender to retry after retryDelay; nothing of it was written.
	Pushback(s Signal, items int, retryDelay time.Duration)
}

// TargetAckLatency is the acknowledgement latency the receiver aims for
// under load. A request's acknowledgement waits for the requests ahead of
// it: with more bytes in flight than the ledger commits in this time, each
// waits longer, however many senders there are. The receiver therefore
// lowers its limit on bytes in flight (down to minInflightBytes) while
// requests take longer than this, and raises it again (up to
// MaxInflightBytes) while they take less and requests are refused.
const TargetAckLatency = 500 * time.Millisecond

// minInflightBytes is the least the adaptive limit goes down to: room for
// a few requests, so that commits still group them.
const minInflightBytes = 4 << 20

// inflight counts the bytes of the requests the receiver holds, up to a
// limit that adapts to how long requests take (additive increase,
// multiplicative decrease, as TCP adapts its window). The limit starts at
// the floor, as TCP's window starts small: started at the maximum, the
// first burst of many senders was admitted whole and its last requests
// waited seconds for their commits before the limit came down. It never blocks: a
// request that does not fit is refused, so that the sender backs off and
// memory and latency stay bounded however many senders there are.
type inflight struct {
	max, min int64
	target   time.Duration
	obs      PushbackObserver // nil: not reported

	mu           sync.Mutex
	bytes        int64
	limit        int64
	refused      bool      // a request was refused since the limit last rose
	lastDecrease time.Time // when the limit last fell

	// seconds counts, for each of the latest seconds, the requests
	// refused and committed in it, indexed by Unix time modulo its
	// length; delay is the retry delay, computed from them once a second
	// (last in the Unix second delaySecond).
	seconds     [retryWindow]second
	delay       time.Duration
	delaySecond int64
}

// retryWindow is how many seconds inflight.seconds holds: enough for
// the longest retry delay.
const retryWindow = int(MaxPushbackRetryDelay/time.Second) + 1

// second is what happened in one second of inflight.seconds.
type second struct {
	unix               int64
	refused, committed int
	emptied            bool // nothing was in flight after a release
}

// count returns the counts of the second of now, reset if they were an
// older second's. f.mu is held.
func (f *inflight) count(now time.Time) *second {
	u := now.Unix()
	c := &f.seconds[u%int64(retryWindow)]
	if c.unix != u {
		*c = second{unix: u}
	}
	return c
}

// refuse counts a refused request. f.mu is held.
func (f *inflight) refuse() {
	f.refused = true
	f.count(time.Now()).refused++
}

func newInflight(max int64, obs PushbackObserver) *inflight {
	return &inflight{max: max, min: min(max, minInflightBytes), target: TargetAckLatency, obs: obs, limit: min(max, minInflightBytes)}
}

// acquire takes n bytes and reports whether they fit. A request larger
// than the limit fits when nothing else is in flight, so that every
// request the other limits admit can be written.
func (f *inflight) acquire(n int64) bool {
	f.mu.Lock()
	ok := f.bytes == 0 || f.bytes+n <= f.limit
	if ok {
		f.bytes += n
	} else {
		f.refuse()
	}
	now := f.bytes
	f.mu.Unlock()
	if ok && f.obs != nil {
		f.obs.Inflight(now)
	}
	return ok
}

// ticket is the bytes one request holds: reserved from its size on the
// wire before its body is read (HTTP Content-Length, the gRPC message), so
// that a burst of requests is refused before it takes memory, and grown to
// its decoded size once it is decoded.
type ticket struct {
	f     *inflight
	n     int64
	since time.Time     // when the bytes were reserved
	took  time.Duration // how long the request took to commit; zero: not committed
}

// reserve takes n bytes for a request not yet read, as acquire does, and
// returns its ticket, or nil if they do not fit.
func (f *inflight) reserve(n int64) *ticket {
	if !f.acquire(n) {
		return nil
	}
	return &ticket{f: f, n: n, since: time.Now()}
}

// committed records that t's request is committed: it took from its
// reservation until now, reading and decoding its body included, as its
// sender waits for all of that.
func (t *ticket) committed() { t.took = max(time.Since(t.since), 1) }

// grow makes t hold n bytes if it holds fewer, and reports whether they fit:
// the bytes it lacks fit under the limit, or nothing but t is in flight.
func (t *ticket) grow(n int64) bool {
	extra := n - t.n
	if extra <= 0 {
		return true
	}
	f := t.f
	f.mu.Lock()
	ok := f.bytes == t.n || f.bytes+extra <= f.limit
	if ok {
		f.bytes += extra
		t.n = n
	} else {
		f.refuse()
	}
	now := f.bytes
	f.mu.Unlock()
	if ok && f.obs != nil {
		f.obs.Inflight(now)
	}
	return ok
}

// release gives back the bytes t holds.
func (t *ticket) release() { t.f.release(t.n, t.took) }

// ticketKey is the context key of a request's *ticket.
type ticketKey struct{}

// withTicket returns ctx carrying t, for the consumer of the request.
func withTicket(ctx context.Context, t *ticket) context.Context {
	return context.WithValue(ctx, ticketKey{}, t)
}

// hold returns the ticket of a request of size bytes: the one its guard
// reserved, grown to size, or a new one. It returns nil if the bytes do not
// fit. The caller releases a ticket it did not find in ctx; the guard
// releases its own.
func (f *inflight) hold(ctx context.Context, size int64) (t *ticket, own bool) {
	if t, ok := ctx.Value(ticketKey{}).(*ticket); ok && t.f == f {
		if !t.grow(size) {
			return nil, false
		}
		return t, false
	}
	return f.reserve(size), true
}

// full reports whether a request of n bytes (unknown if negative) would
// be refused now, and if so counts it as refused; acquire decides for the
// others, once they are decoded.
func (f *inflight) full(n int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bytes > 0 && f.bytes+max(n, 0) > f.limit {
		f.refuse()
		return true
	}
	return false
}

// release gives back n bytes that acquire took, for a request committed
// took after acquire; zero took means it was not committed, and only
// committed requests adapt the limit.
func (f *inflight) release(n int64, took time.Duration) {
	t := time.Now()
	f.mu.Lock()
	f.bytes -= n
	c := f.count(t)
	if took > 0 {
		c.committed++
	}
	if f.bytes == 0 {
		c.emptied = true
	}
	switch {
	case took == 0:
	case took > f.target:
		// At most once per target interval: the requests already in flight
		// when the limit fell finish late too.
		if t.Sub(f.lastDecrease) > f.target {
			f.limit = max(f.limit*3/4, f.min)
			f.lastDecrease = t
		}
	case f.refused:
		f.limit = min(f.limit+n, f.max)
		f.refused = false
	}
	now := f.bytes
	f.mu.Unlock()
	if f.obs != nil {
		f.obs.Inflight(now)
	}
}

// retryDelay returns the wait to ask of a request refused now: whole
// seconds, from PushbackRetryDelay to MaxPushbackRetryDelay. A refused
// sender waits the delay and sends again; with far more senders waiting
// than the ledger commits requests in a second, most retries are refused
// again, and each refused body crosses the network and is read for
// nothing. The delay is therefore the number of senders waiting now (those
// refused within the last delay) over retriesPerCommit times the most
// requests committed in one second of the last few (the ledger's pace
// while busy): about retriesPerCommit retries then arrive for each request
// the ledger commits. If nothing was in flight at some moment within the
// last delay, the retries were too few to keep the ledger busy, and the
// delay is PushbackRetryDelay again. It is computed once a second, from
// the complete seconds before, and stays as it was while nothing was
// committed in them.
func (f *inflight) retryDelay() time.Duration {
	if f == nil {
		return PushbackRetryDelay
	}
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	u := now.Unix()
	if f.delaySecond == u && f.delay > 0 {
		return f.delay
	}
	f.delaySecond = u
	d := max(f.delay, PushbackRetryDelay)
	secs := int64(d / time.Second)
	var refused, committed int
	emptied := false
	for past := u - int64(retryWindow) + 1; past < u; past++ {
		if c := f.seconds[past%int64(retryWindow)]; c.unix == past {
			if past >= u-secs {
				refused += c.refused
				emptied = emptied || c.emptied
			}
			committed = max(committed, c.committed)
		}
	}
	switch {
	case emptied:
		d = PushbackRetryDelay
	case committed > 0:
		// refused/(retriesPerCommit × committed), rounded up.
		n := (int64(refused) + int64(retriesPerCommit*committed) - 1) / int64(retriesPerCommit*committed)
		d = min(max(time.Duration(n)*time.Second, PushbackRetryDelay), MaxPushbackRetryDelay)
	}
	f.delay = d
	return d
}

// pushbackError returns the error the receiver answers a request it
// refuses for load with: ResourceExhausted with a RetryInfo detail asking
// for delay, which the OTLP receiver answers over HTTP as 429 with
// Retry-After, and which the OTel SDKs' and the collector's exporters
// retry after the delay.
func pushbackError(delay time.Duration) error {
	st, err := status.New(codes.ResourceExhausted, pushbackMessage).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
	if err != nil {
		return status.Error(codes.ResourceExhausted, pushbackMessage)
	}
	return st.Err()
}

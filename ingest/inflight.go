package ingest

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
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
// MaxInflightBytes) while they take less and requests are refused. The
// latencies of a busy receiver spread to about twice this target at their
// 99th percentile, so it is 400 ms for acknowledgements within a second
// (at 500 ms, 64 senders on Postgres saw a p99 of 0.9 to 1 s).
const TargetAckLatency = 400 * time.Millisecond

// minInflightBytes is the least the adaptive limit goes down to: room for
// a few requests, so that commits still group them.
const minInflightBytes = 4 << 20

// AdmissionWait is the longest an OTLP/HTTP request whose bytes do not fit
// waits for room, its body unread but for the first retryKeyBytes, before
// it is refused. Requests wait in the order their senders began to try to
// send them (a retry from its first attempt, see inflight.owed), and the
// room a commit frees goes to them before any request that came after
// them: without the wait, the room went to whichever request came first
// after a commit, most often the next request of the sender just
// acknowledged, while refused senders slept a whole second (Retry-After
// counts whole seconds) and the ledger stood idle once only they were
// left. The wait counts in the time the limit
// adapts to (TargetAckLatency), so that a request that waits is still
// acknowledged within about a second.
const AdmissionWait = 250 * time.Millisecond

// inflight counts the bytes of the requests the receiver holds, up to a
// limit that adapts to how long requests take (additive increase,
// multiplicative decrease, as TCP adapts its window). The limit starts at
// the floor, as TCP's window starts small: started at the maximum, the
// first burst of many senders was admitted whole and its last requests
// waited seconds for their commits before the limit came down. A request
// that does not fit waits briefly, in order, for room (AdmissionWait), and
// is then refused, so that the sender backs off and memory and latency
// stay bounded however many senders there are.
type inflight struct {
	max, min int64
	target   time.Duration
	obs      PushbackObserver // nil: not reported

	mu           sync.Mutex
	bytes        int64
	limit        int64
	refused      bool      // a request was refused or waited since the limit last rose
	lastDecrease time.Time // when the limit last fell

	// waiting are the requests waiting for room, in the order their
	// senders began to try (waiter.since), and waitingBytes their bytes.
	waiting      []*waiter
	waitingBytes int64
	// owed remembers the requests refused lately, by key, so that a retry
	// waits where its first attempt would: at 64 senders, with every
	// attempt as likely to be refused as any other, some requests were
	// refused again and again and delivered only after 20 to 40 s (the
	// OTel SDKs' exporters give a request up after a minute), and the
	// run's last requests trickled in while the ledger stood idle between
	// their retries.
	owed map[uint64]owing

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

// waiter is a request waiting for room: granted is closed once its bytes
// are taken for it. since is when its sender began to try to send it, key
// its retryKey (0: none).
type waiter struct {
	n       int64
	since   time.Time
	key     uint64
	granted chan struct{}
}

// owing is a refused request inflight remembers: when its sender began to
// try to send it, and when it was last refused.
type owing struct{ since, refused time.Time }

// owedFor is how long a refused request is remembered after its refusal:
// its sender retries within the longest retry delay, and the retry may
// wait for its bytes.
const owedFor = MaxPushbackRetryDelay + AdmissionWait + time.Second

// maxOwed bounds the refused requests remembered: far more than senders
// retry at once, and little memory.
const maxOwed = 4096

// trying returns when the sender of a request of key, arriving now, began
// to try to send it: now, unless an attempt of it was refused within
// owedFor. f.mu is held.
func (f *inflight) trying(key uint64, now time.Time) time.Time {
	if o, ok := f.owed[key]; ok && now.Sub(o.refused) <= owedFor {
		return o.since
	}
	return now
}

// owe remembers that a request of key whose sender has tried to send it
// since since was refused at now. Once maxOwed are remembered, those
// refused more than owedFor ago are forgotten, and no more are remembered
// until some are. f.mu is held.
func (f *inflight) owe(key uint64, since, now time.Time) {
	if key == 0 {
		return
	}
	if _, ok := f.owed[key]; !ok && len(f.owed) >= maxOwed {
		maps.DeleteFunc(f.owed, func(_ uint64, o owing) bool { return now.Sub(o.refused) > owedFor })
		if len(f.owed) >= maxOwed {
			return
		}
	}
	f.owed[key] = owing{since: since, refused: now}
}

func newInflight(max int64, obs PushbackObserver) *inflight {
	return &inflight{max: max, min: min(max, minInflightBytes), target: TargetAckLatency, obs: obs, limit: min(max, minInflightBytes),
		owed: make(map[uint64]owing)}
}

// unlockReport unlocks f.mu and reports the bytes in flight it held.
func (f *inflight) unlockReport() {
	held := f.bytes
	f.mu.Unlock()
	if f.obs != nil {
		f.obs.Inflight(held)
	}
}

// fits reports whether n more bytes fit under the limit: they do when
// nothing is in flight, so that every request the other limits admit can
// be written. f.mu is held.
func (f *inflight) fits(n int64) bool { return f.bytes == 0 || f.bytes+n <= f.limit }

// acquire takes n bytes for a request of key (see retryKey; 0: none) and
// reports whether it got them. Requests waiting for room come first: n
// fits at once only if none waits. If n does not fit, the request waits
// for room up to wait (none if zero) or until ctx ends, behind those
// waiting whose senders have tried for as long as its sender or longer: a
// retry of a request refused within owedFor counts from its first
// attempt. A request waits only if the bytes waiting ahead of it, its own
// included, are at most the share of the limit that wait is of the target
// latency: the limit is about what the ledger commits in that latency, so
// the requests ahead are about what it commits within the wait, and more
// would wait in vain. A request refused is remembered under key, with the
// time its sender began to try.
func (f *inflight) acquire(ctx context.Context, n int64, wait time.Duration, key uint64) bool {
	now := time.Now()
	f.mu.Lock()
	since := f.trying(key, now)
	if len(f.waiting) == 0 && f.fits(n) {
		f.bytes += n
		delete(f.owed, key)
		f.unlockReport()
		return true
	}
	at, ahead := len(f.waiting), f.waitingBytes
	for at > 0 && f.waiting[at-1].since.After(since) {
		at--
		ahead -= f.waiting[at].n
	}
	if wait <= 0 || ahead+n > int64(float64(f.limit)*wait.Seconds()/f.target.Seconds()) {
		f.refuse()
		f.owe(key, since, now)
		f.mu.Unlock()
		return false
	}
	w := &waiter{n: n, since: since, key: key, granted: make(chan struct{})}
	f.waiting = slices.Insert(f.waiting, at, w)
	f.waitingBytes += n
	f.refused = true // demand exceeds the limit
	f.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-w.granted:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	f.mu.Lock()
	select {
	case <-w.granted: // granted as the wait ended
		f.mu.Unlock()
		return true
	default:
	}
	i := slices.Index(f.waiting, w)
	f.waiting = slices.Delete(f.waiting, i, i+1)
	f.waitingBytes -= n
	f.refuse()
	f.owe(key, since, time.Now())
	f.admit() // those behind it may fit
	f.unlockReport()
	return false
}

// admit gives room to the waiting requests that fit, in order, up to the
// first that does not. f.mu is held.
func (f *inflight) admit() {
	k := 0
	for ; k < len(f.waiting) && f.fits(f.waiting[k].n); k++ {
		w := f.waiting[k]
		f.bytes += w.n
		f.waitingBytes -= w.n
		delete(f.owed, w.key)
		close(w.granted)
	}
	if k > 0 {
		f.waiting = slices.Delete(f.waiting, 0, k)
	}
}

// ticket is the bytes one request holds: reserved from its size on the
// wire before its body is read (HTTP Content-Length, after the body's
// first retryKeyBytes; the gRPC message), so that a burst of requests is
// refused before it takes memory, and grown to its decoded size once it is
// decoded.
type ticket struct {
	f        *inflight
	n        int64
	released atomic.Bool   // its bytes were given back
	since    time.Time     // when the request asked for its bytes, before any wait
	took     time.Duration // how long the request took to commit; zero: not committed
}

// reserve takes n bytes for a request of key not yet read, as acquire
// does with wait, and returns its ticket, or nil if they do not fit. The
// ticket's time starts before the wait, as its sender waits from then.
func (f *inflight) reserve(ctx context.Context, n int64, wait time.Duration, key uint64) *ticket {
	since := time.Now()
	if !f.acquire(ctx, n, wait, key) {
		return nil
	}
	return &ticket{f: f, n: n, since: since}
}

// committed records that t's request is committed: it took from when it
// asked for its bytes until now, its wait for room and the reading and
// decoding of its body included, as its sender waits for all of that.
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
	if f.bytes != t.n && f.bytes+extra > f.limit {
		f.refuse()
		f.mu.Unlock()
		return false
	}
	f.bytes += extra
	t.n = n
	f.unlockReport()
	return true
}

// release gives back the bytes t holds, once however often it is called.
func (t *ticket) release() {
	if t.released.CompareAndSwap(false, true) {
		t.f.release(t.n, t.took)
	}
}

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
	return f.reserve(ctx, size, 0, 0), true
}

// full reports whether a request of n bytes (unknown if negative) would
// be refused now, and if so counts it as refused; acquire decides for the
// others, once they are decoded.
func (f *inflight) full(n int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.waiting) > 0 || !f.fits(max(n, 0)) {
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
	f.admit()
	f.unlockReport()
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

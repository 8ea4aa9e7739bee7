package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/ingest/shard"
	"github.com/agentledger/agentledger/ledger"
)

// Signal names what a request carried.
type Signal string

// The signals the receiver takes.
const (
	SignalTraces Signal = "traces"
	SignalLogs   Signal = "logs"
)

// Observer is told the outcome of every request, for metrics. Its methods
// are called concurrently and must not block. The message of every error
// they are handed has passed through the secret redactor.
type Observer interface {
	// Accepted reports a request of items spans or log records whose
	// entries were committed (entries of them, counting those a retry had
	// committed before) in d, before the request was acknowledged.
	Accepted(s Signal, items, entries int, d time.Duration)
	// Rejected reports a request refused as malformed or over a limit: it
	// was answered InvalidArgument (HTTP 400), which senders do not retry,
	// and nothing of it was written.
	Rejected(s Signal, items int, err error)
	// Failed reports a request whose entries could not be committed: it was
	// answered Unavailable (HTTP 503), which senders retry.
	Failed(s Signal, items int, err error)
}

// ledgerReceiver is the agentledger receiver: the embedded OTLP receiver
// hands it each request; it maps the request to entries, appends them in
// one call and returns only when they are committed, then forwards the
// request to the pipeline.
type ledgerReceiver struct {
	cfg      *Config
	set      receiver.Settings
	injected *Ledger
	remove   func()

	otlp       component.Component
	guard      *guard          // answers the requests otlp refuses itself
	nextTraces consumer.Traces // nil: not forwarded
	nextLogs   consumer.Logs   // nil: not forwarded

	// Set by Start.
	log      *ledger.Log
	mapper   *Mapper
	observer Observer
	auth     Authentication
	binding  *BindingPolicy // nil: no binding policy
	// approvers verifies approval signatures; nil: not verified.
	approvers *approval.Verifier
	// stopJWKS ends the refresh of a fetched JWKS.
	stopJWKS context.CancelFunc
	// inflight bounds the bytes of the requests held at a time.
	inflight *inflight
	// shard says what belongs to this log; nil: everything.
	shard *shard.Rule

	startOnce sync.Once
	startErr  error
	stopOnce  sync.Once
	stopErr   error
}

var (
	_ receiver.Traces = (*ledgerReceiver)(nil)
	_ receiver.Logs   = (*ledgerReceiver)(nil)
)

// Start finds the ledger (the one handed to the factory, else that of the
// extension the configuration names) and starts the OTLP servers. It runs once for all the pipelines that share the
// receiver.
func (r *ledgerReceiver) Start(ctx context.Context, host component.Host) error {
	r.startOnce.Do(func() { r.startErr = r.start(ctx, host) })
	return r.startErr
}

func (r *ledgerReceiver) start(ctx context.Context, host component.Host) error {
	if err := r.cfg.validateAll(); err != nil {
		return fmt.Errorf("agentledger receiver: %w", err)
	}
	l, err := r.ledger(host)
	if err != nil {
		return fmt.Errorf("agentledger receiver: %w", err)
	}
	m, err := NewMapper(l.Redactor, r.cfg.MappingConfig, r.cfg.Limits)
	if err == nil {
		r.log, r.mapper, r.observer = l.Log, m, l.Observer
		po, _ := l.Observer.(PushbackObserver)
		r.inflight = newInflight(cmp.Or(r.cfg.MaxInflightBytes, DefaultMaxInflightBytes), po)
		r.auth = newAuthentication(r.cfg, l.Tokens)
		r.shard, err = shard.Parse(r.cfg.ShardRule)
		if err == nil && r.cfg.BindingPolicyFile != "" {
			r.binding, err = LoadBindingPolicy(r.cfg.BindingPolicyFile)
		}
		if err == nil {
			r.approvers, err = r.loadApprovers(ctx)
		}
	}
	if err == nil {
		err = r.otlp.Start(ctx, identityHost{Host: guardHost{Host: host, g: r.guard}})
	}
	if err != nil {
		return fmt.Errorf("agentledger receiver: %w", err)
	}
	return nil
}

// ledger returns the ledger handed to the factory, else that of the
// extension the configuration names, which the collector started before
// the receivers.
func (r *ledgerReceiver) ledger(host component.Host) (Ledger, error) {
	l, ok := Ledger{}, false
	if r.injected != nil {
		l, ok = *r.injected, true
	} else {
		ext, found := host.GetExtensions()[r.cfg.Ledger]
		if !found {
			return Ledger{}, fmt.Errorf("ledger: extension %q is not among the collector's extensions (service::extensions)", r.cfg.Ledger)
		}
		p, isProvider := ext.(LedgerProvider)
		if !isProvider {
			return Ledger{}, fmt.Errorf("ledger: extension %q is not an agentledger extension", r.cfg.Ledger)
		}
		if l, ok = p.Ledger(); !ok {
			return Ledger{}, fmt.Errorf("ledger: extension %q has no open ledger", r.cfg.Ledger)
		}
	}
	if l.Log == nil || l.Redactor == nil {
		return Ledger{}, errors.New("the ledger lacks a log or a redactor")
	}
	return l, nil
}

// Shutdown stops accepting requests, waits for those in flight (each until
// its commit). The ledger stays open: its owner closes it.
func (r *ledgerReceiver) Shutdown(ctx context.Context) error {
	r.stopOnce.Do(func() {
		if r.otlp != nil {
			r.stopErr = r.otlp.Shutdown(ctx)
		}
		if r.remove != nil {
			r.remove()
		}
		if r.stopJWKS != nil {
			r.stopJWKS()
		}
	})
	return r.stopErr
}

func (r *ledgerReceiver) consumeTraces(ctx context.Context, td ptrace.Traces) error {
	start := time.Now()
	n := td.SpanCount()
	submitter, err := r.auth.submitter(ctx)
	if err != nil {
		return r.refused(ctx, SignalTraces, n, err)
	}
	if bad := r.shard.Traces(td); bad > 0 {
		return r.misrouted(ctx, SignalTraces, n, bad)
	}
	t, own := r.inflight.hold(ctx, int64(tracesSizer.TracesSize(td)))
	if t == nil {
		return r.pushedBack(ctx, SignalTraces, n)
	}
	if own {
		defer t.release()
	}
	entries, err := Map(ctx, td, r.mapper)
	if err == nil {
		err = r.attribute(entries, submitter)
	}
	if err == nil {
		err = r.append(ctx, entries)
	}
	if err != nil {
		return r.failed(ctx, SignalTraces, n, err)
	}
	t.committed()
	if r.observer != nil {
		r.observer.Accepted(SignalTraces, n, len(entries), time.Since(start))
	}
	if r.nextTraces != nil {
		// The entries are committed: a retry caused by an error here is
		// deduplicated by the ledger.
		return r.forwardFailed(ctx, SignalTraces, n, r.nextTraces.ConsumeTraces(ctx, td))
	}
	return nil
}

func (r *ledgerReceiver) consumeLogs(ctx context.Context, ld plog.Logs) error {
	start := time.Now()
	n := ld.LogRecordCount()
	submitter, err := r.auth.submitter(ctx)
	if err != nil {
		return r.refused(ctx, SignalLogs, n, err)
	}
	if bad := r.shard.Logs(ld); bad > 0 {
		return r.misrouted(ctx, SignalLogs, n, bad)
	}
	t, own := r.inflight.hold(ctx, int64(logsSizer.LogsSize(ld)))
	if t == nil {
		return r.pushedBack(ctx, SignalLogs, n)
	}
	if own {
		defer t.release()
	}
	entries, err := MapLogs(ctx, ld, r.mapper)
	if err == nil {
		err = r.attribute(entries, submitter)
	}
	if err == nil {
		err = r.append(ctx, entries)
	}
	if err != nil {
		return r.failed(ctx, SignalLogs, n, err)
	}
	t.committed()
	if r.observer != nil {
		r.observer.Accepted(SignalLogs, n, len(entries), time.Since(start))
	}
	if r.nextLogs != nil {
		return r.forwardFailed(ctx, SignalLogs, n, r.nextLogs.ConsumeLogs(ctx, ld))
	}
	return nil
}

// append appends the entries of one request in one call and returns once
// they are committed.
func (r *ledgerReceiver) append(ctx context.Context, entries []ledger.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if r.cfg.WriteTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.WriteTimeout)
		defer cancel()
	}
	if _, err := r.log.Append(ctx, entries); err != nil {
		return fmt.Errorf("ledger append: %w", err)
	}
	return nil
}

// failed logs and reports a failed request, its error redacted, and
// returns the error the OTLP receiver answers with: InvalidArgument naming
// what was wrong for bad input, else Unavailable with a generic message,
// which the sender retries.
func (r *ledgerReceiver) failed(ctx context.Context, s Signal, items int, err error) error {
	if errors.Is(err, ledger.ErrPushback) {
		return r.pushedBack(ctx, s, items)
	}
	markReported(ctx)
	err = redactError(r.mapper.redactor, err)
	if isPermanent(err) {
		r.set.Logger.Warn("rejected invalid OTLP request", zap.String("signal", string(s)), zap.Int("items", items), zap.Error(err))
		if r.observer != nil {
			r.observer.Rejected(s, items, err)
		}
	} else {
		r.set.Logger.Warn("ledger write failed; the sender will retry", zap.String("signal", string(s)), zap.Int("items", items), zap.Error(err))
		if r.observer != nil {
			r.observer.Failed(s, items, err)
		}
	}
	return statusError(err)
}

// MisrouteObserver, if the receiver's Observer implements it, is told of
// the requests refused under the shard rule, for metrics. Its method is
// called concurrently and must not block.
type MisrouteObserver interface {
	// Misrouted reports a request of items spans or log records, bad of
	// which belong to another shard: it was refused whole with
	// InvalidArgument (HTTP 400) and nothing of it was written.
	Misrouted(s Signal, items, bad int)
}

// misrouted refuses a request holding spans or log records of another
// shard, whole: written here they would split their traces across logs,
// and a retry cannot succeed, so the answer is permanent (InvalidArgument,
// HTTP 400) and names the rule, for the operator to fix the routing.
func (r *ledgerReceiver) misrouted(ctx context.Context, s Signal, items, bad int) error {
	if mo, ok := r.observer.(MisrouteObserver); ok {
		mo.Misrouted(s, items, bad)
	}
	return r.failed(ctx, s, items, invalidf("%d of the request's %d %s belong to another shard than this log's (shard rule %s): the collector in front routes them to the wrong log; nothing of the request was written",
		bad, items, itemNoun(s), r.shard))
}

// itemNoun names what a request of signal s holds.
func itemNoun(s Signal) string {
	if s == SignalLogs {
		return "log records"
	}
	return "spans"
}

// pushedBack reports a request refused for load (too many bytes in
// flight, or the ledger's queue full) and returns the retryable answer
// that makes its sender back off.
func (r *ledgerReceiver) pushedBack(ctx context.Context, s Signal, items int) error {
	return r.pushedBackFor(ctx, s, items, r.inflight.retryDelay())
}

// pushedBackFor is pushedBack answering a retry delay of delay.
func (r *ledgerReceiver) pushedBackFor(ctx context.Context, s Signal, items int, delay time.Duration) error {
	markReported(ctx)
	if po, ok := r.observer.(PushbackObserver); ok {
		po.Pushback(s, items, delay)
	}
	return pushbackError(delay)
}

// tracesSizer and logsSizer measure a request's uncompressed OTLP size.
var (
	tracesSizer ptrace.ProtoMarshaler
	logsSizer   plog.ProtoMarshaler
)

// forwardFailed logs the error of the pipeline after the receiver, if any,
// redacted, and returns an error of the same status code (so that the
// sender retries or not as the pipeline asked) with a generic message.
func (r *ledgerReceiver) forwardFailed(ctx context.Context, s Signal, items int, err error) error {
	if err == nil {
		return nil
	}
	markReported(ctx)
	code := codes.Unavailable
	if st, ok := status.FromError(err); ok {
		code = st.Code()
	} else if consumererror.IsPermanent(err) {
		code = codes.Internal
	}
	r.set.Logger.Warn("the pipeline after the ledger failed on a committed request", zap.String("signal", string(s)), zap.Int("items", items), zap.Error(redactError(r.mapper.redactor, err)))
	return status.Error(code, forwardFailedMessage)
}

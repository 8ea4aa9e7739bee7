package main

import (
	"time"

	"github.com/agentledger/agentledger/ingest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics. It implements
// ledger.Observer.
//
// Every agentledger_ metric carries the label log, the log's origin
// (--log-name), so that one Prometheus scraping the serve processes of
// several logs (shards) tells their series apart; agentledger_log_info
// adds the log's shard rule.
type metrics struct {
	reg *prometheus.Registry
	// logReg registers on reg with the label log.
	logReg         prometheus.Registerer
	appended       prometheus.Counter
	appendLatency  prometheus.Histogram
	batchSize      prometheus.Histogram
	treeSize       prometheus.Gauge
	checkpointTime prometheus.Gauge
	checkpointSize prometheus.Gauge
	rejected       *prometheus.CounterVec
	failed         *prometheus.CounterVec
	contentFails   prometheus.Counter
	dupMismatches  prometheus.Counter
	inflight       prometheus.Gauge
	pushbacks      *prometheus.CounterVec
	retryDelay     prometheus.Gauge
	misrouted      *prometheus.CounterVec
}

// newMetrics returns the metrics of the log named origin, whose shard
// rule is shardRule ("" for none).
func newMetrics(origin, shardRule string) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg:    reg,
		logReg: prometheus.WrapRegistererWith(prometheus.Labels{"log": origin}, reg),
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentledger_appended_entries_total",
			Help: "Entries appended to the ledger by this process.",
		}),
		appendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agentledger_append_duration_seconds",
			Help:    "Time to commit one batch of entries.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agentledger_append_batch_entries",
			Help:    "New entries per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		treeSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentledger_tree_size",
			Help: "Entries in the ledger's Merkle tree, as of this process's latest commit.",
		}),
		checkpointTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentledger_checkpoint_timestamp_seconds",
			Help: "Unix time of the latest checkpoint this process signed; checkpoint age is time() minus this.",
		}),
		checkpointSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentledger_checkpoint_tree_size",
			Help: "Tree size of the latest checkpoint this process signed.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentledger_rejected_inputs_total",
			Help: "OTLP requests rejected as malformed or over a limit (answered 400 / InvalidArgument), by signal.",
		}, []string{"signal"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentledger_failed_requests_total",
			Help: "OTLP requests whose entries could not be committed (answered retryable), by signal.",
		}, []string{"signal"}),
		contentFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentledger_content_commitment_failures_total",
			Help: "Pieces of stored content that an API answer found not to match their commitment, counted each time an answer finds one; run agentledger audit.",
		}),
		dupMismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentledger_duplicate_mismatches_total",
			Help: "Entries that arrived again under a stored entry's trace, span and event with a different leaf (changed attributes, or reused span IDs); the stored entry stays and an agentledger.duplicate_mismatch entry records each.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentledger_ingest_inflight_bytes",
			Help: "Uncompressed OTLP bytes of the requests the receiver holds now (mapping them or waiting for their commit); bounded by --max-inflight-bytes.",
		}),
		pushbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentledger_ingest_pushbacks_total",
			Help: "OTLP requests refused for load (too many bytes in flight, or the append queue full), answered ResourceExhausted / HTTP 429 with a retry delay, which exporters retry; by signal.",
		}, []string{"signal"}),
		retryDelay: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentledger_ingest_retry_delay_seconds",
			Help: "The retry delay (Retry-After / RetryInfo) the latest request refused for load was asked to wait: 1 s, up to 3 s while far more senders wait than the ledger commits requests; 0 before the first refusal.",
		}),
		misrouted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentledger_ingest_misrouted_spans_total",
			Help: "Spans (signal traces) and log records (signal logs) that belong to another shard than this log's (--shard-rule); each request holding one was refused whole, answered InvalidArgument / HTTP 400; by signal.",
		}, []string{"signal"}),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "agentledger_log_info",
		Help:        "Always 1: the log this process writes (label log, the checkpoints' origin) and its shard rule (empty: not sharded).",
		ConstLabels: prometheus.Labels{"shard_rule": shardRule},
	})
	info.Set(1)
	for _, s := range []ingest.Signal{ingest.SignalTraces, ingest.SignalLogs} {
		m.misrouted.WithLabelValues(string(s))
	}
	m.logReg.MustRegister(info, m.misrouted, m.inflight, m.pushbacks, m.retryDelay, m.dupMismatches, m.appended, m.appendLatency, m.batchSize, m.treeSize, m.checkpointTime, m.checkpointSize, m.rejected, m.failed, m.contentFails)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Committed implements ledger.Observer.
func (m *metrics) Committed(n int, d time.Duration, head ledger.TreeHead) {
	m.appended.Add(float64(n))
	if d > 0 {
		m.appendLatency.Observe(d.Seconds())
	}
	m.batchSize.Observe(float64(n))
	m.treeSize.Set(float64(head.Size))
}

// Signed implements ledger.Observer.
func (m *metrics) Signed(cp ledger.Checkpoint) {
	m.checkpointTime.Set(float64(cp.Time.UnixNano()) / 1e9)
	m.checkpointSize.Set(float64(cp.Size))
}

// DuplicateMismatch implements ledger.Observer.
func (m *metrics) DuplicateMismatch(ledger.Mismatch) {
	m.dupMismatches.Inc()
}

// Accepted implements ingest.Observer.
func (m *metrics) Accepted(ingest.Signal, int, int, time.Duration) {}

// Rejected implements ingest.Observer: a request refused as malformed or
// over a limit.
func (m *metrics) Rejected(s ingest.Signal, _ int, _ error) {
	m.rejected.WithLabelValues(string(s)).Inc()
}

// Failed implements ingest.Observer: a request whose entries could not be
// committed, answered as retryable.
func (m *metrics) Failed(s ingest.Signal, _ int, _ error) {
	m.failed.WithLabelValues(string(s)).Inc()
}

// Inflight implements ingest.PushbackObserver.
func (m *metrics) Inflight(bytes int64) {
	m.inflight.Set(float64(bytes))
}

// Pushback implements ingest.PushbackObserver.
func (m *metrics) Pushback(s ingest.Signal, _ int, retryDelay time.Duration) {
	m.pushbacks.WithLabelValues(string(s)).Inc()
	m.retryDelay.Set(retryDelay.Seconds())
}

// Misrouted implements ingest.MisrouteObserver.
func (m *metrics) Misrouted(s ingest.Signal, _, bad int) {
	m.misrouted.WithLabelValues(string(s)).Add(float64(bad))
}

// watchLog adds the gauges read from l: its append queue.
func (m *metrics) watchLog(l *ledger.Log) {
	m.logReg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "agentledger_append_queue_requests",
		Help: "Append calls waiting for a commit transaction (the append queue's depth).",
	}, func() float64 { return float64(l.Pending()) }))
}

// ContentFailsCommitment implements query.Observer.
func (m *metrics) ContentFailsCommitment(uint64, string) {
	m.contentFails.Inc()
}

package ingest

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/agentledger/agentledger/internal/devcert"
	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
)

// BenchmarkIngestMTLS compares, in one run, OTLP/HTTP ingest over mutual
// TLS, with the sender's SPIFFE ID authenticated and recorded in every
// leaf, against plaintext unauthenticated ingest: the same requests as
// BenchmarkIngest, from the same senders over kept-alive HTTP/1.1
// connections, into two ledgers of the same backend, taking turns
// (benchRounds per iteration). It reports both throughputs and
// ratio = mTLS spans/s over plaintext spans/s (issue 13's goal: ≥ 0.9);
// and, as a third ledger in the same turns, mTLS through the connection
// limit's relay (as agentledger serve runs by default), relay-ratio = its
// spans/s over plaintext's.
// Run:
//
//	go test -run '^$' -bench BenchmarkIngestMTLS -benchtime 1x ./ingest/
func BenchmarkIngestMTLS(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchIngestMTLS(b, func() *testLedger { return newSQLiteLedger(b, nil) })
	})
	b.Run("postgres", func(b *testing.B) {
		benchIngestMTLS(b, func() *testLedger {
			store, err := postgres.Open(b.Context(), pgtest.NewSchema(b))
			if err != nil {
				b.Fatal(err)
			}
			skey, _, _ := ledger.GenerateKey("bench.agentledger.example")
			signer, _ := ledger.NewSigner(skey)
			l, err := ledger.Open(store, ledger.Config{Signer: signer})
			if err != nil {
				b.Fatal(err)
			}
			tl := &testLedger{store: store, log: l}
			b.Cleanup(func() { tl.close(b) })
			return tl
		})
	})
}

func benchIngestMTLS(b *testing.B, open func() *testLedger) {
	const spiffe = "spiffe://acme.example/ns/prod/sa/bench"
	p := newPKI(b)
	plainTL, mtlsTL, relayTL := open(), open(), open()
	quiet := func(c *ServerConfig) {
		c.Logger = slog.New(slog.DiscardHandler)
		c.GRPCAddr = ""
	}
	_, plainAddr := startServer(b, plainTL, quiet)
	_, mtlsAddr := startServer(b, mtlsTL, func(c *ServerConfig) {
		quiet(c)
		c.TLS = p.files(true)
		c.TLS.ReloadInterval = DefaultTLSReloadInterval
		c.RequireSubmitter = true
	})
	_, relayAddr := startServer(b, relayTL, func(c *ServerConfig) {
		quiet(c)
		c.TLS = p.files(true)
		c.TLS.ReloadInterval = DefaultTLSReloadInterval
		c.RequireSubmitter = true
		c.HTTPMaxConnections = 1024
	})
	cert := clientCert(b, p.ca, devcert.Request{CommonName: "bench", SPIFFEID: spiffe})
	plain := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchSenders}}
	mtls := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchSenders, TLSClientConfig: p.clientTLS(cert)}}
	tmpl := benchTmpl()
	relay := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchSenders, TLSClientConfig: p.clientTLS(cert)}}
	b.SetBytes(int64(3 * benchRequestsPerOp * tmpl.Size()))

	var plainTime, mtlsTime, relayTime time.Duration
	next := 0
	b.ResetTimer()
	for range b.N {
		for range benchRounds {
			from, to := next, next+benchRequestsPerOp/benchRounds
			next = to
			start := time.Now()
			sendBenchRequests(b, plain, "http://"+plainAddr+"/v1/traces", tmpl, from, to)
			plainTime += time.Since(start)
			start = time.Now()
			sendBenchRequests(b, mtls, "https://"+mtlsAddr+"/v1/traces", tmpl, from, to)
			mtlsTime += time.Since(start)
			start = time.Now()
			sendBenchRequests(b, relay, "https://"+relayAddr+"/v1/traces", tmpl, from, to)
			relayTime += time.Since(start)
		}
	}
	b.StopTimer()
	spans := float64(next * benchSpansPerRequest)
	b.ReportMetric(spans/plainTime.Seconds(), "plain-spans/s")
	b.ReportMetric(spans/mtlsTime.Seconds(), "mtls-spans/s")
	b.ReportMetric(plainTime.Seconds()/mtlsTime.Seconds(), "ratio")
	b.ReportMetric(plainTime.Seconds()/relayTime.Seconds(), "relay-ratio")

	for _, tl := range []*testLedger{plainTL, mtlsTL, relayTL} {
		head, err := tl.store.Head(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if want := uint64(next * (benchSpansPerRequest + benchSpansPerRequest/benchSpansPerRun)); head.Size != want {
			b.Errorf("tree size = %d after %d requests, want %d", head.Size, next, want)
		}
	}
	recs, err := mtlsTL.store.Records(context.Background(), 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	if e, _, err := recs[0].Decode(); err != nil || e.Submitter != spiffe {
		b.Errorf("first mTLS entry's submitter = %q (%v), want %q", e.Submitter, err, spiffe)
	}
}

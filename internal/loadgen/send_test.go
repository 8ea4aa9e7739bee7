package loadgen

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// TestRunRetriesPushbacks runs against a server that refuses every
// request's first attempt with 429 and Retry-After: 0: each request is
// sent again, counted as a pushback, and every request arrives, a valid
// OTLP request of SpansPerRequest spans distinct from the others.
func TestRunRetriesPushbacks(t *testing.T) {
	var (
		mu     sync.Mutex
		seen   = map[string]int{} // request body → attempts
		traces = map[string]bool{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		seen[string(body)]++
		first := seen[string(body)] == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Errorf("request does not parse: %v", err)
		} else if n := req.Traces().SpanCount(); n != SpansPerRequest {
			t.Errorf("request of %d spans, want %d", n, SpansPerRequest)
		} else {
			tid := req.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID()
			mu.Lock()
			traces[string(tid[:])] = true
			mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	res, err := Run(t.Context(), Config{URL: srv.URL, Senders: 3, First: 10, Count: 7})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 7 || res.Spans != 7*SpansPerRequest || res.Pushbacks != 7 {
		t.Errorf("Run = %d requests, %d spans, %d pushbacks, want 7, %d, 7", res.Requests, res.Spans, res.Pushbacks, 7*SpansPerRequest)
	}
	if len(seen) != 7 || len(traces) != 7 {
		t.Errorf("server saw %d distinct requests with %d distinct first trace IDs, want 7 and 7", len(seen), len(traces))
	}
	if res.AckP50 <= 0 || res.AckP99 < res.AckP50 || res.SpansPerSecond <= 0 {
		t.Errorf("Run = ack p50 %v, p99 %v, %v spans/s; want positive, ordered", res.AckP50, res.AckP99, res.SpansPerSecond)
	}
}

// TestRunFailsOnRefusal checks that an answer senders do not retry fails
// the run.
func TestRunFailsOnRefusal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	if _, err := Run(t.Context(), Config{URL: srv.URL, Senders: 2, Count: 3}); err == nil {
		t.Error("Run against a server answering 400 = nil error, want an error")
	}
}

// TestRequestMatchesBuild checks that patching the template gives exactly
// the request built from scratch.
func TestRequestMatchesBuild(t *testing.T) {
	for _, n := range []int{0, 1, 4711, 1<<24 + 3} {
		if !bytes.Equal(Request(n), BuildRequest(n)) {
			t.Errorf("Request(%d) differs from BuildRequest(%d)", n, n)
		}
	}
}

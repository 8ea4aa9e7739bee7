package ingest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/agentledger/agentledger/ledger"
)

// badRequests are requests the receiver must refuse as a whole, each with
// a message saying what was wrong. Each but the first holds valid spans
// too, none of which may be written.
func badRequests() []struct {
	name string
	td   func() ptrace.Traces
	want string
} {
	withValid := func(build func(td ptrace.Traces)) func() ptrace.Traces {
		return func() ptrace.Traces {
			td := ptrace.NewTraces()
			for i := range 10 {
				testSpan(td, byte(i+1), "valid")
			}
			build(td)
			return td
		}
	}
	return []struct {
		name string
		td   func() ptrace.Traces
		want string
	}{
		{"100000 spans", func() ptrace.Traces {
			td := ptrace.NewTraces()
			spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
			spans.EnsureCapacity(100_000)
			for i := range 100_000 {
				sp := spans.AppendEmpty()
				sp.SetTraceID(pcommon.TraceID{1})
				sp.SetSpanID(pcommon.SpanID{byte(i >> 16), byte(i >> 8), byte(i), 1})
				sp.SetName("s")
			}
			return td
		}, "request holds 100000 spans, limit is 10000 (limits.max_spans_per_request)"},
		{"invalid UTF-8", withValid(func(td ptrace.Traces) {
			testSpan(td, 99, "bad").Attributes().PutStr("app.note", "caf\xe9")
		}), `attribute "app.note": invalid UTF-8`},
		{"attribute over the limit", withValid(func(td ptrace.Traces) {
			testSpan(td, 99, "big").Attributes().PutStr("app.blob", strings.Repeat("b", 70_000))
		}), `attribute "app.blob" is 70000 bytes, limit is 65536 (limits.max_attribute_value_bytes)`},
		{"attributes over the limit", withValid(func(td ptrace.Traces) {
			raw := make(map[string]any, 5000)
			for i := range 5000 {
				raw[fmt.Sprint("app.a", i)] = i
			}
			if err := testSpan(td, 99, "wide").Attributes().FromRaw(raw); err != nil {
				panic(err)
			}
		}), "span has 5000 attributes, limit is 4096 (limits.max_attributes_per_span)"},
		{"zero trace id", withValid(func(td ptrace.Traces) {
			testSpan(td, 99, "zero").SetTraceID(pcommon.TraceID{})
		}), "trace_id is all zero"},
	}
}

// rpcStatus decodes the google.rpc.Status body of an OTLP/HTTP error.
func rpcStatus(t *testing.T, body []byte) string {
	t.Helper()
	var st spb.Status
	if err := proto.Unmarshal(body, &st); err != nil {
		return string(body)
	}
	return st.GetMessage()
}

func postTraces(t *testing.T, url, contentType string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, rpcStatus(t, b)
}

func TestBadInputHTTP(t *testing.T) {
	tl := newSQLiteLedger(t, nil)
	_, httpAddr := startServer(t, tl, nil)
	url := "http://" + httpAddr + "/v1/traces"

	valid := ptrace.NewTraces()
	testSpan(valid, 1, "valid")
	good, err := ptraceotlp.NewExportRequestFromTraces(valid).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("truncated protobuf", func(t *testing.T) {
		code, msg := postTraces(t, url, "application/x-protobuf", good[:len(good)/2])
		if code != http.StatusBadRequest {
			t.Errorf("POST truncated protobuf = %d %q, want 400", code, msg)
		}
	})
	t.Run("malformed JSON", func(t *testing.T) {
		code, msg := postTraces(t, url, "application/json", []byte(`{"resourceSpans":[{`))
		if code != http.StatusBadRequest {
			t.Errorf("POST malformed JSON = %d %q, want 400", code, msg)
		}
	})
	for _, tt := range badRequests() {
		t.Run(tt.name, func(t *testing.T) {
			body, err := ptraceotlp.NewExportRequestFromTraces(tt.td()).MarshalProto()
			if err != nil {
				t.Fatal(err)
			}
			code, msg := postTraces(t, url, "application/x-protobuf", body)
			if code != http.StatusBadRequest || !strings.Contains(msg, tt.want) {
				t.Errorf("POST %s = %d %q, want 400 with %q", tt.name, code, msg, tt.want)
			}
		})
	}
	if n := len(tl.entries(t)); n != 0 {
		t.Fatalf("after bad requests the ledger holds %d entries, want 0", n)
	}

	// The receiver is still up, and takes JSON too.
	body, err := ptraceotlp.NewExportRequestFromTraces(valid).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if code, msg := postTraces(t, url, "application/json", body); code != http.StatusOK {
		t.Fatalf("POST valid JSON = %d %q, want 200", code, msg)
	}
	if n := len(tl.entries(t)); n != 2 {
		t.Errorf("after a valid request the ledger holds %d entries, want 2 (span, attestation)", n)
	}
}

func TestBadInputGRPC(t *testing.T) {
	tl := newSQLiteLedger(t, nil)
	grpcAddr, _ := startServer(t, tl, nil)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	for _, tt := range badRequests() {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.Export(t.Context(), ptraceotlp.NewExportRequestFromTraces(tt.td()))
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.want) {
				t.Errorf("Export(%s) = %v, want InvalidArgument with %q", tt.name, err, tt.want)
			}
		})
	}
	if n := len(tl.entries(t)); n != 0 {
		t.Fatalf("after bad requests the ledger holds %d entries, want 0", n)
	}
	valid := ptrace.NewTraces()
	testSpan(valid, 1, "valid")
	if _, err := client.Export(t.Context(), ptraceotlp.NewExportRequestFromTraces(valid)); err != nil {
		t.Fatalf("Export(valid) after bad requests: %v", err)
	}
}

// TestObserver checks that the server reports accepted, rejected and failed
// requests, for metrics.
func TestObserver(t *testing.T) {
	flaky := &flakyStore{}
	tl := newSQLiteLedger(t, func(s ledger.Store) ledger.Store { flaky.Store = s; return flaky })
	obs := &countingObserver{}
	grpcAddr, _ := startServer(t, tl, func(c *ServerConfig) { c.Observer = obs })
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	send := func(td ptrace.Traces) error {
		_, err := client.Export(t.Context(), ptraceotlp.NewExportRequestFromTraces(td))
		return err
	}
	valid := ptrace.NewTraces()
	testSpan(valid, 1, "ok")
	if err := send(valid); err != nil {
		t.Fatal(err)
	}
	bad := ptrace.NewTraces()
	testSpan(bad, 2, "bad\xff")
	if err := send(bad); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad request: %v, want InvalidArgument", err)
	}
	flaky.down.Store(true)
	other := ptrace.NewTraces()
	testSpan(other, 3, "later")
	if err := send(other); status.Code(err) != codes.Unavailable {
		t.Errorf("request while the store is down: %v, want Unavailable", err)
	}
	if got, want := obs.String(), "accepted 1 (1 items, 2 entries), rejected 1, failed 1"; got != want {
		t.Errorf("observer = %s, want %s", got, want)
	}
}

type countingObserver struct {
	mu                         sync.Mutex
	accepted, rejected, failed int
	acceptedItems, entries     int
}

func (o *countingObserver) Accepted(_ Signal, items, entries int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.accepted++
	o.acceptedItems += items
	o.entries += entries
}

func (o *countingObserver) Rejected(Signal, int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rejected++
}

func (o *countingObserver) Failed(Signal, int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed++
}

func (o *countingObserver) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return fmt.Sprintf("accepted %d (%d items, %d entries), rejected %d, failed %d", o.accepted, o.acceptedItems, o.entries, o.rejected, o.failed)
}

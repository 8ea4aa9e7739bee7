package ingest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/agentledger/agentledger/ledger"
)

// logBuffer collects what a server logs, for tests that check the logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// capturingLogger logs to t and to the returned buffer.
func capturingLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	h := slog.NewTextHandler(multiWriter{testWriter{t}, buf}, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h), buf
}

type multiWriter []interface{ Write([]byte) (int, error) }

func (m multiWriter) Write(p []byte) (int, error) {
	for _, w := range m {
		if _, err := w.Write(p); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func grpcTraceClient(t *testing.T, addr string) ptraceotlp.GRPCClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return ptraceotlp.NewGRPCClient(conn)
}

// TestUnavailableHidesDatabaseError checks that a sender whose request
// could not be committed is told to retry, and nothing of the database
// error (hosts, ports, users, database names), which goes to the log.
func TestUnavailableHidesDatabaseError(t *testing.T) {
	// A real connection error, as the Postgres store returns it.
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
	_, cause := pgx.Connect(t.Context(), "postgres://ledgerwriter:pw@127.0.0.1:"+port+"/auditdb?connect_timeout=5")
	if cause == nil {
		t.Fatal("connecting to a closed port succeeded")
	}
	leaks := []string{"ledgerwriter", "auditdb", "127.0.0.1", port}
	for _, s := range leaks {
		if !strings.Contains(cause.Error(), s) {
			t.Fatalf("the connection error %q does not name %q: the test checks nothing", cause, s)
		}
	}

	flaky := &flakyStore{cause: cause}
	flaky.down.Store(true)
	tl := newSQLiteLedger(t, func(s ledger.Store) ledger.Store { flaky.Store = s; return flaky })
	logger, logs := capturingLogger(t)
	grpcAddr, httpAddr := startServer(t, tl, func(c *ServerConfig) { c.Logger = logger })
	td := ptrace.NewTraces()
	testSpan(td, 1, "during the outage")

	_, err := grpcTraceClient(t, grpcAddr).Export(t.Context(), ptraceotlp.NewExportRequestFromTraces(td))
	st, _ := status.FromError(err)
	if st.Code() != codes.Unavailable || st.Message() != unavailableMessage {
		t.Errorf("gRPC export during an outage = %v, want Unavailable %q", err, unavailableMessage)
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	code, msg := postTraces(t, "http://"+httpAddr+"/v1/traces", "application/x-protobuf", body)
	if code != http.StatusServiceUnavailable || msg != unavailableMessage {
		t.Errorf("HTTP export during an outage = %d %q, want 503 %q", code, msg, unavailableMessage)
	}
	if !strings.Contains(logs.String(), "ledgerwriter") {
		t.Errorf("the log does not hold the database error:\n%s", logs)
	}
}

// TestErrorsRedactSecrets checks that a secret in a rejected request, here
// in the name of an attribute whose value is not UTF-8, reaches neither
// the sender's error message nor the log, over gRPC and HTTP.
func TestErrorsRedactSecrets(t *testing.T) {
	tl := newSQLiteLedger(t, nil)
	logger, logs := capturingLogger(t)
	grpcAddr, httpAddr := startServer(t, tl, func(c *ServerConfig) { c.Logger = logger })
	td := ptrace.NewTraces()
	testSpan(td, 1, "bad").Attributes().PutStr("x."+secretGitHub, "caf\xe9")
	sp2 := testSpan(td, 2, "too long")
	sp2.Attributes().PutStr("app.key", "token="+secretOpenAI+" "+strings.Repeat("b", 70_000))

	checkMsg := func(how, msg string) {
		t.Helper()
		if !strings.Contains(msg, "invalid UTF-8") || !strings.Contains(msg, "hmac-sha256:") {
			t.Errorf("%s: message %q, want the invalid UTF-8 named with the secret's fingerprint", how, msg)
		}
		for _, secret := range []string{secretGitHub, secretOpenAI} {
			if strings.Contains(msg, secret) {
				t.Errorf("%s: message %q holds the raw secret %.12s…", how, msg, secret)
			}
		}
	}
	_, err := grpcTraceClient(t, grpcAddr).Export(t.Context(), ptraceotlp.NewExportRequestFromTraces(td))
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument {
		t.Errorf("gRPC export = %v, want InvalidArgument", err)
	}
	checkMsg("gRPC", st.Message())

	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	code, msg := postTraces(t, "http://"+httpAddr+"/v1/traces", "application/x-protobuf", body)
	if code != http.StatusBadRequest {
		t.Errorf("HTTP export = %d %q, want 400", code, msg)
	}
	checkMsg("HTTP", msg)

	// The over-long value comes second: only the first error is reported.
	td2 := ptrace.NewTraces()
	testSpan(td2, 2, "too long").Attributes().PutStr("app."+secretOpenAI, strings.Repeat("b", 70_000))
	_, err = grpcTraceClient(t, grpcAddr).Export(context.WithoutCancel(t.Context()), ptraceotlp.NewExportRequestFromTraces(td2))
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || strings.Contains(st.Message(), secretOpenAI) || !strings.Contains(st.Message(), "limits.max_attribute_value_bytes") {
		t.Errorf("gRPC export of an over-long attribute with a secret name = %v, want InvalidArgument naming the limit, without the secret", err)
	}

	out := logs.String()
	if !strings.Contains(out, "rejected invalid OTLP request") {
		t.Errorf("the rejections were not logged:\n%s", out)
	}
	for _, secret := range []string{secretGitHub, secretOpenAI} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds the raw secret %.12s…:\n%s", secret, out)
		}
	}
}

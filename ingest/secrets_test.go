package ingest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/agentledger/agentledger/ledger"
)

// TestNoSecretStored sends spans and log events full of secrets, then reads
// every byte of the SQLite database and its WAL: no raw secret may be
// there, while the fingerprints that let a responder find them are.
func TestNoSecretStored(t *testing.T) {
	tl := newSQLiteLedger(t, nil)
	grpcAddr, _ := startServer(t, tl, nil)
	exp, err := otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithRetry(fastRetry.grpc))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())

	const (
		password    = "correct-horse-battery-staple-9"
		queryToken  = "q7Zx9PLmN2vB4kT8"
		keyedSecret = "s3cr3t-v4lue-in-json-args"
		cookie      = "session=9f8e7d6c5b4a39281706"
	)
	raw := []string{secretJWT, secretAWS, secretGitHub, secretOpenAI, password, queryToken, keyedSecret, cookie}

	tp, rec := recorder("leaky-agent")
	tr := tp.Tracer("agent")
	ctx, root := tr.Start(t.Context(), "invoke_agent leaky "+secretGitHub, trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("app.env", "AWS_SECRET_ACCESS_KEY="+secretAWS),
	))
	_, chat := tr.Start(ctx, "chat", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"use my key `+secretOpenAI+` and token `+secretGitHub+`"}]}]`),
		attribute.String("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"reasoning","content":"The user gave `+secretOpenAI+`; I will pass it."},{"type":"tool_call","id":"call_1","name":"deploy","arguments":{"password":"`+password+`"}}]}]`),
	))
	chat.End()
	tctx, tool := tr.Start(ctx, "execute_tool deploy", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.call.id", "call_1"),
		attribute.String("gen_ai.tool.call.arguments", `{"api_key":"`+keyedSecret+`","region":"eu-west-1"}`),
		attribute.String("gen_ai.tool.call.result", `{"AccessKeyId":"`+secretAWSKeyID+`","SecretAccessKey":"`+secretAWS+`"}`),
	))
	_, api := tr.Start(tctx, "GET", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", "GET"),
		attribute.String("url.full", "https://deploy:"+password+"@api.example.com/v1/deploy?access_token="+queryToken+"&region=eu"),
		attribute.StringSlice("http.request.header.authorization", []string{"Bearer " + secretJWT}),
		attribute.StringSlice("http.request.header.cookie", []string{cookie}),
		attribute.String("db.query.text", "UPDATE users SET token = '"+secretGitHub+"'"),
	))
	api.AddEvent("credential.issue", trace.WithAttributes(
		attribute.String("credential.id", "cred-1"),
		attribute.String("credential.secret", password),
	))
	api.End()
	tool.End()
	root.RecordError(os.ErrPermission, trace.WithAttributes(attribute.String("exception.message", "denied for "+secretJWT)))
	root.End()
	if err := exp.ExportSpans(t.Context(), rec.Ended()); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}

	// A credential event as a log record, with the secret in its body.
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("credential.revoke")
	lr.SetTraceID(pcommon.TraceID{9})
	body := lr.Body().SetEmptyMap()
	body.PutStr("credential.id", "cred-1")
	body.PutStr("token", secretGitHub)
	body.PutStr("note", "revoked "+secretJWT)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := plogotlp.NewGRPCClient(conn).Export(t.Context(), plogotlp.NewExportRequestFromLogs(ld)); err != nil {
		t.Fatalf("logs Export: %v", err)
	}

	entries := tl.entries(t)
	if len(entries) < 7 {
		t.Fatalf("ledger holds %d entries, want at least 7", len(entries))
	}
	r := newRedactor(t)
	for _, s := range []string{secretJWT, secretGitHub, secretOpenAI, password, queryToken, keyedSecret} {
		idx, err := tl.store.Find(t.Context(), ledger.Ref{Key: ledger.RefFingerprint, Value: r.Fingerprint(s)}, 0, 100)
		if err != nil || len(idx) == 0 {
			t.Errorf("Find(fingerprint of %.12s…) = %v, %v; want entries", s, idx, err)
		}
	}

	scan := func(when string) {
		files, _ := filepath.Glob(filepath.Join(tl.dir, "*"))
		if len(files) == 0 {
			t.Fatalf("no database files in %s", tl.dir)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range raw {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s: %s holds the raw secret %.12s…", when, filepath.Base(f), s)
				}
			}
		}
	}
	scan("while open (WAL)")
	tl.close(t)
	scan("after close")
}

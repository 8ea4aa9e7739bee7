package query

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ingest"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// TestUnknownAttributeIsErasable sends, over OTLP, a span whose attribute
// off the structural allow-list holds a token of a shape no scanner rule
// knows. The value is not in the leaf but in the entry's erasable
// "attributes" content; the allow-listed attributes the queries read stay
// in the leaf. Once that content is erased, the value is gone from the
// API's answer and every entry of the run still verifies: leaf, inclusion
// proof, commitments.
func TestUnknownAttributeIsErasable(t *testing.T) {
	// A made-up token shape: no prefix, no secret-like attribute name.
	const token = "qk7Rz.Vw3pLm9xTn2bYc8dHs4fGj6kQa"
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{noFixture: true})
		red, err := secrets.NewRedactor([]byte("an allow-list test fingerprint key of enough bytes"), secrets.Config{})
		if err != nil {
			t.Fatal(err)
		}
		addr := freeAddr(t)
		rcv, err := ingest.Start(t.Context(), ingest.ServerConfig{HTTPAddr: addr, Log: w.log, Redactor: red,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer rcv.Shutdown(t.Context())

		exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(addr), otlptracehttp.WithInsecure())
		if err != nil {
			t.Fatal(err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "deployer"))))
		_, sp := tp.Tracer("allowlist-test").Start(context.Background(), "execute_tool deploy")
		sp.SetAttributes(
			attribute.String("gen_ai.operation.name", "execute_tool"),
			attribute.String("gen_ai.tool.name", "deploy"),
			attribute.String("gen_ai.tool.call.id", "call_7"),
			attribute.String("gen_ai.agent.id", "agent-deployer"),
			attribute.String("app.deploy_note", "rollout with "+token),
		)
		traceID := sp.SpanContext().TraceID().String()
		sp.End()
		if err := tp.Shutdown(t.Context()); err != nil {
			t.Fatalf("export: %v", err)
		}
		w.checkpoint()

		run := w.get("responder", "/v1/runs/"+traceID, nil)
		if !bytes.Contains(run.body, []byte(token)) {
			t.Fatalf("the run's content lacks the token: the scanner redacted it, so this test proves nothing\n%s", run.body)
		}
		found := make(map[string][]reported)
		var answer any
		run.json(t, &answer)
		collectEntries(answer, found)
		var index uint64
		var ok bool
		for _, rs := range found {
			if moved, _ := rs[0].attrs[ingest.AttrMovedAttributes].(string); moved == "app.deploy_note" {
				index, ok = rs[0].index, true
				if rs[0].attrs["gen_ai.tool.name"] != "deploy" || rs[0].attrs["gen_ai.tool.call.id"] != "call_7" || rs[0].attrs["gen_ai.agent.id"] != "agent-deployer" {
					t.Errorf("entry %d: allow-listed attributes %v, want them in the leaf", index, rs[0].attrs)
				}
			}
		}
		if !ok {
			t.Fatalf("no entry lists app.deploy_note in %s\n%s", ingest.AttrMovedAttributes, run.body)
		}
		var e api.Entry
		w.get("auditor", "/v1/entries/"+strconv.FormatUint(index, 10), &e)
		leaf, err := base64.StdEncoding.DecodeString(e.Leaf)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(leaf, []byte(token)) {
			t.Errorf("entry %d: the token is in the leaf", index)
		}

		if _, err := w.log.Erase(t.Context(), []ledger.ContentRef{{Index: index, Name: ingest.ContentAttributes}}, "test-admin", "a token in app.deploy_note"); err != nil {
			t.Fatalf("erase: %v", err)
		}
		w.checkpoint()
		run = w.get("responder", "/v1/runs/"+traceID, nil)
		if bytes.Contains(run.body, []byte(token)) {
			t.Errorf("the run still shows the token after its erasure")
		}
		if !strings.Contains(string(run.body), "app.deploy_note") {
			t.Errorf("the run no longer names the moved attribute")
		}
		answer = nil
		run.json(t, &answer)
		found = make(map[string][]reported)
		collectEntries(answer, found)
		if len(found) < 2 {
			t.Fatalf("run answer holds %d entries, want the tool step and the attestation", len(found))
		}
		for _, rs := range found {
			verifyReported(t, w, "run after erasure", w.vkey, rs)
		}
	})
}

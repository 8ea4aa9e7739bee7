package servetest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// SendCredentialUse sends, with the OTel SDK's OTLP/HTTP exporter, one run
// of agent that calls an API (api.<agent>.example) with credential id to
// the OTLP endpoint, and waits until the exporter has flushed it.
func SendCredentialUse(t testing.TB, endpoint, agent, id string) {
	t.Helper()
	exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", agent))))
	tr := tp.Tracer("servetest")
	ctx, run := tr.Start(context.Background(), "invoke_agent "+agent, trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", agent)))
	_, call := tr.Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", "GET"), attribute.String("server.address", "api."+agent+".example"),
		attribute.String("url.path", "/v1/items"), attribute.Int("http.response.status_code", 200),
		attribute.String("credential.id", id)))
	call.End()
	run.End()
	if err := tp.Shutdown(t.Context()); err != nil {
		t.Fatalf("flush spans: %v", err)
	}
}

package ingest

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentledger/agentledger/ledger"
)

// fuzzSeeds returns OTLP trace requests that reach every mapping path.
func fuzzSeeds() []ptrace.Traces {
	var out []ptrace.Traces
	td := ptrace.NewTraces()
	sp := testSpan(td, 1, "chat gpt")
	sp.Attributes().PutStr("gen_ai.operation.name", "chat")
	sp.Attributes().PutStr("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"tool_call","id":"c1"},{"type":"reasoning","content":"r"}]}]`)
	sp.Attributes().PutStr("llm.output_messages.0.message.tool_calls.0.tool_call.id", "c2")
	sp.Attributes().PutStr("gen_ai.completion.0.tool_calls.0.id", "c3")
	sp.Events().AppendEmpty().SetName("gen_ai.choice")
	ev := sp.Events().AppendEmpty()
	ev.SetName("credential.issue")
	ev.Attributes().PutStr("credential.id", "x")
	api := testSpan(td, 2, "GET")
	api.SetKind(ptrace.SpanKindClient)
	api.Attributes().PutStr("url.full", "https://u:p@h.example/p?token=abc&sig=1#f")
	api.Attributes().PutStr("db.statement", "select 1 from t where a = 'b'")
	api.Attributes().PutStr("authorization", "Bearer "+secretJWT)
	m := api.Attributes().PutEmptyMap("app.map")
	m.PutDouble("nan", 0)
	m.PutEmptyBytes("bytes").FromRaw([]byte{0, 1, 2})
	m.PutEmptySlice("list").AppendEmpty().SetBool(true)
	testSpan(td, 3, "approval.granted").Attributes().PutStr("approval.approver", "alice")
	out = append(out, td)

	big := ptrace.NewTraces()
	sp = testSpan(big, 4, "work")
	for i := range 30 {
		sp.Attributes().PutStr("app."+strings.Repeat("k", i+1), strings.Repeat("v", 600))
	}
	out = append(out, big)
	return out
}

// FuzzMap checks that mapping any OTLP trace request never panics and that
// every entry it produces encodes as a leaf; otherwise it must fail.
func FuzzMap(f *testing.F) {
	var enc ptrace.ProtoMarshaler
	for _, td := range fuzzSeeds() {
		b, err := enc.MarshalTraces(td)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	m := newMapper(f, MappingConfig{}, Limits{MaxInlineAttributeBytes: 512})
	var dec ptrace.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := dec.UnmarshalTraces(data)
		if err != nil {
			return
		}
		entries, err := Map(t.Context(), td, m)
		if err != nil {
			return
		}
		for i := range entries {
			if _, err := ledger.EncodeLeaf(&entries[i]); err != nil {
				t.Fatalf("Map produced entry %d (%s) that does not encode: %v", i, entries[i].Kind, err)
			}
		}
	})
}

// FuzzMapLogs is FuzzMap for log requests.
func FuzzMapLogs(f *testing.F) {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("credential.exchange")
	lr.SetTraceID(pcommon.TraceID{1})
	lr.Body().SetEmptyMap().PutStr("credential.id", "x")
	var enc plog.ProtoMarshaler
	b, err := enc.MarshalLogs(ld)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	m := newMapper(f, MappingConfig{}, Limits{})
	var dec plog.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, data []byte) {
		ld, err := dec.UnmarshalLogs(data)
		if err != nil {
			return
		}
		entries, err := MapLogs(t.Context(), ld, m)
		if err != nil {
			return
		}
		for i := range entries {
			if _, err := ledger.EncodeLeaf(&entries[i]); err != nil {
				t.Fatalf("MapLogs produced entry %d (%s) that does not encode: %v", i, entries[i].Kind, err)
			}
		}
	})
}

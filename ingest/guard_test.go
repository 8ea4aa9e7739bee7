package ingest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// postRaw posts body and decodes the google.rpc.Status of the answer in
// the encoding the answer's Content-Type names.
func postRaw(t *testing.T, url, contentType string, body []byte) (int, *spb.Status) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	st := &spb.Status{}
	switch ct := resp.Header.Get("Content-Type"); ct {
	case "application/x-protobuf":
		err = proto.Unmarshal(b, st)
	case "application/json":
		err = protojson.Unmarshal(b, st)
	default:
		t.Fatalf("POST %s: answer of Content-Type %q: %q", url, ct, b)
	}
	if err != nil {
		t.Fatalf("POST %s: answer %q does not decode as a status: %v", url, b, err)
	}
	return resp.StatusCode, st
}

// deepSpan returns a request of one span whose attribute nests depth
// key-value lists.
func deepSpan(depth int) ptrace.Traces {
	td := ptrace.NewTraces()
	m := testSpan(td, 1, "deep").Attributes()
	for range depth {
		m = m.PutEmptyMap("k")
	}
	m.PutStr("leaf", "v")
	return td
}

// TestHTTPBodiesTheOTLPReceiverRefuses checks the bodies the embedded OTLP
// receiver refuses before the ledger sees them: each is answered 400 with
// a message saying what was wrong, in the request's encoding, without the
// secrets it quoted, and is logged and counted as rejected.
func TestHTTPBodiesTheOTLPReceiverRefuses(t *testing.T) {
	tl := newSQLiteLedger(t, nil)
	obs := &countingObserver{}
	logger, logs := capturingLogger(t)
	_, httpAddr := startServer(t, tl, func(c *ServerConfig) { c.Observer = obs; c.Logger = logger })
	url := "http://" + httpAddr + "/v1/traces"

	valid := ptrace.NewTraces()
	testSpan(valid, 1, "valid")
	pb, err := ptraceotlp.NewExportRequestFromTraces(valid).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	deep, err := ptraceotlp.NewExportRequestFromTraces(deepSpan(150)).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, contentType string
		body              []byte
		want              string
	}{
		{"bytes that are not UTF-8 as JSON", "application/json", []byte("\xff\xfe"), notJSONMessage},
		{"protobuf as JSON", "application/json", pb, notJSONMessage},
		{"malformed JSON", "application/json", []byte(`{"resourceSpans":[{`), `expect " after {, but found`},
		{"malformed JSON quoting a secret", "application/json", []byte(`{"resourceSpans":[` + secretGitHub + `]}`), "but found g (at byte 10)"},
		{"truncated protobuf", "application/x-protobuf", pb[:len(pb)/2], "invalid input"},
		{"too deep nesting", "application/x-protobuf", deep, "recursion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, st := postRaw(t, url, tt.contentType, tt.body)
			if code != http.StatusBadRequest || codes.Code(st.GetCode()) != codes.InvalidArgument || !strings.Contains(st.GetMessage(), tt.want) {
				t.Errorf("POST %s = %d %v %q, want 400 InvalidArgument with %q", tt.name, code, codes.Code(st.GetCode()), st.GetMessage(), tt.want)
			}
			if strings.Contains(st.GetMessage(), secretGitHub[:8]) {
				t.Errorf("POST %s: the answer %q holds the raw secret", tt.name, st.GetMessage())
			}
		})
	}
	if got, want := obs.String(), "accepted 0 (0 items, 0 entries), rejected 6, failed 0"; got != want {
		t.Errorf("observer = %s, want %s", got, want)
	}
	out := logs.String()
	if n := strings.Count(out, "rejected invalid OTLP request"); n != len(tests) {
		t.Errorf("%d rejections logged, want %d:\n%s", n, len(tests), out)
	}
	if strings.Contains(out, secretGitHub[:8]) {
		t.Errorf("the log holds (a piece of) the raw secret:\n%s", out)
	}
	if n := len(tl.entries(t)); n != 0 {
		t.Errorf("the ledger holds %d entries, want 0", n)
	}

	// The receiver still takes valid requests, and answers the errors of
	// the ledger (here over a limit) as before.
	if code, st := postRaw(t, url, "application/x-protobuf", pb); code != http.StatusOK {
		t.Errorf("POST valid = %d %q, want 200", code, st.GetMessage())
	}
	bad := ptrace.NewTraces()
	testSpan(bad, 2, "bad").Attributes().PutStr("app.note", "caf\xe9")
	badPB, err := ptraceotlp.NewExportRequestFromTraces(bad).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	if code, st := postRaw(t, url, "application/x-protobuf", badPB); code != http.StatusBadRequest || !strings.Contains(st.GetMessage(), `attribute "app.note": invalid UTF-8`) {
		t.Errorf("POST invalid UTF-8 = %d %q, want 400 naming the attribute", code, st.GetMessage())
	}
	if got, want := obs.String(), "accepted 1 (1 items, 2 entries), rejected 7, failed 0"; got != want {
		t.Errorf("observer = %s, want %s", got, want)
	}
}

// TestGRPCMessagesThatDoNotDecode checks that a gRPC request that does not
// decode (here nested deeper than the OTLP decoder allows) is answered
// InvalidArgument, not gRPC's Internal, logged and counted as rejected.
func TestGRPCMessagesThatDoNotDecode(t *testing.T) {
	tl := newSQLiteLedger(t, nil)
	obs := &countingObserver{}
	logger, logs := capturingLogger(t)
	grpcAddr, _ := startServer(t, tl, func(c *ServerConfig) { c.Observer = obs; c.Logger = logger })
	client := grpcTraceClient(t, grpcAddr)

	_, err := client.Export(t.Context(), ptraceotlp.NewExportRequestFromTraces(deepSpan(150)))
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "recursion") {
		t.Errorf("Export(nested 150 deep) = %v, want InvalidArgument naming the recursion depth", err)
	}
	// Nesting the decoder takes is mapped as ever.
	if _, err := client.Export(t.Context(), ptraceotlp.NewExportRequestFromTraces(deepSpan(20))); err != nil {
		t.Errorf("Export(nested 20 deep) = %v, want success", err)
	}
	if got, want := obs.String(), "accepted 1 (1 items, 2 entries), rejected 1, failed 0"; got != want {
		t.Errorf("observer = %s, want %s", got, want)
	}
	if !strings.Contains(logs.String(), "rejected invalid OTLP request") {
		t.Errorf("the rejection was not logged:\n%s", logs)
	}
}

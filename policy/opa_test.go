package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// testKey is the fingerprint key of the tests' redactors.
var testKey = []byte("agentledger-test-secret-0123456789abcdef")

// secretGitHub is the raw secret testdata/opa_batch.json plants in an
// input; it must never reach an entry.
const secretGitHub = "ghp_R2d2C3p0L1ke5kyWalker0penSesame12345678"

func newRedactor(tb testing.TB) *secrets.Redactor {
	tb.Helper()
	r, err := secrets.NewRedactor(testKey, secrets.Config{})
	if err != nil {
		tb.Fatalf("NewRedactor: %v", err)
	}
	return r
}

func attrs(e *ledger.Entry) map[string]string {
	m := make(map[string]string, len(e.Attrs))
	for _, a := range e.Attrs {
		m[a.Key] = a.Value
	}
	return m
}

func TestParseOPA(t *testing.T) {
	r := newRedactor(t)
	batch, err := os.ReadFile("testdata/opa_batch.json")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseOPA(r, batch)
	if err != nil {
		t.Fatalf("ParseOPA: %v", err)
	}
	fp := r.Fingerprint(secretGitHub)
	want := []struct {
		key, trace string
		attrs      map[string]string
		content    []string
		input      string
	}{
		{
			key: "opa/4ca636c1-55e4-417a-b1d8-4aceb67960d1", trace: "0102030405060708090a0b0c0d0e0f10",
			attrs: map[string]string{
				AttrEngine: "opa", AttrDecision: "allow", AttrID: "http/authz/allow", AttrDecisionID: "4ca636c1-55e4-417a-b1d8-4aceb67960d1",
				AttrBundles: "authz=rev-7", AttrSpanID: "0a00000000000003", AttrSubject: "spiffe://example.org/agent/billing",
				AttrHTTPMethod: "POST", AttrURLPath: "/v1/invoices", AttrErased: "/input/password",
				ledger.AttrCredentialFingerprint: fp,
			},
			content: []string{ContentInput, ContentResult},
			input:   `{"request":{"method":"post","path":"/v1/invoices"},"subject":{"id":"spiffe://example.org/agent/billing","token":"` + fp + `"}}`,
		},
		{
			key: "opa/9e8d7c6b-0000-4000-8000-000000000002",
			attrs: map[string]string{
				AttrEngine: "opa", AttrDecision: "deny", AttrID: "http/authz", AttrDecisionID: "9e8d7c6b-0000-4000-8000-000000000002",
				AttrSubject: "user:mallory", AttrHTTPMethod: "DELETE", AttrURLPath: "/v1/users/7",
			},
			content: []string{ContentInput, ContentResult},
		},
		{
			key: "opa/9e8d7c6b-0000-4000-8000-000000000003",
			attrs: map[string]string{
				AttrEngine: "opa", AttrDecision: "undefined", AttrID: "http/authz/allow", AttrDecisionID: "9e8d7c6b-0000-4000-8000-000000000003",
				AttrSubject: "bob",
			},
			content: []string{ContentInput},
		},
		{
			key: "opa/9e8d7c6b-0000-4000-8000-000000000004",
			attrs: map[string]string{
				AttrEngine: "opa", AttrDecision: "error", AttrID: "http/authz/allow", AttrDecisionID: "9e8d7c6b-0000-4000-8000-000000000004",
				AttrSubject: "bob", AttrReason: "functions must not produce multiple outputs for same inputs",
			},
			content: []string{ContentInput},
		},
	}
	if len(entries) != len(want) {
		t.Fatalf("got %d entries, want %d", len(entries), len(want))
	}
	for i, w := range want {
		e := &entries[i]
		if e.Kind != ledger.KindSpan || e.Name != EntryName || e.Source != ledger.SourceOPA || e.EventKey != w.key || e.TraceID != w.trace || e.SpanID != "" {
			t.Errorf("entry %d: kind %s name %s source %s key %s trace %q span %q", i, e.Kind, e.Name, e.Source, e.EventKey, e.TraceID, e.SpanID)
		}
		got := attrs(e)
		if len(got) != len(w.attrs) {
			t.Errorf("entry %d: attributes %v, want %v", i, got, w.attrs)
		}
		for k, v := range w.attrs {
			if got[k] != v {
				t.Errorf("entry %d: %s = %q, want %q", i, k, got[k], v)
			}
		}
		var names []string
		for _, c := range e.Content {
			names = append(names, c.Name)
			if strings.Contains(string(c.Data), secretGitHub) {
				t.Errorf("entry %d: content %s holds the raw secret", i, c.Name)
			}
			if c.Name == ContentInput && w.input != "" && string(c.Data) != w.input {
				t.Errorf("entry %d: input %s, want %s", i, c.Data, w.input)
			}
		}
		if strings.Join(names, ",") != strings.Join(w.content, ",") {
			t.Errorf("entry %d: content %v, want %v", i, names, w.content)
		}
		if e.Start.IsZero() || !e.Start.Equal(e.End) {
			t.Errorf("entry %d: start %v end %v", i, e.Start, e.End)
		}
	}
}

func TestParseOPARefuses(t *testing.T) {
	r := newRedactor(t)
	const ok = `"decision_id":"d1","timestamp":"2026-12-06T06:00:00Z","path":"p"`
	for _, tt := range []struct{ name, batch, err string }{
		{"not json", `{{`, "JSON array"},
		{"object, not array", `{` + ok + `}`, "JSON array"},
		{"element not object", `[1]`, "decision 0"},
		{"no decision id", `[{"timestamp":"2026-12-06T06:00:00Z"}]`, "decision_id is missing"},
		{"decision id with space", `[{"decision_id":"a b","timestamp":"2026-12-06T06:00:00Z"}]`, "printable"},
		{"long decision id", `[{"decision_id":"` + strings.Repeat("a", 129) + `","timestamp":"2026-12-06T06:00:00Z"}]`, "limit 128"},
		{"no timestamp", `[{"decision_id":"d1"}]`, "timestamp"},
		{"bad trace id", `[{` + ok + `,"trace_id":"xyz"}]`, "trace_id"},
		{"bad span id", `[{` + ok + `,"span_id":"0102"}]`, "span_id"},
		{"long path", `[{"decision_id":"d1","timestamp":"2026-12-06T06:00:00Z","path":"` + strings.Repeat("p", 5000) + `"}]`, "limit 4096"},
		{"too deep", `[{` + ok + `,"input":` + strings.Repeat("[", 80) + strings.Repeat("]", 80) + `}]`, "deep"},
		{"second bad", `[{` + ok + `},{"decision_id":"d2"}]`, "decision 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOPA(r, []byte(tt.batch))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseOPA = %v, want an error with %q", err, tt.err)
			}
		})
	}
}

func TestParseOPADuplicateInBatch(t *testing.T) {
	ev := `{"decision_id":"d1","timestamp":"2026-12-06T06:00:00Z","result":true}`
	entries, err := ParseOPA(newRedactor(t), []byte("["+ev+","+ev+"]"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("ParseOPA = %d entries, %v; want 1", len(entries), err)
	}
}

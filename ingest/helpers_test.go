package ingest

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// testKey is the fingerprint key of the tests' redactors.
var testKey = []byte("agentledger-test-secret-0123456789abcdef")

func newRedactor(tb testing.TB) *secrets.Redactor {
	tb.Helper()
	r, err := secrets.NewRedactor(testKey, secrets.Config{})
	if err != nil {
		tb.Fatalf("NewRedactor: %v", err)
	}
	return r
}

func newMapper(tb testing.TB, mc MappingConfig, lim Limits) *Mapper {
	tb.Helper()
	m, err := NewMapper(newRedactor(tb), mc, lim)
	if err != nil {
		tb.Fatalf("NewMapper: %v", err)
	}
	return m
}

// testJWT returns a signed-looking compact JWS with the given claims.
func testJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims) + "." +
		base64.RawURLEncoding.EncodeToString([]byte("signature-bytes-that-are-not-checked-0123456789"))
}

// Raw secrets the tests plant; none may reach the ledger.
var (
	secretJWT = testJWT(map[string]any{
		"jti": "jwt-id-4711", "iss": "https://idp.example.com", "sub": "spiffe://example.org/agent/billing",
		"aud": []string{"https://api.example.com"}, "exp": 1900000000, "act": map[string]string{"sub": "user:alice"},
	})
	secretAWS      = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	secretAWSKeyID = "AKIAIOSFODNN7EXAMPLE"
	secretGitHub   = "ghp_R2d2C3p0L1ke5kyWalker0penSesame12345678"
	secretOpenAI   = "sk-proj-Q7hT2mZ9vB4nL8xK3pR6wY1cF5jD0sA2"
)

// testSpan adds a span to td with fixed IDs derived from n.
func testSpan(td ptrace.Traces, n byte, name string) ptrace.Span {
	rss := td.ResourceSpans()
	var rs ptrace.ResourceSpans
	if rss.Len() == 0 {
		rs = rss.AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "billing-agent")
		rs.Resource().Attributes().PutStr("service.version", "1.4.2")
		rs.Resource().Attributes().PutStr("container.image.id", "sha256:0123456789abcdef")
		rs.ScopeSpans().AppendEmpty().Scope().SetName("test")
	} else {
		rs = rss.At(0)
	}
	sp := rs.ScopeSpans().At(0).Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	sp.SetSpanID(pcommon.SpanID{0xa, 0, 0, 0, 0, 0, 0, n})
	sp.SetName(name)
	sp.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(n)*1000))
	sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(n)*1000 + 500))
	return sp
}

func attrMap(e *ledger.Entry) map[string]string {
	m := make(map[string]string, len(e.Attrs))
	for _, a := range e.Attrs {
		m[a.Key] = a.Value
	}
	return m
}

// allAttrs returns e's attributes: those in its leaf and those moved into
// its content ContentAttributes.
func allAttrs(t testing.TB, e *ledger.Entry) map[string]string {
	t.Helper()
	m := attrMap(e)
	if data, ok := contentMap(e)[ContentAttributes]; ok {
		var moved map[string]string
		if err := json.Unmarshal([]byte(data), &moved); err != nil {
			t.Fatalf("content %s: %v", ContentAttributes, err)
		}
		for k, v := range moved {
			if _, ok := m[k]; ok {
				t.Errorf("attribute %s both in the leaf and moved", k)
			}
			m[k] = v
		}
	}
	return m
}

func contentMap(e *ledger.Entry) map[string]string {
	m := make(map[string]string, len(e.Content))
	for _, c := range e.Content {
		m[c.Name] = string(c.Data)
	}
	return m
}

package shard

import (
	"encoding/hex"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{"trace-id", "want trace-id:LO-HI or resource"},
		{"traceid:0-7", "unknown kind"},
		{"trace-id:07", "want trace-id:LO-HI"},
		{"trace-id:0-07", "same number of hex digits"},
		{"trace-id:-", "same number of hex digits"},
		{"trace-id:00000-fffff", "same number of hex digits, 1 to 4"},
		{"trace-id:8-7", "is empty"},
		{"trace-id:0-F", "not lower-case hex"},
		{"trace-id:0-g", "not lower-case hex"},
		{"trace-id:+0-7", "same number of hex digits"},
		{"resource:service.namespace", "want resource:KEY=V1,V2"},
		{"resource:=payments", "empty attribute key"},
		{"resource:service.namespace=", "empty value"},
		{"resource:service.namespace=payments,", "empty value"},
		{"resource:service.namespace=a,,b", "empty value"},
		{"resource:service.namespace=a,a", "listed twice"},
		{"resource:service.namespace=pay ments", "a space"},
		{"resource:service namespace=payments", "a space"},
		{"resource:service.namespace==payments", "'='"},
		{"resource:k=a\x00", "control character"},
		{"resource:k=\xff", "not UTF-8"},
		{"resource:k=" + strings.Repeat("a", 257), "at most 256"},
		{"resource:k=" + strings.Repeat("a,", 256) + "b", "at most 256"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			r, err := Parse(tc.rule)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%q) = %v, %v; want an error with %q", tc.rule, r, err, tc.want)
			}
		})
	}
}

func TestParseEmptyIsNoRule(t *testing.T) {
	r, err := Parse("")
	if r != nil || err != nil {
		t.Fatalf("Parse(\"\") = %v, %v; want nil, nil", r, err)
	}
	if n := r.Traces(traces(t, "", "ffffffffffffffffffffffffffffffff")); n != 0 {
		t.Fatalf("no rule: %d spans misrouted, want 0", n)
	}
}

// traces returns one span of trace ID tid (hex) under a resource with
// service.namespace ns ("" for none).
func traces(t *testing.T, ns, tid string) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	if ns != "" {
		rs.Resource().Attributes().PutStr("service.namespace", ns)
	}
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(traceID(t, tid))
	return td
}

func traceID(t *testing.T, s string) pcommon.TraceID {
	t.Helper()
	var id pcommon.TraceID
	if s == "" {
		return id
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		t.Fatalf("trace ID %q: %v", s, err)
	}
	copy(id[:], b)
	return id
}

func TestRuleOwns(t *testing.T) {
	const (
		t00 = "00112233445566778899aabbccddeeff"
		t7f = "7fffffffffffffffffffffffffffffff"
		t80 = "80000000000000000000000000000000"
		tff = "ffffffffffffffffffffffffffffffff"
		t3f = "3f000000000000000000000000000000"
		t40 = "40000000000000000000000000000000"
	)
	for _, tc := range []struct {
		rule     string
		ns, tid  string
		misroute bool
	}{
		{"trace-id:0-7", "", t00, false},
		{"trace-id:0-7", "", t7f, false},
		{"trace-id:0-7", "", t80, true},
		{"trace-id:8-f", "", t80, false},
		{"trace-id:8-f", "", tff, false},
		{"trace-id:8-f", "", t7f, true},
		{"trace-id:00-3f", "", t3f, false},
		{"trace-id:00-3f", "", t40, true},
		{"trace-id:0000-7fff", "", t7f, false},
		{"trace-id:0000-7fff", "", t80, true},
		{"trace-id:0-f", "", tff, false},
		{"resource:service.namespace=payments,billing", "payments", t00, false},
		{"resource:service.namespace=payments,billing", "billing", tff, false},
		{"resource:service.namespace=payments,billing", "search", t00, true},
		{"resource:service.namespace=payments,billing", "", t00, true},
		{"resource:service.namespace!=payments,billing", "search", t00, false},
		{"resource:service.namespace!=payments,billing", "", t00, false},
		{"resource:service.namespace!=payments,billing", "payments", t00, true},
	} {
		t.Run(tc.rule+"/"+tc.ns+"/"+tc.tid[:4], func(t *testing.T) {
			r, err := Parse(tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tc.rule {
				t.Errorf("String() = %q, want %q", r.String(), tc.rule)
			}
			want := 0
			if tc.misroute {
				want = 1
			}
			if n := r.Traces(traces(t, tc.ns, tc.tid)); n != want {
				t.Errorf("Traces: %d misrouted, want %d", n, want)
			}
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			if tc.ns != "" {
				rl.Resource().Attributes().PutStr("service.namespace", tc.ns)
			}
			rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetTraceID(traceID(t, tc.tid))
			if n := r.Logs(ld); n != want {
				t.Errorf("Logs: %d misrouted, want %d", n, want)
			}
		})
	}
}

// TestRuleCountsEverySpan: a request of several resources and traces
// counts each span that is not the shard's; a resource value that is not
// a string matches no listed value.
func TestRuleCountsEverySpan(t *testing.T) {
	td := ptrace.NewTraces()
	for _, ns := range []string{"payments", "search"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.namespace", ns)
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for _, tid := range []string{"0a", "8b", "f0"} {
			spans.AppendEmpty().SetTraceID(traceID(t, tid+strings.Repeat("0", 30)))
		}
	}
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutInt("service.namespace", 7)
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	for _, tc := range []struct {
		rule string
		want int
	}{
		{"trace-id:0-7", 4},
		{"trace-id:8-f", 3},
		{"resource:service.namespace=payments", 4},
		{"resource:service.namespace!=payments", 3},
		{"resource:service.namespace=7", 7},
	} {
		r, err := Parse(tc.rule)
		if err != nil {
			t.Fatal(err)
		}
		if n := r.Traces(td); n != tc.want {
			t.Errorf("%s: %d misrouted, want %d", tc.rule, n, tc.want)
		}
	}
}

// TestEmptyLogTraceIDIsZero: a log record without a trace ID belongs to
// the trace-ID shard whose range holds 0, and to no other.
func TestEmptyLogTraceIDIsZero(t *testing.T) {
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	for rule, want := range map[string]int{"trace-id:0-7": 0, "trace-id:8-f": 1, "trace-id:00-00": 0, "trace-id:01-ff": 1} {
		r, err := Parse(rule)
		if err != nil {
			t.Fatal(err)
		}
		if n := r.Logs(ld); n != want {
			t.Errorf("%s: %d misrouted, want %d", rule, n, want)
		}
	}
}

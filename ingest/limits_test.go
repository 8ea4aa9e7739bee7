package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentledger/agentledger/ledger"
)

// manyAttributes returns a request of one span with n short attributes.
func manyAttributes(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	raw := make(map[string]any, n)
	for i := range n {
		raw[fmt.Sprintf("app.attr.%06d", i)] = fmt.Sprintf("v%06d", i)
	}
	// FromRaw, unlike PutStr, does not look each name up first.
	if err := testSpan(td, 1, "wide").Attributes().FromRaw(raw); err != nil {
		panic(err)
	}
	return td
}

// TestMapManyAttributesLinear checks that mapping a span costs time linear
// in its attributes. A span of 32768 short attributes maps in about 0.1 s
// (0.2 s with -race) when the work is linear, and took 29 s when fit
// rescanned every attribute for each one it moved: 5 s is a bound the
// quadratic work fails by far and the linear passes by far on a loaded
// machine.
func TestMapManyAttributesLinear(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{MaxAttributesPerSpan: 1 << 20})
	td := manyAttributes(32768)
	start := time.Now()
	_, err := Map(t.Context(), td, m)
	d := time.Since(start)
	// The names of the moved attributes fill the leaf: the entry cannot be
	// made to fit, which fit finds out after moving them.
	if !errors.Is(err, ledger.ErrInvalid) || !strings.Contains(fmt.Sprint(err), "exceeds the leaf limit") {
		t.Fatalf("Map(32768 attributes) = %v, want the leaf limit exceeded", err)
	}
	t.Logf("32768 attributes mapped in %v", d)
	if d > 5*time.Second {
		t.Errorf("mapping a span of 32768 short attributes took %v, want well under 5s (linear work)", d)
	}
}

func TestMapAttributeLimit(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{MaxAttributesPerSpan: 100})
	tests := []struct {
		name  string
		build func() ptrace.Traces
		want  string
	}{
		{"span", func() ptrace.Traces { return manyAttributes(101) }, "span has 101 attributes, limit is 100 (limits.max_attributes_per_span)"},
		{"event", func() ptrace.Traces {
			td := ptrace.NewTraces()
			a := testSpan(td, 1, "s").Events().AppendEmpty().Attributes()
			for i := range 150 {
				a.PutInt(fmt.Sprint("n", i), int64(i))
			}
			return td
		}, "event 0 has 150 attributes, limit is 100 (limits.max_attributes_per_span)"},
		{"resource", func() ptrace.Traces {
			td := ptrace.NewTraces()
			testSpan(td, 1, "s")
			a := td.ResourceSpans().At(0).Resource().Attributes()
			for i := range 120 {
				a.PutBool(fmt.Sprint("r", i), true)
			}
			return td
		}, "resource has 123 attributes, limit is 100 (limits.max_attributes_per_span)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Map(t.Context(), tt.build(), m)
			if !errors.Is(err, ledger.ErrInvalid) || !strings.Contains(fmt.Sprint(err), tt.want) {
				t.Errorf("Map = %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
	if _, err := Map(t.Context(), manyAttributes(100), m); err != nil {
		t.Errorf("Map(100 attributes, limit 100) = %v, want success", err)
	}
}

// countdownContext is a context whose Err reports Canceled from its n-th
// call on, as if the sender hung up while the request was mapped.
type countdownContext struct {
	context.Context
	n, calls atomic.Int64
}

func (c *countdownContext) Err() error {
	if c.calls.Add(1) >= c.n.Load() {
		return context.Canceled
	}
	return nil
}

// TestMapStopsWhenContextEnds checks that mapping stops as soon as the
// request's context ends, not after the whole request.
func TestMapStopsWhenContextEnds(t *testing.T) {
	m := newMapper(t, MappingConfig{}, Limits{})
	td := ptrace.NewTraces()
	for i := range 200 {
		testSpan(td, byte(i), "s").Attributes().PutStr("app.n", fmt.Sprint(i))
	}
	ctx := &countdownContext{Context: t.Context()}
	ctx.n.Store(10)
	entries, err := Map(ctx, td, m)
	if !errors.Is(err, context.Canceled) || entries != nil {
		t.Fatalf("Map with a context ending on its 10th check = %d entries, %v, want none and context.Canceled", len(entries), err)
	}
	if got := ctx.calls.Load(); got != 10 {
		t.Errorf("Map checked the ended context %d times, want it to stop at the first check that saw it end (10)", got)
	}

	ld := logsOfEvents(200)
	lctx := &countdownContext{Context: t.Context()}
	lctx.n.Store(5)
	if entries, err := MapLogs(lctx, ld, m); !errors.Is(err, context.Canceled) || entries != nil {
		t.Errorf("MapLogs with an ended context = %d entries, %v, want none and context.Canceled", len(entries), err)
	}
	if got := lctx.calls.Load(); got != 5 {
		t.Errorf("MapLogs checked the ended context %d times, want 5", got)
	}
}

// logsOfEvents returns n credential events as log records.
func logsOfEvents(n int) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := range n {
		lr := lrs.AppendEmpty()
		lr.SetEventName("credential.issue")
		lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(i)))
		lr.Attributes().PutStr("credential.id", fmt.Sprint("lease-", i))
	}
	return ld
}

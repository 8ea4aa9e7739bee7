// Package shard is the rule by which one agentledger log (a shard) knows
// which spans and log records belong to it, when a fleet's traffic is split
// across several logs by the collector in front of them.
//
// A rule is written as one string (serve --shard-rule, the receiver's
// shard_rule):
//
//	trace-id:LO-HI        the trace IDs whose first n hex digits lie in
//	                      [LO, HI], where LO and HI have n digits (1 to 4):
//	                      trace-id:0-7, trace-id:8-f, trace-id:00-3f
//	resource:KEY=V1,V2    the resources whose attribute KEY is the string
//	                      V1 or V2: resource:service.namespace=payments,billing
//	resource:KEY!=V1,V2   every other resource, including those without KEY
//	                      (the catch-all shard of a resource rule)
//
// A trace-ID rule keeps every trace in one log by construction. A resource
// rule does so only while every span of a trace carries the same value of
// KEY, as spans of one tenant or one service.namespace do. A log record
// without a trace ID counts, under a trace-ID rule, as trace ID zero: it
// belongs to the shard whose range holds 0.
package shard

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Bounds of a rule.
const (
	// MaxDigits is the most hex digits of a trace-ID range's ends.
	MaxDigits = 4
	// MaxValues is the most values of a resource rule.
	MaxValues = 256
	// maxString bounds a key or a value, in bytes.
	maxString = 256
)

// Rule says which spans and log records belong to one shard. The zero
// Rule is not valid; a nil *Rule owns everything (no sharding).
type Rule struct {
	text string

	// A trace-ID rule: the first digits hex digits, as a number, in
	// [lo, hi].
	digits int
	lo, hi uint64

	// A resource rule: attribute key's string value in values, or (negate)
	// not in values.
	key    string
	values []string
	negate bool
}

// Parse parses and validates a rule. The empty string is no rule: Parse
// returns nil, nil.
func Parse(s string) (*Rule, error) {
	if s == "" {
		return nil, nil
	}
	kind, body, ok := strings.Cut(s, ":")
	var (
		r   *Rule
		err error
	)
	switch {
	case !ok:
		err = errors.New("want trace-id:LO-HI or resource:KEY=V1,V2 or resource:KEY!=V1,V2")
	case kind == "trace-id":
		r, err = parseTraceID(body)
	case kind == "resource":
		r, err = parseResource(body)
	default:
		err = fmt.Errorf("unknown kind %q: want trace-id or resource", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("shard rule %q: %w", s, err)
	}
	r.text = s
	return r, nil
}

func parseTraceID(body string) (*Rule, error) {
	lo, hi, ok := strings.Cut(body, "-")
	if !ok {
		return nil, errors.New("want trace-id:LO-HI, such as trace-id:0-7")
	}
	if len(lo) != len(hi) || len(lo) < 1 || len(lo) > MaxDigits {
		return nil, fmt.Errorf("the range's ends %q and %q must have the same number of hex digits, 1 to %d", lo, hi, MaxDigits)
	}
	r := &Rule{digits: len(lo)}
	var err error
	if r.lo, err = parseHex(lo); err != nil {
		return nil, err
	}
	if r.hi, err = parseHex(hi); err != nil {
		return nil, err
	}
	if r.lo > r.hi {
		return nil, fmt.Errorf("the range %s-%s is empty", lo, hi)
	}
	return r, nil
}

// parseHex parses lower-case hex digits, as trace IDs are written.
func parseHex(s string) (uint64, error) {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return 0, fmt.Errorf("%q is not lower-case hex", s)
		}
	}
	return strconv.ParseUint(s, 16, 64)
}

func parseResource(body string) (*Rule, error) {
	r := &Rule{}
	key, list, ok := strings.Cut(body, "!=")
	if ok {
		r.negate = true
	} else if key, list, ok = strings.Cut(body, "="); !ok {
		return nil, errors.New("want resource:KEY=V1,V2 or resource:KEY!=V1,V2")
	}
	if err := checkString("attribute key", key); err != nil {
		return nil, err
	}
	r.key = key
	vals := strings.Split(list, ",")
	if len(vals) > MaxValues {
		return nil, fmt.Errorf("%d values: at most %d", len(vals), MaxValues)
	}
	for _, v := range vals {
		if err := checkString("value", v); err != nil {
			return nil, err
		}
		if slices.Contains(r.values, v) {
			return nil, fmt.Errorf("value %q is listed twice", v)
		}
		r.values = append(r.values, v)
	}
	return r, nil
}

// checkString refuses an empty, over-long or non-UTF-8 key or value, and
// one with spaces or control characters, which a configuration file or a
// shell would mangle unseen.
func checkString(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s", what)
	}
	if len(s) > maxString {
		return fmt.Errorf("%s of %d bytes: at most %d", what, len(s), maxString)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q is not UTF-8", what, s)
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == '=' || c == '!' {
			return fmt.Errorf("%s %q holds a space, a control character, '=' or '!'", what, s)
		}
	}
	return nil
}

// String returns the rule as it was written.
func (r *Rule) String() string {
	if r == nil {
		return ""
	}
	return r.text
}

// ownsResource reports whether a resource rule owns res.
func (r *Rule) ownsResource(res pcommon.Resource) bool {
	v, ok := res.Attributes().Get(r.key)
	in := ok && v.Type() == pcommon.ValueTypeStr && slices.Contains(r.values, v.Str())
	return in != r.negate
}

// ownsTraceID reports whether a trace-ID rule owns id; the empty ID counts
// as zero.
func (r *Rule) ownsTraceID(id pcommon.TraceID) bool {
	var prefix uint64
	for i := range r.digits {
		b := id[i/2]
		if i%2 == 0 {
			b >>= 4
		}
		prefix = prefix<<4 | uint64(b&0xf)
	}
	return r.lo <= prefix && prefix <= r.hi
}

// Traces returns how many of td's spans do not belong to the shard. A nil
// rule owns them all.
func (r *Rule) Traces(td ptrace.Traces) int {
	if r == nil {
		return 0
	}
	n := 0
	for _, rs := range td.ResourceSpans().All() {
		if r.digits == 0 {
			if !r.ownsResource(rs.Resource()) {
				for _, ss := range rs.ScopeSpans().All() {
					n += ss.Spans().Len()
				}
			}
			continue
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if !r.ownsTraceID(s.TraceID()) {
					n++
				}
			}
		}
	}
	return n
}

// Logs returns how many of ld's log records do not belong to the shard. A
// nil rule owns them all.
func (r *Rule) Logs(ld plog.Logs) int {
	if r == nil {
		return 0
	}
	n := 0
	for _, rl := range ld.ResourceLogs().All() {
		if r.digits == 0 {
			if !r.ownsResource(rl.Resource()) {
				for _, sl := range rl.ScopeLogs().All() {
					n += sl.LogRecords().Len()
				}
			}
			continue
		}
		for _, sl := range rl.ScopeLogs().All() {
			for _, l := range sl.LogRecords().All() {
				if !r.ownsTraceID(l.TraceID()) {
					n++
				}
			}
		}
	}
	return n
}

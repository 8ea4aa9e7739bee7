package policy

import (
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// DefaultLinkWindow is how long before an API call a decision without
// trace context may have been made and still be linked to it.
const DefaultLinkWindow = 5 * time.Second

// How a decision was linked to a call.
const (
	// LinkTrace: the decision's trace ID is the call's, and the span it
	// names is the call's span or the call's parent.
	LinkTrace = "trace"
	// LinkRequest: the decision has no trace context; its subject, method
	// and path are the call's and it was made within the window before the
	// call ended.
	LinkRequest = "request"
)

// IsDecision reports whether e records a policy decision: an OPA decision
// entry, or a span or log record with a policy.decision attribute.
func IsDecision(e *ledger.Entry) bool {
	if e.Name == EntryName {
		return true
	}
	_, ok := e.Attr(AttrDecision)
	return ok
}

// subjectAttrs are the attributes of an API call that may name the
// subject a policy was asked about.
var subjectAttrs = []string{ledger.AttrCredentialSubject, ledger.AttrAgentID, "enduser.id", "service.name"}

// Link returns how decision d is linked to API call c ("" when it is
// not): by trace context when d has it, else by subject, method, path
// and time, within window before c's start up to its end.
func Link(c, d *ledger.Entry, window time.Duration) string {
	if d.TraceID != "" {
		if d.TraceID != c.TraceID {
			return ""
		}
		spans := []string{d.SpanID, d.ParentSpanID}
		if s, ok := d.Attr(AttrSpanID); ok {
			spans = append(spans, s)
		}
		for _, s := range spans {
			if s != "" && (s == c.SpanID || s == c.ParentSpanID) {
				return LinkTrace
			}
		}
		return ""
	}
	if d.Start.Before(c.Start.Add(-window)) || d.Start.After(c.End) {
		return ""
	}
	subject, _ := d.Attr(AttrSubject)
	method, _ := d.Attr(AttrHTTPMethod)
	path, _ := d.Attr(AttrURLPath)
	if subject == "" || method == "" || path == "" {
		return ""
	}
	if m, _ := c.Attr(AttrHTTPMethod); m != method {
		return ""
	}
	if p, _ := c.Attr(AttrURLPath); p != path {
		return ""
	}
	for _, k := range subjectAttrs {
		if v, ok := c.Attr(k); ok && v == subject {
			return LinkRequest
		}
	}
	return ""
}

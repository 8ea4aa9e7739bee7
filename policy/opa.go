package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// Bounds of one OPA decision event.
const (
	// maxAttrBytes bounds one attribute value taken from an event; an
	// event with a longer one is refused (the ledger truncates nothing).
	maxAttrBytes = 4096
	// maxIDBytes bounds a decision ID.
	maxIDBytes = 128
	// maxDepth bounds the nesting of an event's input and result.
	maxDepth = 64
)

// opaEvent is the part of OPA's decision-log event (its EventV1) the
// ledger reads. Input and Result are decoded with numbers kept as written.
type opaEvent struct {
	DecisionID string                     `json:"decision_id"`
	TraceID    string                     `json:"trace_id"`
	SpanID     string                     `json:"span_id"`
	Revision   string                     `json:"revision"`
	Bundles    map[string]json.RawMessage `json:"bundles"`
	Path       string                     `json:"path"`
	Query      string                     `json:"query"`
	Input      json.RawMessage            `json:"input"`
	Result     json.RawMessage            `json:"result"`
	Erased     []string                   `json:"erased"`
	Masked     []string                   `json:"masked"`
	Error      json.RawMessage            `json:"error"`
	Timestamp  string                     `json:"timestamp"`
}

// ParseOPA maps a decoded batch of OPA decision-log events (a JSON array,
// as OPA's decision-log plugin posts it after decompression) to entries,
// one per decision. Every string of an event's input and result passes
// through r, so secrets become fingerprints. A batch with any malformed
// event is refused whole, with the event's position.
func ParseOPA(r *secrets.Redactor, batch []byte) ([]ledger.Entry, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(batch, &raws); err != nil {
		return nil, fmt.Errorf("decision batch: want a JSON array of decision events: %w", err)
	}
	out := make([]ledger.Entry, 0, len(raws))
	seen := make(map[string]bool, len(raws))
	for i, raw := range raws {
		e, err := parseEvent(r, raw)
		if err != nil {
			return nil, fmt.Errorf("decision %d: %w", i, err)
		}
		if seen[e.EventKey] {
			continue
		}
		seen[e.EventKey] = true
		out = append(out, e)
	}
	return out, nil
}

func parseEvent(r *secrets.Redactor, raw json.RawMessage) (ledger.Entry, error) {
	if d := depth(raw); d > maxDepth {
		return ledger.Entry{}, fmt.Errorf("nested %d deep, limit %d", d, maxDepth)
	}
	var ev opaEvent
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		return ledger.Entry{}, fmt.Errorf("want a decision event object: %w", err)
	}
	if err := checkID(ev.DecisionID); err != nil {
		return ledger.Entry{}, err
	}
	ts, err := time.Parse(time.RFC3339Nano, ev.Timestamp)
	if err != nil {
		return ledger.Entry{}, fmt.Errorf("timestamp: want RFC 3339: %q", clip(ev.Timestamp))
	}
	b := builder{r: r, e: ledger.Entry{
		Kind:     ledger.KindSpan,
		Source:   ledger.SourceOPA,
		EventKey: ledger.SourceOPA + "/" + ev.DecisionID,
		Name:     EntryName,
		Start:    ts.UTC(),
		End:      ts.UTC(),
	}}
	if ev.TraceID != "" {
		if !isHex(ev.TraceID, 32) {
			return ledger.Entry{}, fmt.Errorf("trace_id: want 32 hex digits: %q", clip(ev.TraceID))
		}
		b.e.TraceID = strings.ToLower(ev.TraceID)
	}
	if ev.SpanID != "" && !isHex(ev.SpanID, 16) {
		return ledger.Entry{}, fmt.Errorf("span_id: want 16 hex digits: %q", clip(ev.SpanID))
	}
	input, err := b.decode("input", ev.Input)
	if err != nil {
		return ledger.Entry{}, err
	}
	result, err := b.decode("result", ev.Result)
	if err != nil {
		return ledger.Entry{}, err
	}
	// OPA's server logs data.http.authz.allow as http/authz/allow, its SDK
	// as the caller wrote it, often /http/authz/allow.
	path := strings.TrimPrefix(ev.Path, "/")
	if path == "" {
		path = ev.Query
	}
	b.set(AttrEngine, EngineOPA)
	b.set(AttrDecisionID, ev.DecisionID)
	b.set(AttrDecision, decisionOf(result, ev.Result != nil, len(ev.Error) > 0 && string(ev.Error) != "null"))
	b.set(AttrID, path)
	b.set(AttrBundles, bundles(ev.Bundles, ev.Revision))
	b.set(AttrSpanID, strings.ToLower(ev.SpanID))
	b.set(AttrSubject, subjectOf(input))
	method, urlPath := requestOf(input)
	b.set(AttrHTTPMethod, method)
	b.set(AttrURLPath, urlPath)
	b.set(AttrErased, strings.Join(ev.Erased, " "))
	b.set(AttrMasked, strings.Join(ev.Masked, " "))
	if len(ev.Error) > 0 && string(ev.Error) != "null" {
		reason, err := b.decode("error", ev.Error)
		if err != nil {
			return ledger.Entry{}, err
		}
		b.set(AttrReason, errorText(reason))
	}
	b.set(ledger.AttrCredentialFingerprint, b.fingerprints())
	if b.err != nil {
		return ledger.Entry{}, b.err
	}
	for _, c := range []struct {
		name string
		v    any
		set  bool
	}{{ContentInput, input, ev.Input != nil}, {ContentResult, result, ev.Result != nil}} {
		if !c.set {
			continue
		}
		data, err := marshal(c.v)
		if err != nil {
			return ledger.Entry{}, fmt.Errorf("%s: %w", c.name, err)
		}
		b.e.Content = append(b.e.Content, ledger.NewContent(c.name, data))
	}
	if err := b.e.Validate(); err != nil {
		return ledger.Entry{}, err
	}
	return b.e, nil
}

// builder builds one entry, redacting what it decodes.
type builder struct {
	r        *secrets.Redactor
	e        ledger.Entry
	findings []secrets.Finding
	err      error
}

// decode decodes a JSON value of the event and redacts every string in
// it; a missing value is nil.
func (b *builder) decode(field string, raw json.RawMessage) (any, error) {
	if raw == nil {
		return nil, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return b.redact(field, v), nil
}

// redact returns v with every string redacted as a member named name
// (array elements take their array's name) and every object key as text.
func (b *builder) redact(name string, v any) any {
	switch v := v.(type) {
	case string:
		out, f, _ := b.r.RedactAttr(name, v)
		b.findings = append(b.findings, f...)
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			nk, f, _ := b.r.RedactText(k)
			b.findings = append(b.findings, f...)
			out[nk] = b.redact(k, x)
		}
		return out
	case []any:
		for i, x := range v {
			v[i] = b.redact(name, x)
		}
		return v
	}
	return v
}

// fingerprints returns the fingerprints redaction found, sorted and
// space-separated.
func (b *builder) fingerprints() string {
	var fps []string
	for _, f := range b.findings {
		if f.Fingerprint != "" {
			fps = append(fps, f.Fingerprint)
		}
	}
	slices.Sort(fps)
	return strings.Join(slices.Compact(fps), " ")
}

// set adds attribute key unless v is empty.
func (b *builder) set(key, v string) {
	if v == "" || b.err != nil {
		return
	}
	if len(v) > maxAttrBytes {
		b.err = fmt.Errorf("%s is %d bytes, limit %d", key, len(v), maxAttrBytes)
		return
	}
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		b.err = fmt.Errorf("%s: invalid UTF-8 or a NUL character", key)
		return
	}
	b.e.Attrs = append(b.e.Attrs, ledger.Attr{Key: key, Value: v})
}

// decisionOf reads the decision from a result: a boolean, or an object
// whose allow member is a boolean.
func decisionOf(result any, present, failed bool) string {
	switch {
	case failed:
		return DecisionError
	case !present:
		return DecisionUndefined
	}
	if m, ok := result.(map[string]any); ok {
		result = m["allow"]
	}
	switch result {
	case true:
		return DecisionAllow
	case false:
		return DecisionDeny
	}
	return DecisionOther
}

// subjectOf reads who asked from the input: the member subject,
// principal or user, a string or an object's id, sub or name.
func subjectOf(input any) string {
	m, ok := input.(map[string]any)
	if !ok {
		return ""
	}
	for _, k := range []string{"subject", "principal", "user"} {
		switch v := m[k].(type) {
		case string:
			return v
		case map[string]any:
			for _, id := range []string{"id", "sub", "name"} {
				if s, ok := v[id].(string); ok {
					return s
				}
			}
		}
	}
	return ""
}

// requestOf reads the request the decision was about from the input:
// input.request.{method,path}, Envoy's
// input.attributes.request.http.{method,path}, or input.{method,path}.
func requestOf(input any) (method, path string) {
	for _, keys := range [][]string{{"request"}, {"attributes", "request", "http"}, {}} {
		v := input
		for _, k := range keys {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		method, _ = m["method"].(string)
		path, _ = m["path"].(string)
		if method != "" || path != "" {
			return strings.ToUpper(method), path
		}
	}
	return "", ""
}

// errorText renders OPA's error object: its message, else the JSON.
func errorText(v any) string {
	if m, ok := v.(map[string]any); ok {
		if s, ok := m["message"].(string); ok {
			return s
		}
	}
	if s, ok := v.(string); ok {
		return s
	}
	data, _ := marshal(v)
	return string(data)
}

// bundles renders OPA's bundles member as space-separated
// name=revision, sorted by name; the deprecated revision member alone
// becomes "=revision".
func bundles(bs map[string]json.RawMessage, revision string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(bs)) {
		var info struct {
			Revision string `json:"revision"`
		}
		json.Unmarshal(bs[name], &info)
		parts = append(parts, name+"="+info.Revision)
	}
	if len(parts) == 0 && revision != "" {
		parts = append(parts, "="+revision)
	}
	return strings.Join(parts, " ")
}

// marshal renders a decoded value: JSON with sorted keys, numbers as they
// were written, HTML characters unescaped.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkID checks a decision ID: 1 to 128 printable ASCII characters.
func checkID(id string) error {
	if id == "" {
		return errors.New("decision_id is missing")
	}
	if len(id) > maxIDBytes {
		return fmt.Errorf("decision_id is %d bytes, limit %d", len(id), maxIDBytes)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fmt.Errorf("decision_id: want printable ASCII: %q", clip(id))
		}
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// depth returns the deepest nesting of objects and arrays in a JSON text,
// counting brackets outside strings.
func depth(data []byte) int {
	d, maxD, inStr, esc := 0, 0, false, false
	for _, c := range data {
		switch {
		case esc:
			esc = false
		case inStr:
			if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			d++
			maxD = max(maxD, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return maxD
}

// clip cuts a value quoted in an error to 64 bytes.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "…"
}

package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// Mapper turns OTLP spans and log records into ledger entries. It is safe
// for concurrent use.
type Mapper struct {
	redactor      *secrets.Redactor
	genai         bool
	openinference bool
	openllmetry   bool
	rules         []copyRule // user mappings first, then core, then profiles
	exact         map[string]contentRule
	exactKeys     uint64            // keyBit of every name in exact
	prefixes      [256][]prefixRule // by the first byte of their prefix, in order
	limits        Limits
	leaf          leafList // the attributes whose values stay in the leaf
}

// NewMapper returns a Mapper that redacts with r. A nil Profiles means every
// profile; zero limits take their defaults.
func NewMapper(r *secrets.Redactor, mc MappingConfig, limits Limits) (*Mapper, error) {
	if r == nil {
		return nil, errors.New("ingest: a secret redactor is required")
	}
	if err := mc.validate(); err != nil {
		return nil, err
	}
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	profiles := mc.Profiles
	if profiles == nil {
		profiles = Profiles
	}
	m := &Mapper{redactor: r, limits: limits.withDefaults(), leaf: newLeafList(mc.LeafAttributes)}
	for _, target := range sortedKeys(mc.AttributeMappings) {
		m.rules = append(m.rules, copyRule{target: target, sources: mc.AttributeMappings[target]})
	}
	m.rules = append(m.rules, coreRules...)
	for _, p := range profiles {
		switch p {
		case ProfileGenAI:
			m.genai = true
			m.rules = append(m.rules, genaiRules...)
		case ProfileOpenInference:
			m.openinference = true
			m.rules = append(m.rules, openinferenceRules...)
		case ProfileOpenLLMetry:
			m.openllmetry = true
			m.rules = append(m.rules, openllmetryRules...)
		}
	}
	var prefixes []prefixRule
	m.exact, prefixes = m.contentRules()
	for k := range m.exact {
		m.exactKeys |= keyBit(k)
	}
	for _, p := range prefixes {
		if p.prefix == "" {
			for c := range m.prefixes {
				m.prefixes[c] = append(m.prefixes[c], p)
			}
			continue
		}
		m.prefixes[p.prefix[0]] = append(m.prefixes[p.prefix[0]], p)
	}
	return m, nil
}

// Map returns the ledger entries of the spans in td, in order: for each
// span its entry and the entries of its credential and approval events,
// and for each resource one attestation entry per trace. Every string has
// passed through the redactor. It fails, wrapping ledger.ErrInvalid, on
// malformed or over-limit input, naming what was wrong; then no entry is
// returned. It stops, returning ctx's error, when ctx ends (the sender hung
// up). Mapping the same spans again gives entries with the same dedup
// keys.
func Map(ctx context.Context, td ptrace.Traces, m *Mapper) ([]ledger.Entry, error) {
	if n := td.SpanCount(); n > m.limits.MaxSpansPerRequest {
		return nil, invalidf("request holds %d spans, limit is %d (limits.max_spans_per_request)", n, m.limits.MaxSpansPerRequest)
	}
	entries := make([]ledger.Entry, 0, td.SpanCount()+td.ResourceSpans().Len())
	var scratch spanScratch
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		res, err := m.resource(rs.Resource())
		if err != nil {
			return nil, fmt.Errorf("resource %d: %w", i, err)
		}
		groups := map[string]*attestGroup{}
		var ids hexIDs
		sss := rs.ScopeSpans()
		for j := range sss.Len() {
			ss := sss.At(j)
			scope := ss.Scope()
			if err := checkScope(scope); err != nil {
				return nil, fmt.Errorf("resource %d scope %d: %w", i, j, err)
			}
			spans := ss.Spans()
			for k := range spans.Len() {
				if err := ctx.Err(); err != nil {
					return nil, fmt.Errorf("map spans: %w", err)
				}
				sp := spans.At(k)
				n := len(entries)
				entries, err = m.span(entries, res, scope, sp, &ids, &scratch)
				if err != nil {
					tid, sid := sp.TraceID(), sp.SpanID()
					return nil, fmt.Errorf("resource %d scope %d span %d (trace %x span %x): %w", i, j, k, tid[:], sid[:], err)
				}
				g := groups[entries[n].TraceID]
				if g == nil {
					g = &attestGroup{models: map[string]bool{}}
					groups[entries[n].TraceID] = g
				}
				g.add(&entries[n])
			}
		}
		for _, traceID := range sortedKeys(groups) {
			e, err := m.attestation(res, traceID, groups[traceID])
			if err != nil {
				return nil, fmt.Errorf("resource %d: attestation: %w", i, err)
			}
			entries = append(entries, e)
		}
	}
	return entries, nil
}

func checkScope(scope pcommon.InstrumentationScope) error {
	if err := checkText("scope name", scope.Name(), false); err != nil {
		return err
	}
	return checkText("scope version", scope.Version(), false)
}

// resourceInfo is what every entry of one resource shares.
type resourceInfo struct {
	serviceName      string
	serviceNamespace string
	attrs            []ledger.Attr // redacted, sorted by key
	findings         []secrets.Finding
}

func (m *Mapper) resource(r pcommon.Resource) (*resourceInfo, error) {
	if err := m.checkAttrCount("resource", r.Attributes().Len()); err != nil {
		return nil, err
	}
	b := m.newBuilder()
	var err error
	r.Attributes().Range(func(k string, v pcommon.Value) bool {
		if err = checkAttrKey(k); err != nil {
			return false
		}
		err = b.structural(k, v)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	info := &resourceInfo{attrs: b.attrs, findings: b.sc.findings}
	info.serviceName, _ = b.get(AttrServiceName)
	info.serviceNamespace, _ = b.get(AttrServiceNamespace)
	slices.SortFunc(info.attrs, func(x, y ledger.Attr) int { return strings.Compare(x.Key, y.Key) })
	return info, nil
}

// checkAttrCount rejects what (a span, a log record, …) if it holds n
// attributes, more than the limit.
func (m *Mapper) checkAttrCount(what string, n int) error {
	if n > m.limits.MaxAttributesPerSpan {
		return invalidf("%s has %d attributes, limit is %d (limits.max_attributes_per_span)", what, n, m.limits.MaxAttributesPerSpan)
	}
	return nil
}

func checkAttrKey(k string) error {
	if k == "" {
		return invalidf("attribute with an empty name")
	}
	if !textOK(k, false) {
		return checkText(fmt.Sprintf("attribute name %q", k), k, false)
	}
	if strings.HasPrefix(k, "agentledger.") {
		return invalidf("attribute %q: the agentledger. namespace is reserved for the receiver", k)
	}
	return nil
}

// attestGroup gathers, for one resource and trace, the span times and the
// models used.
type attestGroup struct {
	start, end time.Time // the earliest start and latest end
	models     map[string]bool
	any        bool
}

func (g *attestGroup) add(e *ledger.Entry) {
	if !g.any || e.Start.Before(g.start) {
		g.start = e.Start
	}
	if !g.any || e.End.After(g.end) {
		g.end = e.End
	}
	g.any = true
	for _, k := range []string{"gen_ai.request.model", "gen_ai.response.model"} {
		if v, ok := e.Attr(k); ok && v != "" && !strings.ContainsAny(v, " \t\r\n") {
			g.models[v] = true
		}
	}
}

// attestation returns the attestation entry of one resource and trace: what
// ran (the resource attributes: service name and version, container image,
// OCI manifest digest, …) and the models its spans used. Its event key is a
// digest of those facts, so a retry yields the same entry.
func (m *Mapper) attestation(res *resourceInfo, traceID string, g *attestGroup) (ledger.Entry, error) {
	b := m.newBuilder()
	for _, a := range res.attrs {
		b.set(a.Key, a.Value)
	}
	if len(g.models) > 0 {
		b.put(AttrModels, strings.Join(sortedKeys(g.models), " "))
	}
	h := sha256.New()
	var buf []byte
	for _, a := range b.attrs {
		// "<len>:<key><len>:<value>"
		buf = strconv.AppendInt(buf[:0], int64(len(a.Key)), 10)
		buf = append(append(buf, ':'), a.Key...)
		buf = strconv.AppendInt(buf, int64(len(a.Value)), 10)
		buf = append(append(buf, ':'), a.Value...)
		h.Write(buf)
	}
	b.sc.findings = res.findings
	b.attrFindings = len(res.findings)
	b.credentialFacts()
	return b.entry(ledger.Entry{
		Kind:     ledger.KindAttestation,
		TraceID:  traceID,
		EventKey: "attestation/" + hex.EncodeToString(h.Sum(nil)),
		Name:     "attestation",
		Start:    g.start,
		End:      g.end,
	})
}

// hexIDs keeps the hex form of the last trace and parent span IDs, which
// the next spans of a request mostly share, so that they share one string.
type hexIDs struct {
	traceID             pcommon.TraceID
	parentID            pcommon.SpanID
	traceHex, parentHex string
}

func (h *hexIDs) trace(id pcommon.TraceID) string {
	if h.traceHex == "" || id != h.traceID {
		h.traceID, h.traceHex = id, hex.EncodeToString(id[:])
	}
	return h.traceHex
}

func (h *hexIDs) parent(id pcommon.SpanID) string {
	if h.parentHex == "" || id != h.parentID {
		h.parentID, h.parentHex = id, hex.EncodeToString(id[:])
	}
	return h.parentHex
}

// spanScratch is what the spans of one request reuse: one builder, the
// arrays their entries' attributes are cut from, outputFacts' buffers and
// a pool of salts.
// Without it, each span allocated a builder and, past 16 attributes, a
// second array for them, and fit a third for the attributes it keeps.
type spanScratch struct {
	b     builder
	attrs attrSlab
	facts factBufs
	salts saltPool
}

// builder returns the scratch builder, emptied, for m. Its findings and
// attributes arrays are reused: entry copies the attributes out, and
// nothing keeps the findings.
func (s *spanScratch) builder(m *Mapper) *builder {
	b := &s.b
	findings, attrs := b.sc.findings[:0], b.attrs[:0]
	*b = builder{m: m, sc: scrub{r: m.redactor, findings: findings}, attrs: attrs, slab: &s.attrs, facts: &s.facts, salts: &s.salts}
	if b.attrs == nil { // the first span: b is s.b, at the same place for every span
		b.attrs = b.attrBuf[:0]
	}
	return b
}

// attrSlab cuts attribute lists from arrays of attrSlabSize attributes,
// so that the entries of a request share a few allocations.
type attrSlab struct {
	free []ledger.Attr
}

// attrSlabSize is how many attributes one array of an attrSlab holds
// (32 KiB).
const attrSlabSize = 1024

// make returns an empty list with room for n attributes, and no more: an
// append past n copies the list rather than overwriting the next one.
func (s *attrSlab) make(n int) []ledger.Attr {
	if n > attrSlabSize/4 {
		return make([]ledger.Attr, 0, n)
	}
	if cap(s.free) < n {
		s.free = make([]ledger.Attr, attrSlabSize)
	}
	list := s.free[:0:n]
	s.free = s.free[n:]
	return list
}

// span appends the entries of one span to entries: the span's own entry
// first, then one per credential or approval event.
func (m *Mapper) span(entries []ledger.Entry, res *resourceInfo, scope pcommon.InstrumentationScope, sp ptrace.Span, ids *hexIDs, scratch *spanScratch) ([]ledger.Entry, error) {
	traceID, spanID := sp.TraceID(), sp.SpanID()
	if traceID.IsEmpty() {
		return entries, invalidf("trace_id is all zero")
	}
	if spanID.IsEmpty() {
		return entries, invalidf("span_id is all zero")
	}
	if err := checkText("span name", sp.Name(), false); err != nil {
		return entries, err
	}
	if n := sp.Events().Len(); n > m.limits.MaxEventsPerSpan {
		return entries, invalidf("span has %d events, limit is %d (limits.max_events_per_span)", n, m.limits.MaxEventsPerSpan)
	}
	if err := m.checkAttrCount("span", sp.Attributes().Len()); err != nil {
		return entries, err
	}
	for i := range sp.Events().Len() {
		if err := m.checkAttrCount(fmt.Sprintf("event %d", i), sp.Events().At(i).Attributes().Len()); err != nil {
			return entries, err
		}
	}
	kind, op := m.classify(sp)
	b := scratch.builder(m)
	name := b.sc.text(sp.Name())
	base := ledger.Entry{
		Kind:    kind,
		TraceID: ids.trace(traceID),
		SpanID:  hex.EncodeToString(spanID[:]),
		Name:    name,
		Start:   otelTime(sp.StartTimestamp()),
		End:     otelTime(sp.EndTimestamp()),
	}
	if p := sp.ParentSpanID(); !p.IsEmpty() {
		base.ParentSpanID = ids.parent(p)
	}

	// Structural attributes first (their findings give credential facts),
	// content after.
	var pending [8]pendingContent
	content, err := m.splitAttributes(sp.Attributes(), b, pending[:0])
	if err != nil {
		return entries, err
	}
	b.common(res, kind, op)
	b.put(AttrSpanKind, spanKindName(int32(sp.Kind())))
	b.put(AttrStatusCode, statusCodeName(sp.Status().Code()))
	if msg := sp.Status().Message(); msg != "" {
		if err := checkText("status message", msg, false); err != nil {
			return entries, err
		}
		b.put(AttrStatusDescription, b.sc.text(msg))
	}
	if scope.Name() != "" {
		b.put(AttrScopeName, b.sc.text(scope.Name()))
	}
	if scope.Version() != "" {
		b.put(AttrScopeVersion, b.sc.text(scope.Version()))
	}
	if links := sp.Links(); links.Len() > 0 {
		var ls []string
		for i := range links.Len() {
			l := links.At(i)
			tid, sid := l.TraceID(), l.SpanID()
			ls = append(ls, hex.EncodeToString(tid[:])+"/"+hex.EncodeToString(sid[:]))
		}
		b.set(AttrLinks, strings.Join(ls, " "))
	}
	if kind == ledger.KindAPICall {
		b.apiCall()
	}
	b.attrFindings = len(b.sc.findings)

	// Content.
	groups := map[string][]flatAttr{}
	var groupOrder []string
	for _, p := range content {
		if p.rule.messages || p.rule.group {
			item, err := b.contentItem(p.key, p.v)
			if err != nil {
				return entries, err
			}
			id := p.rule.name + "\x00" + strings.TrimSuffix(p.key, p.rest)
			if _, ok := groups[id]; !ok {
				groupOrder = append(groupOrder, id)
			}
			groups[id] = append(groups[id], flatAttr{rest: p.rest, value: item})
			continue
		}
		data, err := b.sc.contentValue(attrLabel(p.key), p.v)
		if err != nil {
			return entries, err
		}
		if err := b.addContent(p.rule.name, p.key, data); err != nil {
			return entries, err
		}
	}
	for _, id := range groupOrder {
		name, prefix, _ := strings.Cut(id, "\x00")
		var data []byte
		if strings.HasSuffix(prefix, "messages.") || prefix == "gen_ai.prompt." || prefix == "gen_ai.completion." {
			data = buildMessages(groups[id])
		} else {
			data = buildGroup(groups[id])
		}
		if err := b.addContent(name, strings.TrimSuffix(prefix, "."), string(data)); err != nil {
			return entries, err
		}
	}

	// Events: credential and approval events become entries of their own;
	// GenAI message events and all others become content of this one.
	var eventEntries []ledger.Entry
	var inEvents, outEvents, otherEvents []any
	events := sp.Events()
	for i := range events.Len() {
		ev := events.At(i)
		if !textOK(ev.Name(), false) {
			return entries, checkText(fmt.Sprintf("event %d name", i), ev.Name(), false)
		}
		if ek, op := eventKind(ev.Name(), ev.Attributes()); ek != "" {
			e, err := m.spanEvent(res, base, i, ev, ek, op)
			if err != nil {
				return entries, fmt.Errorf("event %d (%s): %w", i, ek, err)
			}
			eventEntries = append(eventEntries, e)
			continue
		}
		obj, err := b.eventObject(i, ev)
		if err != nil {
			return entries, err
		}
		switch {
		case m.genai && inputEvents[ev.Name()]:
			inEvents = append(inEvents, obj)
		case m.genai && outputEvents[ev.Name()]:
			outEvents = append(outEvents, obj)
		default:
			otherEvents = append(otherEvents, obj)
		}
	}
	for _, ev := range []struct {
		name, fallback string
		list           []any
	}{
		{ContentInputMessages, "input.events", inEvents},
		{ContentOutputMessages, "output.events", outEvents},
		{ContentEvents, ContentEvents, otherEvents},
	} {
		if len(ev.list) > 0 {
			if err := b.addContent(ev.name, ev.fallback, string(marshalJSON(ev.list))); err != nil {
				return entries, err
			}
		}
	}
	if kind == ledger.KindLLM {
		b.llmFacts()
	}
	b.credentialFacts()
	e, err := b.entry(base)
	if err != nil {
		return entries, err
	}
	entries = append(entries, e)
	return append(entries, eventEntries...), nil
}

// splitAttributes adds the structural attributes of attrs to b and appends
// to content those that become content, in order. A repeated key counts once.
func (m *Mapper) splitAttributes(attrs pcommon.Map, b *builder, content []pendingContent) ([]pendingContent, error) {
	var seen keySet
	seen.init(attrs.Len())
	var err error
	attrs.Range(func(k string, v pcommon.Value) bool {
		if err = checkAttrKey(k); err != nil {
			return false
		}
		if !seen.add(k) {
			return true
		}
		if rule, rest, ok := m.contentRuleFor(k); ok {
			content = append(content, pendingContent{k, rule, rest, v})
			return true
		}
		err = b.attribute(k, v)
		return err == nil
	})
	return content, err
}

// keySet is a set of attribute names: a list of the first few, which a
// scan searches faster than a map and without allocating, or a map for a
// map of more attributes, so that hostile input stays linear.
type keySet struct {
	small [16]string
	n     int
	big   map[string]bool
}

// init prepares the set for at most n names.
func (s *keySet) init(n int) {
	if n > len(s.small) {
		s.big = make(map[string]bool, n)
	}
}

// add adds k and reports whether it was new.
func (s *keySet) add(k string) bool {
	if s.big != nil {
		if s.big[k] {
			return false
		}
		s.big[k] = true
		return true
	}
	if slices.Contains(s.small[:s.n], k) {
		return false
	}
	s.small[s.n] = k
	s.n++
	return true
}

// pendingContent is an attribute that becomes content once the structural
// attributes are done.
type pendingContent struct {
	key  string
	rule contentRule
	rest string // the key after the rule's prefix
	v    pcommon.Value
}

// attribute adds one structural attribute, with the special handling of
// URLs (secret query values become fingerprints) and database queries (the
// leaf keeps the query with its literals replaced by '?'; the redacted
// query is content).
func (b *builder) attribute(k string, v pcommon.Value) error {
	switch {
	case urlAttr(k) && v.Type() == pcommon.ValueTypeStr:
		if !textOK(v.Str(), false) {
			return checkText(fmt.Sprintf("attribute %q", k), v.Str(), false)
		}
		s := b.redactURL(k, v.Str())
		if err := b.checkValue(k, s); err != nil {
			return err
		}
		b.set(b.sc.name(k), s)
		return nil
	case queryAttr(k) && v.Type() == pcommon.ValueTypeStr:
		if !textOK(v.Str(), false) {
			return checkText(fmt.Sprintf("attribute %q", k), v.Str(), false)
		}
		s := sanitizeSQL(b.sc.attr(k, v.Str()))
		if err := b.checkValue(k, s); err != nil {
			return err
		}
		b.set(b.sc.name(k), s)
		full, err := b.sc.contentValue(attrLabel(k), v)
		if err != nil {
			return err
		}
		if full != s {
			return b.addContent(ContentDBQuery, k, full)
		}
		return nil
	}
	return b.structural(k, v)
}

// common adds what every entry of a span carries besides its own
// attributes: the service name and namespace, the credential operation, and the copied
// attributes of the mappings and profiles.
func (b *builder) common(res *resourceInfo, kind ledger.Kind, op string) {
	if op != "" {
		b.set(ledger.AttrCredentialOperation, op)
	}
	for i := range b.m.rules {
		r := &b.m.rules[i]
		if r.kinds != nil && !slices.Contains(r.kinds, kind) {
			continue
		}
		if _, ok := b.get(r.target); ok {
			continue
		}
		for _, s := range r.sources {
			if v, ok := b.get(s); ok {
				b.set(r.target, v)
				break
			}
		}
	}
	if res.serviceName != "" {
		b.set(AttrServiceName, res.serviceName)
	}
	if res.serviceNamespace != "" {
		b.set(AttrServiceNamespace, res.serviceNamespace)
	}
}

// llmFacts adds to an llm step the tool-call IDs it decided and its
// reasoning, both read from its output content.
func (b *builder) llmFacts() {
	var ids, reasoning []string
	for _, c := range b.content {
		switch c.Name {
		case ContentOutputMessages, ContentOutput, "output.events":
			ids, reasoning = b.facts.outputFacts(c.Data, ids, reasoning)
		}
	}
	if len(ids) > 0 {
		b.set(AttrToolCallIDs, strings.Join(ids, " "))
	}
	if len(reasoning) > 0 && !b.hasContent(ContentReasoning) {
		// Reasoning was redacted with the output it came from.
		_ = b.addContent(ContentReasoning, ContentReasoning+"+", strings.Join(reasoning, "\n\n"))
	}
}

// eventObject renders a span event as content: its name, time and
// attributes, every string redacted.
func (b *builder) eventObject(i int, ev ptrace.SpanEvent) (any, error) {
	attrs, err := b.mapObject(label{kind: "attributes of event", name: ev.Name()}, ev.Attributes())
	if err != nil {
		return nil, err
	}
	obj := map[string]any{
		"name":           b.sc.text(ev.Name()),
		"time_unix_nano": json.Number(strconv.FormatUint(uint64(ev.Timestamp()), 10)),
	}
	if attrs != nil {
		obj["attributes"] = attrs
	}
	return obj, nil
}

// mapObject renders a map as content JSON, or nil if it is empty.
func (b *builder) mapObject(what label, m pcommon.Map) (any, error) {
	if m.Len() == 0 {
		return nil, nil
	}
	v := pcommon.NewValueEmpty()
	m.CopyTo(v.SetEmptyMap())
	data, err := b.sc.contentValue(what, v)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(data), nil
}

// spanEvent returns the entry of a credential or approval span event. It
// carries the span's IDs; its event key is the event's position and name,
// so a retry yields the same key.
func (m *Mapper) spanEvent(res *resourceInfo, span ledger.Entry, i int, ev ptrace.SpanEvent, kind ledger.Kind, op string) (ledger.Entry, error) {
	b := m.newBuilder()
	name := b.sc.text(ev.Name())
	var err error
	seen := map[string]bool{}
	ev.Attributes().Range(func(k string, v pcommon.Value) bool {
		if err = checkAttrKey(k); err != nil {
			return false
		}
		if seen[k] {
			return true
		}
		seen[k] = true
		err = b.attribute(k, v)
		return err == nil
	})
	if err != nil {
		return ledger.Entry{}, err
	}
	b.common(res, kind, op)
	b.attrFindings = len(b.sc.findings)
	b.credentialFacts()
	t := otelTime(ev.Timestamp())
	return b.entry(ledger.Entry{
		Kind:         kind,
		TraceID:      span.TraceID,
		SpanID:       span.SpanID,
		ParentSpanID: span.ParentSpanID,
		EventKey:     "event/" + strconv.Itoa(i) + "/" + name,
		Name:         name,
		Start:        t,
		End:          t,
	})
}

// statusCodeName renders an OTLP status code as otel.status_code.
func statusCodeName(c ptrace.StatusCode) string {
	switch c {
	case ptrace.StatusCodeUnset:
		return "UNSET"
	case ptrace.StatusCodeOk:
		return "OK"
	case ptrace.StatusCodeError:
		return "ERROR"
	}
	return strconv.Itoa(int(c))
}

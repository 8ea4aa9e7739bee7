package ingest

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/agentledger/agentledger/ledger"
)

// operationDetails is the GenAI event that carries a whole inference
// (its attributes and content) as a log record.
const operationDetails = "gen_ai.client.inference.operation.details"

// MapLogs returns the ledger entries of the log events in ld that the
// ledger records: credential.* and approval.* events become credential and
// approval entries, GenAI message and inference events become llm entries
// (their content behind commitments), other gen_ai.* events span entries.
// Other log records are not recorded (the receiver still forwards them).
// A record whose attributes or resource carry evidence.source is a line of
// an issuer's or provider's audit log, mapped by package evidence.
// A record without an event name is named by its event.name attribute.
// Errors are as for Map. A record's event key is a keyed digest of its
// contents, so a retry yields the same key and two identical records are
// one entry.
func MapLogs(ctx context.Context, ld plog.Logs, m *Mapper) ([]ledger.Entry, error) {
	if n := ld.LogRecordCount(); n > m.limits.MaxLogRecordsPerRequest {
		return nil, invalidf("request holds %d log records, limit is %d (limits.max_log_records_per_request)", n, m.limits.MaxLogRecordsPerRequest)
	}
	var entries []ledger.Entry
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		res, err := m.resource(rl.Resource())
		if err != nil {
			return nil, fmt.Errorf("resource %d: %w", i, err)
		}
		groups := map[string]*attestGroup{}
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			sl := sls.At(j)
			if err := checkScope(sl.Scope()); err != nil {
				return nil, fmt.Errorf("resource %d scope %d: %w", i, j, err)
			}
			lrs := sl.LogRecords()
			for k := range lrs.Len() {
				if err := ctx.Err(); err != nil {
					return nil, fmt.Errorf("map log records: %w", err)
				}
				if format, ok := evidenceFormat(rl.Resource(), lrs.At(k)); ok {
					es, err := m.evidenceEntries(format, lrs.At(k))
					if err != nil {
						return nil, fmt.Errorf("resource %d scope %d log record %d: %w", i, j, k, err)
					}
					entries = append(entries, es...)
					continue
				}
				e, ok, err := m.logRecord(res, sl.Scope(), lrs.At(k))
				if err != nil {
					return nil, fmt.Errorf("resource %d scope %d log record %d: %w", i, j, k, err)
				}
				if !ok {
					continue
				}
				entries = append(entries, e)
				if e.TraceID != "" {
					g := groups[e.TraceID]
					if g == nil {
						g = &attestGroup{models: map[string]bool{}}
						groups[e.TraceID] = g
					}
					g.add(&e)
				}
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

// logKind classifies a log event by name.
func (m *Mapper) logKind(name string, attrs pcommon.Map) (ledger.Kind, string) {
	if k, op := eventKind(name, attrs); k != "" {
		return k, op
	}
	if !m.genai {
		return "", ""
	}
	switch {
	case inputEvents[name] || outputEvents[name] || name == operationDetails:
		return ledger.KindLLM, ""
	case strings.HasPrefix(name, "gen_ai."):
		return ledger.KindSpan, ""
	}
	return "", ""
}

func (m *Mapper) logRecord(res *resourceInfo, scope pcommon.InstrumentationScope, lr plog.LogRecord) (ledger.Entry, bool, error) {
	name := lr.EventName()
	if name == "" {
		if v, ok := lr.Attributes().Get(AttrEventName); ok && v.Type() == pcommon.ValueTypeStr {
			name = v.Str()
		}
	}
	if err := checkText("event name", name, false); err != nil {
		return ledger.Entry{}, false, err
	}
	kind, op := m.logKind(name, lr.Attributes())
	if kind == "" {
		return ledger.Entry{}, false, nil
	}
	if err := m.checkAttrCount("log record", lr.Attributes().Len()); err != nil {
		return ledger.Entry{}, false, err
	}
	b := m.newBuilder()
	content, err := m.splitAttributes(lr.Attributes(), b, nil)
	if err != nil {
		return ledger.Entry{}, false, err
	}
	body := lr.Body()
	if kind == ledger.KindCredential || kind == ledger.KindApproval {
		// The facts of a credential or approval event may be in its body.
		if body.Type() == pcommon.ValueTypeMap {
			if err := m.checkAttrCount("log record body", body.Map().Len()); err != nil {
				return ledger.Entry{}, false, err
			}
			body.Map().Range(func(k string, v pcommon.Value) bool {
				if err = checkAttrKey(k); err != nil {
					return false
				}
				if _, ok := b.get(k); ok {
					return true
				}
				err = b.attribute(k, v)
				return err == nil
			})
			if err != nil {
				return ledger.Entry{}, false, fmt.Errorf("body: %w", err)
			}
			body = pcommon.NewValueEmpty()
		}
	}
	b.common(res, kind, op)
	b.set(AttrEventName, name)
	if scope.Name() != "" {
		b.set(AttrScopeName, b.sc.text(scope.Name()))
	}
	if st := lr.SeverityText(); st != "" {
		if err := checkText("severity text", st, false); err != nil {
			return ledger.Entry{}, false, err
		}
		b.set("log.severity_text", b.sc.text(st))
	}
	b.attrFindings = len(b.sc.findings)

	for _, p := range content {
		data, err := b.sc.contentValue(attrLabel(p.key), p.v)
		if err != nil {
			return ledger.Entry{}, false, err
		}
		if p.rule.messages || p.rule.group {
			// Flattened messages arrive on spans, not events; keep such an
			// attribute as content under its own name.
			if err := b.addContent(p.key, p.key, data); err != nil {
				return ledger.Entry{}, false, err
			}
			continue
		}
		if err := b.addContent(p.rule.name, p.key, data); err != nil {
			return ledger.Entry{}, false, err
		}
	}
	if body.Type() != pcommon.ValueTypeEmpty {
		data, err := b.sc.contentValue(label{kind: "log body"}, body)
		if err != nil {
			return ledger.Entry{}, false, err
		}
		cname := ContentBody
		switch {
		case inputEvents[name]:
			cname = ContentInputMessages
		case outputEvents[name]:
			cname = ContentOutputMessages
		}
		if err := b.addContent(cname, ContentBody, data); err != nil {
			return ledger.Entry{}, false, err
		}
	}
	if kind == ledger.KindLLM {
		b.llmFacts()
	}
	b.credentialFacts()

	t := lr.Timestamp()
	if t == 0 {
		t = lr.ObservedTimestamp()
	}
	e := ledger.Entry{
		Kind:  kind,
		Name:  b.sc.text(name),
		Start: otelTime(t),
		End:   otelTime(t),
	}
	if tid := lr.TraceID(); !tid.IsEmpty() {
		e.TraceID = hex.EncodeToString(tid[:])
	}
	if sid := lr.SpanID(); !sid.IsEmpty() {
		e.SpanID = hex.EncodeToString(sid[:])
	}
	e.EventKey = "log/" + b.digest(&e, uint64(lr.Timestamp()), uint64(lr.ObservedTimestamp()), int32(lr.SeverityNumber()))
	out, err := b.entry(e)
	return out, err == nil, err
}

// digest is a keyed digest (HMAC with the ledger secret, so that it says
// nothing about the content to whoever lacks the secret) of everything a
// log record's entry holds: the same record gives the same digest.
func (b *builder) digest(e *ledger.Entry, t, observed uint64, severity int32) string {
	var s strings.Builder
	field := func(v string) {
		s.WriteString(strconv.Itoa(len(v)))
		s.WriteByte(':')
		s.WriteString(v)
	}
	field(string(e.Kind))
	field(e.TraceID)
	field(e.SpanID)
	field(e.Name)
	field(strconv.FormatUint(t, 10))
	field(strconv.FormatUint(observed, 10))
	field(strconv.Itoa(int(severity)))
	attrs := make(map[string]string, len(b.attrs))
	for _, a := range b.attrs {
		attrs[a.Key] = a.Value
	}
	for _, k := range sortedKeys(attrs) {
		field(k)
		field(attrs[k])
	}
	for _, c := range b.content {
		field(c.Name)
		field(string(c.Data))
	}
	fp := b.m.redactor.Fingerprint(s.String())
	return fp[strings.IndexByte(fp, ':')+1:]
}

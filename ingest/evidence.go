package ingest

import (
	"bytes"
	"encoding/json"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/agentledger/agentledger/evidence"
	"github.com/agentledger/agentledger/ledger"
)

// AttrEvidenceSource, on a log record or its resource, names the audit-log
// format of the record's body (cloudtrail, vault, k8s-audit, keycloak): the
// record is a line of an issuer's or provider's audit log, as a stock
// collector's filelog receiver reads it, and is mapped by package evidence
// instead of as an agent's event.
const AttrEvidenceSource = "evidence.source"

// evidenceFormat returns the audit-log format a log record's attributes,
// or else its resource's, name.
func evidenceFormat(res pcommon.Resource, lr plog.LogRecord) (string, bool) {
	for _, attrs := range []pcommon.Map{lr.Attributes(), res.Attributes()} {
		if v, ok := attrs.Get(AttrEvidenceSource); ok {
			return v.AsString(), true
		}
	}
	return "", false
}

// evidenceEntries maps a log record that carries audit-log records in its
// body: a string (filelog's line), bytes, or a map (a line a json_parser
// operator already parsed). A record the parser refuses fails the request,
// as any malformed input does.
func (m *Mapper) evidenceEntries(format string, lr plog.LogRecord) ([]ledger.Entry, error) {
	f, err := evidence.ParseFormat(format)
	if err != nil {
		return nil, invalidf("%s: %v", AttrEvidenceSource, err)
	}
	p, err := evidence.NewParser(m.redactor, evidence.Config{Format: f, MaxRecordBytes: m.limits.MaxContentBytes})
	if err != nil {
		return nil, invalidf("%v", err)
	}
	var body []byte
	switch b := lr.Body(); b.Type() {
	case pcommon.ValueTypeStr:
		body = []byte(b.Str())
	case pcommon.ValueTypeBytes:
		body = b.Bytes().AsRaw()
	case pcommon.ValueTypeMap:
		if body, err = json.Marshal(b.Map().AsRaw()); err != nil {
			return nil, invalidf("body: %v", err)
		}
	default:
		return nil, invalidf("an %s record's body is %s, want the record as a string", format, b.Type())
	}
	var out []ledger.Entry
	err = p.Read(bytes.NewReader(body), func(r evidence.Record) error {
		if r.Err != nil {
			return invalidf("%s %v", format, r.Err)
		}
		out = append(out, r.Entries...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

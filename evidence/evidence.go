// Package evidence parses the audit logs of credential issuers and
// providers into ledger entries: AWS CloudTrail, the HashiCorp Vault audit
// device, the Kubernetes audit log and Keycloak events. These are the other
// side of every credential an agent reports: the issuer's record that it
// issued, exchanged or revoked a credential (credential entries), and the
// provider's record of each request made with one (api_call entries).
//
// Parsing streams: one record is in memory at a time, bounded in size and
// nesting. A record that cannot be read or mapped is refused whole, with
// its record and line number, and the records after it are still read.
// Every string of a record passes through the same secrets.Redactor as
// OTLP spans before it reaches an entry, so session tokens, client tokens
// and Authorization headers become keyed fingerprints; values the source
// already hashed (Vault's "hmac-sha256:…") are kept as they are.
//
// Each entry carries its Source (ledger.SourceCloudTrail, …) and the event
// key "<source>/<the source's own event ID>", with no trace ID, so reading
// the same record twice yields entries with the same dedup keys: importing
// a file again appends nothing.
package evidence

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// Format names an audit-log format; its value is the ledger source the
// entries it yields carry.
type Format string

// The formats the package reads.
const (
	FormatCloudTrail Format = ledger.SourceCloudTrail
	FormatVault      Format = ledger.SourceVault
	FormatK8sAudit   Format = ledger.SourceK8sAudit
	FormatKeycloak   Format = ledger.SourceKeycloak
)

// Formats lists every format in a fixed order.
var Formats = []Format{FormatCloudTrail, FormatVault, FormatK8sAudit, FormatKeycloak}

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown format %s: want one of %s", clip(s), strings.Join(names, ", "))
}

// Defaults of Config.
const (
	// DefaultMaxRecordBytes bounds one record.
	DefaultMaxRecordBytes = 1 << 20
	// DefaultMaxDepth bounds the nesting of objects and arrays in one
	// record.
	DefaultMaxDepth = 32
)

// maxAttrBytes bounds one attribute value taken from a record; a record
// with a longer one is refused (the ledger truncates nothing).
const maxAttrBytes = 4096

// ContentRecord names the content that holds a record: its bytes as read
// when they hold no secret, else the record with every secret replaced by
// its fingerprint, re-encoded as JSON with sorted keys.
const ContentRecord = "record"

// Attribute names the entries carry besides those in ledger/attrs.go:
// OpenTelemetry semantic convention names where one exists.
const (
	AttrClientAddress   = "client.address"
	AttrUserAgent       = "user_agent.original"
	AttrErrorType       = "error.type"
	AttrEnduserID       = "enduser.id"
	AttrCloudRegion     = "cloud.region"
	AttrCloudAccountID  = "cloud.account.id"
	AttrRPCSystem       = "rpc.system"
	AttrRPCService      = "rpc.service"
	AttrRPCMethod       = "rpc.method"
	AttrHTTPMethod      = "http.request.method"
	AttrURLPath         = "url.path"
	AttrHTTPStatusCode  = "http.response.status_code"
	AttrK8sNamespace    = "k8s.namespace.name"
	AttrK8sPodName      = "k8s.pod.name"
	AttrK8sPodUID       = "k8s.pod.uid"
	AttrK8sResource     = "k8s.resource"
	AttrK8sVerb         = "k8s.verb"
	AttrVaultOperation  = "vault.operation"
	AttrVaultEntityID   = "vault.entity_id"
	AttrKeycloakRealm   = "keycloak.realm_id"
	AttrKeycloakClient  = "keycloak.client_id"
	AttrKeycloakSession = "keycloak.session_id"
)

// Config configures a Parser.
type Config struct {
	// Format is the format of the records. Required.
	Format Format
	// MaxRecordBytes bounds one record; 0 means DefaultMaxRecordBytes.
	MaxRecordBytes int
	// MaxDepth bounds the nesting of one record; 0 means DefaultMaxDepth.
	MaxDepth int
}

// Validate reports whether c is usable.
func (c *Config) Validate() error {
	if _, err := ParseFormat(string(c.Format)); err != nil {
		return err
	}
	if c.MaxRecordBytes < 0 || c.MaxRecordBytes > 64<<20 {
		return fmt.Errorf("max record bytes %d: want 0 (default) to 64 MiB", c.MaxRecordBytes)
	}
	if c.MaxDepth < 0 || c.MaxDepth > 1000 {
		return fmt.Errorf("max depth %d: want 0 (default) to 1000", c.MaxDepth)
	}
	return nil
}

// Parser maps the records of one format to ledger entries. It is safe for
// concurrent use.
type Parser struct {
	cfg Config
	r   *secrets.Redactor
	fn  func(*record) error
	// tokens names, for Vault, the accessor of each client token seen by
	// its HMAC, so that a later request that carries only the HMAC names
	// the token too.
	tokens tokenAccessors
}

// NewParser returns a Parser that redacts with r.
func NewParser(r *secrets.Redactor, cfg Config) (*Parser, error) {
	if r == nil {
		return nil, errors.New("evidence: a redactor is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	if cfg.MaxRecordBytes == 0 {
		cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if cfg.MaxDepth == 0 {
		cfg.MaxDepth = DefaultMaxDepth
	}
	p := &Parser{cfg: cfg, r: r}
	switch cfg.Format {
	case FormatCloudTrail:
		p.fn = cloudTrail
	case FormatVault:
		p.fn = vault
	case FormatK8sAudit:
		p.fn = k8sAudit
	case FormatKeycloak:
		p.fn = keycloak
	}
	return p, nil
}

// Format returns the parser's format.
func (p *Parser) Format() Format { return p.cfg.Format }

// Record is what one source record yielded.
type Record struct {
	// Number is the record's 1-based position in the stream, Line the
	// line its first byte is on.
	Number, Line int
	// Entries are the record's entries; none when the record holds
	// nothing the ledger records (such as a Vault request entry, whose
	// response entry carries the outcome) or when it was refused.
	Entries []ledger.Entry
	// Err says why the record was refused.
	Err error
}

// Error is a refused record: its position and why.
type Error struct {
	Number, Line int
	Err          error
}

func (e *Error) Error() string {
	return fmt.Sprintf("record %d (line %d): %v", e.Number, e.Line, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Read parses the records of r, gzip-compressed or not, and calls fn with
// each in order. It returns fn's error, or an error when r cannot be read
// on (a read error, or a stream that is not JSON at the top level); a
// refused record is reported to fn, not returned.
func (p *Parser) Read(r io.Reader, fn func(Record) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	lines := p.cfg.Format == FormatVault || p.cfg.Format == FormatK8sAudit
	sp := newSplitter(r, lines, p.cfg.MaxRecordBytes, p.cfg.MaxDepth)
	for n := 1; ; n++ {
		rw, ok, err := sp.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		rec := Record{Number: n, Line: rw.line, Err: rw.err}
		if rec.Err == nil {
			rec.Entries, rec.Err = p.Parse(rw.data)
		}
		if rec.Err != nil {
			rec.Entries = nil
			rec.Err = &Error{Number: n, Line: rw.line, Err: rec.Err}
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// Parse maps one record (one JSON object) to its entries.
func (p *Parser) Parse(data []byte) ([]ledger.Entry, error) {
	if len(data) > p.cfg.MaxRecordBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errTooLarge, len(data), p.cfg.MaxRecordBytes)
	}
	d, members := shape(data)
	if d > p.cfg.MaxDepth {
		return nil, fmt.Errorf("%w: depth %d, limit %d", errTooDeep, d, p.cfg.MaxDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON: data after the record")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("record is %s, want a JSON object", jsonType(v))
	}
	rec := &record{p: p, source: string(p.cfg.Format), raw: data}
	rec.redact("", obj, false)
	rec.obj = obj
	// A member the decoder dropped (a duplicate name) was not redacted:
	// then the raw bytes are not stored.
	rec.changed = rec.changed || rec.members != members
	if err := p.fn(rec); err != nil {
		return nil, err
	}
	return rec.finish()
}

// publicNames are member names that the redactor's name rules would take
// for secrets but that hold identifiers, types, times or policies. Their
// values are still scanned for secrets like any text.
var publicNames = map[string]bool{
	"accessor": true, "client_token_accessor": true, "token_accessor": true,
	"token_ttl": true, "token_type": true, "token_policies": true, "token_issue_time": true,
	"token_id": true, "refresh_token_id": true, "subject_token_id": true,
	"subject_token_client_id": true, "requested_token_type": true, "subject_token_type": true,
	"subjectFromWebIdentityToken":                       true,
	"authentication.kubernetes.io/credential-id":        true,
	"authentication.kubernetes.io/issued-credential-id": true,
}

// record is one record being mapped: its redacted object, what redaction
// found, and the entries built so far.
type record struct {
	p      *Parser
	source string
	raw    []byte
	obj    map[string]any
	// changed is true when redaction replaced anything in obj; members
	// counts obj's object members.
	changed  bool
	members  int
	findings []secrets.Finding
	entries  []*entry
}

// redact redacts every string of v, as a member named name (array
// elements take their array's name): objects and arrays in place; a
// string is returned, with set true when it must replace v.
func (r *record) redact(name string, v any, public bool) (_ any, set bool) {
	switch v := v.(type) {
	case string:
		var (
			out     string
			f       []secrets.Finding
			changed bool
		)
		if public {
			out, f, changed = r.p.r.RedactText(v)
		} else {
			out, f, changed = r.p.r.RedactAttr(name, v)
		}
		r.findings = append(r.findings, f...)
		r.changed = r.changed || changed
		return out, out != v
	case map[string]any:
		r.members += len(v)
		var renamed []string
		for k, x := range v {
			if nx, set := r.redact(k, x, publicNames[k]); set {
				v[k] = nx
			}
			if nk, f, changed := r.p.r.RedactText(k); changed {
				r.findings = append(r.findings, f...)
				renamed = append(renamed, k, nk)
				r.changed = true
			}
		}
		for i := 0; i < len(renamed); i += 2 {
			v[renamed[i+1]] = v[renamed[i]]
			delete(v, renamed[i])
		}
	case []any:
		for i, x := range v {
			if nx, set := r.redact(name, x, public); set {
				v[i] = nx
			}
		}
	}
	return v, false
}

// entry is one entry being built.
type entry struct {
	e    ledger.Entry
	seen map[string]bool
	err  error
	// fps are fingerprints the entry carries besides those redaction found:
	// hashes the source computed itself (Vault's HMAC of a client token).
	fps []string
}

// add starts an entry of kind, named name, at t, whose event key is
// "<source>/<id>" (kind is in the dedup key too, so one event may yield
// one entry of each kind).
func (r *record) add(kind ledger.Kind, id, name string, t time.Time) *entry {
	en := &entry{e: ledger.Entry{Kind: kind, Source: r.source, EventKey: r.source + "/" + id, Name: name, Start: t, End: t},
		seen: make(map[string]bool, 16)}
	r.entries = append(r.entries, en)
	return en
}

// set adds attribute key unless v is empty or the entry has it.
func (en *entry) set(key, v string) {
	if v == "" || en.seen[key] || en.err != nil {
		return
	}
	if len(v) > maxAttrBytes {
		en.err = fmt.Errorf("%s is %d bytes, limit %d", key, len(v), maxAttrBytes)
		return
	}
	en.seen[key] = true
	en.e.Attrs = append(en.e.Attrs, ledger.Attr{Key: key, Value: v})
}

// finish completes the entries: the fingerprints redaction found go on the
// record's credential entries (or on every entry when it has none), with
// those the entry carries of its own; the redacted record becomes each
// entry's content; and each entry is checked against the leaf rules.
func (r *record) finish() ([]ledger.Entry, error) {
	if len(r.entries) == 0 {
		return nil, nil
	}
	var fps []string
	for _, f := range r.findings {
		if f.Fingerprint != "" {
			fps = append(fps, f.Fingerprint)
		}
	}
	hasCred := slices.ContainsFunc(r.entries, func(en *entry) bool { return en.e.Kind == ledger.KindCredential })
	// The record as read, unless redaction replaced a secret in it: then
	// the redacted record, re-encoded.
	data := r.raw
	if r.changed {
		var err error
		if data, err = marshal(r.obj); err != nil {
			return nil, err
		}
	}
	out := make([]ledger.Entry, 0, len(r.entries))
	for _, en := range r.entries {
		own := en.fps
		if !hasCred || en.e.Kind == ledger.KindCredential {
			own = append(own, fps...)
		}
		if len(own) > 0 {
			slices.Sort(own)
			en.set(ledger.AttrCredentialFingerprint, strings.Join(slices.Compact(own), " "))
		}
		if en.err != nil {
			return nil, en.err
		}
		if err := checkText(en.e.Name); err != nil {
			return nil, fmt.Errorf("event name: %w", err)
		}
		for _, a := range en.e.Attrs {
			if err := checkText(a.Value); err != nil {
				return nil, fmt.Errorf("%s: %w", a.Key, err)
			}
		}
		if len(en.e.Name) > maxAttrBytes {
			return nil, fmt.Errorf("event name is %d bytes, limit %d", len(en.e.Name), maxAttrBytes)
		}
		en.e.Content = []ledger.Content{ledger.NewContent(ContentRecord, data)}
		if err := en.e.Validate(); err != nil {
			return nil, err
		}
		if n := leafSize(&en.e); n > ledger.MaxLeafSize {
			return nil, fmt.Errorf("entry of %d bytes exceeds the leaf limit of %d bytes", n, ledger.MaxLeafSize)
		}
		out = append(out, en.e)
	}
	return out, nil
}

// leafSize is the size of e's leaf as ledger.EncodeLeaf writes it.
func leafSize(e *ledger.Entry) int {
	n := 1 + 8*2 + len(e.Kind) + len(e.Source) + len(e.Submitter) + len(e.TraceID) + len(e.SpanID) + len(e.ParentSpanID) + len(e.EventKey) + len(e.Name) + 16 + 2 + 2
	for _, a := range e.Attrs {
		n += 4 + len(a.Key) + len(a.Value)
	}
	for _, c := range e.Content {
		n += 2 + len(c.Name) + ledger.CommitmentSize
	}
	return n
}

func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("contains a NUL character")
	}
	return nil
}

// marshal renders the redacted record: JSON with sorted keys, numbers as
// they were written.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	}
	return "an object"
}

// Field access on the redacted record. A field of the wrong type refuses
// the record: get reports it through the record's error.

// path walks obj along keys; it returns nil when a key is missing or
// null, and an error when a value on the way is not an object.
func path(obj map[string]any, keys ...string) (any, error) {
	var v any = obj
	for i, k := range keys {
		switch m := v.(type) {
		case nil:
			return nil, nil
		case map[string]any:
			v = m[k]
		default:
			return nil, &fieldError{strings.Join(keys[:i], "."), "an object", v}
		}
	}
	return v, nil
}

// fieldError is a field of the wrong type.
type fieldError struct {
	field, want string
	got         any
}

func (e *fieldError) Error() string {
	return fmt.Sprintf("field %s is %s, want %s", e.field, jsonType(e.got), e.want)
}

// str returns the string at keys, "" when absent or null, and an error
// when it is of another type.
func str(obj map[string]any, keys ...string) (string, error) {
	p, err := path(obj, keys...)
	if err != nil {
		return "", err
	}
	switch v := p.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", &fieldError{strings.Join(keys, "."), "a string", v}
	}
}

// strs returns the strings of the array at keys.
func strs(obj map[string]any, keys ...string) ([]string, error) {
	p, err := path(obj, keys...)
	if err != nil {
		return nil, err
	}
	switch v := p.(type) {
	case nil:
		return nil, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, &fieldError{strings.Join(keys, ".") + "[]", "a string", x}
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, &fieldError{strings.Join(keys, "."), "an array of strings", v}
	}
}

// num returns the number at keys (0, false when absent).
func num(obj map[string]any, keys ...string) (int64, bool, error) {
	p, err := path(obj, keys...)
	if err != nil {
		return 0, false, err
	}
	switch v := p.(type) {
	case nil:
		return 0, false, nil
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, false, &fieldError{strings.Join(keys, "."), "an integer", v}
		}
		return n, true, nil
	default:
		return 0, false, &fieldError{strings.Join(keys, "."), "a number", v}
	}
}

// object returns the object at keys, nil when absent.
func object(o map[string]any, keys ...string) (map[string]any, error) {
	p, err := path(o, keys...)
	if err != nil {
		return nil, err
	}
	switch v := p.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return v, nil
	default:
		return nil, &fieldError{strings.Join(keys, "."), "an object", v}
	}
}

// reader reads several fields of an object, keeping the first error.
type reader struct {
	obj map[string]any
	err error
}

func (rd *reader) str(keys ...string) string {
	if rd.err != nil {
		return ""
	}
	s, err := str(rd.obj, keys...)
	rd.err = err
	return s
}

func (rd *reader) strs(keys ...string) []string {
	if rd.err != nil {
		return nil
	}
	s, err := strs(rd.obj, keys...)
	rd.err = err
	return s
}

func (rd *reader) num(keys ...string) (int64, bool) {
	if rd.err != nil {
		return 0, false
	}
	n, ok, err := num(rd.obj, keys...)
	rd.err = err
	return n, ok
}

func (rd *reader) object(keys ...string) map[string]any {
	if rd.err != nil {
		return nil
	}
	o, err := object(rd.obj, keys...)
	rd.err = err
	return o
}

// timestamp parses a required RFC 3339 time.
func timestamp(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("field %s is missing", field)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("field %s: %s is not an RFC 3339 time", field, clip(s))
	}
	return t.UTC(), nil
}

// clip quotes a value from a record for an error message, cut to 64
// bytes: errors are printed and logged, and a record is hostile input.
func clip(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}

// rfc3339 renders t as credential times are written.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// checkID refuses an event ID the event key cannot carry.
func checkID(field, id string) error {
	if id == "" {
		return fmt.Errorf("field %s is missing", field)
	}
	if len(id) > 256 {
		return fmt.Errorf("field %s is %d bytes, limit 256", field, len(id))
	}
	return nil
}

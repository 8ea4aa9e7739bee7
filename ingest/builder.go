package ingest

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// Attribute names the receiver writes besides those in ledger/attrs.go.
const (
	// AttrSpanKind is the OTLP span kind: client, server, internal,
	// producer, consumer or unspecified.
	AttrSpanKind = "otel.span.kind"
	// AttrStatusCode is the span status: UNSET, OK or ERROR.
	AttrStatusCode = "otel.status_code"
	// AttrStatusDescription is the status message of an ERROR span.
	AttrStatusDescription = "otel.status_description"
	// AttrScopeName and AttrScopeVersion name the instrumentation scope.
	AttrScopeName    = "otel.scope.name"
	AttrScopeVersion = "otel.scope.version"
	// AttrServiceName is the resource's service.name.
	AttrServiceName = "service.name"
	// AttrServiceNamespace is the resource's service.namespace.
	AttrServiceNamespace = "service.namespace"
	// AttrLinks lists the span's links as space-separated
	// "<trace id>/<span id>".
	AttrLinks = "agentledger.links"
	// AttrMovedAttributes lists, space-separated and sorted, the names of
	// the attributes moved into the entry's ContentAttributes: those off
	// the structural allow-list and those too long for the leaf.
	AttrMovedAttributes = "agentledger.moved_attributes"
	// AttrEventName is the event name of a log record.
	AttrEventName = "event.name"
	// AttrToolCallIDs lists, space-separated in the order the model emitted
	// them, the tool-call IDs an llm step decided; an execute_tool span's
	// AttrToolCallID links back to one of them.
	AttrToolCallIDs = "gen_ai.tool.call.ids"
	// AttrToolCallID and AttrToolName identify a tool call.
	AttrToolCallID = "gen_ai.tool.call.id"
	AttrToolName   = "gen_ai.tool.name"
	// AttrModels lists, space-separated and sorted, the models the spans of
	// one resource and trace used (attestation entries).
	AttrModels = "gen_ai.models"
	// AttrCredentialActor is the act.sub claim of a delegated JWT.
	AttrCredentialActor = "credential.actor"
)

// Content names. Content is held behind salted commitments, outside the
// leaf, and can be erased.
const (
	ContentInputMessages      = "input.messages"
	ContentOutputMessages     = "output.messages"
	ContentSystemInstructions = "system_instructions"
	ContentReasoning          = "reasoning"
	ContentToolArguments      = "tool.arguments"
	ContentToolResult         = "tool.result"
	ContentToolDefinitions    = "tool.definitions"
	ContentInput              = "input"
	ContentOutput             = "output"
	ContentDBQuery            = "db.query"
	ContentEvents             = "events"
	ContentBody               = "body"
	// ContentAttributes holds, as a JSON object, the attribute values not
	// kept in the leaf: those off the structural allow-list (see
	// leafAttributes) and those too long for the leaf (see
	// Limits.MaxInlineAttributeBytes).
	ContentAttributes = "attributes"
)

// builder collects the attributes and content of one entry.
type builder struct {
	m     *Mapper
	sc    scrub
	attrs []ledger.Attr
	// index maps attribute names to their place in attrs once there are
	// more than linearLookup of them; nil before: most entries have a
	// dozen attributes, which a scan finds faster than a map, and without
	// allocating.
	index map[string]int
	// keys has bit keyBit(k) set for every attribute name k in attrs, so
	// that find answers most absent names (common looks up dozens of
	// rule targets and sources per span) without comparing strings.
	keys    uint64
	content []ledger.Content
	// attrBuf holds the first attributes, so that a builder and its
	// attributes are one allocation.
	attrBuf [16]ledger.Attr
	// attrFindings is how many of sc.findings came from structural
	// attributes and names; the rest came from content.
	attrFindings int
	// slab, if not nil, holds the attribute lists of the entries built:
	// the builder is reused (spanScratch), so entries may not keep attrs.
	slab *attrSlab
	// facts holds outputFacts' buffers; nil allocates them each time.
	facts *factBufs
	// salts gives the content's salts; nil reads each from crypto/rand.
	salts *saltPool
}

// saltPool hands out salts from one crypto/rand read of saltPoolSize:
// a read of a few bytes costs about what a read of a few hundred does.
// Each byte is handed out once, and cleared as it is.
type saltPool struct {
	buf  [saltPoolSize]byte
	left int // the last left bytes of buf are not handed out yet
}

const saltPoolSize = 32 * ledger.SaltSize

// read fills salt with random bytes.
func (p *saltPool) read(salt []byte) {
	if p == nil || len(salt) > len(p.buf) {
		rand.Read(salt)
		return
	}
	if p.left < len(salt) {
		rand.Read(p.buf[:])
		p.left = len(p.buf)
	}
	used := p.buf[len(p.buf)-p.left:][:len(salt)]
	copy(salt, used)
	clear(used)
	p.left -= len(salt)
}

func (m *Mapper) newBuilder() *builder {
	b := &builder{m: m, sc: scrub{r: m.redactor}}
	b.attrs = b.attrBuf[:0]
	return b
}

// linearLookup is the most attributes the builder finds by a scan.
const linearLookup = 32

// keyBit returns the bit of builder.keys that stands for the name key:
// one of 64 chosen by its length and two of its bytes, which tell most
// attribute names apart.
func keyBit(key string) uint64 {
	if key == "" {
		return 1
	}
	h := uint(len(key))*7 + uint(key[len(key)-1]) + uint(key[len(key)/2])*3
	return 1 << (h & 63)
}

// find returns the place of attribute key in attrs, or -1.
func (b *builder) find(key string) int {
	if b.keys&keyBit(key) == 0 {
		return -1
	}
	if b.index != nil {
		if i, ok := b.index[key]; ok {
			return i
		}
		return -1
	}
	for i := range b.attrs {
		if b.attrs[i].Key == key {
			return i
		}
	}
	return -1
}

func (b *builder) get(key string) (string, bool) {
	if i := b.find(key); i >= 0 {
		return b.attrs[i].Value, true
	}
	return "", false
}

// set adds the attribute unless the entry has it.
func (b *builder) set(key, value string) {
	if b.find(key) >= 0 {
		return
	}
	b.attrs = append(b.attrs, ledger.Attr{Key: key, Value: value})
	b.keys |= keyBit(key)
	switch {
	case b.index != nil:
		b.index[key] = len(b.attrs) - 1
	case len(b.attrs) > linearLookup:
		b.index = make(map[string]int, 2*len(b.attrs))
		for i, a := range b.attrs {
			b.index[a.Key] = i
		}
	}
}

// put sets the attribute, replacing any value it had.
func (b *builder) put(key, value string) {
	if i := b.find(key); i >= 0 {
		b.attrs[i].Value = value
		return
	}
	b.set(key, value)
}

// hasContent reports whether the entry has content named name.
func (b *builder) hasContent(name string) bool {
	for i := range b.content {
		if b.content[i].Name == name {
			return true
		}
	}
	return false
}

// addContent adds content named name, or named fallback if name is taken.
// Data over the content limit is rejected, never truncated.
func (b *builder) addContent(name, fallback, data string) error {
	if len(data) > b.m.limits.MaxContentBytes {
		return invalidf("content %q (from %s) is %d bytes, limit is %d (limits.max_content_bytes)", name, fallback, len(data), b.m.limits.MaxContentBytes)
	}
	if b.hasContent(name) {
		name = fallback
	}
	for b.hasContent(name) {
		name += "+"
	}
	if b.content == nil {
		b.content = make([]ledger.Content, 0, 4)
	}
	b.content = append(b.content, newContent(name, data, b.salts))
	return nil
}

// newContent returns content named name holding data, with a fresh salt
// from salts (nil: from crypto/rand) as ledger.NewContent gives, salt and
// data in one allocation.
func newContent(name, data string, salts *saltPool) ledger.Content {
	buf := make([]byte, ledger.SaltSize+len(data))
	salts.read(buf[:ledger.SaltSize])
	copy(buf[ledger.SaltSize:], data)
	return ledger.Content{Name: name, Salt: buf[:ledger.SaltSize:ledger.SaltSize], Data: buf[ledger.SaltSize:]}
}

// checkValue rejects an attribute value over the limit.
func (b *builder) checkValue(key, value string) error {
	if len(value) > b.m.limits.MaxAttributeValueBytes {
		return invalidf("attribute %q is %d bytes, limit is %d (limits.max_attribute_value_bytes)", key, len(value), b.m.limits.MaxAttributeValueBytes)
	}
	return nil
}

// structural adds attribute key of value v, redacted.
func (b *builder) structural(key string, v pcommon.Value) error {
	s, err := b.sc.attrValue(key, v)
	if err != nil {
		return err
	}
	if err := b.checkValue(key, s); err != nil {
		return err
	}
	b.set(b.sc.name(key), s)
	return nil
}

// credentialFacts writes what the redactor found: the fingerprints of every
// secret, into credential.fingerprint, so that a responder holding a leaked
// raw token finds the entry; and, when the entry lacks them, the credential
// ID (a JWT's jti, an AWS access key ID) and JWT claims found in its
// structural attributes.
func (b *builder) credentialFacts() {
	var fps []string
	if v, ok := b.get(ledger.AttrCredentialFingerprint); ok {
		fps = strings.Fields(v)
	}
	for _, f := range b.sc.findings {
		if f.Fingerprint != "" {
			fps = append(fps, f.Fingerprint)
		}
	}
	if len(fps) > 0 {
		slices.Sort(fps)
		b.put(ledger.AttrCredentialFingerprint, strings.Join(slices.Compact(fps), " "))
	}
	for _, f := range b.sc.findings[:b.attrFindings] {
		if f.CredentialID != "" && f.Kind == secrets.KindAWSAccessKeyID {
			b.set(ledger.AttrCredentialID, f.CredentialID)
		}
		c := f.Claims
		if c == nil {
			continue
		}
		if c.JTI != "" {
			b.set(ledger.AttrCredentialID, c.JTI)
		}
		setIf := func(key, v string) {
			if v != "" {
				b.set(key, v)
			}
		}
		setIf(ledger.AttrCredentialIssuer, c.Issuer)
		setIf(ledger.AttrCredentialSubject, c.Subject)
		setIf(ledger.AttrCredentialAudience, strings.Join(c.Audience, " "))
		if c.ExpiresAt > 0 {
			setIf(ledger.AttrCredentialExpiresAt, time.Unix(c.ExpiresAt, 0).UTC().Format(time.RFC3339))
		}
		setIf(AttrCredentialActor, c.Actor)
	}
}

// entry finishes e with the builder's attributes and content and makes its
// leaf fit: the longest attributes move into content if need be.
func (b *builder) entry(e ledger.Entry) (ledger.Entry, error) {
	for _, s := range []struct{ what, v string }{{"span name", e.Name}, {"event key", e.EventKey}} {
		if err := checkText(s.what, s.v, false); err != nil {
			return ledger.Entry{}, err
		}
	}
	e.Source = ledger.SourceAgent
	e.Attrs = b.attrs
	e.Content = b.content
	moved, err := b.fit(&e)
	if err != nil {
		return ledger.Entry{}, err
	}
	if b.slab != nil && !moved {
		e.Attrs = append(b.slab.make(len(b.attrs)), b.attrs...)
	}
	return e, nil
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

// fit moves into the content ContentAttributes every attribute value the
// leaf may not hold: first every value whose name is off the structural
// allow-list (Mapper.leaf), so that it can be erased, then every movable
// value longer than MaxInlineAttributeBytes, then, while the leaf exceeds
// ledger.MaxLeafSize, the longest remaining ones. Nothing is truncated: an
// entry that cannot be made to fit is rejected, naming its largest
// attribute.
//
// It reports whether it moved attributes: then e.Attrs is a list of its
// own, else it is b.attrs.
func (b *builder) fit(e *ledger.Entry) (bool, error) {
	size := leafSize(e)
	inline := b.m.limits.MaxInlineAttributeBytes
	// first is the first attribute that must move, or len(e.Attrs).
	first := len(e.Attrs)
	for i, a := range e.Attrs {
		if !essential(a.Key) && (len(a.Value) > inline || !b.m.leaf.keeps(a.Key)) {
			first = i
			break
		}
	}
	if first == len(e.Attrs) && size <= ledger.MaxLeafSize {
		return false, nil
	}
	// n is the leaf's size with the attributes in move moved: each moved
	// attribute leaves the leaf and adds its name to AttrMovedAttributes;
	// the first also adds the content's commitment and that attribute.
	// Attribute names are unique (builder.set), so an attribute is its
	// place in e.Attrs.
	n := size
	var moveBuf [64]bool
	move := moveBuf[:]
	if len(e.Attrs) > len(moveBuf) {
		move = make([]bool, len(e.Attrs))
	}
	moves := 0
	moveAttr := func(i int) {
		if moves == 0 {
			n += 2 + len(ContentAttributes) + ledger.CommitmentSize + 4 + len(AttrMovedAttributes)
		}
		move[i] = true
		moves++
		a := e.Attrs[i]
		n += len(a.Key) + 1 - (4 + len(a.Key) + len(a.Value))
	}
	for i := first; i < len(e.Attrs); i++ {
		if a := e.Attrs[i]; !essential(a.Key) && (len(a.Value) > inline || !b.m.leaf.keeps(a.Key)) {
			moveAttr(i)
		}
	}
	if n > ledger.MaxLeafSize {
		// The longest of the others, until the leaf fits.
		var movable []int
		for i, a := range e.Attrs {
			if !move[i] && !essential(a.Key) {
				movable = append(movable, i)
			}
		}
		slices.SortFunc(movable, func(i, j int) int {
			x, y := e.Attrs[i], e.Attrs[j]
			if c := len(y.Value) - len(x.Value); c != 0 {
				return c
			}
			return strings.Compare(x.Key, y.Key)
		})
		for _, i := range movable {
			if n <= ledger.MaxLeafSize {
				break
			}
			moveAttr(i)
		}
	}
	if n > ledger.MaxLeafSize {
		largest, largestSize := "", 0
		for i, a := range e.Attrs {
			if !move[i] && len(a.Key)+len(a.Value) > largestSize {
				largest, largestSize = a.Key, len(a.Key)+len(a.Value)
			}
		}
		return false, invalidf("entry of %d bytes exceeds the leaf limit of %d bytes even with long attributes moved to content (largest remaining attribute %q, %d attributes, %d content pieces)",
			n, ledger.MaxLeafSize, largest, len(e.Attrs)-moves, len(e.Content))
	}
	if b.hasContent(ContentAttributes) {
		return false, invalidf("entry needs content %q for the attributes it moves out of the leaf, but has content of that name", ContentAttributes)
	}
	// One allocation holds the kept attributes and, after them, the moved
	// ones, which are then sorted by name.
	var all []ledger.Attr
	if b.slab != nil {
		all = b.slab.make(len(e.Attrs) + 1)
	} else {
		all = make([]ledger.Attr, 0, len(e.Attrs)+1)
	}
	for i, a := range e.Attrs {
		if !move[i] {
			all = append(all, a)
		}
	}
	kept := len(all)
	for i, a := range e.Attrs {
		if move[i] {
			all = append(all, a)
		}
	}
	moved := all[kept:]
	slices.SortFunc(moved, func(x, y ledger.Attr) int { return strings.Compare(x.Key, y.Key) })
	// The content's salt and data share one allocation.
	buf := movedJSON(ledger.SaltSize, moved)
	data := buf[ledger.SaltSize:]
	if len(data) > b.m.limits.MaxContentBytes {
		return false, invalidf("the attributes moved out of an entry's leaf are %d bytes together, limit is %d (limits.max_content_bytes)", len(data), b.m.limits.MaxContentBytes)
	}
	var names strings.Builder
	names.Grow(len(moved) - 1 + (len(data) - 2)) // at most
	for i, a := range moved {
		if i > 0 {
			names.WriteByte(' ')
		}
		names.WriteString(a.Key)
	}
	// The moved attributes' place takes AttrMovedAttributes: all's last
	// slot is free, so the kept attributes do not move.
	e.Attrs = append(all[:kept:kept+1], ledger.Attr{Key: AttrMovedAttributes, Value: names.String()})
	b.salts.read(buf[:ledger.SaltSize])
	e.Content = append(e.Content, ledger.Content{Name: ContentAttributes, Salt: buf[:ledger.SaltSize:ledger.SaltSize], Data: data})
	b.content = e.Content
	return true, nil
}

// movedJSON encodes attrs, sorted by name and each name once, as the JSON
// object of their names and values, byte for byte as encoding/json encodes
// a map[string]string without escaping HTML. The JSON starts after prefix
// zero bytes.
func movedJSON(prefix int, attrs []ledger.Attr) []byte {
	size := prefix + 2
	for _, a := range attrs {
		size += len(a.Key) + len(a.Value) + 6
	}
	buf := make([]byte, prefix, size)
	buf = append(buf, '{')
	for i, a := range attrs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendStdJSONString(buf, a.Key)
		buf = append(buf, ':')
		buf = appendStdJSONString(buf, a.Value)
	}
	return append(buf, '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func otelTime(t pcommon.Timestamp) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return t.AsTime().UTC()
}

// spanKindName renders an OTLP span kind as otel.span.kind.
func spanKindName(k int32) string {
	switch k {
	case 0:
		return "unspecified"
	case 1:
		return "internal"
	case 2:
		return "server"
	case 3:
		return "client"
	case 4:
		return "producer"
	case 5:
		return "consumer"
	}
	return fmt.Sprint(k)
}

package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// Kind is the kind of a ledger entry.
type Kind string

// The entry kinds. Ingest writes the first seven and span, from spans,
// span and log events, and resources; the ledger itself writes erasure
// entries, and the query API access entries.
const (
	KindAgent       Kind = "agent"       // an agent's run (invoke_agent)
	KindLLM         Kind = "llm"         // a model call: one reasoning step
	KindTool        Kind = "tool"        // a tool execution
	KindAPICall     Kind = "api_call"    // a client call to an API
	KindCredential  Kind = "credential"  // a credential issued, exchanged or revoked
	KindApproval    Kind = "approval"    // a human approval (approval.*)
	KindAttestation Kind = "attestation" // what ran: image, version, models
	KindErasure     Kind = "erasure"     // content erased, by whom and why
	KindAccess      Kind = "access"      // content read through the API
	KindSpan        Kind = "span"        // any other span
)

// Kinds lists every entry kind in a fixed order.
var Kinds = []Kind{
	KindAgent, KindLLM, KindTool, KindAPICall, KindCredential,
	KindApproval, KindAttestation, KindErasure, KindAccess, KindSpan,
}

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Attr is one structural fact of an entry: a name and a string value.
// Attributes are covered by the leaf, so every query answer built from them
// is covered by the entry's inclusion proof.
type Attr struct {
	Key   string
	Value string
}

// Content is one piece of sensitive content of an entry (a prompt, a
// completion, reasoning text, tool arguments or results). Only its
// commitment SHA-256(Salt ‖ Data) is in the leaf.
type Content struct {
	Name string
	Salt []byte // 32 random bytes; nil when the content was erased
	Data []byte // nil when the content was erased
}

// Commitment returns SHA-256(Salt ‖ Data).
func (c Content) Commitment() [32]byte {
	h := sha256.New()
	h.Write(c.Salt)
	h.Write(c.Data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Evidence sources: where an entry's facts came from. The source is in the
// leaf (version 2), so an answer that weighs an agent's account against an
// issuer's or a provider's own records is covered by the proof.
const (
	// SourceAgent is OTLP telemetry from agent runtimes: the agents' own
	// account.
	SourceAgent = "agent"
	// SourceLedger marks entries the ledger writes itself: access and
	// erasure entries.
	SourceLedger = "ledger"
	// SourceCloudTrail, SourceVault, SourceK8sAudit and SourceKeycloak are
	// the audit logs of credential issuers and providers.
	SourceCloudTrail = "cloudtrail"
	SourceVault      = "vault"
	SourceK8sAudit   = "k8s-audit"
	SourceKeycloak   = "keycloak"
	// SourceOPA is Open Policy Agent's decision logs: the policy engine's
	// own record of each decision.
	SourceOPA = "opa"
)

// MaxSubmitter bounds the submitter identity a leaf records.
const MaxSubmitter = 1024

// Entry is one record to append. TraceID and SpanID are lowercase hex
// strings as OTLP renders them; EventKey distinguishes several entries
// from one span (span events) and names entries that have no span (such as
// erasure and access entries).
type Entry struct {
	Kind Kind
	// Source says where the entry's facts came from (SourceAgent, …); empty
	// when the writer states none.
	Source string
	// Submitter is the authenticated identity that submitted the entry (a
	// SPIFFE ID, a certificate subject, an ingest token's name); empty when
	// the submitter was not authenticated.
	Submitter    string
	TraceID      string
	SpanID       string
	ParentSpanID string
	EventKey     string
	Name         string
	Start        time.Time
	End          time.Time
	Attrs        []Attr
	Content      []Content
}

// Attr returns the value of the attribute named key and whether it exists.
func (e *Entry) Attr(key string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// DedupKey identifies an entry for deduplication: a retried delivery of the
// same entry has the same key and is not appended twice. Its first 8 bytes
// are the first 8 bytes of the trace ID (zero without one), so that the
// entries of one trace sit together in the stores' dedup index; the other
// 24 are the first 24 bytes of SHA-256 over the kind, trace ID, span ID and
// event key, each prefixed by its 32-bit big-endian length.
func (e *Entry) DedupKey() [32]byte {
	// The hashed fields are built on the stack (the heap only for a long
	// event key).
	var stack [128]byte
	b := stack[:0]
	for _, s := range [...]string{string(e.Kind), e.TraceID, e.SpanID, e.EventKey} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	sum := sha256.Sum256(b)
	var out [32]byte
	if len(e.TraceID) >= 16 {
		var prefix [16]byte
		copy(prefix[:], e.TraceID)
		hex.Decode(out[:8], prefix[:])
	}
	copy(out[8:], sum[:24])
	return out
}

// Stored is an entry as the ledger holds it: its index in the tree, its
// leaf bytes and leaf hash, and the content still present.
type Stored struct {
	Index    uint64
	Leaf     []byte
	LeafHash [32]byte
	Entry    Entry
}

func (k Kind) String() string { return string(k) }

func errField(field, msg string) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, msg)
}

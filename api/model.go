// Package api holds the JSON types the query API serves and its clients
// (ledger/verify, the tests) decode. query/openapi.json describes them, and
// query's tests check it against them.
package api

import (
	"time"

	"github.com/agentledger/agentledger/ledger/index"
)

// The answers of the API. Every entry an answer reports carries its ledger
// index and leaf hash, so that the caller can fetch the entry's leaf
// (/v1/entries/{index}) and inclusion proof (/v1/proofs/inclusion) and
// verify the answer against a signed checkpoint.

// Entry is one ledger entry: the facts its leaf commits to, and its
// content where the caller may read it.
type Entry struct {
	Index    uint64 `json:"index"`
	LeafHash string `json:"leaf_hash"` // hex, RFC 6962 leaf hash
	Kind     string `json:"kind"`
	// Source says where the entry's facts came from: "agent" (OTLP from
	// agent runtimes), "ledger" (access and erasure entries), or an issuer's
	// or provider's audit log ("cloudtrail", "vault", "k8s-audit",
	// "keycloak"). Leaves of version 1 state none.
	Source string `json:"source,omitempty"`
	// Submitter is the authenticated identity that submitted the entry;
	// empty when it was not authenticated.
	Submitter    string            `json:"submitter,omitempty"`
	TraceID      string            `json:"trace_id,omitempty"`
	SpanID       string            `json:"span_id,omitempty"`
	ParentSpanID string            `json:"parent_span_id,omitempty"`
	EventKey     string            `json:"event_key,omitempty"`
	Name         string            `json:"name"`
	Start        *time.Time        `json:"start,omitempty"`
	End          *time.Time        `json:"end,omitempty"`
	Attributes   map[string]string `json:"attributes"`
	// Content lists every content commitment in the leaf. The data and
	// salt are present only where the answer returns content.
	Content []Content `json:"content,omitempty"`
	// Leaf is the exact leaf bytes, base64; only /v1/entries/{index}
	// returns it.
	Leaf string `json:"leaf,omitempty"`
	// DedupKey is the entry's deduplication key, hex (see FORMAT.md); only
	// /v1/entries/{index} returns it.
	DedupKey string `json:"dedup_key,omitempty"`
}

// EntryAnswer is the answer of /v1/entries/{index}: the entry, and what is
// wrong with it.
type EntryAnswer struct {
	Entry
	// Findings lists what is wrong with the entry.
	Findings []Finding `json:"findings,omitempty"`
}

// Content is one piece of an entry's content. SHA-256(salt ‖ data) equals
// Commitment, which the leaf holds, so the proof of the leaf covers the
// content too.
type Content struct {
	Name       string `json:"name"`
	Commitment string `json:"commitment"` // hex
	// Erased is true when the content was erased; its commitment stays in
	// the leaf.
	Erased bool `json:"erased"`
	// FailsCommitment is true when the stored content does not match its
	// commitment: it was changed or damaged in the database. It is not
	// served, and the answer's findings name it.
	FailsCommitment bool `json:"fails_commitment,omitempty"`
	// Salt is the commitment's salt, base64, when Data is returned.
	Salt string `json:"salt,omitempty"`
	// Data is the content: the bytes as text when Encoding is "utf-8",
	// base64 when it is "base64".
	Data     *string `json:"data,omitempty"`
	Encoding string  `json:"encoding,omitempty"`
}

// FindingContentFailsCommitment is the code of a finding that stored
// content does not match its commitment.
const FindingContentFailsCommitment = "content_fails_commitment"

// FindingDuplicateMismatch is the code of a finding that an entry arrived
// again under a stored entry's trace, span and event with a different
// leaf: the ledger kept the stored entry and recorded the other's leaf hash
// in an agentledger.duplicate_mismatch entry.
const FindingDuplicateMismatch = "duplicate_mismatch"

// Finding is something wrong the server found in the ledger while
// answering. The answer is served without the part it names, so that the
// rest stays usable; `agentledger audit` examines the whole ledger.
type Finding struct {
	// Code says what is wrong: "content_fails_commitment" or
	// "duplicate_mismatch".
	Code string `json:"code"`
	// Entry is the index of the entry it concerns.
	Entry uint64 `json:"entry"`
	// Content is the name of the content it concerns, if any.
	Content string `json:"content,omitempty"`
	Message string `json:"message"`
}

// CredentialView answers "credential X leaked: which runs used it, with
// which chain of thought, and what did they touch?".
type CredentialView struct {
	Credential Credential `json:"credential"`
	// MatchedBy says how a raw-token lookup found the credential:
	// "fingerprint" or "jwt_jti".
	MatchedBy []string  `json:"matched_by,omitempty"`
	Issuance  *Issuance `json:"issuance"`
	Lineage   Lineage   `json:"lineage"`
	Usages    []Usage   `json:"usages"`
	// Evidence reconciles the credential's two sides: the issuer's and the
	// provider's audit logs and the agents' account (query/findings.go).
	Evidence *CredentialEvidence `json:"evidence,omitempty"`
	// UsagesTruncated is true when more usages follow; pass NextCursor as
	// cursor to read them. A run may continue on the next page.
	UsagesTruncated bool   `json:"usages_truncated"`
	NextCursor      string `json:"next_cursor,omitempty"`
	// Findings lists what is wrong with the entries of the answer.
	Findings []Finding `json:"findings,omitempty"`
	// Completeness proves the answer lists every entry of the index keys
	// it used, as of an index note; absent before the first index note.
	Completeness *Completeness `json:"completeness,omitempty"`
}

// Credential holds a credential's facts, as its credential events
// (issue, exchange, revoke) recorded them.
type Credential struct {
	// ID is the credential's non-secret identifier; empty for a view of
	// usages found by a raw token's fingerprint alone.
	ID           string     `json:"id"`
	Type         string     `json:"type,omitempty"`
	Issuer       string     `json:"issuer,omitempty"`
	Subject      string     `json:"subject,omitempty"`
	Audience     string     `json:"audience,omitempty"`
	Scope        string     `json:"scope,omitempty"`
	NotBefore    string     `json:"not_before,omitempty"`
	ExpiresAt    string     `json:"expires_at,omitempty"`
	ParentID     string     `json:"parent_id,omitempty"`
	Fingerprints []string   `json:"fingerprints,omitempty"`
	Revoked      bool       `json:"revoked"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	Events       []Entry    `json:"events"`
	// EventsTruncated is true when the credential has so many entries
	// that not all were searched for its events.
	EventsTruncated bool `json:"events_truncated,omitempty"`
}

// Issuance is how a credential was obtained: the credential event, the
// run it happened in, and the tool and LLM step that caused it.
type Issuance struct {
	TraceID   string    `json:"trace_id"`
	Operation string    `json:"operation"`
	Event     Entry     `json:"event"`
	Agent     *RunAgent `json:"agent,omitempty"`
	Tool      *Entry    `json:"tool,omitempty"`
	Step      *Entry    `json:"step,omitempty"`
	// Via says how Step was linked: "span_ancestry" or "tool_call_id".
	Via string `json:"via,omitempty"`
}

// Lineage is where a credential comes from and what was derived from it
// by token exchange (RFC 8693), transitively.
type Lineage struct {
	// Parents runs from the credential's parent (depth 1) to the root.
	Parents []LineageLink `json:"parents"`
	// Children lists every credential exchanged from this one, directly
	// (depth 1) or transitively, breadth first.
	Children  []LineageLink `json:"children"`
	Truncated bool          `json:"truncated"`
}

// LineageLink is one credential of a lineage and the event that recorded
// its issue or exchange.
type LineageLink struct {
	ID       string `json:"id"`
	ParentID string `json:"parent_id,omitempty"`
	Depth    int    `json:"depth"`
	Event    *Entry `json:"event,omitempty"`
}

// Usage is one run that used a credential.
type Usage struct {
	TraceID string `json:"trace_id"`
	// ForeignRun is true when the run is not one in which the credential
	// was issued or exchanged: what a leaked credential looks like. It is
	// false when no issuance is recorded.
	ForeignRun  bool        `json:"foreign_run"`
	Agent       *RunAgent   `json:"agent,omitempty"`
	Attestation Attestation `json:"attestation"`
	// Steps are the run's LLM steps up to its last call on this page, in
	// time order, with content where the caller may read it.
	Steps          []Step `json:"steps"`
	StepsTruncated bool   `json:"steps_truncated,omitempty"`
	// Calls are the API calls of the run made with the credential.
	Calls []Call `json:"calls"`
}

// RunAgent is the agent of a run, from its agent entry.
type RunAgent struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// Key is the name the agent is known by (ledger.Agent: gen_ai.agent.id,
	// else gen_ai.agent.name, else agent.name, else
	// traceloop.workflow.name, else the service), and Source the attribute
	// it came from.
	Key            string `json:"key,omitempty"`
	Source         string `json:"source,omitempty"`
	ConversationID string `json:"conversation_id,omitempty"`
	Entry          *Entry `json:"entry,omitempty"`
}

// Attestation is what ran: image digests and model IDs, and the
// attestation entries they come from.
type Attestation struct {
	Images  []string `json:"images"`
	Models  []string `json:"models"`
	Entries []Entry  `json:"entries"`
}

// Step is an LLM step of a chain of thought.
type Step struct {
	Entry
	// Causes lists the indices of the calls on this page whose cause this
	// step is.
	Causes []uint64 `json:"causes,omitempty"`
}

// Call is an API call made with a credential.
type Call struct {
	Entry        Entry  `json:"entry"`
	CredentialID string `json:"credential_id,omitempty"`
	// MatchedBy says how the call was linked to the credential:
	// "credential_id" and/or "fingerprint".
	MatchedBy []string `json:"matched_by"`
	Target    Target   `json:"target"`
	// Tool is the tool span among the call's ancestors, with its
	// arguments and result where the caller may read content.
	Tool *Entry `json:"tool,omitempty"`
	// ChainOfThought lists the indices of the run's LLM steps (in Steps)
	// up to the call, in time order.
	ChainOfThought []uint64 `json:"chain_of_thought"`
	// Cause is the step whose decision led to the call, when the span
	// ancestry or a tool-call ID links one.
	Cause *Cause `json:"cause"`
	// Policy lists the policy decisions the run records for the call
	// (query/policy.go).
	Policy []PolicyDecision `json:"policy,omitempty"`
	// Approval is the approval that gated the call, and its check.
	Approval *ApprovalCheck `json:"approval,omitempty"`
	// Attestation checks what the call's run attested against the run
	// that obtained the credential and the allow-list (query/policy.go).
	Attestation *AttestationCheck `json:"attestation,omitempty"`
}

// Cause links a call or event to the LLM step that caused it.
type Cause struct {
	StepIndex uint64 `json:"step_index"`
	// Via is "span_ancestry" (the step is an ancestor span) or
	// "tool_call_id" (a tool span among the ancestors carries a tool-call
	// ID that the step decided).
	Via string `json:"via"`
}

// Target is what an API call touched.
type Target struct {
	ServerAddress string `json:"server_address,omitempty"`
	Method        string `json:"method,omitempty"`
	Path          string `json:"path,omitempty"`
	StatusCode    string `json:"status_code,omitempty"`
}

// BlastRadius lists every API call made with a credential or any
// credential derived from it, grouped by target.
type BlastRadius struct {
	CredentialID string `json:"credential_id"`
	// Credentials are the credential and its descendants.
	Credentials []string      `json:"credentials"`
	Targets     []TargetGroup `json:"targets"`
	Calls       int           `json:"calls"`
	Truncated   bool          `json:"truncated"`
	// Completeness proves the answer lists every entry of the index keys
	// it used, as of an index note; absent before the first index note.
	Completeness *Completeness `json:"completeness,omitempty"`
}

// TargetGroup is the calls to one target (address, method, path).
type TargetGroup struct {
	ServerAddress string         `json:"server_address"`
	Method        string         `json:"method"`
	Path          string         `json:"path"`
	Count         int            `json:"count"`
	Credentials   []string       `json:"credentials"`
	Runs          []string       `json:"runs"`
	StatusCodes   map[string]int `json:"status_codes"`
	First         *time.Time     `json:"first,omitempty"`
	Last          *time.Time     `json:"last,omitempty"`
	Calls         []CallRef      `json:"calls"`
}

// CallRef is an API call in a blast radius.
type CallRef struct {
	Index        uint64     `json:"index"`
	LeafHash     string     `json:"leaf_hash"`
	TraceID      string     `json:"trace_id,omitempty"`
	CredentialID string     `json:"credential_id,omitempty"`
	Start        *time.Time `json:"start,omitempty"`
	StatusCode   string     `json:"status_code,omitempty"`
}

// LookupResult answers a raw-token lookup: the token's fingerprint and a
// view of each credential it matched.
type LookupResult struct {
	Fingerprint string           `json:"fingerprint"`
	Credentials []CredentialView `json:"credentials"`
	// Findings lists what is wrong with the entries of the answer.
	Findings []Finding `json:"findings,omitempty"`
	// Completeness proves the answer lists every entry of the index keys
	// it used, as of an index note; absent before the first index note.
	Completeness *Completeness `json:"completeness,omitempty"`
}

// RunView is one run as a timeline.
type RunView struct {
	TraceID    string          `json:"trace_id"`
	Agent      *RunAgent       `json:"agent,omitempty"`
	Start      *time.Time      `json:"start,omitempty"`
	End        *time.Time      `json:"end,omitempty"`
	Entries    []TimelineEntry `json:"entries"`
	Truncated  bool            `json:"truncated"`
	NextCursor string          `json:"next_cursor,omitempty"`
	// Credentials are the credentials the whole run (not only this page)
	// used in its API calls or obtained, in order of first appearance,
	// each linked to the runs that obtained and used it.
	Credentials []RunCredential `json:"credentials"`
	// ForeignUses counts the run's API calls made with a credential that
	// was obtained in another run and not in this one.
	ForeignUses int `json:"foreign_uses"`
	// CredentialsTruncated is true when the run has so many API calls,
	// credential events or credentials that not all were linked.
	CredentialsTruncated bool `json:"credentials_truncated,omitempty"`
	// Governance is, for each API call on this page, the policy decisions
	// that allowed it, the approval that gated it and the attestation
	// check (query/policy.go).
	Governance []CallGovernance `json:"governance"`
	// Findings lists what is wrong with the entries of the answer.
	Findings []Finding `json:"findings,omitempty"`
	// Completeness proves the answer lists every entry of the index keys
	// it used, as of an index note; absent before the first index note.
	Completeness *Completeness `json:"completeness,omitempty"`
}

// RunCredential is a credential a run used or obtained, linked to the
// other runs that obtained or used it. An API call that names no
// credential is linked by its fingerprints to the credentials whose
// events record them, as the credential view does.
type RunCredential struct {
	ID string `json:"id"`
	// Obtained is true when the credential was issued or exchanged in this
	// run.
	Obtained bool `json:"obtained"`
	// ForeignRun is true when the run used the credential and is not one
	// in which it was issued or exchanged, as in Usage: what a leaked
	// credential looks like. It is false when no issuance is recorded.
	ForeignRun bool `json:"foreign_run"`
	// Calls lists the indices of the run's API calls made with the
	// credential, in time order.
	Calls []uint64 `json:"calls"`
	// MatchedBy says how those calls named the credential:
	// "credential_id" and/or "fingerprint".
	MatchedBy []string `json:"matched_by"`
	// ObtainedIn lists the other runs in which the credential was issued
	// or exchanged, each with its first issuing event there.
	ObtainedIn []LinkedRun `json:"obtained_in"`
	// UsedBy lists, for a credential this run obtained, the other runs
	// that used it, each with its API calls: where it leaked to.
	UsedBy []LinkedRun `json:"used_by"`
	// UsedByTruncated is true when more uses by other runs follow; the
	// credential view lists them all.
	UsedByTruncated bool `json:"used_by_truncated,omitempty"`
	// Evidence reconciles the credential's issuer and provider audit logs
	// with the agents' account, as the credential view does: its status
	// and findings.
	Evidence *CredentialEvidence `json:"evidence,omitempty"`
}

// LinkedRun is another run linked to a run through a credential: the
// run that obtained it (with the issuing Event) or a run that used it
// (with its Calls).
type LinkedRun struct {
	TraceID string    `json:"trace_id"`
	Agent   *RunAgent `json:"agent,omitempty"`
	Event   *Entry    `json:"event,omitempty"`
	Calls   []CallRef `json:"calls,omitempty"`
}

// TimelineEntry is an entry of a run, linked to the LLM step that caused
// it where the span ancestry or a tool-call ID says.
type TimelineEntry struct {
	Entry
	CausedBy  *uint64 `json:"caused_by,omitempty"`
	CausedVia string  `json:"caused_via,omitempty"`
}

// AgentRuns lists the runs of an agent.
type AgentRuns struct {
	AgentID    string       `json:"agent_id"`
	Runs       []RunSummary `json:"runs"`
	NextCursor string       `json:"next_cursor,omitempty"`
	// Findings lists what is wrong with the entries of the answer.
	Findings []Finding `json:"findings,omitempty"`
	// Completeness proves the answer lists every entry of the index keys
	// it used, as of an index note; absent before the first index note.
	Completeness *Completeness `json:"completeness,omitempty"`
}

// RunSummary is a run as its agent entry records it.
type RunSummary struct {
	TraceID   string `json:"trace_id"`
	AgentID   string `json:"agent_id,omitempty"`
	AgentName string `json:"agent_name,omitempty"`
	// AgentKey and AgentSource are the name the run's agent is known by
	// and the attribute it came from, as in RunAgent.
	AgentKey       string     `json:"agent_key,omitempty"`
	AgentSource    string     `json:"agent_source,omitempty"`
	ConversationID string     `json:"conversation_id,omitempty"`
	Start          *time.Time `json:"start,omitempty"`
	End            *time.Time `json:"end,omitempty"`
	Status         string     `json:"status,omitempty"`
	Entry          Entry      `json:"entry"`
	// ForeignUses counts the run's API calls made with a credential that
	// was obtained in another run and not in this one, as in RunView.
	ForeignUses int `json:"foreign_uses"`
	// ForeignCredentials lists those credentials.
	ForeignCredentials []string `json:"foreign_credentials,omitempty"`
	// CredentialsTruncated is true when the run has so many API calls or
	// credentials that not all were linked.
	CredentialsTruncated bool `json:"credentials_truncated,omitempty"`
}

// SearchResult is a page of entries matching a search, without content.
type SearchResult struct {
	Entries []Entry `json:"entries"`
	// NextCursor continues the search; it is set when more entries may
	// match, also when a page ends early because MaxScan entries were
	// examined.
	NextCursor string `json:"next_cursor,omitempty"`
	// Findings lists what is wrong with the entries of the answer.
	Findings []Finding `json:"findings,omitempty"`
}

// InclusionProof proves that the entry at Index is in the tree of
// TreeSize. Hashes are base64.
type InclusionProof struct {
	Index    uint64   `json:"index"`
	TreeSize uint64   `json:"tree_size"`
	Hashes   []string `json:"hashes"`
	// Checkpoint is the signed checkpoint of TreeSize, when one was
	// signed.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// ConsistencyProof proves that the tree of To extends the tree of From.
type ConsistencyProof struct {
	From       uint64   `json:"from"`
	To         uint64   `json:"to"`
	Hashes     []string `json:"hashes"`
	Checkpoint string   `json:"checkpoint,omitempty"`
}

// CheckpointInfo is a signed checkpoint.
type CheckpointInfo struct {
	Size uint64     `json:"size"`
	Root string     `json:"root"` // base64
	Time *time.Time `json:"time,omitempty"`
	Note string     `json:"note"`
}

// CheckpointList is a page of checkpoints in ascending size.
type CheckpointList struct {
	Checkpoints []CheckpointInfo `json:"checkpoints"`
	Latest      *CheckpointInfo  `json:"latest,omitempty"`
	NextCursor  string           `json:"next_cursor,omitempty"`
}

// LogInfo describes the log.
type LogInfo struct {
	Origin      string          `json:"origin"`
	VerifierKey string          `json:"verifier_key,omitempty"`
	TreeSize    uint64          `json:"tree_size"`
	Checkpoint  *CheckpointInfo `json:"checkpoint,omitempty"`
}

// ErasureRequest asks to erase content: of the entries Indices names, of
// every entry of trace TraceID, or of every entry that names credential
// CredentialID (exactly one of the three). ContentNames, if set, limits
// the erasure to content of those names. Reason is required.
type ErasureRequest struct {
	Indices      []uint64 `json:"indices,omitempty"`
	TraceID      string   `json:"trace_id,omitempty"`
	CredentialID string   `json:"credential_id,omitempty"`
	ContentNames []string `json:"content_names,omitempty"`
	Reason       string   `json:"reason"`
}

// ErasureResult is the erasure entry appended and what was erased.
type ErasureResult struct {
	ErasureIndex uint64        `json:"erasure_index"`
	Erased       []ErasedEntry `json:"erased"`
}

// ErasedEntry is an entry whose content was erased.
type ErasedEntry struct {
	Index    uint64   `json:"index"`
	LeafHash string   `json:"leaf_hash"`
	Names    []string `json:"names"`
}

// TokenInfo describes a bearer token, never the token itself.
type TokenInfo struct {
	Name    string     `json:"name"`
	Role    string     `json:"role"`
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// TokenList lists every token.
type TokenList struct {
	Tokens []TokenInfo `json:"tokens"`
}

// NewTokenRequest asks for a token.
type NewTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// NewToken is a created token; Token is shown only in this answer.
type NewToken struct {
	Token string `json:"token"`
	TokenInfo
}

// LookupRequest is the body of a raw-token lookup.
type LookupRequest struct {
	Token string `json:"token"`
}

// Completeness proves that an answer lists every entry of the index keys
// it was built from, as of one index note (ledger/FORMAT.md, "Verifiable
// index"). Each of Keys is the answer /v1/index gives for that key; all are
// for the same note.
type Completeness struct {
	// Size is the tree size the answer is complete to: the size of the
	// checkpoint Checkpoint and of the index note every key's proof holds.
	Size uint64 `json:"size"`
	// Checkpoint is the signed checkpoint of tree size Size.
	Checkpoint string `json:"checkpoint"`
	// Keys are the index answers of the keys the answer used, in the
	// order they were used.
	Keys []index.Proof `json:"keys"`
	// Unindexed are entries carrying the keys at or beyond Size: newer
	// than the index, so not covered by its proofs. UnindexedTruncated says
	// there are more than MaxUnindexed.
	Unindexed          []uint64 `json:"unindexed"`
	UnindexedTruncated bool     `json:"unindexed_truncated,omitempty"`
	// Lost names, for each key whose stored references give fewer entries
	// than its signed list counts, the entries below Size whose leaves
	// carry the key but that the references lost: what an answer built
	// from them misses. A client checks them: with the key's indices they
	// must give its signed count and list root.
	Lost []LostEntries `json:"lost,omitempty"`
}

// LostEntries are the entries of one index key that its stored references
// lost, found again in the leaves.
type LostEntries struct {
	Key     string   `json:"key"`
	Indices []uint64 `json:"indices"`
}

// EvidenceFinding is one disagreement between the two sides of a credential, with
// the ledger indices it rests on.
type EvidenceFinding struct {
	Kind         string `json:"kind"`
	CredentialID string `json:"credential_id"`
	// Index is the entry the finding is about: the use, or the issuance.
	Index uint64 `json:"index"`
	// Source is that entry's evidence source.
	Source string     `json:"source,omitempty"`
	At     *time.Time `json:"at,omitempty"`
	// Cites are the indices of every entry the finding rests on, in
	// ascending order; each can be proved with an inclusion proof.
	Cites   []uint64 `json:"cites"`
	Summary string   `json:"summary"`
	// Reason says which bound a use_outside_validity crossed: expiry or
	// revocation.
	Reason        string      `json:"reason,omitempty"`
	ClientAddress string      `json:"client_address,omitempty"`
	UserAgent     string      `json:"user_agent,omitempty"`
	Target        *Target     `json:"target,omitempty"`
	TraceID       string      `json:"trace_id,omitempty"`
	Facts         []FactCheck `json:"facts,omitempty"`
}

// FactCheck compares one fact of an issuance as the issuer and the agents
// recorded it.
type FactCheck struct {
	Fact   string `json:"fact"`
	Issuer string `json:"issuer"`
	Agent  string `json:"agent"`
	Agree  bool   `json:"agree"`
}

// CredentialEvidence reconciles the two sides of a credential: the
// issuer's and the provider's audit logs, and the agents' account.
type CredentialEvidence struct {
	Status string `json:"status"`
	// IssuerEvents and AgentEvents are the indices of the credential
	// events (issue, exchange, revoke) each side recorded.
	IssuerEvents []uint64 `json:"issuer_events"`
	AgentEvents  []uint64 `json:"agent_events"`
	// Agreement compares the facts of the issuance both sides recorded.
	Agreement    []FactCheck `json:"agreement"`
	ProviderUses int         `json:"provider_uses"`
	AgentUses    int         `json:"agent_uses"`
	// Findings, newest first.
	Findings []EvidenceFinding `json:"findings"`
	// Truncated is true when the credential has more entries than were
	// reconciled.
	Truncated bool `json:"truncated,omitempty"`
}

// FindingsPage is a page of /v1/findings.
type FindingsPage struct {
	Findings []EvidenceFinding `json:"findings"`
	// NextCursor continues the listing with older findings.
	NextCursor string `json:"next_cursor,omitempty"`
}

// PolicyDecision is a policy engine's decision that an API call's run
// records for the call: an OPA decision made with the call's trace
// context, or a span or log record with policy.* attributes.
type PolicyDecision struct {
	// Index is the decision's entry.
	Index    uint64 `json:"index"`
	Source   string `json:"source,omitempty"`
	Engine   string `json:"engine,omitempty"`
	Decision string `json:"decision"`
	PolicyID string `json:"policy_id,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// LinkedBy is how the decision was tied to the call: "trace" or
	// "request" (subject, method, path and time; see policy.Link).
	LinkedBy string `json:"linked_by"`
}

// ApprovalCheck is the approval that gated an API call and what it says
// of it (approval.CheckCall).
type ApprovalCheck struct {
	// Index is the approval's entry; absent when the call had none.
	Index *uint64 `json:"index,omitempty"`
	// Verified is the receiver's verification of the approval's signature,
	// from its leaf (agentledger.approval.verified).
	Verified bool `json:"verified"`
	// Status is agentledger.approval.status; empty when the approval was
	// not verified at receipt.
	Status string `json:"status,omitempty"`
	Key    string `json:"key,omitempty"`
	Signer string `json:"signer,omitempty"`
	// Approver is who the approval names (approval.approver).
	Approver string `json:"approver,omitempty"`
	// Mismatches are the fields in which the call differs from what was
	// approved: action, target, credential, run, expired.
	Mismatches []string `json:"mismatches,omitempty"`
	// Findings are approval_mismatch, approval_expired,
	// approval_unverified and approval_missing.
	Findings []string `json:"findings,omitempty"`
}

// Statuses of an AttestationCheck.
const (
	AttestationStatusConsistent = "consistent"
	AttestationStatusMismatch   = "mismatch"
	// AttestationStatusUnattested: the run attests no image and no model.
	AttestationStatusUnattested = "unattested"
)

// AttestationCheck compares what the run of an API call attested (image
// digests and models) with what the run that obtained the credential
// attested and with the configured allow-list.
type AttestationCheck struct {
	Status string   `json:"status"`
	Images []string `json:"images"`
	Models []string `json:"models"`
	// IssuingRun is the run that obtained the credential, when it is
	// another run and the comparison was made with it.
	IssuingRun string `json:"issuing_run,omitempty"`
	// AllowList is true when the configured allow-list was applied.
	AllowList  bool                  `json:"allow_list,omitempty"`
	Mismatches []AttestationMismatch `json:"mismatches,omitempty"`
	// Cites are the attestation and LLM entries of both runs the check
	// rests on, ascending.
	Cites    []uint64 `json:"cites"`
	Findings []string `json:"findings,omitempty"`
}

// AttestationMismatch is one image or model a run attested that the other
// side does not.
type AttestationMismatch struct {
	// Fact is "image" or "model".
	Fact  string `json:"fact"`
	Value string `json:"value"`
	// Against is "issuing_run" or "allow_list".
	Against string `json:"against"`
	// Expected is what the issuing run attested, or the allow-list's
	// entries.
	Expected []string `json:"expected"`
}

// CallGovernance is, for one API call of a run view, what the credential
// view shows per call: the policy decisions that allowed it, the approval
// that gated it and the attestation check.
type CallGovernance struct {
	Index        uint64            `json:"index"`
	CredentialID string            `json:"credential_id,omitempty"`
	Policy       []PolicyDecision  `json:"policy,omitempty"`
	Approval     *ApprovalCheck    `json:"approval,omitempty"`
	Attestation  *AttestationCheck `json:"attestation,omitempty"`
}

// ErrorBody is the envelope of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable code and a message for
// people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

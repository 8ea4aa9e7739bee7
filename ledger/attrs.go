package ledger

// Attribute names with a meaning to the ledger and its queries. Ingest
// writes them; the query layer links entries by them. The credential and
// erasure names are agentledger's own, specified in FORMAT.md; the rest are
// OpenTelemetry semantic convention names.
const (
	AttrCredentialID          = "credential.id"
	AttrCredentialType        = "credential.type"
	AttrCredentialIssuer      = "credential.issuer"
	AttrCredentialSubject     = "credential.subject"
	AttrCredentialAudience    = "credential.audience"
	AttrCredentialScope       = "credential.scope"
	AttrCredentialNotBefore   = "credential.not_before"
	AttrCredentialExpiresAt   = "credential.expires_at"
	AttrCredentialParentID    = "credential.parent_id"
	AttrCredentialOperation   = "credential.operation" // issue, exchange, revoke
	AttrCredentialFingerprint = "credential.fingerprint"
	// AttrCredentialRole is the role a credential was issued for: an AWS
	// role ARN, a Vault auth role.
	AttrCredentialRole = "credential.role"

	AttrAgentID        = "gen_ai.agent.id"
	AttrAgentName      = "gen_ai.agent.name"
	AttrConversationID = "gen_ai.conversation.id"
	AttrServerAddress  = "server.address"

	AttrErasureActor   = "erasure.actor"
	AttrErasureReason  = "erasure.reason"
	AttrErasureTargets = "erasure.targets"
)

// Ref keys: the facts the stores index for lookups.
const (
	RefTrace            = "trace"
	RefCredential       = "credential"
	RefCredentialParent = "credential_parent"
	RefFingerprint      = "fingerprint"
	RefAgent            = "agent"
	RefConversation     = "conversation"
	RefTarget           = "target"
	RefKind             = "kind"
	// RefSource indexes the entries whose source is an issuer's or a
	// provider's audit log (not agent or ledger entries).
	RefSource = "source"
)

// MaxRefValue bounds an indexed value; longer values are not indexed.
const MaxRefValue = 512

// RefsOf returns the facts of e that the stores index: the keys of the
// verifiable index (IndexKeys), then its kind, its conversation and, for
// entries from an issuer's or provider's audit log, its source: plain
// lookup refs outside the index.
func RefsOf(e *Entry) []Ref {
	refs := IndexKeys(e)
	conversation, _ := e.Attr(AttrConversationID)
	plain := []Ref{{RefKind, string(e.Kind)}, {RefConversation, conversation}}
	if e.Source != SourceAgent && e.Source != SourceLedger {
		plain = append(plain, Ref{RefSource, e.Source})
	}
	for _, r := range plain {
		if r.Value != "" && len(r.Value) <= MaxRefValue {
			refs = append(refs, r)
		}
	}
	return refs
}

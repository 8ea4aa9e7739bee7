// Package policy records the decisions of policy engines as ledger
// entries, so that a responder can ask which policy let an agent make a
// call and trust the answer.
//
// Open Policy Agent reports its decisions through its decision-log plugin:
// [DecisionLogs] is the HTTP endpoint that plugin posts to. Each decision
// becomes a span entry named [EntryName] with source ledger.SourceOPA.
// Other engines (Cedar, …) report decisions as spans or log records that
// carry the attributes below; ingest records them as any span.
package policy

// EntryName is the name of an entry that records one policy decision.
const EntryName = "policy.decision"

// The attribute convention of a policy decision, for OPA's decision logs and
// for any engine whose decisions are reported as spans or log records.
const (
	// AttrEngine names the engine: opa, cedar, ….
	AttrEngine = "policy.engine"
	// AttrDecision is the decision: one of the Decision values.
	AttrDecision = "policy.decision"
	// AttrID names the policy that decided: OPA's query path
	// (data.http.authz.allow), Cedar's determining policy IDs,
	// space-separated.
	AttrID = "policy.id"
	// AttrReason is why, as the engine gives it (Cedar's diagnostic
	// errors, OPA's error).
	AttrReason = "policy.reason"
	// AttrDecisionID is the engine's own ID of the decision (OPA's
	// decision_id).
	AttrDecisionID = "policy.decision_id"
	// AttrBundles lists the policy bundles that decided and their
	// revisions: space-separated name=revision.
	AttrBundles = "policy.bundles"
	// AttrSubject is who asked: the input's subject.
	AttrSubject = "policy.subject"
	// AttrSpanID is the span ID the engine recorded with the decision:
	// the span of the call it decided on, or a child of it.
	AttrSpanID = "policy.span_id"
	// AttrErased lists the input and result paths the engine erased
	// before reporting (OPA's mask policy), space-separated.
	AttrErased = "policy.erased"
	// AttrMasked lists the paths the engine masked (replaced by a value),
	// space-separated.
	AttrMasked = "policy.masked"
	// AttrHTTPMethod and AttrURLPath are the request the decision was
	// about, as the input gives it.
	AttrHTTPMethod = "http.request.method"
	AttrURLPath    = "url.path"
)

// Decision values of AttrDecision.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
	// DecisionUndefined: the query had no result (OPA's undefined
	// decision), which an enforcement point treats as a denial.
	DecisionUndefined = "undefined"
	// DecisionError: the engine failed to decide.
	DecisionError = "error"
	// DecisionOther: a result that is not a boolean and not an object
	// with a boolean allow; see the result content.
	DecisionOther = "other"
)

// Content names of a decision entry: the input the engine was asked about
// and its result, each as JSON, erasable like all content.
const (
	ContentInput  = "input"
	ContentResult = "result"
)

// Engine names of AttrEngine.
const (
	EngineOPA   = "opa"
	EngineCedar = "cedar"
)

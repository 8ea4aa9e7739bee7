// Package ingest is agentledger's OpenTelemetry Collector receiver: it takes
// OTLP traces and logs from agent runtimes, maps them to ledger entries and
// appends them to the ledger before it acknowledges them.
//
// # Running it
//
// In a collector, [NewFactory] is the "agentledger" receiver (see
// builder-config.yaml and example-collector.yaml): it embeds the standard
// OTLP receiver (gRPC, and HTTP with protobuf or JSON, gzip or zstd) and
// writes to the ledger of the agentledger extension its configuration
// names (ledger: the extension's ID; package ledgerext), which owns the
// store, the log with its signing loop, and the secret redactor, so that
// every receiver naming it shares one log. This package does not link the
// store drivers; ledgerext does. agentledger serve, which holds an open
// ledger, calls [Start] instead: the same receiver, started in process.
//
// # Acknowledgement
//
// Each request is mapped to entries and appended in one ledger.Log.Append
// call; the request is answered only after that returned. A store failure
// is answered Unavailable (HTTP 503) with a generic message (the cause,
// which names database hosts and users, goes to the log) and the exporter
// retries; a retry is recognised by the entries' dedup keys (kind, trace
// ID, span ID, event key, all derived from the request) and not appended
// twice. Malformed or over-limit input, a body that does not parse and a
// gRPC message that does not decode included, is answered InvalidArgument
// (HTTP 400) with a message naming what was wrong, and nothing of that
// request is written. Every error message sent or logged passes through
// the secrets.Redactor. After the commit the request is forwarded to the
// pipeline, if any; an error there is returned to the sender (its status
// code, a generic message), whose retry the ledger deduplicates.
//
// # Mapping
//
// [Map] and [MapLogs] are pure functions of the request, which stop when
// its context ends (the sender hung up). Each span becomes one entry, of a
// kind chosen in this order: credential (spans named credential.issue,
// credential.exchange, credential.revoke, or with credential.operation),
// approval (approval.*), then by profile agent, llm or tool (OpenInference
// openinference.span.kind, GenAI gen_ai.operation.name, OpenLLMetry
// traceloop.span.kind and llm.request.type), api_call (CLIENT spans with
// http.*, rpc.*, db.* or url.full), else span. Span events named
// credential.* or approval.* become entries of their own, keyed by their
// position and name. Each resource yields one attestation entry per trace
// (its resource attributes and the models used), keyed by a digest of them.
//
// An entry's attributes are the span's attributes (non-strings as
// deterministic JSON) plus otel.span.kind, otel.status_code,
// otel.status_description, otel.scope.name, service.name and
// agentledger.links, with the profiles' and the configuration's attribute
// mappings applied (copied onto the ledger's name when absent). Content
// (prompts, completions, reasoning, tool arguments and results, other span
// events, full database queries) goes behind commitments under normalised
// names (input.messages, output.messages, system_instructions, reasoning,
// tool.arguments, tool.result, input, output, …). An llm entry lists the
// tool-call IDs its output decided in gen_ai.tool.call.ids; a tool entry
// carries gen_ai.tool.call.id.
//
// # Secrets
//
// Every name, attribute value, event attribute, content value and log body
// passes through the secrets.Redactor before it becomes part of an entry:
// secrets become keyed fingerprints. URLs also lose the passwords of their
// user information and the values of secret query parameters; JSON text
// loses the string values of secret-named members. The fingerprints found
// are listed in credential.fingerprint, and the claims of a JWT found in an
// attribute fill credential.id (jti), credential.issuer,
// credential.subject, credential.audience, credential.expires_at and
// credential.actor when the span lacks them.
//
// # Attributes kept in the leaf
//
// A leaf is never erased, so only the values of attributes on a structural
// allow-list (allowlist.go, documented in ledger/FORMAT.md: IDs, names,
// enums, times, counts, status codes, everything the queries read) stay in
// it; a receiver's leaf_attributes adds names. Every other attribute value
// moves into the entry's "attributes" content (a JSON object, behind a
// commitment), so that a secret the scanner missed can be erased later,
// and agentledger.moved_attributes lists the moved names.
//
// # Large values
//
// A leaf must stay under ledger.MaxLeafSize (64 KiB) and values are never
// truncated. An attribute value over limits.max_attribute_value_bytes is
// rejected, naming it. Allow-listed attribute values longer than
// limits.max_inline_attribute_bytes, and if the leaf is still too large
// the next longest, move into the "attributes" content too; the attributes
// queries look entries up by never move. An entry that cannot be made to
// fit is rejected.
package ingest

// Package query is agentledger's read side: it links ledger entries into
// the answers an incident responder needs (a credential, the runs that used
// it, the chain of thought that led to each API call, its blast radius) and
// serves them, with proofs, checkpoints and C2SP tlog-tiles, over HTTP.
//
// The server reads through ledger.Reader only. It writes to the ledger in
// two cases: every answer that returns content appends an access entry
// (before the answer is sent), and an admin's erasure appends an erasure
// entry. Callers authenticate with bearer tokens (package auth) whose role
// decides what they may read; the OpenAPI document served at
// /v1/openapi.json lists every endpoint and the role it needs.
package query

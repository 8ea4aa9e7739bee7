// Package ledger is the domain of agentledger: entry kinds, the leaf codec,
// the Merkle tree stored as C2SP tlog-tiles, the group-committing appender,
// signed checkpoints and proofs, and the Store interface that the Postgres
// and SQLite backends implement.
//
// The ledger is append-only. An entry's leaf is a deterministic encoding of
// its structure (see FORMAT.md); sensitive content is held outside the leaf
// behind a salted SHA-256 commitment, so that content can be erased while
// every proof stays valid.
package ledger

// Package verify checks an agentledger log from the outside, trusting
// neither the server nor its database: offline from files (a checkpoint, the
// log's verifier key, a leaf and a proof), and online through the HTTP API.
//
// Every check takes the tree size and root only from a checkpoint whose
// signature it verified with the log's verifier key, and hashes leaves
// itself: a leaf hash, a tree size or a root the server states is never
// trusted (see research/tlog.md, pitfalls). Consistency from the empty tree
// proves nothing, and is accepted only with an empty proof.
//
//   - Inclusion and Consistency verify proofs offline.
//   - Client reads checkpoints, entries, proofs, credential views and the
//     C2SP tlog-tiles API (/checkpoint, /tile/<L>/<N>[.p/<W>],
//     /tile/entries/<N>[.p/<W>]).
//   - Client.VerifyCredential verifies every entry a credential view
//     reports, and the facts it states about each, against the latest
//     checkpoint.
//   - Client.VerifyAll follows the whole log through the tiles, as a
//     witness or monitor does, and checks the checkpoint's root.
//   - Monitor keeps the last checkpoint it accepted and reports a rollback
//     or a fork (split view) with both signed checkpoints as evidence, as the
//     Go checksum database client does.
//
// # Witnessing
//
// Checkpoints are C2SP tlog-checkpoint signed notes (Ed25519, origin line =
// key name), and the log serves C2SP tlog-tiles, so standard witnesses can
// cosign it. A witness that speaks C2SP tlog-witness (POST /add-checkpoint
// with "old <size>", a consistency proof and the new checkpoint) is fed by a
// feeder that follows the log; to point one at agentledger:
//
//  1. Give the witness the log's origin and verifier key: `agentledger
//     keygen` prints the key, and /v1/log serves both. The witness verifies
//     the log's signature with it and keeps the latest size it cosigned per
//     origin.
//  2. Point the feeder (for example the transparency-dev witness's
//     tlog-tiles feeder, or a litewitness/bastion setup) at the server's base
//     URL: it polls <url>/checkpoint and builds the consistency proof from
//     <url>/tile/<L>/<N> itself, as tlog-tiles clients do. Serve the tiles
//     without a token (the query server's public tiles setting) or give the
//     feeder an auditor token; /checkpoint is always public.
//  3. The witness answers with a cosignature line (cosignature/v1) for the
//     checkpoint. Clients that append it to the note keep verifying it with
//     this package and `agentledger verify`: unknown signatures are ignored,
//     as C2SP requires. Requiring a quorum of witness cosignatures is what
//     defeats a split view for clients that do not monitor the log
//     themselves.
//
// `agentledger monitor` is the log's own lightweight watcher: it needs only
// /checkpoint and /v1/proofs/consistency (auditor token) and stores the last
// checkpoint it accepted in a file.
package verify

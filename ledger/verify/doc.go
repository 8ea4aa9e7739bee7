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
// cosign them. `agentledger serve --witness URL,KEY` submits each new
// checkpoint to C2SP tlog-witness witnesses itself (package witness) and
// serves the cosignature lines appended to the note; `agentledger witness`
// is such a witness. Unknown signatures are ignored when a checkpoint is
// opened, as C2SP requires; Client.Policy (witness.Policy, `--witness KEY
// --min-witnesses N`) refuses a checkpoint without enough valid
// cosignatures, which is what defeats a split view, or a rewrite re-signed
// with the log's own key, for clients that do not monitor the log
// themselves. A witness fed by a feeder instead needs /checkpoint and the
// hash tiles /tile/<L>/<N> (serve --public-tiles), never the entry bundles.
//
// `agentledger monitor` is the log's own lightweight watcher: it needs only
// /checkpoint and /v1/proofs/consistency (auditor token) and stores the last
// checkpoint it accepted in a file.
package verify

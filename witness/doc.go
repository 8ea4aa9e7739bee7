// Package witness cosigns and collects cosignatures of checkpoints, after
// C2SP tlog-witness and tlog-cosignature.
//
// A [Submitter] runs beside a log's writer: after each new checkpoint it
// sends the checkpoint and a consistency proof from the size each witness
// last cosigned to the witnesses' POST /add-checkpoint, verifies the
// cosignature each returns and stores it. [Attach] appends the stored
// cosignatures to a checkpoint note, which signed-note allows. A [Server] is
// a witness: it keeps the latest size and root it cosigned of each log it
// knows, in a file, and cosigns a checkpoint only when the log's key signed
// it and it is consistent with that state. A [Policy] is what a verifier
// asks of a checkpoint: enough valid cosignatures of known witnesses.
//
// Cosignatures are cosignature/v1 (Ed25519): the witness side signs with
// filippo.io/torchwood's CosignatureSigner, the verifying side checks with
// transparency-dev/formats' cosignature/v1 verifier.
package witness

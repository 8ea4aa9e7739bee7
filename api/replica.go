package api

// ReplicaStatus is how far the read replica lags behind the primary, as
// /readyz reports it. Answers read from the replica are complete to its
// latest checkpoint, ReplicaCheckpointSize.
type ReplicaStatus struct {
	// LagBytes is the primary's write-ahead log the replica has not
	// replayed yet.
	LagBytes int64 `json:"lag_bytes"`
	// LagSeconds is the time since the replica last replayed a
	// transaction, when LagBytes is not zero.
	LagSeconds float64 `json:"lag_seconds"`
	// PrimaryCheckpointSize and ReplicaCheckpointSize are the sizes of the
	// latest checkpoint each has (zero before the first).
	PrimaryCheckpointSize uint64 `json:"primary_checkpoint_size"`
	ReplicaCheckpointSize uint64 `json:"replica_checkpoint_size"`
}

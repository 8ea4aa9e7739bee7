package api

import "encoding/json"

// ProvedCredentialView is the answer of /v1/credentials/{id}/proved: one
// log's credential view with everything needed to verify it offline
// against that log's key alone. Every entry the view reports (every object
// with an index and a leaf_hash) has its leaf and an inclusion proof in
// Leaves, against Checkpoint; so have the entries the view's completeness
// block lists but the view does not report, so that a verifier can see
// their kind. A log that knows nothing of the credential answers too, with
// an empty view whose completeness block proves it.
type ProvedCredentialView struct {
	// Origin is the log's origin, the first line of its checkpoints.
	Origin string `json:"origin"`
	// Checkpoint is the signed checkpoint every proof of Leaves is against:
	// the completeness block's when it covers every entry reported, else
	// the latest.
	Checkpoint string `json:"checkpoint"`
	// View is the credential view, as /v1/credentials/{id} answers it
	// (without content).
	View *CredentialView `json:"view"`
	// Leaves are the leaves and inclusion proofs of the entries the view
	// reports and of those its completeness block lists, by index.
	Leaves []ProvedLeaf `json:"leaves"`
	// LeavesTruncated says the block lists more entries the view does not
	// report than an answer carries (MaxProvedListed).
	LeavesTruncated bool `json:"leaves_truncated,omitempty"`
	// Pending are entries the view reports that are newer than Checkpoint:
	// ask again after the next checkpoint.
	Pending []uint64 `json:"pending"`
	// Consistency proves that the completeness block's tree is a prefix of
	// Checkpoint's, when their sizes differ (base64 hashes).
	Consistency []string `json:"consistency"`
}

// ProvedLeaf is one entry's leaf and its inclusion proof.
type ProvedLeaf struct {
	Index uint64 `json:"index"`
	// Leaf is the leaf bytes, base64.
	Leaf string `json:"leaf"`
	// Inclusion is the inclusion proof of the leaf in the tree of the
	// answer's checkpoint, base64 hashes.
	Inclusion []string `json:"inclusion"`
}

// FederatedCredentialView is the answer of
// /v1/federation/credentials/{id}: the proved credential view of every
// shard the server federates (itself and its peers), each from its own log,
// and which shards answered.
type FederatedCredentialView struct {
	CredentialID string `json:"credential_id"`
	// Shards lists every shard asked, the local one first, then the peers
	// in their configured order; a shard that failed is listed with its
	// error, never left out.
	Shards []ShardAnswer `json:"shards"`
}

// ShardAnswer is one shard's part of a federated answer.
type ShardAnswer struct {
	// Name is the shard's name: the local log's origin, or the name its
	// peer was configured with (serve --federate NAME=URL).
	Name string `json:"name"`
	// Local is true for the shard of the server that answered.
	Local bool `json:"local,omitempty"`
	// URL is the peer's base URL.
	URL string `json:"url,omitempty"`
	// Answered is true when the shard returned a proved view.
	Answered bool `json:"answered"`
	// Error says why a shard did not answer: unreachable, a timeout, an
	// error status, an answer too long or not JSON.
	Error string `json:"error,omitempty"`
	// Origin is the origin the shard's answer claims; a verifier checks it
	// against the keys it trusts.
	Origin string `json:"origin,omitempty"`
	// Answer is the shard's ProvedCredentialView, as it sent it: the
	// federating server does not re-encode it.
	Answer json.RawMessage `json:"answer,omitempty"`
}

// Package index is the ledger's verifiable index: for each key a leaf
// carries (ledger.IndexKeys), the ascending list of the ledger indices that
// carry it, committed as an RFC 6962 tree; a prefix tree (a compressed
// binary Merkle trie, filippo.io/torchwood/prefix, compatible with AKD's
// whatsapp_v1 configuration) maps SHA-256 of each key to the count and root
// of its list; and a signed note binds the map's root to a checkpoint's size
// and root. ledger/FORMAT.md, "Verifiable index (version 2)", specifies all
// of it.
//
// An Indexer, run by the checkpoint signer, derives the index from the
// leaves after each checkpoint. Lookup answers a key with its list, a proof
// that the list is complete at the indexed size (a membership or
// non-membership proof in the map) and, for a client that already verified
// a prefix of the list, only the delta. Verify checks such an answer;
// Rebuild recomputes the index from the leaves alone, for audits.
package index

package ingest

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/internal/keyfile"
)

// ReadSecretFile reads the ledger secret, the key of secret fingerprints,
// from path: the file's content without surrounding white space, decoded
// if it is all hex digits. It must give at least secrets.MinKeySize bytes,
// and, like every key file, be accessible to its owner only (mode 0600;
// see keyfile.Read). Whoever fingerprints for this ledger (the receiver,
// agentledger serve, a responder's lookup) must read the key the same way.
func ReadSecretFile(path string) ([]byte, error) {
	raw, err := keyfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	key := bytes.TrimSpace(raw)
	if d, err := hex.DecodeString(string(key)); err == nil {
		key = d
	}
	if len(key) < secrets.MinKeySize {
		return nil, fmt.Errorf("secret file %s: %d bytes of key, want at least %d", path, len(key), secrets.MinKeySize)
	}
	return key, nil
}

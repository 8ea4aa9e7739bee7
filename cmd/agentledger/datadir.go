package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentledger/agentledger/internal/keyfile"
	"github.com/agentledger/agentledger/ledger"
)

const (
	defaultDataDir = "agentledger-data"
	defaultLogName = "agentledger.local/ledger"
	signerKeyFile  = "signer.key"
	secretFile     = "ledger.secret"
	sqliteFile     = "ledger.db"
	adminTokenFile = "admin.token"
	secretSize     = 32
)

// node is what a server node keeps in its data directory: the checkpoint
// signer key and the ledger secret that keys credential fingerprints.
type node struct {
	dir    string
	signer *ledger.Signer
	secret []byte
}

// openNode loads the data directory's keys, creating the directory and
// keys (file mode 0600) on first start. logName names a new log; an existing
// key must be for the same name when logNameSet.
func openNode(dir, logName string, logNameSet bool) (*node, error) {
	return openNodeWith(dir, logName, logNameSet, "")
}

// openNodeWith is openNode with the signer backend spec: empty for the
// data directory's key file, or "unix:PATH" for a signer process (see
// agentledger signer), whose key never enters this process.
func openNodeWith(dir, logName string, logNameSet bool, signerSpec string) (*node, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	n := &node{dir: dir}
	keyPath := filepath.Join(dir, signerKeyFile)
	if signerSpec != "" {
		var err error
		if n.signer, err = openSignerBackend(signerSpec, logName); err != nil {
			return nil, err
		}
		keyPath = signerSpec
	} else if err := n.loadKeyFile(keyPath, logName); err != nil {
		return nil, err
	}
	if logNameSet && n.signer.Origin() != logName {
		return nil, fmt.Errorf("%s signs for log %q but --log-name is %q: a log keeps its name for life", keyPath, n.signer.Origin(), logName)
	}

	secretPath := filepath.Join(dir, secretFile)
	hexSecret, err := keyfile.Read(secretPath)
	if errors.Is(err, fs.ErrNotExist) {
		s := make([]byte, secretSize)
		rand.Read(s)
		if err := writeSecretFile(secretPath, []byte(hex.EncodeToString(s)+"\n")); err != nil {
			return nil, err
		}
		hexSecret = []byte(hex.EncodeToString(s))
	} else if err != nil {
		return nil, err
	}
	n.secret, err = hex.DecodeString(strings.TrimSpace(string(hexSecret)))
	if err != nil || len(n.secret) < secretSize {
		return nil, fmt.Errorf("%s: want %d hex-encoded random bytes", secretPath, secretSize)
	}
	return n, nil
}

// loadKeyFile loads the signer key file at keyPath, creating it for a new
// log named logName if it does not exist.
func (n *node) loadKeyFile(keyPath, logName string) error {
	skey, err := keyfile.Read(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		var k string
		k, _, err = ledger.GenerateKey(logName)
		if err != nil {
			return err
		}
		if err := writeSecretFile(keyPath, []byte(k+"\n")); err != nil {
			return err
		}
		skey = []byte(k)
	} else if err != nil {
		return err
	}
	n.signer, err = ledger.NewSigner(string(skey))
	if err != nil {
		return fmt.Errorf("%s: %w", keyPath, err)
	}
	return nil
}

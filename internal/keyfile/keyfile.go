// Package keyfile reads the files that hold a node's secrets (the
// checkpoint signer key, the ledger secret), refusing one that users other
// than its owner can access. agentledger serve and the collector-hosted
// receiver read their keys through it, so both enforce the same rule.
package keyfile

import (
	"fmt"
	"io"
	"os"
)

// MaxSize bounds a key file: the keys agentledger writes are well under
// 1 KiB.
const MaxSize = 64 << 10

// Read returns the content of the key file at path. It refuses a file whose
// permissions give its group or others any access (want 0600 or 0400), and
// a file over MaxSize. An error for a missing file wraps fs.ErrNotExist.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Stat the open file, not the path, so that the file checked is the
	// file read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s: permissions %v are too open; want 0600 (chmod 600 %s)", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; not a key file", path, MaxSize)
	}
	return b, nil
}

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentledger/agentledger/internal/servetest"
)

// TestServeRefusesOpenSecretFiles checks that serve refuses each file of
// secrets in its data directory, the first admin token's included, once
// group or others may read it.
func TestServeRefusesOpenSecretFiles(t *testing.T) {
	for _, file := range []string{signerKeyFile, secretFile, adminTokenFile} {
		t.Run(file, func(t *testing.T) {
			dir := t.TempDir()
			s := startServer(t, dir)
			if err := s.Stop(t, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, file)
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			// A serve that accepts the file runs until the deadline kills it.
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, binary, "serve", "--data-dir", dir, "--http-addr", servetest.FreeAddr(t),
				"--otlp-http-addr", servetest.FreeAddr(t), "--otlp-grpc-addr", servetest.FreeAddr(t)).CombinedOutput()
			if err == nil || !strings.Contains(string(out), path+": permissions -rw-r--r-- are too open") {
				t.Fatalf("serve with %s at 0644: err %v, output %q; want a refusal naming the file and its permissions", file, err, out)
			}
		})
	}
}

// TestTokenHelpNamesRole checks that agentledger token --help says which
// Postgres role writes tokens.
func TestTokenHelpNamesRole(t *testing.T) {
	out, err := exec.Command(binary, "token", "--help").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"agentledger_admin", "agentledger_writer"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("agentledger token --help does not name %s:\n%s", want, out)
		}
	}
}

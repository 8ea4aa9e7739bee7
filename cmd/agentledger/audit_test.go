package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/query"
)

// run executes a command with args in-process and returns its standard
// output and standard error.
func run(t *testing.T, cmd *cobra.Command, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func wantMatch(t *testing.T, what, got, re string) {
	t.Helper()
	if !regexp.MustCompile(re).MatchString(got) {
		t.Errorf("%s = %q, want a match for %q", what, got, re)
	}
}

func TestAuditCmd(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 300, 50)
	keyFile := filepath.Join(t.TempDir(), "ledger.vkey")
	if err := os.WriteFile(keyFile, []byte(l.Keys.Verifier+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, _, err := run(t, newAuditCmd(), "--database", l.DSN, "--key", l.Keys.Verifier, "--quiet")
	if err != nil {
		t.Fatalf("audit (clean) = %v\n%s", err, out)
	}
	for _, want := range []string{`tree head: size 301, root `, `entries checked: 301 `, `checkpoints verified \(signed by example.com/audittest, root at their size\): 6`, `(?m)^OK: `,
		`index: 6 notes verified`, `index: \d+ key lists and the map compared at size 301; \d+ entry_refs rows checked`, `(?m)^OK: the verifiable index`} {
		wantMatch(t, "audit output", out, want)
	}
	if out, _, err = run(t, newAuditCmd(), "--database", l.DSN, "--key-file", keyFile, "--quiet"); err != nil {
		t.Fatalf("audit --key-file = %v\n%s", err, out)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no key", []string{"--database", l.DSN}, `verifier key is required`},
		{"both keys", []string{"--database", l.DSN, "--key", l.Keys.Verifier, "--key-file", keyFile}, `not both`},
		{"signer key", []string{"--database", l.DSN, "--key", l.Keys.Signer}, `that is the log's signer key`},
		{"another log's key", []string{"--database", l.DSN, "--key", audittest.NewKeys(t).Verifier}, `^audit found a divergence: checkpoint 51: signature not valid for example.com/audittest`},
		{"no ledger in the data dir", []string{"--data-dir", t.TempDir(), "--key", l.Keys.Verifier}, `no ledger in --data-dir`},
		{"not a database URL", []string{"--database", "mysql://x", "--key", l.Keys.Verifier}, `want a postgres:// or postgresql:// URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, newAuditCmd(), tt.args...)
			if err == nil {
				t.Fatalf("audit %v = nil, want an error", tt.args)
			}
			wantMatch(t, "audit error", err.Error(), tt.want)
		})
	}

	// Hide one use of a credential from entry_refs: the index audit names it.
	l.Tamper(t, `DELETE FROM entry_refs WHERE key = 'credential' AND value = 'cred-1' AND idx = 7`)
	out, _, err = run(t, newAuditCmd(), "--database", l.DSN, "--key", l.Keys.Verifier, "--quiet")
	if err == nil {
		t.Fatalf("audit (entry_refs row deleted) = nil, want an error\n%s", out)
	}
	wantMatch(t, "audit error", err.Error(), `^audit found 1 divergence\(s\) of the verifiable index; the first: entry_refs: entry 7 carries credential:cred-1, but no entry_refs row says so$`)
	wantMatch(t, "audit output", out, `(?m)^DIVERGENCE at entry 7: entry_refs: entry 7 carries credential:cred-1, but no entry_refs row says so$`)

	l.Tamper(t, `UPDATE entries SET leaf = set_byte(leaf, 20, get_byte(leaf, 20) # 1) WHERE idx = 31`)
	out, _, err = run(t, newAuditCmd(), "--database", l.DSN, "--key", l.Keys.Verifier, "--quiet")
	if err == nil {
		t.Fatalf("audit (tampered) = nil, want an error\n%s", out)
	}
	wantMatch(t, "audit error", err.Error(), `^audit found a divergence: entry 31: leaf hash mismatch`)
	wantMatch(t, "audit output", out, `(?m)^DIVERGENCE at entry 31: entry 31: leaf hash mismatch: stored [0-9a-f]{12}… but the leaf hashes to`)
}

// apiServer starts the query server on l's store and returns its URL and a
// responder token.
func apiServer(t *testing.T, l *audittest.Ledger) (url, token string) {
	t.Helper()
	signer, err := ledger.NewSigner(l.Keys.Signer)
	if err != nil {
		t.Fatal(err)
	}
	lg, err := ledger.Open(l.Store, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lg.Close(context.Background()); err != nil && !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("close log: %v", err)
		}
	})
	srv, err := query.NewServer(query.Config{
		Reader:      l.Store,
		Log:         lg,
		Tokens:      l.Store,
		Fingerprint: func(s string) string { return "hmac-sha256:" + strings.Repeat("0", 64) },
		VerifierKey: l.Keys.Verifier,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	token, _, err = auth.Create(t.Context(), l.Store, "tester", auth.RoleResponder)
	if err != nil {
		t.Fatal(err)
	}
	return ts.URL, token
}

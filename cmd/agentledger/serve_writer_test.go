package main

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os/exec"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/internal/pgtest"
)

// TestServeAsWriterRole: with the schema migrated by its owner, serve
// --no-migrate runs as a login role that is only a member of
// agentledger_writer, appends what it receives, and cannot rewrite it.
func TestServeAsWriterRole(t *testing.T) {
	owner := pgtest.NewSchema(t)
	if out, err := exec.Command(binary, "migrate", "--database", owner).CombinedOutput(); err != nil {
		t.Fatalf("migrate as the owner: %v\n%s", err, out)
	}
	// Tokens are written by agentledger_admin, not by serve's role: the
	// owner creates the first.
	if out, err := exec.Command(binary, "token", "create", "--database", owner, "--role", "admin", "--name", "admin").CombinedOutput(); err != nil {
		t.Fatalf("token create as the owner: %v\n%s", err, out)
	}
	conn, err := pgx.Connect(t.Context(), owner)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	b := make([]byte, 6)
	rand.Read(b)
	role, password := "al_serve_"+hex.EncodeToString(b), hex.EncodeToString(b)+"pw"
	if _, err := conn.Exec(t.Context(), "CREATE ROLE "+role+" LOGIN PASSWORD '"+password+"' IN ROLE agentledger_writer"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(t.Context(), owner)
		if err == nil {
			c.Exec(t.Context(), "DROP ROLE "+role)
			c.Close(t.Context())
		}
	})
	u, err := url.Parse(owner)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, password)
	writer := u.String()

	s := startServer(t, t.TempDir(), "--database", writer, "--no-migrate")
	sendSpans(t, s.OTLPHTTPAddr, 10)
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit: %v", err)
	}
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM entries").Scan(&n); err != nil || n < 10 {
		t.Fatalf("entries written as the writer role = %d, %v; want at least 10", n, err)
	}
	wc, err := pgx.Connect(t.Context(), writer)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close(t.Context())
	for _, q := range []string{"UPDATE entries SET leaf = leaf", "DELETE FROM entries", "DROP TABLE checkpoints",
		"INSERT INTO tokens (hash, name, role, created_at) VALUES (sha256('x'), 'evil', 'admin', now())"} {
		if _, err := wc.Exec(t.Context(), q); err == nil {
			t.Errorf("the writer role may %q", q)
		}
	}
}

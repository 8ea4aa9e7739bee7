// Package pgtest gives each test its own Postgres schema in the test
// database, so that tests run in parallel and leave nothing behind.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable that holds the test database's
// connection string.
const EnvDSN = "AGENTLEDGER_TEST_DATABASE_URL"

// DefaultDSN is the test database used when EnvDSN is unset.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// cleanupTimeout bounds dropping a test's schema.
const cleanupTimeout = time.Minute

// BaseDSN returns the test database's connection string: EnvDSN's value, or
// DefaultDSN.
func BaseDSN() string {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// NewSchema creates a fresh, empty schema in the test database, drops it
// with everything in it when the test ends, and returns a connection string
// whose search_path is that schema alone. If the database is unreachable the
// test is skipped, unless EnvDSN is set, when it fails.
func NewSchema(t testing.TB) (dsn string) {
	t.Helper()
	base := BaseDSN()
	conn, err := pgx.Connect(t.Context(), base)
	if err != nil {
		if os.Getenv(EnvDSN) == "" {
			t.Skipf("pgtest: no test database (set %s): %v", EnvDSN, err)
		}
		t.Fatalf("pgtest: connect to %s: %v", EnvDSN, err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))

	name := schemaName(t.Name())
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		// t.Context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	dsn, err = withSearchPath(base, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// schemaName returns a new schema name derived from a test name: lower
// case letters, digits and underscores, unique by a random suffix, shorter
// than Postgres' 63-byte limit.
func schemaName(test string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(suffix))
	return b.String()
}

// withSearchPath returns dsn with search_path set to schema, which pgx sends
// as a run-time parameter when it connects. dsn is a URL or key=value
// pairs.
func withSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("the test database URL does not parse") // the error would print the password
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil
}

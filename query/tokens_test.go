package query

import (
	"strings"
	"testing"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/auth/authtest"
	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger/postgres"
)

// TestTokenStores runs the auth.Store conformance suite on both stores,
// and on Postgres as agentledger_admin, the role that writes tokens (the
// writer role, which serve's ingest path holds, may not: see
// ledger/postgres TestTokenRoles).
func TestTokenStores(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		authtest.Run(t, func(t *testing.T) auth.Store { return b.open(t) })
	})
	t.Run("postgres_admin_role", func(t *testing.T) {
		t.Parallel()
		authtest.Run(t, func(t *testing.T) auth.Store {
			dsn := pgtest.NewSchema(t)
			if err := postgres.Migrate(t.Context(), dsn); err != nil {
				t.Fatal(err)
			}
			sep := " "
			if strings.Contains(dsn, "://") {
				sep = "&"
			}
			s, err := postgres.New(t.Context(), postgres.Config{DSN: dsn + sep + "role=agentledger_admin", NoMigrate: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

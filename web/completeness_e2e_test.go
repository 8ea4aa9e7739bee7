package web

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/internal/servetest"
)

// TestBrowserCompleteness runs web/e2e/completeness.spec.mjs against a real
// `agentledger serve` on Postgres, once per phase, tampering with the
// database between the phases as a superuser who disabled the append-only
// triggers: the browser's verification must say the answer is complete
// before, and must fail, naming the key, after a foreign run's entry_refs
// row is deleted and after an old index note is served with the new
// checkpoint.
func TestBrowserCompleteness(t *testing.T) {
	node := requireTools(t, true)
	ctx := t.Context()
	dsn := pgtest.NewSchema(t)

	bin := servetest.Binary(t)
	dataDir := t.TempDir()
	srv := servetest.Start(t, servetest.Options{Binary: bin, DataDir: dataDir, Args: []string{"--database", dsn}})
	token := adminToken(t, bin, dataDir, "--database", dsn)
	api := apiClient{base: srv.URL(), token: token}

	sc, err := loadScenario(ctx, srv.OTLPHTTPAddr)
	if err != nil {
		t.Fatalf("load scenario over OTLP: %v", err)
	}
	for trace, n := range sc.Entries {
		waitFor(t, fmt.Sprintf("run %s ingested", trace), 30*time.Second, func() (bool, error) {
			var r runEntries
			_, err := api.do(ctx, http.MethodGet, "/v1/runs/"+trace+"?content=false", nil, &r)
			return err == nil && len(r.Entries) >= n, err
		})
	}
	// The foreign run's use of the credential: the entry to hide.
	var foreign runEntries
	if _, err := api.do(ctx, http.MethodGet, "/v1/runs/"+sc.ForeignTrace+"?content=false", nil, &foreign); err != nil {
		t.Fatal(err)
	}
	hidden, found := uint64(0), false
	for _, e := range foreign.Entries {
		if e.Attributes["credential.id"] == sc.CredentialID {
			hidden, found = e.Index, true
		}
	}
	if !found {
		t.Fatalf("the foreign run %s has no entry that uses %s", sc.ForeignTrace, sc.CredentialID)
	}
	waitFor(t, "the index covers the whole ledger", 30*time.Second, func() (bool, error) {
		var info struct {
			TreeSize uint64 `json:"tree_size"`
		}
		if _, err := api.do(ctx, http.MethodGet, "/v1/log", nil, &info); err != nil {
			return false, err
		}
		var v struct {
			Completeness *struct {
				Size uint64 `json:"size"`
			} `json:"completeness"`
		}
		_, err := api.do(ctx, http.MethodGet, "/v1/credentials/"+sc.CredentialID, nil, &v)
		return err == nil && v.Completeness != nil && v.Completeness.Size >= info.TreeSize, err
	})

	shots := screenshotDir(t)
	phase := func(name string) {
		t.Helper()
		runNode(t, node, "e2e/completeness.spec.mjs",
			"PHASE="+name,
			"BASE_URL="+srv.URL(),
			"TOKEN="+token,
			"VERIFIER_KEY="+srv.VerifierKey(t),
			"CREDENTIAL_ID="+sc.CredentialID,
			"TRACE_ID="+sc.TraceID,
			"AGENT_ID="+sc.AgentID,
			"HIDDEN_INDEX="+strconv.FormatUint(hidden, 10),
			"SCREENSHOT_DIR="+shots,
			"CHROMIUM="+chromiumPath(),
		)
	}
	tamper := func(stmt string, args ...any) {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
			t.Fatal(err)
		}
		tag, err := conn.Exec(ctx, stmt, args...)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("%s: %v, %d rows", stmt, err, tag.RowsAffected())
		}
	}

	phase("clean")
	tamper(`DELETE FROM entry_refs WHERE key = 'credential' AND value = $1 AND idx = $2`, sc.CredentialID, int64(hidden))
	phase("hidden")
	tamper(`UPDATE index_notes SET note = (SELECT note FROM index_notes ORDER BY size LIMIT 1),
		map_root = (SELECT map_root FROM index_notes ORDER BY size LIMIT 1)
		WHERE size = (SELECT max(size) FROM index_notes)`)
	phase("stale")
}

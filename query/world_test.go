package query

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
	"github.com/agentledger/agentledger/ledger/sqlite"
	"github.com/agentledger/agentledger/policy"
)

// store is what a test backend provides: the ledger and the tokens.
type store interface {
	ledger.Store
	auth.Store
}

// backend opens a fresh, empty store.
type backend struct {
	name string
	// openSQL opens a fresh, empty store and returns a function that runs
	// SQL statements on its database in one transaction, as an attacker
	// with the database would: on Postgres as the superuser with every
	// trigger disabled; on SQLite triggers are dropped by the statements.
	openSQL func(t testing.TB) (store, func(t testing.TB, stmts ...string))
}

// open opens a fresh, empty store.
func (b backend) open(t testing.TB) store {
	s, _ := b.openSQL(t)
	return s
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t testing.TB) (store, func(testing.TB, ...string)) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatalf("sqlite.Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s, func(t testing.TB, stmts ...string) { sqliteExec(t, path, stmts) }
		}},
		{"postgres", func(t testing.TB) (store, func(testing.TB, ...string)) {
			return openPostgres(t, pgtest.NewSchema(t))
		}},
	}
}

// openPostgres opens a store on the schema dsn names.
func openPostgres(t testing.TB, dsn string) (store, func(testing.TB, ...string)) {
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, func(t testing.TB, stmts ...string) { postgresExec(t, dsn, stmts) }
}

func sqliteExec(t testing.TB, path string, stmts []string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.WithoutCancel(t.Context())
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func postgresExec(t testing.TB, dsn string, stmts []string) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// forEachBackend runs fn as a parallel subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

const (
	testOrigin       = "example.com/agentledger-query-test"
	testLedgerSecret = "test ledger secret"
)

// fingerprint is the keyed fingerprint ingest computes, with the test's
// ledger secret.
func fingerprint(token string) string {
	m := hmac.New(sha256.New, []byte(testLedgerSecret))
	m.Write([]byte(token))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// world is a ledger with the messy fixture in it, a server on it, and a
// token per caller.
type world struct {
	t      testing.TB
	store  store
	tamper func(t testing.TB, stmts ...string) // runs SQL on the store's database, triggers off
	log    *ledger.Log
	vkey   string
	signer *ledger.Signer
	srv    *Server
	logs   *syncBuffer
	tokens map[string]string // caller → token: auditor, responder, admin, revoked
	idx    map[string]uint64 // fixture entry name → index
}

// callers of the API: the roles, and a revoked token and none at all.
var callers = []string{"none", "revoked", "auditor", "responder", "admin"}

type worldOptions struct {
	publicTiles   bool
	publicEntries bool
	reader        func(ledger.Reader) ledger.Reader
	ready         func() error
	noFixture     bool
	// lookupSecrets is Config.LookupSecrets.
	lookupSecrets func(string) []string
	// approvalGate is Config.ApprovalGate.
	approvalGate *approval.Gate
	// attestationAllow is Config.AttestationAllow.
	attestationAllow *policy.AttestationAllow
	// federation is Config.Federation.
	federation *Federation
}

func newWorld(t testing.TB, b backend, opt worldOptions) *world {
	t.Helper()
	st, rawSQL := b.openSQL(t)
	skey, vkey, err := ledger.GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	log, err := ledger.Open(st, ledger.Config{Signer: signer, CheckpointInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close(t.Context()) })
	w := &world{t: t, store: st, tamper: rawSQL, log: log, vkey: vkey, signer: signer, logs: &syncBuffer{}, tokens: make(map[string]string), idx: make(map[string]uint64)}
	if !opt.noFixture {
		w.seed()
	}
	for _, role := range auth.Roles {
		secret, _, err := auth.Create(t.Context(), st, "test-"+string(role), role)
		if err != nil {
			t.Fatal(err)
		}
		w.tokens[string(role)] = secret
	}
	revoked, _, err := auth.Create(t.Context(), st, "test-revoked", auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RevokeToken(t.Context(), "test-revoked", time.Now()); err != nil {
		t.Fatal(err)
	}
	w.tokens["revoked"] = revoked
	var reader ledger.Reader = st
	if opt.reader != nil {
		reader = opt.reader(st)
	}
	cfg := Config{
		Reader:        reader,
		Log:           log,
		Tokens:        st,
		Fingerprint:   fingerprint,
		VerifierKey:   vkey,
		LookupSecrets: opt.lookupSecrets,
		Logger:        slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		PublicTiles:   opt.publicTiles,
		PublicEntries: opt.publicEntries,
		ApprovalGate:  opt.approvalGate,
	}
	cfg.AttestationAllow = opt.attestationAllow
	cfg.Federation = opt.federation
	if opt.ready != nil {
		cfg.Ready = func(context.Context) error { return opt.ready() }
	}
	w.srv, err = NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// response is an answer of the server.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not JSON: %v\n%s", r.status, err, r.body)
	}
}

// do sends a request as caller and returns the answer.
func (w *world) do(caller, method, target string, body any) *response {
	w.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			w.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, target, rd).WithContext(w.t.Context())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok, ok := w.tokens[caller]; ok {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, req)
	return &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// get sends a GET as caller and fails the test unless the answer is 200.
func (w *world) get(caller, target string, v any) *response {
	w.t.Helper()
	r := w.do(caller, http.MethodGet, target, nil)
	if r.status != http.StatusOK {
		w.t.Fatalf("GET %s as %s = %d, want 200\n%s", target, caller, r.status, r.body)
	}
	if v != nil {
		r.json(w.t, v)
	}
	return r
}

// checkpoint signs a checkpoint of the whole tree.
func (w *world) checkpoint() ledger.Checkpoint {
	w.t.Helper()
	cp, err := w.log.Checkpoint(w.t.Context())
	if err != nil {
		w.t.Fatal(err)
	}
	return cp
}

func (w *world) head() ledger.TreeHead {
	w.t.Helper()
	h, err := w.store.Head(w.t.Context())
	if err != nil {
		w.t.Fatal(err)
	}
	return h
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

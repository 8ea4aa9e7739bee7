package query

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger/postgres"
)

// proxy forwards TCP connections to Postgres until it is cut, when the
// database becomes unreachable: its port refuses connections and the open
// ones are reset.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	isCut  bool
}

// newProxy starts a proxy to the database of dsn and returns it with the
// DSN that reaches the database through it.
func newProxy(t testing.TB, dsn string) (*proxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: u.Host}
	t.Cleanup(p.cut)
	go p.serve()
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.isCut {
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

// cut closes the proxy's port and resets every connection through it.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = true
	p.ln.Close()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	p.conns = nil
}

// TestDatabaseDown cuts a real Postgres off from the server and checks
// that every endpoint that needs it answers 503 with the error envelope
// and a generic message, and that the detail goes to the log only.
func TestDatabaseDown(t *testing.T) {
	var (
		p      *proxy
		direct string
	)
	b := backend{"postgres", func(t testing.TB) (store, func(testing.TB, ...string)) {
		dsn := pgtest.NewSchema(t)
		var via string
		p, via = newProxy(t, dsn)
		direct = dsn
		return openPostgres(t, via)
	}}
	w := newWorld(t, b, worldOptions{})
	w.checkpoint()
	// A second server reads the ledger through the proxy but checks tokens
	// on a direct connection, so that its handlers reach the dead store.
	tokens, err := postgres.Open(t.Context(), direct)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tokens.Close() })
	cfg := w.srv.cfg
	cfg.Ready = w.store.(interface{ Ready(context.Context) error }).Ready
	allDown, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tokens = tokens
	readerDown, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.cut()

	_, port, _ := net.SplitHostPort(p.ln.Addr().String())
	targets := []struct{ caller, target string }{
		{"none", "/readyz"},
		{"none", "/checkpoint"},
		{"auditor", "/v1/log"},
		{"auditor", "/v1/checkpoint"},
		{"auditor", "/v1/checkpoints"},
		{"auditor", "/v1/entries/0"},
		{"auditor", "/v1/proofs/inclusion?index=0"},
		{"auditor", "/v1/proofs/consistency?from=1"},
		{"auditor", "/tile/0/000.p/1"},
		{"auditor", "/tile/entries/000.p/1"},
		{"responder", "/v1/credentials/" + credC1},
		{"responder", "/v1/runs/" + traceA},
		{"responder", "/v1/search?q=x"},
	}
	for _, srv := range []struct {
		name    string
		srv     *Server
		targets []struct{ caller, target string }
	}{
		{"all down", allDown, append(targets, struct{ caller, target string }{"admin", "/v1/tokens"})},
		{"reader down", readerDown, targets},
	} {
		t.Run(srv.name, func(t *testing.T) {
			w.srv = srv.srv
			for _, tt := range srv.targets {
				r := w.do(tt.caller, http.MethodGet, tt.target, nil)
				if r.status != http.StatusServiceUnavailable {
					t.Errorf("GET %s = %d %s, want 503", tt.target, r.status, r.body)
					continue
				}
				checkEnvelope(t, tt.target, r)
				var e api.ErrorBody
				r.json(t, &e)
				if e.Error.Code != CodeUnavailable {
					t.Errorf("GET %s: code %q, want %q", tt.target, e.Error.Code, CodeUnavailable)
				}
				for _, detail := range []string{port, "127.0.0.1", "refused", "dial", "postgres", "connect"} {
					if strings.Contains(strings.ToLower(e.Error.Message), detail) {
						t.Errorf("GET %s: message %q reveals %q", tt.target, e.Error.Message, detail)
					}
				}
			}
		})
	}
	if !strings.Contains(w.logs.String(), port) {
		t.Errorf("the log lacks the database error's detail (the address 127.0.0.1:%s)", port)
	}
}

// TestReadyzDatabaseHangs holds a lock that the readiness check's query
// waits for: /readyz answers 503 within its own timeout instead of waiting
// with the database.
func TestReadyzDatabaseHangs(t *testing.T) {
	var dsn string
	b := backend{"postgres", func(t testing.TB) (store, func(testing.TB, ...string)) {
		dsn = pgtest.NewSchema(t)
		return openPostgres(t, dsn)
	}}
	w := newWorld(t, b, worldOptions{noFixture: true})
	cfg := w.srv.cfg
	cfg.Ready = w.store.(interface{ Ready(context.Context) error }).Ready
	// ReadyTimeout is left zero: the default bounds the check.
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	if r := w.do("none", http.MethodGet, "/readyz", nil); r.status != http.StatusOK {
		t.Fatalf("readyz = %d %s, want 200", r.status, r.body)
	}

	ctx := context.WithoutCancel(t.Context())
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan *response, 1)
	go func() { done <- w.do("none", http.MethodGet, "/readyz", nil) }()
	// The bound is generous: the default timeout is far shorter. Without
	// one, the probe waits for as long as the lock is held.
	bound := time.NewTimer(30 * time.Second)
	defer bound.Stop()
	select {
	case r := <-done:
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("readyz while the database hangs = %d %s, want 503", r.status, r.body)
		}
		checkEnvelope(t, "readyz", r)
	case <-bound.C:
		t.Errorf("readyz did not answer within 30s while the database hangs")
		if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
			t.Error(err)
		}
		<-done
	}
}

// TestInclusionProofStoreFailure makes the tile read of an inclusion proof
// fail in the store: the answer is an error, never an empty proof.
func TestInclusionProofStoreFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		w.checkpoint()
		w.tamper(t, "ALTER TABLE tiles RENAME TO tiles_gone")
		for _, target := range []string{"/v1/proofs/inclusion?index=1", "/v1/proofs/inclusion?index=1&tree_size=5"} {
			r := w.do("auditor", http.MethodGet, target, nil)
			if r.status != http.StatusServiceUnavailable {
				t.Errorf("GET %s with the tiles unreadable = %d %s, want 503", target, r.status, r.body)
			}
			checkEnvelope(t, target, r)
		}
	})
}

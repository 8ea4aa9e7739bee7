package witness_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/ledger/postgres"
	"github.com/agentledger/agentledger/ledger/sqlite"
	"github.com/agentledger/agentledger/witness"
)

// backends opens an empty store of each kind.
type testStore interface {
	ledger.Store
	witness.CosignatureStore
}

var backends = map[string]func(t testing.TB) testStore{
	"sqlite": func(t testing.TB) testStore {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ledger.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
	"postgres": func(t testing.TB) testStore {
		s, err := postgres.Open(t.Context(), pgtest.NewSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

// testWitness is a witness Server behind an HTTP server that can be taken
// down (it then answers 503, as a witness behind a proxy does).
type testWitness struct {
	srv   *witness.Server
	http  *httptest.Server
	down  atomic.Bool
	state string
	w     witness.Witness
}

func newTestWitness(t testing.TB, name string, logKeys ...string) *testWitness {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	tw := &testWitness{state: filepath.Join(t.TempDir(), "state.json")}
	tw.srv, err = witness.NewServer(witness.ServerConfig{Signer: signer, Logs: logKeys, StateFile: tw.state, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tw.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tw.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		tw.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(tw.http.Close)
	tw.w, err = witness.NewWitness(tw.http.URL, tw.srv.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

// appendN appends n fixture entries of generation gen and signs a
// checkpoint.
func appendN(t *testing.T, l *ledger.Log, gen, from, n int) ledger.Checkpoint {
	t.Helper()
	var es []ledger.Entry
	for i := from; i < from+n; i++ {
		es = append(es, audittest.Entry(gen, i))
	}
	if _, err := l.Append(t.Context(), es); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func openLog(t *testing.T, store ledger.Store, skey string) *ledger.Log {
	t.Helper()
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(store, ledger.Config{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func TestCosignDownAndBack(t *testing.T) {
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			keys := audittest.NewKeys(t)
			store := open(t)
			l := openLog(t, store, keys.Signer)
			w1 := newTestWitness(t, "example.com/w1", keys.Verifier)
			w2 := newTestWitness(t, "example.com/w2", keys.Verifier)
			sub, err := witness.NewSubmitter(witness.SubmitterConfig{Store: store, Witnesses: []witness.Witness{w1.w, w2.w}})
			if err != nil {
				t.Fatal(err)
			}
			policy, err := witness.NewPolicy([]string{w1.w.Key, w2.w.Key}, 2)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()

			cp := appendN(t, l, 0, 0, 10)
			if n := sub.Submit(ctx); n != 2 {
				t.Fatalf("Submit = %d cosigned, want 2 (status %+v)", n, sub.Status())
			}
			checkPolicy(t, store, cp, keys.Verifier, policy, 2)

			// Witness 2 goes down: appends and checkpoints go on, one
			// cosignature only, and the submitter says which is missing.
			w2.down.Store(true)
			cp = appendN(t, l, 0, 10, 7)
			if n := sub.Submit(ctx); n != 1 {
				t.Fatalf("Submit with w2 down = %d, want 1", n)
			}
			if d := sub.Degraded(); len(d) != 1 || d[0] != w2.w.URL {
				t.Fatalf("Degraded() = %v, want [%s]", d, w2.w.URL)
			}
			msg := checkPolicy(t, store, cp, keys.Verifier, nil, 0)
			if _, err := policy.Check(msg); err == nil {
				t.Fatalf("policy of 2 accepted a checkpoint with 1 cosignature:\n%s", msg)
			}

			// Back: it cosigns the latest checkpoint, given a consistency
			// proof from the size it last cosigned (10).
			w2.down.Store(false)
			cp = appendN(t, l, 0, 17, 5)
			if n := sub.Submit(ctx); n != 2 {
				t.Fatalf("Submit after w2 is back = %d, want 2 (status %+v)", n, sub.Status())
			}
			if d := sub.Degraded(); len(d) != 0 {
				t.Fatalf("Degraded() = %v after recovery, want none", d)
			}
			checkPolicy(t, store, cp, keys.Verifier, policy, 2)

			// A submitter that starts afresh (size 0) learns the witness's
			// size from its 409 and submits again.
			fresh, err := witness.NewSubmitter(witness.SubmitterConfig{Store: store, Witnesses: []witness.Witness{w1.w}})
			if err != nil {
				t.Fatal(err)
			}
			cp = appendN(t, l, 0, 22, 3)
			if n := fresh.Submit(ctx); n != 1 {
				t.Fatalf("fresh Submit = %d, want 1 (status %+v)", n, fresh.Status())
			}
			if st := fresh.Status()[0]; st.Size != cp.Size {
				t.Fatalf("fresh submitter's witness size = %d, want %d", st.Size, cp.Size)
			}
		})
	}
}

// checkPolicy attaches the stored cosignatures to cp, checks the log's
// signature and, if policy is set, that want witnesses cosigned. It
// returns the note.
func checkPolicy(t *testing.T, store witness.Store, cp ledger.Checkpoint, vkey string, policy *witness.Policy, want int) []byte {
	t.Helper()
	msg, err := witness.Attach(t.Context(), store, cp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.OpenCheckpoint(msg, vkey); err != nil {
		t.Fatalf("OpenCheckpoint(attached note): %v\n%s", err, msg)
	}
	if policy != nil {
		names, err := policy.Check(msg)
		if err != nil || len(names) != want {
			t.Fatalf("policy.Check = %v, %v; want %d names\n%s", names, err, want, msg)
		}
	}
	return msg
}

// TestRewriteRefused: the holder of the log's key rebuilds the log with
// other entries and re-signs it. The witness, which cosigned the original,
// refuses the rewrite (its consistency proof cannot hold), so the rewritten
// checkpoint never gets the cosignature a policy asks for; and a
// cosignature copied from the original does not verify on it.
func TestRewriteRefused(t *testing.T) {
	keys := audittest.NewKeys(t)
	open := backends["sqlite"]
	orig := open(t)
	l := openLog(t, orig, keys.Signer)
	w := newTestWitness(t, "example.com/w", keys.Verifier)
	sub, err := witness.NewSubmitter(witness.SubmitterConfig{Store: orig, Witnesses: []witness.Witness{w.w}})
	if err != nil {
		t.Fatal(err)
	}
	good := appendN(t, l, 0, 0, 12)
	if n := sub.Submit(t.Context()); n != 1 {
		t.Fatalf("Submit = %d", n)
	}
	goodNote, err := witness.Attach(t.Context(), orig, good)
	if err != nil {
		t.Fatal(err)
	}

	// The rewrite: same key, entry 3 left out, more entries after.
	forged := open(t)
	fl := openLog(t, forged, keys.Signer)
	appendN(t, fl, 0, 0, 3)
	bad := appendN(t, fl, 0, 4, 14)
	fsub, err := witness.NewSubmitter(witness.SubmitterConfig{Store: forged, Witnesses: []witness.Witness{w.w}})
	if err != nil {
		t.Fatal(err)
	}
	if n := fsub.Submit(t.Context()); n != 0 {
		t.Fatalf("the witness cosigned a rewritten log")
	}
	if st := fsub.Status()[0]; st.Up || !strings.Contains(st.Err, "422") {
		t.Fatalf("rewrite submission status = %+v, want a 422 refusal", st)
	}
	policy, err := witness.NewPolicy([]string{w.w.Key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	badNote, err := witness.Attach(t.Context(), forged, bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.OpenCheckpoint(badNote, keys.Verifier); err != nil {
		t.Fatalf("the rewrite is signed by the log's own key, yet: %v", err)
	}
	if _, err := policy.Check(badNote); err == nil {
		t.Fatal("policy accepted the rewritten checkpoint")
	}
	// Copy the witness's line from the original onto the rewrite.
	line := goodNote[len(good.Note):]
	if _, err := policy.Check(append(append([]byte(nil), badNote...), line...)); err == nil {
		t.Fatal("policy accepted a cosignature copied from another checkpoint")
	}
}

func TestServerRefusals(t *testing.T) {
	keys := audittest.NewKeys(t)
	other := audittest.NewKeys(t)
	store := backends["sqlite"](t)
	l := openLog(t, store, keys.Signer)
	cp := appendN(t, l, 0, 0, 5)
	w := newTestWitness(t, "example.com/w", keys.Verifier)

	otherSigner, err := note.NewSigner(other.Signer)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cp.Note, note.VerifierList(mustVerifier(t, keys.Verifier)))
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, err := note.Sign(&note.Note{Text: n.Text}, otherSigner)
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := note.Sign(&note.Note{Text: strings.Replace(n.Text, audittest.Origin, "example.com/other", 1)}, otherSigner)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body []byte
		want int
	}{
		{"wrong key", witness.FormatRequest(0, nil, wrongKey), http.StatusForbidden},
		{"unknown log", witness.FormatRequest(0, nil, unknown), http.StatusNotFound},
		{"old size is not the witness's", witness.FormatRequest(3, [][]byte{make([]byte, 32)}, cp.Note), http.StatusConflict},
		{"proof from 0", witness.FormatRequest(0, [][]byte{make([]byte, 32)}, cp.Note), http.StatusUnprocessableEntity},
		{"garbage", []byte("old x\n\n"), http.StatusBadRequest},
		{"no blank line", []byte("old 0\n"), http.StatusBadRequest},
		{"ok", witness.FormatRequest(0, nil, cp.Note), http.StatusOK},
		{"bad proof", witness.FormatRequest(5, [][]byte{make([]byte, 32)}, appendN(t, l, 0, 5, 3).Note), http.StatusUnprocessableEntity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(w.http.URL+"/add-checkpoint", "text/plain", strings.NewReader(string(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("POST /add-checkpoint = %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusConflict && resp.Header.Get("Content-Type") != witness.SizeContentType {
				t.Fatalf("409 Content-Type = %q, want %q", resp.Header.Get("Content-Type"), witness.SizeContentType)
			}
		})
	}

	// The state survives a restart of the witness: a new Server on the
	// same file answers 409 with size 5 to a request from 0.
	restarted, err := witness.NewServer(witness.ServerConfig{Signer: mustSigner(t), Logs: []string{keys.Verifier}, StateFile: w.state})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	restarted.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/add-checkpoint", strings.NewReader(string(witness.FormatRequest(0, nil, cp.Note)))))
	if rec.Code != http.StatusConflict || strings.TrimSpace(rec.Body.String()) != "5" {
		t.Fatalf("restarted witness answered %d %q, want 409 \"5\"", rec.Code, rec.Body.String())
	}
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustSigner(t *testing.T) *torchwood.CosignatureSigner {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, "example.com/w")
	if err != nil {
		t.Fatal(err)
	}
	s, err := witness.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

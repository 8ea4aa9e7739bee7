package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/internal/servetest"
	"github.com/agentledger/agentledger/ledger/verify"
)

// createToken creates a token of role on the Postgres database dsn with
// agentledger token create, and returns it.
func createToken(t *testing.T, dsn, role, name string) string {
	t.Helper()
	tok, err := servetest.CreateToken(t.Context(), binary, role, name, "--database", dsn)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// getFed GETs url with a bearer token into v and returns the status.
func getFed(t *testing.T, url, token string, v any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// usages returns the number of API calls the shard's part of a federated
// answer reports, -1 when the shard did not answer.
func usages(t *testing.T, sh api.ShardAnswer) int {
	t.Helper()
	if !sh.Answered {
		return -1
	}
	var p api.ProvedCredentialView
	if err := json.Unmarshal(sh.Answer, &p); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range p.View.Usages {
		n += len(u.Calls)
	}
	return n
}

// TestServeFederatedCredentialView: two shards, each its own log (its own
// Postgres schema, origin and key) served by its own serve, both sent a run
// that uses one credential by the OTel SDK's exporter. The federated view
// of the first returns both uses, each from its own log, and verify
// --federated proves every entry of both against each log's key, and each
// part complete. A shard that stops is named as not answering, and verify
// fails; an answer whose part was tampered with, or carries another log's
// proofs, fails verify too.
func TestServeFederatedCredentialView(t *testing.T) {
	const cred = "AKIAFEDERATED0000001"
	dsnA, dsnB := pgtest.NewSchema(t), pgtest.NewSchema(t)
	b := startServer(t, t.TempDir(), "--database", dsnB, "--log-name", "shard-b.test/ledger")
	keyB := b.VerifierKey(t)
	tokens := filepath.Join(t.TempDir(), "peers")
	if err := os.WriteFile(tokens, []byte("shard-b "+createToken(t, dsnB, "responder", "federation")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, t.TempDir(), "--database", dsnA, "--log-name", "shard-a.test/ledger",
		"--federate", "shard-b=http://"+b.HTTPAddr, "--federate-tokens-file", tokens, "--federate-timeout", "10s")
	keyA := a.VerifierKey(t)
	token := createToken(t, dsnA, "responder", "auditor")
	trust := filepath.Join(t.TempDir(), "trust")
	if err := os.WriteFile(trust, []byte("# the two shards\n"+keyA+"\n"+keyB+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	servetest.SendCredentialUse(t, a.OTLPHTTPAddr, "agent-a", cred)
	servetest.SendCredentialUse(t, b.OTLPHTTPAddr, "agent-b", cred)

	fedURL := "http://" + a.HTTPAddr + "/v1/federation/credentials/" + cred
	var fed api.FederatedCredentialView
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st := getFed(t, fedURL, token, &fed); st != http.StatusOK {
			t.Fatalf("GET %s = %d", fedURL, st)
		}
		if len(fed.Shards) == 2 && usages(t, fed.Shards[0]) == 1 && usages(t, fed.Shards[1]) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the federated view does not report one use in each shard within 30s: %+v", fed.Shards)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, want := range []struct {
		name, origin string
		local        bool
	}{{"shard-a.test/ledger", "shard-a.test/ledger", true}, {"shard-b", "shard-b.test/ledger", false}} {
		if sh := fed.Shards[i]; sh.Name != want.name || sh.Origin != want.origin || sh.Local != want.local {
			t.Errorf("shard %d = %s (origin %s, local %v), want %s (origin %s, local %v)", i, sh.Name, sh.Origin, sh.Local, want.name, want.origin, want.local)
		}
	}

	verifyArgs := []string{"verify", "--url", "http://" + a.HTTPAddr, "--token", token, "--credential", cred, "--federated", "--trust", trust, "--wait", "20s"}
	out, err := exec.Command(binary, verifyArgs...).CombinedOutput()
	if err != nil {
		t.Fatalf("verify --federated = %v\n%s", err, out)
	}
	for _, want := range []string{
		`shard shard-a.test/ledger: checkpoint: log shard-a.test/ledger, tree size \d+, root .*: signature valid`,
		`shard shard-b: checkpoint: log shard-b.test/ledger, tree size \d+, root .*: signature valid`,
		`shard shard-a.test/ledger: credential "` + cred + `": [1-9]\d* entries verified \(leaf, leaf hash, inclusion proof\)`,
		`shard shard-b: credential "` + cred + `": [1-9]\d* entries verified \(leaf, leaf hash, inclusion proof\)`,
		`shard shard-a.test/ledger: credential "` + cred + `": the view is complete as of checkpoint \d+ .*: the signed index lists 1 entries for it`,
		`shard shard-b: credential "` + cred + `": the view is complete as of checkpoint \d+ .*: the signed index lists 1 entries for it`,
		`every shard of the 2 trusted logs answered and verified\nverified\n$`,
	} {
		wantMatch(t, "verify --federated output", string(out), want)
	}

	// A trust file that lists a third log: its shard is missing.
	_, keyC, err := note.GenerateKey(rand.Reader, "shard-c.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	third := filepath.Join(t.TempDir(), "trust3")
	if err := os.WriteFile(third, []byte(keyA+"\n"+keyB+"\n"+keyC+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, newVerifyCmd(), "--url", "http://"+a.HTTPAddr, "--token", token, "--credential", cred, "--federated", "--trust", third); err == nil {
		t.Error("verify --federated with a third trusted log = nil, want an error")
	} else {
		wantMatch(t, "verify error", err.Error(), `log shard-c.test/ledger: no shard's answer for it verified`)
	}

	// An answer whose parts are all proved, from a checkpoint and an index
	// that cover every entry, to tamper with.
	trusted := verify.Trust{strings.SplitN(keyA, "+", 2)[0]: keyA, strings.SplitN(keyB, "+", 2)[0]: keyB}
	for deadline := time.Now().Add(30 * time.Second); ; {
		getFed(t, fedURL, token, &fed)
		var errs []error
		for _, sh := range fed.Shards {
			if _, err := verify.VerifyProvedCredential(t.Context(), cred, []json.RawMessage{sh.Answer}, trusted); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the federated answer's parts are not all proved within 30s: %v", errs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Run("tampered", func(t *testing.T) {
		raw, err := json.Marshal(fed)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name   string
			change func(v *api.FederatedCredentialView)
			err    string
		}{
			{"none", func(*api.FederatedCredentialView) {}, ""},
			{"entry", func(v *api.FederatedCredentialView) {
				v.Shards[1].Answer = json.RawMessage(strings.Replace(string(v.Shards[1].Answer), `"server.address":"api.agent-b.example"`, `"server.address":"api.elsewhere.example"`, 1))
			}, `shard shard-b: entry \d+: the view says attribute server.address = "api.elsewhere.example", but its leaf says "api.agent-b.example"`},
			{"another origin's proofs", func(v *api.FederatedCredentialView) {
				var pa, pb map[string]json.RawMessage
				json.Unmarshal(v.Shards[0].Answer, &pa)
				json.Unmarshal(v.Shards[1].Answer, &pb)
				pb["checkpoint"], pb["leaves"] = pa["checkpoint"], pa["leaves"]
				v.Shards[1].Answer, _ = json.Marshal(pb)
			}, `shard shard-b: page 1: checkpoint: checkpoint is not signed by shard-b.test/ledger`},
			{"another shard's answer", func(v *api.FederatedCredentialView) {
				v.Shards[1].Answer = v.Shards[0].Answer
			}, `shard shard-b: answers for log shard-a.test/ledger, as shard shard-a.test/ledger does(.|\n)*log shard-b.test/ledger: no shard's answer for it verified`},
			{"untrusted origin", func(v *api.FederatedCredentialView) {
				v.Shards[1].Answer = json.RawMessage(strings.Replace(string(v.Shards[1].Answer), `"origin":"shard-b.test/ledger"`, `"origin":"shard-x.test/ledger"`, 1))
			}, `shard shard-b: the answer is for log "shard-x.test/ledger", which the trusted keys do not list`},
			{"shard left out", func(v *api.FederatedCredentialView) {
				v.Shards = v.Shards[:1]
			}, `log shard-b.test/ledger: no shard's answer for it verified`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var v api.FederatedCredentialView
				if err := json.Unmarshal(raw, &v); err != nil {
					t.Fatal(err)
				}
				tt.change(&v)
				body, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.Write(body)
				}))
				defer evil.Close()
				out, _, err := run(t, newVerifyCmd(), "--url", evil.URL, "--credential", cred, "--federated", "--trust", trust, "--wait", "0s")
				if tt.err == "" {
					if err != nil {
						t.Fatalf("verify of the answer as served = %v\n%s", err, out)
					}
					return
				}
				if err == nil {
					t.Fatalf("verify = nil, want an error matching %q\n%s", tt.err, out)
				}
				wantMatch(t, "verify error", err.Error(), tt.err)
			})
		}
	})

	// Shard b stops: the federated view names it as not answering, and
	// verify fails.
	if err := b.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop shard b: %v", err)
	}
	if st := getFed(t, fedURL, token, &fed); st != http.StatusOK {
		t.Fatalf("GET %s with shard b down = %d", fedURL, st)
	}
	if len(fed.Shards) != 2 || !fed.Shards[0].Answered || fed.Shards[1].Answered || fed.Shards[1].Error == "" {
		t.Fatalf("with shard b down, shards = %+v, want a answered and b not, with its error", fed.Shards)
	}
	out, err = exec.Command(binary, verifyArgs...).CombinedOutput()
	if err == nil {
		t.Fatalf("verify --federated with shard b down = nil, want an error\n%s", out)
	}
	wantMatch(t, "verify output", string(out), fmt.Sprintf(`shard shard-b did not answer: .*%s`, strings.ReplaceAll(b.HTTPAddr, ".", `\.`)))
}

// TestServeFederateFlags checks serve's --federate flags: a token for each
// shard, from a file no one else may read.
func TestServeFederateFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := write("tokens", "# peers\nshard-b tok-b\nshard-c tok-c\n", 0o600)
	for _, tt := range []struct {
		name string
		f    federateFlags
		err  string
	}{
		{"none", federateFlags{}, ""},
		{"two", federateFlags{peers: []string{"shard-b=https://b.example:8080 shard-c=http://127.0.0.1:9"}, tokensFile: tokens, timeout: time.Second}, ""},
		{"no tokens file", federateFlags{peers: []string{"shard-b=https://b.example"}, timeout: time.Second}, "needs --federate-tokens-file"},
		{"open tokens file", federateFlags{peers: []string{"shard-b=https://b.example"}, tokensFile: write("open", "shard-b t\n", 0o644), timeout: time.Second}, "too open"},
		{"no token", federateFlags{peers: []string{"shard-d=https://d.example"}, tokensFile: tokens, timeout: time.Second}, "has no token for it"},
		{"token without peer", federateFlags{peers: []string{"shard-b=https://b.example"}, tokensFile: tokens, timeout: time.Second}, "names shard-c, which no --federate gives"},
		{"not NAME=URL", federateFlags{peers: []string{"https://b.example"}, tokensFile: tokens, timeout: time.Second}, "want NAME=URL"},
		{"bad line", federateFlags{peers: []string{"shard-b=https://b.example"}, tokensFile: write("bad", "shard-b\n", 0o600), timeout: time.Second}, "line 1: want NAME TOKEN"},
		{"bad CA", federateFlags{peers: []string{"shard-b=https://b.example shard-c=https://c.example"}, tokensFile: tokens, caFile: write("ca", "no pem", 0o644), timeout: time.Second}, "no PEM certificates"},
		{"tokens without peers", federateFlags{tokensFile: tokens}, "need --federate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fed, err := tt.f.federation()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("federation() = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.f.peers) == 0 {
				if fed != nil {
					t.Fatalf("federation() = %+v, want nil", fed)
				}
				return
			}
			if len(fed.Peers) != 2 || fed.Peers[0].Token != "tok-b" || fed.Peers[1].URL != "http://127.0.0.1:9" || fed.Client == nil {
				t.Errorf("federation() = %+v", fed)
			}
		})
	}
}

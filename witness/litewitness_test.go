package witness_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/ledger/sqlite"
	"github.com/agentledger/agentledger/query"
	"github.com/agentledger/agentledger/witness"
)

// buildTorchwood builds torchwood v0.6.1's litewitness and witnessctl from
// the module cache, with torchwood's own go.mod (they use a pure-Go
// SQLite). It needs the module (go mod download, done by building this
// package) and its dependencies, which go build fetches through GOPROXY
// the first time.
func buildTorchwood(t *testing.T) (litewitness, witnessctl string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "filippo.io/torchwood").Output()
	if err != nil {
		t.Fatalf("locate filippo.io/torchwood in the module cache: %v", err)
	}
	src := strings.TrimSpace(string(out))
	bin := t.TempDir()
	for _, c := range []string{"litewitness", "witnessctl"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, c), "./cmd/"+c)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build torchwood %s in %s: %v\n%s", c, src, err, b)
		}
	}
	return filepath.Join(bin, "litewitness"), filepath.Join(bin, "witnessctl")
}

// sshAgent serves an ssh-agent holding key on a Unix socket, as litewitness
// takes its key.
func sshAgent(t *testing.T, key ed25519.PrivateKey) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(kr, c)
			}()
		}
	}()
	return sock
}

// TestLitewitnessInterop has our log cosigned by torchwood's litewitness
// (an independent C2SP tlog-witness implementation), checks its
// cosignatures with our policy, and follows our log with torchwood's tlog
// client, which verifies every entry against our checkpoint through the
// tlog-tiles API.
func TestLitewitnessInterop(t *testing.T) {
	lw, ctl := buildTorchwood(t)
	keys := audittest.NewKeys(t)
	origin, _, _ := strings.Cut(keys.Verifier, "+")
	store := backends["sqlite"](t).(*sqlite.Store)
	l := openLog(t, store, keys.Signer)

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sock := sshAgent(t, priv)
	db := filepath.Join(t.TempDir(), "litewitness.db")
	for _, args := range [][]string{
		{"add-log", "-db", db, "-origin", origin},
		{"add-key", "-db", db, "-origin", origin, "-key", keys.Verifier},
	} {
		if b, err := exec.Command(ctl, args...).CombinedOutput(); err != nil {
			t.Fatalf("witnessctl %s: %v\n%s", args[0], err, b)
		}
	}
	const name = "example.com/litewitness"
	addr := freeAddr(t)
	cmd := exec.Command(lw, "-db", db, "-name", name, "-key", ssh.FingerprintSHA256(sshPub), "-ssh-agent", sock, "-listen", addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("litewitness not listening on %s within 30s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// litewitness's cosignature key, as torchwood derives it.
	cs, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.NewWitness("http://"+addr, cs.Verifier().String())
	if err != nil {
		t.Fatal(err)
	}
	sub, err := witness.NewSubmitter(witness.SubmitterConfig{Store: store, Witnesses: []witness.Witness{w}})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := witness.NewPolicy([]string{w.Key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// First from size 0, then with consistency proofs, across a tile
	// boundary.
	var cp ledger.Checkpoint
	for i, n := range []int{10, 7, 300} {
		cp = appendN(t, l, 0, i*1000, n)
		if got := sub.Submit(t.Context()); got != 1 {
			t.Fatalf("litewitness did not cosign checkpoint %d: %+v", cp.Size, sub.Status())
		}
		checkPolicy(t, store, cp, keys.Verifier, policy, 1)
	}

	// torchwood's client follows our log through the tlog-tiles API.
	srv, err := query.NewServer(query.Config{
		Reader:        store,
		Log:           l,
		Tokens:        store,
		Fingerprint:   func(string) string { return "hmac-sha256:" + strings.Repeat("0", 64) },
		VerifierKey:   keys.Verifier,
		PublicTiles:   true,
		PublicEntries: true,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	fetcher, err := torchwood.NewTileFetcher(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := fetcher.ReadEndpoint(t.Context(), "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(mustVerifier(t, keys.Verifier)))
	if err != nil {
		t.Fatalf("open our checkpoint: %v", err)
	}
	tc, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		t.Fatalf("torchwood.ParseCheckpoint: %v\n%s", err, n.Text)
	}
	if tc.Origin != origin || tc.N != int64(cp.Size) {
		t.Fatalf("torchwood parsed origin %q size %d, want %q %d", tc.Origin, tc.N, origin, cp.Size)
	}
	client, err := torchwood.NewClient(fetcher)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// Entries stops before a trailing partial tile; resuming yields the
	// rest, as its documentation says.
	var got int64
	for round := 0; got < tc.N && round < 3; round++ {
		for i, entry := range client.Entries(ctx, tc.Tree, got) {
			if i != got {
				t.Fatalf("torchwood client gave entry %d, want %d", i, got)
			}
			if _, err := ledger.DecodeLeaf(entry); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
			got++
		}
		if err := client.Err(); err != nil {
			t.Fatalf("torchwood client: %v", err)
		}
	}
	if got != tc.N {
		t.Fatalf("torchwood client verified %d entries, want %d", got, tc.N)
	}
	// And one entry with its inclusion proof, through the hash tiles.
	last, proof, err := client.Entry(ctx, tc.Tree, tc.N-1)
	if err != nil {
		t.Fatalf("torchwood client.Entry(%d): %v", tc.N-1, err)
	}
	if err := ledger.VerifyInclusion(last, uint64(tc.N-1), cp.Size, cp.Root[:], proofHashes(proof)); err != nil {
		t.Fatalf("torchwood's inclusion proof does not verify with ours: %v", err)
	}
}

func proofHashes(p []tlog.Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

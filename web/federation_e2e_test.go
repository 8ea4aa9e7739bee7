package web

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/internal/servetest"
)

// TestBrowserFederation runs web/e2e/federation.spec.mjs against two
// shards, each its own log on its own Postgres schema served by its own
// `agentledger serve`, the first federating the second: the credential
// page leads to the credential's uses in both shards, each verified in the
// browser with its own log's key; a tampered answer fails; then, with the
// second shard stopped, the page names it as not answering.
func TestBrowserFederation(t *testing.T) {
	node := requireTools(t, true)
	ctx := t.Context()
	const cred = "AKIAFEDERATEDUI00001"
	bin := servetest.Binary(t)
	dsnA, dsnB := pgtest.NewSchema(t), pgtest.NewSchema(t)
	dirB := t.TempDir()
	b := servetest.Start(t, servetest.Options{Binary: bin, DataDir: dirB, Args: []string{"--database", dsnB, "--log-name", "shard-b.test/ledger"}})
	tokens := filepath.Join(t.TempDir(), "peers")
	if err := os.WriteFile(tokens, []byte("shard-b "+adminToken(t, bin, dirB, "--database", dsnB)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dirA := t.TempDir()
	a := servetest.Start(t, servetest.Options{Binary: bin, DataDir: dirA, Args: []string{"--database", dsnA, "--log-name", "shard-a.test/ledger",
		"--federate", "shard-b=" + b.URL(), "--federate-tokens-file", tokens, "--federate-timeout", "10s"}})
	api := apiClient{base: a.URL(), token: adminToken(t, bin, dirA, "--database", dsnA)}
	servetest.SendCredentialUse(t, a.OTLPHTTPAddr, "agent-a", cred)
	servetest.SendCredentialUse(t, b.OTLPHTTPAddr, "agent-b", cred)

	type shard struct {
		Answered bool            `json:"answered"`
		Answer   json.RawMessage `json:"answer"`
	}
	waitFor(t, "both shards prove their use of the credential", 60*time.Second, func() (bool, error) {
		var v struct {
			Shards []shard `json:"shards"`
		}
		if _, err := api.do(ctx, http.MethodGet, "/v1/federation/credentials/"+cred, nil, &v); err != nil {
			return false, err
		}
		if len(v.Shards) != 2 {
			return false, nil
		}
		for _, sh := range v.Shards {
			var p struct {
				Leaves  []json.RawMessage `json:"leaves"`
				Pending []uint64          `json:"pending"`
			}
			if !sh.Answered || json.Unmarshal(sh.Answer, &p) != nil || len(p.Leaves) == 0 || len(p.Pending) > 0 {
				return false, nil
			}
		}
		return true, nil
	})

	shots := screenshotDir(t)
	env := []string{"BASE_URL=" + a.URL(), "TOKEN=" + api.token, "KEY_A=" + a.VerifierKey(t), "KEY_B=" + b.VerifierKey(t),
		"CREDENTIAL_ID=" + cred, "SCREENSHOT_DIR=" + shots, "CHROMIUM=" + chromiumPath()}
	runNode(t, node, "e2e/federation.spec.mjs", append(env, "PHASE=up")...)

	if err := b.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop shard b: %v", err)
	}
	runNode(t, node, "e2e/federation.spec.mjs", append(env, "PHASE=down")...)
}

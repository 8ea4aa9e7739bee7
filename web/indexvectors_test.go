package web

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/index/indextest"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

const indexVectorsFile = "testdata/index_vectors.json"

// indexVectors are the test vectors of the browser's completeness check
// (static/js/completeness.js): a completeness block as the query API
// serves it, made with the index package on a real store.
type indexVectors struct {
	Comment     string `json:"comment"`
	VerifierKey string `json:"verifier_key"`
	// Block has the proofs of present keys, with indices, and of absent
	// ones (non-membership).
	Block struct {
		Size       uint64        `json:"size"`
		Checkpoint string        `json:"checkpoint"`
		Keys       []index.Proof `json:"keys"`
		Unindexed  []uint64      `json:"unindexed"`
	} `json:"block"`
}

func generateIndexVectors(t *testing.T) *indexVectors {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	skey, vkey, err := ledger.GenerateKey(vectorOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	log, err := ledger.Open(st, ledger.Config{Signer: signer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close(ctx) })
	if _, err := log.Append(ctx, indextest.Entries(rand.New(rand.NewPCG(12, 12)), 0, 60)); err != nil {
		t.Fatal(err)
	}
	cp, err := log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := index.NewIndexer(st, signer).Update(ctx); err != nil {
		t.Fatal(err)
	}
	keys := []ledger.Ref{
		{Key: ledger.RefCredential, Value: "cred-3"},
		{Key: ledger.RefFingerprint, Value: "hmac-sha256:07"},
		{Key: ledger.RefTrace, Value: "00000000000000000000000000000002"},
		{Key: ledger.RefCredential, Value: "never-used"},
		{Key: ledger.RefAgent, Value: "nobody"},
	}
	ps, err := index.LookupKeys(ctx, st, keys, make([]uint64, len(keys)))
	if err != nil {
		t.Fatal(err)
	}
	v := &indexVectors{Comment: "made by TestIndexVectors (go test ./web -run TestIndexVectors -update)", VerifierKey: vkey}
	v.Block.Size, v.Block.Checkpoint, v.Block.Unindexed = cp.Size, string(cp.Note), []uint64{}
	for _, p := range ps {
		v.Block.Keys = append(v.Block.Keys, *p)
	}
	return v
}

// TestIndexVectors checks testdata/index_vectors.json with the index
// package (and rewrites it with -update): the JavaScript completeness
// check's tests run on proofs the Go verifier accepts.
func TestIndexVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(generateIndexVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(indexVectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(indexVectorsFile)
	if err != nil {
		t.Fatalf("%v (generate it with go test ./web -run TestIndexVectors -update)", err)
	}
	var v indexVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	found, absent := 0, 0
	for _, p := range v.Block.Keys {
		k, err := index.ParseKey(p.Key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Verify(v.VerifierKey, k, index.Known{}); err != nil {
			t.Errorf("%s: %v", p.Key, err)
		}
		if p.Found {
			found++
		} else {
			absent++
		}
	}
	if found < 3 || absent < 2 {
		t.Errorf("vectors of %d present and %d absent keys, want at least 3 and 2", found, absent)
	}
}

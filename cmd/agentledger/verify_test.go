package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
)

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyCmdOffline(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 300, 50)
	ctx := t.Context()
	dir := t.TempDir()
	cp := l.Checkpoint(t, 151)
	recs, err := l.Store.RecordsAt(ctx, []uint64{100, 101})
	if err != nil || len(recs) != 2 {
		t.Fatalf("RecordsAt = %d, %v", len(recs), err)
	}
	p, err := ledger.InclusionProof(ctx, l.Store, 100, 151)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, h := range p {
		lines = append(lines, base64.StdEncoding.EncodeToString(h))
	}
	proofJSON, _ := json.Marshal(map[string]any{"index": 100, "tree_size": 151, "hashes": lines})
	entryJSON, _ := json.Marshal(map[string]any{"index": 100, "leaf": base64.StdEncoding.EncodeToString(recs[0].Leaf)})
	cons, err := ledger.ConsistencyProof(ctx, l.Store, 101, 151)
	if err != nil {
		t.Fatal(err)
	}
	consJSON, _ := json.Marshal(map[string]any{"from": 101, "to": 151, "hashes": cons})

	files := map[string]string{
		"cp":       writeFile(t, dir, "cp151", cp.Note),
		"cp101":    writeFile(t, dir, "cp101", l.Checkpoint(t, 101).Note),
		"leaf":     writeFile(t, dir, "leaf100", recs[0].Leaf),
		"other":    writeFile(t, dir, "leaf101", recs[1].Leaf),
		"entry":    writeFile(t, dir, "entry100.json", entryJSON),
		"proof":    writeFile(t, dir, "proof.json", proofJSON),
		"lines":    writeFile(t, dir, "proof.txt", []byte(strings.Join(lines, "\n")+"\n")),
		"cons":     writeFile(t, dir, "cons.json", consJSON),
		"key":      writeFile(t, dir, "vkey", []byte(l.Keys.Verifier+"\n")),
		"otherkey": writeFile(t, dir, "othervkey", []byte(audittest.NewKeys(t).Verifier)),
	}
	f := func(name string) string { return files[name] }
	tests := []struct {
		name string
		args []string
		out  string // a match for the output, on success
		err  string // a match for the error
	}{
		{"inclusion", []string{"--key-file", f("key"), "--checkpoint", f("cp"), "--leaf", f("leaf"), "--index", "100", "--proof", f("proof")},
			`(?s)checkpoint: log example.com/audittest, tree size 151, root .*: signature valid\nentry 100: leaf of \d+ bytes, leaf hash [0-9a-f]{64}: included in the tree of size 151 \(proof of \d+ hashes\)\nentry 100: kind \w+, name "step 99".*\nverified\n$`, ""},
		{"inclusion, entry JSON and proof lines", []string{"--key", l.Keys.Verifier, "--checkpoint", f("cp"), "--leaf", f("entry"), "--index", "100", "--proof", f("lines")},
			`verified\n$`, ""},
		{"consistency", []string{"--key-file", f("key"), "--old-checkpoint", f("cp101"), "--checkpoint", f("cp"), "--proof", f("cons")},
			`the tree of size 151 extends the tree of size 101 \(proof of \d+ hashes\)\nverified\n$`, ""},
		{"checkpoint only", []string{"--key-file", f("key"), "--checkpoint", f("cp")}, `signature valid\nverified\n$`, ""},
		{"another leaf", []string{"--key-file", f("key"), "--checkpoint", f("cp"), "--leaf", f("other"), "--index", "100", "--proof", f("proof")},
			"", `^entry 100 \(leaf hash [0-9a-f]{64}\) is not in the tree of checkpoint example.com/audittest@151`},
		{"index beyond", []string{"--key-file", f("key"), "--checkpoint", f("cp"), "--leaf", f("leaf"), "--index", "151", "--proof", f("proof")},
			"", `^entry 151 is not in the checkpoint's tree of size 151$`},
		{"another key", []string{"--key-file", f("otherkey"), "--checkpoint", f("cp"), "--leaf", f("leaf"), "--index", "100", "--proof", f("proof")},
			"", `cp151: checkpoint: checkpoint is not signed by example.com/audittest`},
		{"consistency backwards", []string{"--key-file", f("key"), "--old-checkpoint", f("cp"), "--checkpoint", f("cp101"), "--proof", f("cons")},
			"", `tree shrank from size 151 to 101`},
		{"missing proof", []string{"--key-file", f("key"), "--checkpoint", f("cp"), "--leaf", f("leaf"), "--index", "100"},
			"", `an inclusion proof takes --checkpoint, --leaf, --index and --proof`},
		{"nothing", []string{"--key-file", f("key")}, "", `nothing to verify`},
		{"online and offline", []string{"--key-file", f("key"), "--url", "http://x", "--checkpoint", f("cp")}, "", `not both`},
		{"all without url", []string{"--key-file", f("key"), "--all"}, "", `need --url`},
		{"missing file", []string{"--key-file", f("key"), "--checkpoint", filepath.Join(dir, "nope")}, "", `no such file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := run(t, newVerifyCmd(), tt.args...)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("verify %v = %v\n%s", tt.args, err, out)
				}
				wantMatch(t, "verify output", out, tt.out)
				return
			}
			if err == nil {
				t.Fatalf("verify %v = nil, want an error\n%s", tt.args, out)
			}
			wantMatch(t, "verify error", err.Error(), tt.err)
		})
	}
}

// TestVerifyCmdOnline runs verify against the query server.
func TestVerifyCmdOnline(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 600, 200)
	url, token := apiServer(t, l)
	out, _, err := run(t, newVerifyCmd(), "--key", l.Keys.Verifier, "--url", url, "--token", token, "--credential", "cred-1", "--all")
	if err != nil {
		t.Fatalf("verify --credential --all = %v\n%s", err, out)
	}
	for _, want := range []string{
		`checkpoint: log example.com/audittest, tree size 601, root .*: signature valid`,
		`credential "cred-1": \d+ entries verified \(leaf, leaf hash, inclusion proof\) from \d+ page\(s\) of its view`,
		`credential "cred-1": the view is complete as of checkpoint 601 \(credential:cred-1, credential_parent:cred-1\): the signed index lists \d+ entries for it`,
		`log: 601 entries read from entry bundles, hashed and decoded; \d+ tiles recomputed and compared; the root is the checkpoint's`,
		`verified\n$`,
	} {
		wantMatch(t, "verify output", out, want)
	}
	out, _, err = run(t, newVerifyCmd(), "--key", l.Keys.Verifier, "--url", url, "--token", token, "--credential", "cred-1", "--content")
	if err != nil {
		t.Fatalf("verify --credential --content = %v\n%s", err, out)
	}
	wantMatch(t, "verify output", out, `facts of \d+ entry objects match their leaves; [1-9]\d* pieces of content match their commitments`)
	_, _, err = run(t, newVerifyCmd(), "--key", l.Keys.Verifier, "--url", url, "--token", "wrong", "--all")
	if err == nil {
		t.Fatal("verify --all with a wrong token = nil, want an error")
	}
	wantMatch(t, "verify error", err.Error(), `401`)

	// Hide one use of the credential from the view: the index catches it.
	l.Tamper(t, `DELETE FROM entry_refs WHERE key = 'credential' AND value = 'cred-1' AND idx = 7`)
	_, _, err = run(t, newVerifyCmd(), "--key", l.Keys.Verifier, "--url", url, "--token", token, "--credential", "cred-1")
	if err == nil {
		t.Fatal("verify --credential with a hidden use = nil, want an error")
	}
	wantMatch(t, "verify error", err.Error(), `index key credential:cred-1 is incomplete as of checkpoint 601: the signed index holds \d+ entries, the answer \d+ \(1 missing\)`)

	// Change a leaf and its tile hash: the checkpoint's root catches it.
	l.Tamper(t, `UPDATE entries SET leaf = overlay(leaf placing '9'::bytea from position('step 31'::bytea in leaf) + 6 for 1) WHERE idx = 31`,
		`UPDATE entries SET leaf_hash = sha256('\x00'::bytea || leaf) WHERE idx = 31`,
		`UPDATE tiles SET hashes = overlay(hashes placing (SELECT leaf_hash FROM entries WHERE idx = 31) from 1 + (31 - start)*32 for 32)
			WHERE level = 0 AND idx = 0 AND start <= 31 AND start + length(hashes)/32 > 31`)
	_, _, err = run(t, newVerifyCmd(), "--key", l.Keys.Verifier, "--url", url, "--token", token, "--all")
	if err == nil {
		t.Fatal("verify --all of a tampered log = nil, want an error")
	}
	wantMatch(t, "verify error", err.Error(), `^log: tile 1/0 hash 0 \(entries 0–255\): served .*, but the entries give`)
}

// TestVerifyCmdAllContent checks every piece of content of a log served by
// the query server against its commitment, and reports the erased piece
// with the erasure entry that erased it; then it changes or removes a piece
// of content in the database, past its triggers.
func TestVerifyCmdAllContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper string
		want   string
	}{
		{name: "clean"},
		{
			name:   "content changed",
			tamper: `UPDATE content SET data = convert_to('changed', 'UTF8') WHERE idx = 10 AND name = 'reasoning'`,
			want:   `^log: entry 10: the server finds that its content "reasoning" does not match its commitment`,
		},
		{
			name:   "content deleted without an erasure",
			tamper: `DELETE FROM content WHERE idx = 15 AND name = 'reasoning'`,
			want:   `^log: entry 15: the server reports content "reasoning" erased, but no erasure entry of checkpoint .* names it`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// 60 entries, every fifth an LLM entry with two pieces of content;
			// the reasoning of entry 5 is erased by the erasure entry at 40.
			l := audittest.New(t, 60, 30)
			if l.Erased != (ledger.ContentRef{Index: 5, Name: "reasoning"}) {
				t.Fatalf("test bug: the fixture erased %+v", l.Erased)
			}
			if tt.tamper != "" {
				l.Tamper(t, tt.tamper)
			}
			url, token := apiServer(t, l)
			out, _, err := run(t, newVerifyCmd(), "--key", l.Keys.Verifier, "--url", url, "--token", token, "--all", "--content")
			if tt.want != "" {
				if err == nil {
					t.Fatalf("verify --all --content = nil, want an error\n%s", out)
				}
				wantMatch(t, "verify error", err.Error(), tt.want)
				return
			}
			if err != nil {
				t.Fatalf("verify --all --content = %v\n%s", err, out)
			}
			for _, want := range []string{
				`log: 61 entries read from entry bundles`,
				`log: 23 pieces of content match their commitments; 1 erased; 0 not returned to this token\n`,
				`entry 5: content "reasoning" erased by erasure entry 40\n`,
				`verified\n$`,
			} {
				wantMatch(t, "verify output", out, want)
			}
		})
	}
}

// TestVerifyCmdCredentialContentChanged changes content in the database:
// the server withholds it and says so, and verify --credential --content
// fails on it rather than skipping it.
func TestVerifyCmdCredentialContentChanged(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, 60, 30)
	l.Tamper(t, `UPDATE content SET data = convert_to('changed', 'UTF8') WHERE name = 'input.messages'`)
	url, token := apiServer(t, l)
	out, _, err := run(t, newVerifyCmd(), "--key", l.Keys.Verifier, "--url", url, "--token", token, "--credential", "cred-1", "--content")
	if err == nil {
		t.Fatalf("verify --credential --content of changed content = nil, want an error\n%s", out)
	}
	wantMatch(t, "verify error", err.Error(), `content "input.messages" that the server finds does not match its commitment`)
}

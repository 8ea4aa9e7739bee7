package web

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const vectorsFile = "testdata/vectors.json"

// vectors are the test vectors of the browser's verifier
// (static/js/verify.js), made with the ledger package so that the
// JavaScript is checked against the Go implementation.
type vectors struct {
	Comment string `json:"comment"`
	// VerifierKey checks Checkpoint; OtherKey has the same name and a
	// different key, and signed CheckpointOtherKey.
	VerifierKey        string `json:"verifier_key"`
	OtherKey           string `json:"other_key"`
	TreeSize           uint64 `json:"tree_size"`
	Root               string `json:"root"` // base64
	Checkpoint         string `json:"checkpoint"`
	CheckpointOtherKey string `json:"checkpoint_other_key"`
	// CheckpointCosigned is Checkpoint with a witness's cosignature
	// before the log's: a verifier ignores signatures of unknown keys.
	CheckpointCosigned string        `json:"checkpoint_cosigned"`
	Entries            []vectorEntry `json:"entries"`
	// Inclusion lists an inclusion proof for every index of every tree
	// size up to TreeSize.
	Inclusion []inclusionVector `json:"inclusion"`
}

// vectorEntry is a leaf, its proof in the tree of TreeSize, and the entry
// as the query API shows it (api.Entry).
type vectorEntry struct {
	Index    uint64    `json:"index"`
	Leaf     string    `json:"leaf"` // base64
	LeafHash string    `json:"leaf_hash"`
	Proof    []string  `json:"proof"` // base64
	Entry    api.Entry `json:"entry"`
	Decoded  leafShape `json:"decoded"`
}

// leafShape is what a decoder must read from the leaf.
type leafShape struct {
	Kind          string      `json:"kind"`
	StartUnixNano int64       `json:"start_unix_nano,string"` // a string: JSON numbers lose precision in JavaScript
	EndUnixNano   int64       `json:"end_unix_nano,string"`
	Attributes    [][2]string `json:"attributes"`
	Commitments   [][2]string `json:"commitments"` // name, hex
}

type inclusionVector struct {
	Index    uint64   `json:"index"`
	TreeSize uint64   `json:"tree_size"`
	LeafHash string   `json:"leaf_hash"` // hex
	Proof    []string `json:"proof"`     // base64
	Root     string   `json:"root"`      // base64
}

const vectorOrigin = "example.com/agentledger-web-vectors"

// vectorEntries are realistic entries: an agent run with an LLM step
// whose content is returned, an API call made with a credential, a
// credential exchange event, a tool whose content was erased, and
// binary content.
func vectorEntries() []ledger.Entry {
	t0 := time.Date(2026, 11, 27, 9, 30, 0, 123456789, time.UTC)
	salt := func(b byte) []byte { return bytes.Repeat([]byte{b}, ledger.SaltSize) }
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	es := []ledger.Entry{
		{Kind: ledger.KindAgent, TraceID: trace, SpanID: "a3ce929d0e0e4736", Name: "invoke_agent rotator",
			Start: t0, End: t0.Add(9 * time.Second), Attrs: []ledger.Attr{
				{Key: "gen_ai.agent.id", Value: "agent-rotator"}, {Key: "gen_ai.agent.name", Value: "Key rotator"},
				{Key: "gen_ai.operation.name", Value: "invoke_agent"}}},
		{Kind: ledger.KindLLM, TraceID: trace, SpanID: "00f067aa0ba902b7", ParentSpanID: "a3ce929d0e0e4736", Name: "chat gpt-4o",
			Start: t0.Add(time.Second), End: t0.Add(2500 * time.Millisecond), Attrs: []ledger.Attr{
				{Key: "gen_ai.operation.name", Value: "chat"}, {Key: "gen_ai.request.model", Value: "gpt-4o"},
				{Key: "gen_ai.tool.call.ids", Value: "call_1"}, {Key: "ünïcode", Value: "naïve — ok"}},
			Content: []ledger.Content{
				{Name: "input.messages", Salt: salt(1), Data: []byte(`[{"role":"user","parts":[{"type":"text","content":"rotate the deploy key"}]}]`)},
				{Name: "reasoning", Salt: salt(2), Data: []byte("I need a scoped token first. — ✓")},
			}},
		{Kind: ledger.KindCredential, TraceID: trace, SpanID: "00f067aa0ba902b7", ParentSpanID: "a3ce929d0e0e4736",
			EventKey: "event/0/credential.exchange", Name: "credential.exchange", Start: t0.Add(2 * time.Second), End: t0.Add(2 * time.Second),
			Attrs: []ledger.Attr{{Key: "credential.id", Value: "tok-child-7"}, {Key: "credential.parent_id", Value: "tok-root-1"},
				{Key: "credential.expires_at", Value: "2026-11-27T10:30:00Z"}, {Key: "credential.operation", Value: "exchange"}}},
		{Kind: ledger.KindAPICall, TraceID: trace, SpanID: "1111111111111111", ParentSpanID: "00f067aa0ba902b7", Name: "GET",
			Start: t0.Add(3 * time.Second), End: t0.Add(3100 * time.Millisecond), Attrs: []ledger.Attr{
				{Key: "credential.id", Value: "tok-child-7"}, {Key: "http.request.method", Value: "GET"},
				{Key: "server.address", Value: "api.github.com"}, {Key: "http.response.status_code", Value: "200"}}},
		{Kind: ledger.KindTool, TraceID: trace, SpanID: "2222222222222222", ParentSpanID: "a3ce929d0e0e4736", Name: "execute_tool rotate",
			Start: t0.Add(4 * time.Second), End: t0.Add(5 * time.Second), Attrs: []ledger.Attr{{Key: "gen_ai.tool.name", Value: "rotate"}},
			Content: []ledger.Content{
				{Name: "tool.arguments", Salt: salt(3), Data: []byte(`{"key":"deploy"}`)},
				{Name: "tool.result", Salt: salt(4), Data: []byte("rotated")},
				{Name: "output", Salt: salt(5), Data: []byte{0xff, 0x00, 0xfe}},
			}},
		{Kind: ledger.KindSpan, Name: "minimal"},
	}
	for i := len(es); i < 13; i++ {
		es = append(es, ledger.Entry{Kind: ledger.KindSpan, TraceID: trace, SpanID: fmt.Sprintf("%016x", 0x100+i), Name: fmt.Sprintf("span %d", i),
			Start: t0.Add(time.Duration(i) * time.Second)})
	}
	return es
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// apiView renders e as the query API shows it, with content returned
// (base64 when it is not UTF-8) except for the tool's result, which it
// shows as erased.
func apiView(index uint64, leafHash [32]byte, e ledger.Entry) api.Entry {
	out := api.Entry{Index: index, LeafHash: hex.EncodeToString(leafHash[:]), Kind: string(e.Kind), TraceID: e.TraceID,
		SpanID: e.SpanID, ParentSpanID: e.ParentSpanID, EventKey: e.EventKey, Name: e.Name,
		Start: timePtr(e.Start), End: timePtr(e.End), Attributes: map[string]string{}}
	for _, a := range e.Attrs {
		out.Attributes[a.Key] = a.Value
	}
	for _, c := range e.Content {
		cm := c.Commitment()
		ac := api.Content{Name: c.Name, Commitment: hex.EncodeToString(cm[:])}
		if c.Name == "tool.result" {
			ac.Erased = true
		} else {
			d, enc := string(c.Data), "utf-8"
			if !utf8.Valid(c.Data) {
				d, enc = base64.StdEncoding.EncodeToString(c.Data), "base64"
			}
			ac.Salt, ac.Data, ac.Encoding = base64.StdEncoding.EncodeToString(c.Salt), &d, enc
		}
		out.Content = append(out.Content, ac)
	}
	return out
}

func generateVectors(t *testing.T) *vectors {
	t.Helper()
	skey, vkey, err := ledger.GenerateKey(vectorOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	otherSkey, otherVkey, err := ledger.GenerateKey(vectorOrigin)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ledger.NewSigner(otherSkey)
	if err != nil {
		t.Fatal(err)
	}
	witnessSkey, _, err := ledger.GenerateKey("witness.example.com/w1")
	if err != nil {
		t.Fatal(err)
	}
	witness, err := ledger.NewSigner(witnessSkey)
	if err != nil {
		t.Fatal(err)
	}

	tree := testonly.New(rfc6962.DefaultHasher)
	v := &vectors{
		Comment:     "Generated by `go test ./web -run TestVectors -update`; checked by web/test/verify.test.mjs and by TestVectors against the ledger package.",
		VerifierKey: vkey, OtherKey: otherVkey,
	}
	entries := vectorEntries()
	leaves := make([][]byte, len(entries))
	for i := range entries {
		leaf, err := ledger.EncodeLeaf(&entries[i])
		if err != nil {
			t.Fatalf("EncodeLeaf(entry %d): %v", i, err)
		}
		leaves[i] = leaf
		tree.AppendData(leaf)
	}
	v.TreeSize = tree.Size()
	var root [32]byte
	copy(root[:], tree.Hash())
	v.Root = base64.StdEncoding.EncodeToString(root[:])
	cp, err := signer.Sign(v.TreeSize, root)
	if err != nil {
		t.Fatal(err)
	}
	v.Checkpoint = string(cp)
	cpOther, err := other.Sign(v.TreeSize, root)
	if err != nil {
		t.Fatal(err)
	}
	v.CheckpointOtherKey = string(cpOther)
	// A cosigned checkpoint: the witness's signature line first, then the
	// log's. Both sign the same text.
	wsig, err := witness.Sign(v.TreeSize, root)
	if err != nil {
		t.Fatal(err)
	}
	// (The witness's signature is over its own origin line, so it would
	// not verify over this text either; what matters is that it is
	// skipped.)
	text, logSig, _ := bytes.Cut(cp, []byte("\n\n"))
	_, witnessSig, _ := bytes.Cut(wsig, []byte("\n\n"))
	v.CheckpointCosigned = string(text) + "\n\n" + string(witnessSig) + string(logSig)

	for i, leaf := range leaves {
		idx := uint64(i)
		p, err := tree.InclusionProof(idx, v.TreeSize)
		if err != nil {
			t.Fatal(err)
		}
		lh := ledger.LeafHash(leaf)
		d, err := ledger.DecodeLeaf(leaf)
		if err != nil {
			t.Fatal(err)
		}
		shape := leafShape{Kind: string(d.Entry.Kind), Attributes: [][2]string{}, Commitments: [][2]string{}}
		if !d.Entry.Start.IsZero() {
			shape.StartUnixNano = d.Entry.Start.UnixNano()
		}
		if !d.Entry.End.IsZero() {
			shape.EndUnixNano = d.Entry.End.UnixNano()
		}
		for _, a := range d.Entry.Attrs {
			shape.Attributes = append(shape.Attributes, [2]string{a.Key, a.Value})
		}
		for _, c := range d.Commitments {
			shape.Commitments = append(shape.Commitments, [2]string{c.Name, hex.EncodeToString(c.Hash[:])})
		}
		view := apiView(idx, lh, entries[i])
		view.Leaf = base64.StdEncoding.EncodeToString(leaf)
		v.Entries = append(v.Entries, vectorEntry{Index: idx, Leaf: view.Leaf,
			LeafHash: hex.EncodeToString(lh[:]), Proof: b64s(p), Entry: view, Decoded: shape})
	}
	for size := uint64(1); size <= v.TreeSize; size++ {
		for idx := range size {
			p, err := tree.InclusionProof(idx, size)
			if err != nil {
				t.Fatal(err)
			}
			v.Inclusion = append(v.Inclusion, inclusionVector{Index: idx, TreeSize: size,
				LeafHash: hex.EncodeToString(tree.LeafHash(idx)), Proof: b64s(p),
				Root: base64.StdEncoding.EncodeToString(tree.HashAt(size))})
		}
	}
	return v
}

func b64s(hs [][]byte) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, base64.StdEncoding.EncodeToString(h))
	}
	return out
}

// TestVectors checks testdata/vectors.json against the ledger package and
// the merkle library (and rewrites it with -update), so that the
// JavaScript verifier's tests run on vectors the Go side agrees with.
func TestVectors(t *testing.T) {
	if *update {
		v := generateVectors(t)
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(vectorsFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("%v (generate it with go test ./web -run TestVectors -update)", err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	cp, err := ledger.OpenCheckpoint([]byte(v.Checkpoint), v.VerifierKey)
	if err != nil {
		t.Fatalf("OpenCheckpoint(checkpoint) = %v", err)
	}
	if cp.Size != v.TreeSize || base64.StdEncoding.EncodeToString(cp.Root[:]) != v.Root {
		t.Fatalf("checkpoint = size %d root %x, want %d %s", cp.Size, cp.Root, v.TreeSize, v.Root)
	}
	if _, err := ledger.OpenCheckpoint([]byte(v.CheckpointCosigned), v.VerifierKey); err != nil {
		t.Errorf("OpenCheckpoint(cosigned) = %v, want success", err)
	}
	if _, err := ledger.OpenCheckpoint([]byte(v.CheckpointOtherKey), v.VerifierKey); err == nil {
		t.Errorf("OpenCheckpoint(checkpoint by other key) succeeded, want an error")
	}
	for _, e := range v.Entries {
		leaf, err := base64.StdEncoding.DecodeString(e.Leaf)
		if err != nil {
			t.Fatal(err)
		}
		lh := ledger.LeafHash(leaf)
		if got := hex.EncodeToString(lh[:]); got != e.LeafHash || got != e.Entry.LeafHash {
			t.Errorf("entry %d: leaf hash = %s, want %s", e.Index, got, e.LeafHash)
		}
		d, err := ledger.DecodeLeaf(leaf)
		if err != nil {
			t.Errorf("entry %d: DecodeLeaf = %v", e.Index, err)
			continue
		}
		if string(d.Entry.Kind) != e.Decoded.Kind || len(d.Entry.Attrs) != len(e.Decoded.Attributes) || len(d.Commitments) != len(e.Decoded.Commitments) {
			t.Errorf("entry %d: decoded leaf differs from its vector", e.Index)
		}
		cms := make(map[string][32]byte)
		for _, c := range d.Commitments {
			cms[c.Name] = c.Hash
		}
		for _, c := range e.Entry.Content {
			if c.Data == nil {
				continue
			}
			salt, _ := base64.StdEncoding.DecodeString(c.Salt)
			data := []byte(*c.Data)
			if c.Encoding == "base64" {
				data, _ = base64.StdEncoding.DecodeString(*c.Data)
			}
			if got := (ledger.Content{Salt: salt, Data: data}).Commitment(); got != cms[c.Name] {
				t.Errorf("entry %d content %s: commitment %x, leaf holds %x", e.Index, c.Name, got, cms[c.Name])
			}
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, e.Index, v.TreeSize, lh[:], unb64s(t, e.Proof), cp.Root[:]); err != nil {
			t.Errorf("entry %d: VerifyInclusion = %v", e.Index, err)
		}
	}
	if len(v.Inclusion) == 0 {
		t.Fatal("no inclusion vectors")
	}
	for _, iv := range v.Inclusion {
		lh, _ := hex.DecodeString(iv.LeafHash)
		root, _ := base64.StdEncoding.DecodeString(iv.Root)
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, iv.Index, iv.TreeSize, lh, unb64s(t, iv.Proof), root); err != nil {
			t.Errorf("inclusion %d of %d: VerifyInclusion = %v", iv.Index, iv.TreeSize, err)
		}
	}
}

func unb64s(t *testing.T, ss []string) [][]byte {
	t.Helper()
	out := make([][]byte, 0, len(ss))
	for _, s := range ss {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

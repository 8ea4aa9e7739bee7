package ledger_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

var update = flag.Bool("update", false, "rewrite testdata/leaves.json from the vector entries")

// vector is one test vector of testdata/leaves.json. Version 1 vectors
// are read-only: EncodeLeaf writes version 2, so they are checked by
// decoding and re-encoding; -update rewrites only version 2 vectors.
type vector struct {
	Name     string      `json:"name"`
	Version  int         `json:"version"`
	Entry    vectorEntry `json:"entry"`
	Leaf     string      `json:"leaf_hex"`
	LeafHash string      `json:"leaf_hash_hex"`
}

type vectorEntry struct {
	Kind         string            `json:"kind"`
	Source       string            `json:"source"`
	Submitter    string            `json:"submitter"`
	TraceID      string            `json:"trace_id"`
	SpanID       string            `json:"span_id"`
	ParentSpanID string            `json:"parent_span_id"`
	EventKey     string            `json:"event_key"`
	Name         string            `json:"name"`
	StartNanos   int64             `json:"start_unix_nano"`
	EndNanos     int64             `json:"end_unix_nano"`
	Attrs        map[string]string `json:"attributes"`
	Content      map[string]struct {
		SaltHex string `json:"salt_hex"`
		Data    string `json:"data"`
	} `json:"content"`
}

func (v vectorEntry) entry() ledger.Entry {
	e := ledger.Entry{
		Kind: ledger.Kind(v.Kind), Source: v.Source, Submitter: v.Submitter, TraceID: v.TraceID, SpanID: v.SpanID,
		ParentSpanID: v.ParentSpanID, EventKey: v.EventKey, Name: v.Name,
	}
	if v.StartNanos != 0 {
		e.Start = time.Unix(0, v.StartNanos).UTC()
	}
	if v.EndNanos != 0 {
		e.End = time.Unix(0, v.EndNanos).UTC()
	}
	for k, val := range v.Attrs {
		e.Attrs = append(e.Attrs, ledger.Attr{Key: k, Value: val})
	}
	for name, c := range v.Content {
		salt, err := hex.DecodeString(c.SaltHex)
		if err != nil {
			panic(err)
		}
		e.Content = append(e.Content, ledger.Content{Name: name, Salt: salt, Data: []byte(c.Data)})
	}
	return e
}

func TestLeafVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/leaves.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 10 {
		t.Fatalf("%d vectors, want at least 10", len(vs))
	}
	for i := range vs {
		v := &vs[i]
		t.Run(v.Name, func(t *testing.T) {
			e := v.Entry.entry()
			var leaf []byte
			switch v.Version {
			case 1:
				var err error
				if leaf, err = hex.DecodeString(v.Leaf); err != nil {
					t.Fatal(err)
				}
				d, err := ledger.DecodeLeaf(leaf)
				if err != nil {
					t.Fatalf("DecodeLeaf: %v", err)
				}
				if d.Version != 1 {
					t.Fatalf("DecodeLeaf(v1 vector).Version = %d, want 1", d.Version)
				}
				again, err := d.Encode()
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				if !bytes.Equal(again, leaf) {
					t.Errorf("Encode(DecodeLeaf(v1)) = %x, want %x", again, leaf)
				}
			case 2:
				var err error
				if leaf, err = ledger.EncodeLeaf(&e); err != nil {
					t.Fatalf("EncodeLeaf: %v", err)
				}
			default:
				t.Fatalf("vector version %d", v.Version)
			}
			lh := ledger.LeafHash(leaf)
			if *update {
				v.Leaf, v.LeafHash = hex.EncodeToString(leaf), hex.EncodeToString(lh[:])
				return
			}
			if got := hex.EncodeToString(leaf); got != v.Leaf {
				t.Errorf("EncodeLeaf = %s, want %s", got, v.Leaf)
			}
			if got := hex.EncodeToString(lh[:]); got != v.LeafHash {
				t.Errorf("LeafHash = %s, want %s", got, v.LeafHash)
			}
			d, err := ledger.DecodeLeaf(leaf)
			if err != nil {
				t.Fatalf("DecodeLeaf: %v", err)
			}
			if d.Entry.Kind != e.Kind || d.Entry.Source != e.Source || d.Entry.Submitter != e.Submitter ||
				d.Entry.TraceID != e.TraceID || d.Entry.Name != e.Name ||
				!d.Entry.Start.Equal(e.Start) || len(d.Entry.Attrs) != len(e.Attrs) || len(d.Commitments) != len(e.Content) {
				t.Errorf("DecodeLeaf(EncodeLeaf(e)) = %+v, want %+v", d.Entry, e)
			}
			for _, c := range e.Content {
				found := false
				for _, cm := range d.Commitments {
					found = found || (cm.Name == c.Name && cm.Hash == c.Commitment())
				}
				if !found {
					t.Errorf("commitment of %q missing from the decoded leaf", c.Name)
				}
			}
		})
	}
	if *update {
		out, err := json.MarshalIndent(vs, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/leaves.json", append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEncodeLeafIsOrderIndependent(t *testing.T) {
	a := ledger.Entry{Kind: ledger.KindSpan, Attrs: []ledger.Attr{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}}}
	b := ledger.Entry{Kind: ledger.KindSpan, Attrs: []ledger.Attr{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}}
	la, err := ledger.EncodeLeaf(&a)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := ledger.EncodeLeaf(&b)
	if err != nil {
		t.Fatal(err)
	}
	if string(la) != string(lb) {
		t.Fatalf("EncodeLeaf depends on attribute order: %x != %x", la, lb)
	}
	if a.Attrs[0].Key != "b" {
		t.Fatalf("EncodeLeaf reordered the caller's attributes")
	}
}

func TestEncodeLeafRejects(t *testing.T) {
	salt := make([]byte, ledger.SaltSize)
	tests := []struct {
		name string
		e    ledger.Entry
		want error
	}{
		{"unknown kind", ledger.Entry{Kind: "x"}, ledger.ErrInvalid},
		{"short trace id", ledger.Entry{Kind: ledger.KindSpan, TraceID: "abc"}, ledger.ErrInvalid},
		{"upper-case trace id", ledger.Entry{Kind: ledger.KindSpan, TraceID: strings.Repeat("A", 32)}, ledger.ErrInvalid},
		{"bad span id", ledger.Entry{Kind: ledger.KindSpan, SpanID: "zz"}, ledger.ErrInvalid},
		{"bad parent span id", ledger.Entry{Kind: ledger.KindSpan, ParentSpanID: "0"}, ledger.ErrInvalid},
		{"invalid utf-8 name", ledger.Entry{Kind: ledger.KindSpan, Name: "\xc3\x28"}, ledger.ErrInvalid},
		{"NUL in value", ledger.Entry{Kind: ledger.KindSpan, Attrs: []ledger.Attr{{Key: "k", Value: "a\x00b"}}}, ledger.ErrInvalid},
		{"empty attribute name", ledger.Entry{Kind: ledger.KindSpan, Attrs: []ledger.Attr{{Key: "", Value: "v"}}}, ledger.ErrInvalid},
		{"duplicate attribute", ledger.Entry{Kind: ledger.KindSpan, Attrs: []ledger.Attr{{Key: "k"}, {Key: "k"}}}, ledger.ErrInvalid},
		{"short salt", ledger.Entry{Kind: ledger.KindLLM, Content: []ledger.Content{{Name: "c", Salt: []byte{1}}}}, ledger.ErrInvalid},
		{"duplicate content", ledger.Entry{Kind: ledger.KindLLM, Content: []ledger.Content{{Name: "c", Salt: salt}, {Name: "c", Salt: salt}}}, ledger.ErrInvalid},
		{"leaf over 64 KiB", ledger.Entry{Kind: ledger.KindSpan, Attrs: []ledger.Attr{{Key: "a", Value: strings.Repeat("x", 40000)}, {Key: "b", Value: strings.Repeat("y", 40000)}}}, ledger.ErrTooLarge},
		{"source with capitals", ledger.Entry{Kind: ledger.KindSpan, Source: "CloudTrail"}, ledger.ErrInvalid},
		{"source with a space", ledger.Entry{Kind: ledger.KindSpan, Source: "k8s audit"}, ledger.ErrInvalid},
		{"submitter with NUL", ledger.Entry{Kind: ledger.KindSpan, Submitter: "a\x00b"}, ledger.ErrInvalid},
		{"submitter over 1 KiB", ledger.Entry{Kind: ledger.KindSpan, Submitter: strings.Repeat("s", ledger.MaxSubmitter+1)}, ledger.ErrInvalid},
		{"value over 64 KiB", ledger.Entry{Kind: ledger.KindSpan, Attrs: []ledger.Attr{{Key: "a", Value: strings.Repeat("x", 70000)}}}, ledger.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ledger.EncodeLeaf(&tt.e)
			if !errors.Is(err, tt.want) {
				t.Fatalf("EncodeLeaf() error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeLeafRejects(t *testing.T) {
	e := ledger.Entry{Kind: ledger.KindSpan, Source: ledger.SourceAgent, Name: "n", Attrs: []ledger.Attr{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}}
	good, err := ledger.EncodeLeaf(&e)
	if err != nil {
		t.Fatal(err)
	}
	swapped := strings.Replace(string(good), "\x00\x01a\x00\x011\x00\x01b\x00\x012", "\x00\x01b\x00\x012\x00\x01a\x00\x011", 1)
	// An empty first name sorts before every other, so only an explicit
	// check refuses it.
	emptyKey := strings.Replace(string(good), "\x00\x01a\x00\x011", "\x00\x00\x00\x011", 1)
	withContent := ledger.Entry{Kind: ledger.KindSpan, Name: "n", Content: []ledger.Content{ledger.NewContent("c", []byte("x"))}}
	cgood, err := ledger.EncodeLeaf(&withContent)
	if err != nil {
		t.Fatal(err)
	}
	// The leaf ends with the one commitment: name "c" and its hash.
	tail := 2 + len("c") + ledger.CommitmentSize
	emptyName := append(append(append([]byte(nil), cgood[:len(cgood)-tail]...), 0, 0), cgood[len(cgood)-ledger.CommitmentSize:]...)
	tests := []struct {
		name string
		leaf []byte
	}{
		{"empty", nil},
		{"version 3", append([]byte{3}, good[1:]...)},
		{"version 0", append([]byte{0}, good[1:]...)},
		{"version 1 bytes of a version 2 leaf", append([]byte{1}, good[1:]...)},
		{"bad source", []byte(strings.Replace(string(good), "\x00\x05agent", "\x00\x05Agent", 1))},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"unsorted attributes", []byte(swapped)},
		{"empty first attribute name", []byte(emptyKey)},
		{"empty first commitment name", emptyName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ledger.DecodeLeaf(tt.leaf); !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("DecodeLeaf() error = %v, want ErrInvalid", err)
			}
		})
	}
	if string(good) == swapped || string(good) == emptyKey {
		t.Fatal("test bug: a replacement did not change the leaf")
	}
}

func FuzzDecodeLeaf(f *testing.F) {
	e := ledger.Entry{Kind: ledger.KindLLM, TraceID: strings.Repeat("ab", 16), Name: "chat", Attrs: []ledger.Attr{{Key: "m", Value: "gpt"}},
		Content: []ledger.Content{ledger.NewContent("input.messages", []byte("hi"))}}
	leaf, err := ledger.EncodeLeaf(&e)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(leaf)
	e.Source, e.Submitter = ledger.SourceAgent, "spiffe://acme.example/ns/prod/sa/bot"
	if leaf, err = ledger.EncodeLeaf(&e); err != nil {
		f.Fatal(err)
	}
	f.Add(leaf)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ledger.DecodeLeaf(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes: the format has one
		// encoding per entry.
		again, err := d.Encode()
		if err != nil {
			t.Fatalf("re-encode of a decoded leaf failed: %v", err)
		}
		if string(again) != string(b) {
			t.Fatalf("re-encoded leaf differs:\n%x\n%x", again, b)
		}
	})
}

func TestSignerVerifierKey(t *testing.T) {
	skey, vkey, err := ledger.GenerateKey("example.com/log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if s.VerifierKey() != vkey {
		t.Fatalf("VerifierKey() = %q, want %q", s.VerifierKey(), vkey)
	}
	msg, err := s.Sign(3, ledger.EmptyRoot())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ledger.OpenCheckpoint(msg, vkey)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	if cp.Origin != "example.com/log" || cp.Size != 3 || cp.Root != ledger.EmptyRoot() {
		t.Fatalf("OpenCheckpoint = %+v", cp)
	}
	_, other, _ := ledger.GenerateKey("example.com/log")
	if _, err := ledger.OpenCheckpoint(msg, other); err == nil {
		t.Fatalf("OpenCheckpoint with another key succeeded")
	}
	tampered := []byte(strings.Replace(string(msg), "\n3\n", "\n4\n", 1))
	if _, err := ledger.OpenCheckpoint(tampered, vkey); err == nil {
		t.Fatalf("OpenCheckpoint of a tampered checkpoint succeeded")
	}
	for _, bad := range []string{"", "a b", "a+b"} {
		if _, _, err := ledger.GenerateKey(bad); err == nil {
			t.Errorf("GenerateKey(%q) succeeded", bad)
		}
	}
}

// TestLeafHasher checks that a reused LeafHasher gives LeafHash of each
// leaf in turn, whatever it hashed before, and allocates nothing per leaf.
func TestLeafHasher(t *testing.T) {
	var lh ledger.LeafHasher
	for _, leaf := range [][]byte{
		nil,
		{0},
		[]byte("a leaf"),
		bytes.Repeat([]byte{0xab}, 55), // one block with the prefix and padding
		bytes.Repeat([]byte{0xcd}, 56), // padding spills into a second block
		bytes.Repeat([]byte("leaf "), 1000),
		[]byte("a leaf"), // again, after a long one
	} {
		if got, want := lh.Sum(leaf), ledger.LeafHash(leaf); got != want {
			t.Errorf("Sum(%d bytes) = %x, want %x", len(leaf), got, want)
		}
	}
	leaf := bytes.Repeat([]byte("leaf "), 200)
	if n := testing.AllocsPerRun(100, func() { lh.Sum(leaf) }); n != 0 {
		t.Errorf("Sum allocates %.1f times a leaf, want 0", n)
	}
}

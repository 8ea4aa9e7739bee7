package ledger_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/ledger"
)

// formatText returns FORMAT.md, whose vectors the tests below recompute
// from its rules alone.
func formatText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func seq32() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestVerifierKeyVector(t *testing.T) {
	const name, want = "example.com/agentledger", "example.com/agentledger+6c39d202+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
	pub := ed25519.NewKeyFromSeed(seq32()).Public().(ed25519.PublicKey)
	keyHash := sha256.Sum256(append([]byte(name+"\n\x01"), pub...))
	got := name + "+" + hex.EncodeToString(keyHash[:4]) + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, pub...))
	if got != want {
		t.Errorf("FORMAT.md's rule gives %s, want %s", got, want)
	}
	if lib, err := note.NewEd25519VerifierKey(name, pub); err != nil || lib != want {
		t.Errorf("note.NewEd25519VerifierKey = %s, %v; want %s", lib, err, want)
	}
	if doc := formatText(t); !strings.Contains(doc, want) || !strings.Contains(doc, hex.EncodeToString(pub)) {
		t.Errorf("FORMAT.md lacks the verifier key vector %s", want)
	}
}

func TestContentVectors(t *testing.T) {
	doc := formatText(t)
	for _, v := range []struct{ data, encoding, hash string }{
		{"héllo", "utf-8", "7b2369ce5df4e98fdbe0ccfa1e17efca3f9f2c1debf3dd60b6299a493ac18370"},
		{"//4AQQ==", "base64", "f4540c88551e207d1db785bebe37fa0314e57860803e173ff6cf87bd661e8328"},
	} {
		content := []byte(v.data)
		if v.encoding == "base64" {
			var err error
			if content, err = base64.StdEncoding.DecodeString(v.data); err != nil {
				t.Fatal(err)
			}
		}
		h := sha256.Sum256(append(seq32(), content...))
		if got := hex.EncodeToString(h[:]); got != v.hash {
			t.Errorf("content %q (%s): hash %s, want %s", v.data, v.encoding, got, v.hash)
		}
		if c := (ledger.Content{Salt: seq32(), Data: content}).Commitment(); hex.EncodeToString(c[:]) != v.hash {
			t.Errorf("Content.Commitment of %q = %x, want %s", v.data, c, v.hash)
		}
		if row := "| `" + hex.EncodeToString(content) + "` | `" + v.data + "` | `" + v.encoding + "` | `" + v.hash + "` |"; !strings.Contains(doc, row) {
			t.Errorf("FORMAT.md lacks the content vector row %s", row)
		}
	}
}

func TestDedupKeyVectors(t *testing.T) {
	doc := formatText(t)
	for _, v := range []struct{ kind, trace, span, event, key string }{
		{"llm", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "", "4bf92f3577b34da6f5712f1314bd2be882e1883e1b2ee8805905b72673e2bd82"},
		{"access", "", "", "access/0123456789abcdef0123456789abcdef", "0000000000000000ec66e785ecc95daf1190762750bb1cef3e28ee624b271703"},
	} {
		// FORMAT.md's rule: the IDs are hashed as hex text.
		var buf []byte
		for _, s := range []string{v.kind, v.trace, v.span, v.event} {
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
			buf = append(buf, s...)
		}
		sum := sha256.Sum256(buf)
		key := make([]byte, 8, 32)
		if v.trace != "" {
			if _, err := hex.Decode(key, []byte(v.trace[:16])); err != nil {
				t.Fatal(err)
			}
		}
		key = append(key, sum[:24]...)
		if got := hex.EncodeToString(key); got != v.key {
			t.Errorf("%s: FORMAT.md's rule gives %s, want %s", v.kind, got, v.key)
		}
		e := ledger.Entry{Kind: ledger.Kind(v.kind), TraceID: v.trace, SpanID: v.span, EventKey: v.event}
		if k := e.DedupKey(); hex.EncodeToString(k[:]) != v.key {
			t.Errorf("%s: DedupKey = %x, want %s", v.kind, k, v.key)
		}
		if !strings.Contains(doc, "`"+v.key+"`") {
			t.Errorf("FORMAT.md lacks the dedup key vector %s", v.key)
		}
	}
}

// TestCheckpointExtensionLines opens a checkpoint with an extension line and
// a second signature, as FORMAT.md says a verifier must.
func TestCheckpointExtensionLines(t *testing.T) {
	skey, vkey, err := note.GenerateKey(nil, "example.com/agentledger")
	if err != nil {
		t.Fatal(err)
	}
	witness, _, err := note.GenerateKey(nil, "witness.example")
	if err != nil {
		t.Fatal(err)
	}
	var signers []note.Signer
	for _, k := range []string{skey, witness} {
		s, err := note.NewSigner(k)
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, s)
	}
	root := ledger.EmptyRoot()
	text := "example.com/agentledger\n0\n" + base64.StdEncoding.EncodeToString(root[:]) + "\nextension line\n"
	msg, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ledger.OpenCheckpoint(msg, vkey)
	if err != nil || cp.Size != 0 || cp.Root != root {
		t.Errorf("OpenCheckpoint(with an extension line and a cosignature) = %+v, %v", cp, err)
	}
}

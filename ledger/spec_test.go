package ledger_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"sort"
	"testing"
)

// specEncode encodes a vector entry following FORMAT.md alone, sharing no
// code with the ledger package: what an auditor's verifier would do.
func specEncode(t *testing.T, version int, v vectorEntry) []byte {
	t.Helper()
	var b []byte
	str := func(s string) {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	b = append(b, byte(version))
	str(v.Kind)
	if version >= 2 {
		str(v.Source)
		str(v.Submitter)
	}
	for _, s := range []string{v.TraceID, v.SpanID, v.ParentSpanID, v.EventKey, v.Name} {
		str(s)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(v.StartNanos))
	b = binary.BigEndian.AppendUint64(b, uint64(v.EndNanos))
	keys := make([]string, 0, len(v.Attrs))
	for k := range v.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = binary.BigEndian.AppendUint16(b, uint16(len(keys)))
	for _, k := range keys {
		str(k)
		str(v.Attrs[k])
	}
	names := make([]string, 0, len(v.Content))
	for n := range v.Content {
		names = append(names, n)
	}
	sort.Strings(names)
	b = binary.BigEndian.AppendUint16(b, uint16(len(names)))
	for _, n := range names {
		salt, err := hex.DecodeString(v.Content[n].SaltHex)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(append(salt, v.Content[n].Data...))
		str(n)
		b = append(b, h[:]...)
	}
	return b
}

func TestLeafVectorsFollowFormat(t *testing.T) {
	raw, err := os.ReadFile("testdata/leaves.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		leaf := specEncode(t, v.Version, v.Entry)
		if got := hex.EncodeToString(leaf); got != v.Leaf {
			t.Errorf("%s: FORMAT.md encoding = %s, vector says %s", v.Name, got, v.Leaf)
		}
		h := sha256.Sum256(append([]byte{0}, leaf...))
		if got := hex.EncodeToString(h[:]); got != v.LeafHash {
			t.Errorf("%s: SHA-256(0x00 ‖ leaf) = %s, vector says %s", v.Name, got, v.LeafHash)
		}
	}
}

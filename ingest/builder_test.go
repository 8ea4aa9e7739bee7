package ingest

import (
	"bytes"
	"testing"

	"github.com/agentledger/agentledger/ledger"
)

// movedJSONTests are attribute values whose encoding movedJSON must give as
// encoding/json does.
var movedJSONTests = []string{
	"plain",
	"",
	`quote " and backslash \ and <html> & more`,
	"controls \x00\x01\b\f\n\r\t\x1f\x7f",
	"line\u2028and paragraph\u2029separators",
	"invalid \xff\xfe UTF-8 \xe2\x82",
	"emoji 🙂 and é",
}

func TestMovedJSON(t *testing.T) {
	for _, v := range movedJSONTests {
		checkMovedJSON(t, "k\u2028<"+v, v)
	}
}

// FuzzMovedJSON compares movedJSON with encoding/json on any attribute.
func FuzzMovedJSON(f *testing.F) {
	for _, v := range movedJSONTests {
		f.Add("k", v)
	}
	f.Fuzz(checkMovedJSON)
}

func checkMovedJSON(t *testing.T, key, value string) {
	t.Helper()
	attrs := []ledger.Attr{{Key: "a", Value: "1"}, {Key: key, Value: value}, {Key: "\xff" + key, Value: value + value}}
	if key == "a" || key == "\xff"+key {
		attrs = attrs[1:]
	}
	m := map[string]string{}
	for _, a := range attrs {
		m[a.Key] = a.Value
	}
	sorted := make([]ledger.Attr, 0, len(m))
	for _, k := range sortedKeys(m) {
		sorted = append(sorted, ledger.Attr{Key: k, Value: m[k]})
	}
	if got, want := string(movedJSON(0, sorted)), string(marshalJSON(m)); got != want {
		t.Errorf("movedJSON(%q) = %s, want %s", sorted, got, want)
	}
}

// TestSaltPool checks that a saltPool hands out distinct salts, past its
// refills, and keeps no copy of those it handed out.
func TestSaltPool(t *testing.T) {
	var p saltPool
	seen := map[string]bool{}
	for i := range 3 * saltPoolSize / ledger.SaltSize {
		salt := make([]byte, ledger.SaltSize)
		p.read(salt)
		if seen[string(salt)] {
			t.Fatalf("salt %d repeats an earlier one: %x", i, salt)
		}
		seen[string(salt)] = true
		if out := p.buf[:len(p.buf)-p.left]; !bytes.Equal(out, make([]byte, len(out))) {
			t.Fatalf("after salt %d, the pool keeps handed-out bytes", i)
		}
	}
}

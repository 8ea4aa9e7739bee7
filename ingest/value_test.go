package ingest

import (
	"encoding/json"
	"strings"
	"testing"
)

// unquoteCases are JSON strings, quotes included, valid and not.
var unquoteCases = []string{
	`"plain"`, `""`, `"a\"b"`, `"back\\slash"`, `"\/\b\f\n\r\t"`, `"line\nbreak and \"quote\""`,
	`"\u0041\u00e9\u20ac"`, `"\u0000"`, `"\ud83d\ude00"`, `"\ud83d alone"`, `"\ude00"`,
	`"\u12"`, `"\u12G4"`, `"\x41"`, `"trailing\"`, `"é and \n"`, "\"raw\ttab\\n\"", "\"bad \xff utf-8\\n\"",
	`"\u004"`, `"\"`, `"+\u+123"`,
}

// TestJSONUnquote checks that jsonUnquote gives what encoding/json gives
// for a valid JSON string with escapes, and the body without its quotes
// for any other (a body without escapes is taken as it is, even if it is
// not UTF-8: the mapper checked its texts before).
func TestJSONUnquote(t *testing.T) {
	for _, q := range unquoteCases {
		checkJSONUnquote(t, q)
	}
}

// FuzzJSONUnquote is TestJSONUnquote on any string between quotes.
func FuzzJSONUnquote(f *testing.F) {
	for _, q := range unquoteCases {
		f.Add(q[1 : len(q)-1])
	}
	f.Fuzz(func(t *testing.T, body string) {
		checkJSONUnquote(t, `"`+body+`"`)
	})
}

func checkJSONUnquote(t *testing.T, q string) {
	t.Helper()
	want := q[1 : len(q)-1]
	var s string
	if strings.Contains(want, `\`) && json.Unmarshal([]byte(q), &s) == nil {
		want = s
	}
	if got := jsonUnquote(q); got != want {
		t.Errorf("jsonUnquote(%q) = %q, want %q", q, got, want)
	}
}

package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
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

// TestAppendJSONStrings checks the two string encoders on every ASCII
// control character and the characters encoding/json treats apart:
// appendStdJSONString writes what encoding/json writes (HTML not escaped),
// and appendJSONString writes the same but for \b and \f (as \u00XX), a
// string that decodes back to its input.
func TestAppendJSONStrings(t *testing.T) {
	inputs := []string{"", "plain", `quote " and \ backslash`, "<html> & text", "line\u2028sep\u2029", "bad \xff utf-8", "é ü 世界"}
	for c := range 0x20 {
		inputs = append(inputs, "a"+string(rune(c))+"b")
	}
	// Each byte that needs care at each place of the encoders' words.
	for _, odd := range []string{"\x00", "\x1f", `"`, `\`, "\x7f", "é", "\xff", "\u2028", "!", "#", "[", "]"} {
		for n := range 20 {
			inputs = append(inputs, strings.Repeat("a", n)+odd+strings.Repeat("c", 19-n))
		}
	}
	for _, in := range inputs {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(in); err != nil {
			t.Fatal(err)
		}
		if got := string(appendStdJSONString(nil, in)); got != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("appendStdJSONString(%q) = %s, want %s", in, got, want.String())
		}
		if !utf8.ValidString(in) {
			continue
		}
		if !strings.ContainsAny(in, "\u2028\u2029") {
			// Short escapes only for \n, \r and \t: \b and \f as \u00XX.
			std := strings.NewReplacer(`\b`, `\u0008`, `\f`, `\u000c`).Replace(strings.TrimSuffix(want.String(), "\n"))
			if got := string(appendJSONString(nil, in)); got != std {
				t.Errorf("appendJSONString(%q) = %s, want %s", in, got, std)
			}
		}
		var back string
		if err := json.Unmarshal(appendJSONString(nil, in), &back); err != nil || back != in {
			t.Errorf("appendJSONString(%q) decodes to %q (%v)", in, back, err)
		}
	}
}

// TestJSONStringEnd checks jsonStringEnd against a byte-by-byte scan on
// every text of up to 9 bytes made of quotes, backslashes and letters,
// and on longer ones, past its first loop.
func TestJSONStringEnd(t *testing.T) {
	scan := func(s string, i int) (end int, escaped, ok bool) {
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				escaped = true
				j++
			case '"':
				return j + 1, escaped, true
			}
		}
		return 0, false, false
	}
	texts := []string{`"`}
	level := texts
	for range 8 {
		var next []string
		for _, s := range level {
			next = append(next, s+`"`, s+`\`, s+"a")
		}
		texts = append(texts, next...)
		level = next
	}
	if len(texts) != (3*3*3*3*3*3*3*3*3-1)/2 {
		t.Fatalf("%d texts", len(texts))
	}
	for _, s := range texts[:len(texts)/3] {
		for n := 10; n <= 20; n++ {
			// The same endings past the first loop, and across its end.
			texts = append(texts, `"`+strings.Repeat("a", n)+s[1:], `"`+strings.Repeat("a", n)+`\"`+s[1:])
		}
	}
	for _, s := range texts {
		end, escaped, ok := jsonStringEnd(s, 0)
		wantEnd, wantEscaped, wantOK := scan(s, 0)
		if end != wantEnd || escaped != wantEscaped || ok != wantOK {
			t.Errorf("jsonStringEnd(%q) = %d, %v, %v, want %d, %v, %v", s, end, escaped, ok, wantEnd, wantEscaped, wantOK)
		}
	}
}

// TestTextOK checks textOK against utf8.ValidString and strings.IndexByte
// on strings of every length up to 24 with a NUL, a non-ASCII byte, a
// two-byte character or a truncated one at every place.
func TestTextOK(t *testing.T) {
	for n := range 25 {
		plain := strings.Repeat("a", n)
		cases := []string{plain}
		for i := range n {
			for _, odd := range []string{"\x00", "\x80", "\xff", "é", "\xc3", "\x01", "\x7f"} {
				cases = append(cases, plain[:i]+odd+plain[i+1:])
			}
		}
		for _, s := range cases {
			for _, nul := range []bool{false, true} {
				want := utf8.ValidString(s) && (nul || strings.IndexByte(s, 0) < 0)
				if got := textOK(s, nul); got != want {
					t.Errorf("textOK(%q, %v) = %v, want %v", s, nul, got, want)
				}
			}
		}
	}
}

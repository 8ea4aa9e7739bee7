package ascii

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestPlain checks Plain against utf8.ValidString and strings.IndexByte on
// strings of every length up to 24 with a NUL, a non-ASCII byte, a
// two-byte character, a truncated one or a control character at every
// place.
func TestPlain(t *testing.T) {
	odds := []string{"", "\x00", "\x80", "\xff", "é", "\xc3", "\x01", "\x7f"} // "": none
	for n := range 25 {
		for at := range max(n, 1) {
			for _, odd := range odds {
				s := strings.Repeat("a", n)
				if odd != "" && n > 0 {
					s = s[:at] + odd + s[at+1:]
				}
				ascii := strings.IndexFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) < 0
				for _, nul := range []bool{false, true} {
					want := utf8.ValidString(s) && ascii && (nul || strings.IndexByte(s, 0) < 0)
					if got := Plain(s, nul); got != want {
						t.Errorf("Plain(%q, %v) = %v, want %v", s, nul, got, want)
					}
				}
			}
		}
	}
}

// TestPlainNoNUL checks Plain without NUL against the leaf codec's rule
// for strings, with a NUL, DEL at every position of strings of up to 20 bytes.
func TestPlainNoNUL(t *testing.T) {
	for n := range 21 {
		s := strings.Repeat("a~", n)[:n]
		if !Plain(s, false) {
			t.Errorf("Plain(%q, false) = false, want true", s)
		}
		for i := range n {
			for _, c := range []byte{0, 0x7f, 0x80, 0xff} {
				b := []byte(s)
				b[i] = c
				if got, want := Plain(string(b), false), c == 0x7f; got != want {
					t.Errorf("Plain(%q, false) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

// TestWord checks that Word reads its eight bytes little-endian.
func TestWord(t *testing.T) {
	if got, want := Word("\x01\x02\x03\x04\x05\x06\x07\x08tail"), uint64(0x0807060504030201); got != want {
		t.Errorf("Word = %#x, want %#x", got, want)
	}
}

package ledger

import "testing"

// TestIsHex compares isHex with a byte-by-byte check, for every byte in
// every position of a whole word and of a shorter tail.
func TestIsHex(t *testing.T) {
	for c := range 256 {
		want := '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
		for pos := range 16 {
			b := []byte("0123456789abcdef")
			b[pos] = byte(c)
			if got := isHex(string(b), 16); got != want {
				t.Errorf("isHex(%q) = %v, want %v", b, got, want)
			}
			if got := isHex(string(b[:pos+1]), pos+1); got != want {
				t.Errorf("isHex(%q) = %v, want %v", b[:pos+1], got, want)
			}
		}
	}
	if isHex("0123456789abcdef", 15) {
		t.Error("isHex accepts a string of the wrong length")
	}
}

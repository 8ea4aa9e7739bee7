// Package ascii tests text eight bytes at a time, for the checks that the
// ledger's leaf codec and the OTLP mapper run on every string: most text is
// ASCII, which a word-at-a-time test accepts without looking at each byte.
package ascii

import "unicode/utf8"

// Word returns the first eight bytes of s as a little-endian number, in
// one load.
func Word(s string) uint64 {
	_ = s[7] // one bounds check for the eight bytes
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// Plain reports whether s is ASCII, without NUL unless nul. Past its first
// eight bytes it looks at eight at a time, the last eight overlapping the
// ones before, instead of the bytes after the last whole word one by one.
func Plain(s string, nul bool) bool {
	const lows, highs = 0x0101010101010101, 0x8080808080808080
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c >= utf8.RuneSelf || c == 0 && !nul {
				return false
			}
		}
		return true
	}
	for i := 0; ; i += 8 {
		i = min(i, len(s)-8)
		x := Word(s[i:])
		// A byte ≥ 0x80 sets its high bit in x; x-lows sets the high bit
		// of x's lowest zero byte, if any.
		if x&highs != 0 || !nul && (x-lows)&^x&highs != 0 {
			return false
		}
		if i == len(s)-8 {
			return true
		}
	}
}

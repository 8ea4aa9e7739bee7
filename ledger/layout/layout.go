// Package layout names the tiles and entry bundles of the C2SP tlog-tiles
// API (https://c2sp.org/tlog-tiles) and encodes and parses their paths, as
// golang.org/x/mod/sumdb/tlog.Tile and Tessera's api/layout do. The server,
// the verifier and the tests build and parse paths here only, so that a
// path means one tile everywhere.
package layout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Height is the height of every tile: a tile holds up to Width hashes of
// one level of the tree, and the levels of tile level L are 8·L to
// 8·L+7.
const Height = 8

// Width is the number of hashes in a full tile, and of entries in a full
// entry bundle.
const Width = 1 << Height

// MaxLevel is the highest tile level C2SP tlog-tiles allows.
const MaxLevel = 63

// maxPath bounds the length of a path Parse reads: the longest valid one
// is "tile/63/" followed by six "x%03d/" groups, "%03d" and ".p/255".
const maxPath = 64

// MaxIndex returns the largest index of a tile of level: the tiles of a
// level cover the leaves from N·Width^(level+1) on, and those leaves must
// start below 2^63, as tree sizes do. Entry bundles are indexed as level 0
// tiles, so the entries of bundle N, N·Width to N·Width+Width-1, never
// overflow.
func MaxIndex(level uint8) uint64 {
	shift := Height * (uint(level) + 1)
	if shift >= 63 {
		return 0
	}
	return (1<<63 - 1) >> shift
}

// Tile names a tile of hashes or an entry bundle.
type Tile struct {
	// Entries is set for an entry bundle, "tile/entries/<N>", and unset for
	// a tile of hashes, "tile/<L>/<N>".
	Entries bool
	// Level is the tile's level, 0 to MaxLevel; 0 for an entry bundle.
	Level uint8
	// Index is the tile's index within its level, N, at most
	// MaxIndex(Level).
	Index uint64
	// Width is the number of hashes or entries, 1 to Width; less than Width
	// for a partial tile, ".p/<W>".
	Width int
}

// Valid reports whether t names a tile: its level, index and width are in
// range.
func (t Tile) Valid() error {
	switch {
	case t.Entries && t.Level != 0:
		return fmt.Errorf("entry bundle of level %d, want 0", t.Level)
	case t.Level > MaxLevel:
		return fmt.Errorf("tile level %d exceeds %d", t.Level, MaxLevel)
	case t.Index > MaxIndex(t.Level):
		return fmt.Errorf("tile index %d exceeds %d, the largest at level %d", t.Index, MaxIndex(t.Level), t.Level)
	case t.Width < 1 || t.Width > Width:
		return fmt.Errorf("tile width %d, want 1 to %d", t.Width, Width)
	}
	return nil
}

// Path returns the tile's path, "tile/<L>/<N>[.p/<W>]" or
// "tile/entries/<N>[.p/<W>]", for a valid tile: Parse(t.Path()) is t.
func (t Tile) Path() string {
	var b strings.Builder
	b.WriteString("tile/")
	if t.Entries {
		b.WriteString("entries/")
	} else {
		b.WriteString(strconv.Itoa(int(t.Level)))
		b.WriteByte('/')
	}
	b.WriteString(indexPath(t.Index))
	if t.Width != Width {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(t.Width))
	}
	return b.String()
}

// EntryRange returns the indices of the entries of an entry bundle, start
// to end-1.
func (t Tile) EntryRange() (start, end uint64) {
	start = t.Index * Width
	return start, start + uint64(t.Width)
}

// indexPath encodes a tile index as path elements: groups of three digits,
// all but the last prefixed with "x" (1234067 is "x001/x234/067").
func indexPath(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	return s
}

// ErrPath is the error of Parse for every path that is not the canonical
// path of a valid tile.
var ErrPath = errors.New("malformed tile path: want tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")

// Parse parses the path of a tile, strictly: the path must be the one
// Path returns for a valid tile, with no leading zeros, no empty or "x000"
// leading groups and no ".p/256". It fails with an error wrapping ErrPath.
func Parse(path string) (Tile, error) {
	t, err := parse(path)
	if err != nil {
		return Tile{}, fmt.Errorf("%w: %s", ErrPath, err)
	}
	return t, nil
}

func parse(path string) (Tile, error) {
	var t Tile
	if len(path) > maxPath {
		return t, fmt.Errorf("longer than %d bytes", maxPath)
	}
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return t, errors.New(`no "tile/" prefix`)
	}
	if rest, ok = strings.CutPrefix(rest, "entries/"); ok {
		t.Entries = true
	} else {
		level, after, found := strings.Cut(rest, "/")
		l, ok := decimal(level, MaxLevel)
		if !found || !ok {
			return t, fmt.Errorf("level %q", level)
		}
		t.Level, rest = uint8(l), after
	}
	rest, width, partial := strings.Cut(rest, ".p/")
	t.Width = Width
	if partial {
		w, ok := decimal(width, Width-1)
		if !ok || w == 0 {
			return t, fmt.Errorf("partial width %q", width)
		}
		t.Width = int(w)
	}
	groups := strings.Split(rest, "/")
	for i, g := range groups {
		last := i == len(groups)-1
		if !last {
			var ok bool
			if g, ok = strings.CutPrefix(g, "x"); !ok {
				return t, fmt.Errorf("index element %q", groups[i])
			}
		}
		if len(g) != 3 || strings.Trim(g, "0123456789") != "" || i == 0 && !last && g == "000" {
			return t, fmt.Errorf("index element %q", groups[i])
		}
		d, _ := strconv.ParseUint(g, 10, 64)
		if max := MaxIndex(t.Level); d > max || t.Index > (max-d)/1000 {
			return t, fmt.Errorf("tile index %s exceeds %d, the largest at level %d", rest, MaxIndex(t.Level), t.Level)
		}
		t.Index = t.Index*1000 + d
	}
	return t, t.Valid()
}

// decimal parses s as a decimal of at most max, with no sign and no
// leading zero.
func decimal(s string, max uint64) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n <= max
}

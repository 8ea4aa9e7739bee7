package layout_test

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/layout"
)

func TestPathParse(t *testing.T) {
	tests := []struct {
		path string
		tile layout.Tile
	}{
		{"tile/0/000", layout.Tile{Level: 0, Index: 0, Width: 256}},
		{"tile/0/x001/000", layout.Tile{Level: 0, Index: 1000, Width: 256}},
		{"tile/0/x001/x234/067", layout.Tile{Level: 0, Index: 1234067, Width: 256}},
		{"tile/1/x001/x234/067", layout.Tile{Level: 1, Index: 1234067, Width: 256}},
		{"tile/2/x001/x234/067.p/5", layout.Tile{Level: 2, Index: 1234067, Width: 5}},
		{"tile/2/999.p/7", layout.Tile{Level: 2, Index: 999, Width: 7}},
		{"tile/63/000.p/255", layout.Tile{Level: 63, Index: 0, Width: 255}},
		{"tile/entries/005", layout.Tile{Entries: true, Index: 5, Width: 256}},
		{"tile/entries/000.p/1", layout.Tile{Entries: true, Index: 0, Width: 1}},
		{"tile/entries/x001/x000/000.p/1", layout.Tile{Entries: true, Index: 1000000, Width: 1}},
		// The largest index of each kind: its leaves start below 2^63.
		{"tile/entries/x036/x028/x797/x018/x963/967", layout.Tile{Entries: true, Index: 1<<55 - 1, Width: 256}},
		{"tile/0/x036/x028/x797/x018/x963/967.p/3", layout.Tile{Index: 1<<55 - 1, Width: 3}},
		{"tile/6/127", layout.Tile{Level: 6, Index: 127, Width: 256}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := tt.tile.Path(); got != tt.path {
				t.Errorf("%+v.Path() = %q, want %q", tt.tile, got, tt.path)
			}
			got, err := layout.Parse(tt.path)
			if err != nil || got != tt.tile {
				t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.path, got, err, tt.tile)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, path := range []string{
		"",
		"tiles/0/000",
		"tile/64/000",
		"tile/00/000",
		"tile/-1/000",
		"tile/+1/000",
		"tile/0/0",
		"tile/0/0000",
		"tile/0/00a",
		"tile/0/x000/001",
		"tile/0/001/002",
		"tile/0/x001",
		"tile/0/x001/",
		"tile/0//001",
		"tile/0/-01",
		"tile/0/001.p/256",
		"tile/0/001.p/0",
		"tile/0/001.p/007",
		"tile/0/001.p/",
		"tile/0/001.p/5.p/5",
		"tile/0/.p/5",
		"tile/data/000",
		"tile/8/0/000",
		"tile/entries/",
		"tile/entries/0/000",
		"/tile/0/000",
		"tile/0/000/",
		// Indices whose leaves would start at or beyond 2^63: the issue's
		// 2^56, which wrapped to bundle 0, and the first past the bound.
		"tile/entries/x072/x057/x594/x037/x927/936.p/1",
		"tile/entries/x036/x028/x797/x018/x963/968",
		"tile/0/x036/x028/x797/x018/x963/968",
		"tile/6/128",
		"tile/7/001",
		"tile/63/001.p/255",
		// Far beyond uint64, which must not wrap while parsing.
		"tile/entries/x999/x999/x999/x999/x999/x999/x999/x999/999",
		"tile/7/x999/x999/x999/x999/x999/x999/x999/x999/999",
	} {
		t.Run(path, func(t *testing.T) {
			if got, err := layout.Parse(path); !errors.Is(err, layout.ErrPath) {
				t.Errorf("Parse(%q) = %+v, %v; want ErrPath", path, got, err)
			}
		})
	}
}

func TestMaxIndex(t *testing.T) {
	for level := range layout.MaxLevel + 1 {
		t.Run(fmt.Sprint(level), func(t *testing.T) {
			max := layout.MaxIndex(uint8(level))
			// The first leaf of tile max, max·256^(level+1), is below 2^63;
			// that of tile max+1 is not.
			limit := new(big.Int).Lsh(big.NewInt(1), 63)
			first := new(big.Int).Lsh(new(big.Int).SetUint64(max), uint(8*(level+1)))
			next := new(big.Int).Lsh(new(big.Int).SetUint64(max+1), uint(8*(level+1)))
			if first.Cmp(limit) >= 0 || next.Cmp(limit) < 0 {
				t.Errorf("MaxIndex(%d) = %d: first leaves %v and %v", level, max, first, next)
			}
			tile := layout.Tile{Level: uint8(level), Index: max, Width: 1}
			if got, err := layout.Parse(tile.Path()); err != nil || got != tile {
				t.Errorf("Parse(%q) = %+v, %v", tile.Path(), got, err)
			}
		})
	}
	if start, end := (layout.Tile{Entries: true, Index: layout.MaxIndex(0), Width: 256}).EntryRange(); end != 1<<63 || end-start != 256 {
		t.Errorf("EntryRange of the last bundle = %d, %d; want it to end at 2^63", start, end)
	}
	if layout.MaxIndex(0) > math.MaxUint64/layout.Width {
		t.Errorf("MaxIndex(0)·Width overflows")
	}
}

// FuzzParse checks that every path Parse accepts is the one Path returns:
// each tile has exactly one path.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/2/x001/x234/067.p/5", "tile/entries/x036/x028/x797/x018/x963/967", "tile/7/000.p/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		tile, err := layout.Parse(path)
		if err != nil {
			return
		}
		if err := tile.Valid(); err != nil {
			t.Fatalf("Parse(%q) = %+v, which is not valid: %v", path, tile, err)
		}
		if got := tile.Path(); got != path {
			t.Fatalf("Parse(%q).Path() = %q", path, got)
		}
	})
}

// TestAgainstTlog checks the paths against golang.org/x/mod/sumdb/tlog's,
// an independent implementation whose paths also name the tile height.
func TestAgainstTlog(t *testing.T) {
	if layout.Height != ledger.TileHeight || layout.Width != ledger.TileWidth {
		t.Fatalf("layout's tiles are %d high and %d wide, the ledger's %d and %d", layout.Height, layout.Width, ledger.TileHeight, ledger.TileWidth)
	}
	for _, n := range []int64{0, 1, 999, 1000, 1234067, 1<<40 + 17, 1<<55 - 1} {
		for _, l := range []int{-1, 0, 1, 2} {
			for _, w := range []int{1, 7, 255, 256} {
				tt := tlog.Tile{H: layout.Height, L: l, N: n, W: w}
				want := strings.Replace(strings.Replace(tt.Path(), "tile/8/", "tile/", 1), "tile/data/", "tile/entries/", 1)
				tile := layout.Tile{Entries: l < 0, Level: uint8(max(l, 0)), Index: uint64(n), Width: w}
				if tile.Valid() != nil {
					continue
				}
				if got := tile.Path(); got != want {
					t.Errorf("%+v.Path() = %q, tlog's %q", tile, got, want)
				}
			}
		}
	}
}

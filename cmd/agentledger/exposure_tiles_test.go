package main

import "testing"

func TestParsePublicTiles(t *testing.T) {
	for _, tc := range []struct {
		in             string
		tiles, entries bool
		bad            bool
	}{
		{in: "none"},
		{in: "false"},
		{in: "hashes", tiles: true},
		{in: "true", tiles: true},
		{in: "all", tiles: true, entries: true},
		{in: "entries", bad: true},
		{in: "ALL", bad: true},
	} {
		tiles, entries, err := parsePublicTiles(tc.in)
		if (err != nil) != tc.bad || tiles != tc.tiles || entries != tc.entries {
			t.Errorf("parsePublicTiles(%q) = %v, %v, %v; want %v, %v, error %v", tc.in, tiles, entries, err, tc.tiles, tc.entries, tc.bad)
		}
	}
}

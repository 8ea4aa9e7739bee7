package query

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/layout"
)

// tileReader reads tiles from the server for golang.org/x/mod/sumdb/tlog,
// an independent implementation of the tiled tree.
type tileReader struct {
	t     *testing.T
	w     *world
	reads int
}

func (r *tileReader) Height() int { return ledger.TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tile := range tiles {
		p := "/" + c2spPath(tile)
		resp := r.w.do("auditor", http.MethodGet, p, nil)
		if resp.status != http.StatusOK {
			return nil, fmt.Errorf("GET %s = %d %s", p, resp.status, resp.body)
		}
		if ct := resp.header.Get("Content-Type"); ct != "application/octet-stream" {
			r.t.Errorf("GET %s: Content-Type %q", p, ct)
		}
		if cc := resp.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			r.t.Errorf("GET %s: Cache-Control %q, want immutable", p, cc)
		}
		out[i] = resp.body
		r.reads++
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// c2spPath returns the C2SP tlog-tiles path of a tlog tile.
func c2spPath(t tlog.Tile) string {
	return layout.Tile{Entries: t.L < 0, Level: uint8(max(t.L, 0)), Index: uint64(t.N), Width: t.W}.Path()
}

// TestTilesInterop grows a tree across tile boundaries and checks the
// tlog-tiles API against golang.org/x/mod/sumdb/tlog: the tree hash it
// computes from the served tiles is the checkpoint's root, its proofs are
// the served proofs, and the entry bundles hash to the level-0 tiles.
func TestTilesInterop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{noFixture: true})
		var sizes []uint64
		for _, n := range []int{1, 255, 1, 300, 200} {
			entries := make([]ledger.Entry, n)
			for i := range entries {
				entries[i] = ledger.Entry{Kind: ledger.KindSpan, TraceID: traceA, SpanID: fmt.Sprintf("%016x", len(sizes)<<16|i+1),
					Name: "span", Start: epoch.Add(time.Duration(i) * time.Millisecond),
					Attrs: []ledger.Attr{{Key: "n", Value: strings.Repeat("x", i%40)}}}
			}
			if _, err := w.log.Append(t.Context(), entries); err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, w.checkpoint().Size)
		}
		r := w.do("none", http.MethodGet, "/checkpoint", nil)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/plain; charset=utf-8" || r.header.Get("Cache-Control") != checkpointCacheControl {
			t.Fatalf("GET /checkpoint = %d, %q, %q", r.status, r.header.Get("Content-Type"), r.header.Get("Cache-Control"))
		}
		cp, err := ledger.OpenCheckpoint(r.body, w.vkey)
		if err != nil {
			t.Fatal(err)
		}
		tree := tlog.Tree{N: int64(cp.Size), Hash: tlog.Hash(cp.Root)}
		reader := &tileReader{t: t, w: w}
		hr := tlog.TileHashReader(tree, reader)
		root, err := tlog.TreeHash(tree.N, hr)
		if err != nil || root != tree.Hash {
			t.Fatalf("tlog.TreeHash from the served tiles = %x, %v, want the checkpoint root %x", root, err, tree.Hash)
		}
		for _, i := range []int64{0, 1, 255, 256, 257, 511, 512, tree.N - 1} {
			want, err := tlog.ProveRecord(tree.N, i, hr)
			if err != nil {
				t.Fatal(err)
			}
			var p api.InclusionProof
			w.get("auditor", fmt.Sprintf("/v1/proofs/inclusion?index=%d", i), &p)
			if got := decodeHashes(t, p.Hashes); mustJSON(got) != mustJSON(want) {
				t.Errorf("inclusion proof of %d: served %x, tlog %x", i, got, want)
			}
		}
		for _, old := range sizes[:len(sizes)-1] {
			want, err := tlog.ProveTree(tree.N, int64(old), hr)
			if err != nil {
				t.Fatal(err)
			}
			var p api.ConsistencyProof
			w.get("auditor", fmt.Sprintf("/v1/proofs/consistency?from=%d", old), &p)
			if got := decodeHashes(t, p.Hashes); mustJSON(got) != mustJSON(want) {
				t.Errorf("consistency proof from %d: served %x, tlog %x", old, got, want)
			}
			if err := tlog.CheckTree(want, tree.N, tree.Hash, int64(old), mustTreeHash(t, int64(old), hr)); err != nil {
				t.Errorf("tlog.CheckTree from %d: %v", old, err)
			}
		}
		// Entry bundles: every leaf hashes to its level-0 tile hash.
		for n := int64(0); n*ledger.TileWidth < tree.N; n++ {
			width := min(tree.N-n*ledger.TileWidth, ledger.TileWidth)
			data := tlog.Tile{H: ledger.TileHeight, L: -1, N: n, W: int(width)}
			hashes := tlog.Tile{H: ledger.TileHeight, L: 0, N: n, W: int(width)}
			tiles, err := reader.ReadTiles([]tlog.Tile{data, hashes})
			if err != nil {
				t.Fatal(err)
			}
			leaves := parseBundle(t, tiles[0])
			if int64(len(leaves)) != width {
				t.Fatalf("bundle %d has %d entries, want %d", n, len(leaves), width)
			}
			for i, leaf := range leaves {
				if h := tlog.RecordHash(leaf); !bytes.Equal(h[:], tiles[1][i*32:(i+1)*32]) {
					t.Errorf("bundle %d entry %d hashes to %x, the tile has %x", n, i, h, tiles[1][i*32:(i+1)*32])
				}
			}
		}
		// Entry bundles are gzipped for clients that accept it.
		req := "/tile/entries/000"
		resp := w.doHeader("auditor", req, "Accept-Encoding", "gzip")
		if resp.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("GET %s with Accept-Encoding gzip: Content-Encoding %q", req, resp.header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(resp.body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || len(parseBundle(t, plain)) != ledger.TileWidth {
			t.Errorf("gunzipped bundle: %v, %d entries", err, len(parseBundle(t, plain)))
		}
		t.Logf("tree of %d entries verified through %d tile reads", tree.N, reader.reads)
	})
}

func mustTreeHash(t *testing.T, n int64, hr tlog.HashReader) tlog.Hash {
	h, err := tlog.TreeHash(n, hr)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func decodeHashes(t *testing.T, in []string) []tlog.Hash {
	out := make([]tlog.Hash, len(in))
	for i, s := range in {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			t.Fatalf("proof hash %q: %v", s, err)
		}
		copy(out[i][:], b)
	}
	return out
}

func parseBundle(t *testing.T, b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("bundle: truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			t.Fatalf("bundle: entry of %d bytes truncated", n)
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

// doHeader sends a GET with one extra header.
func (w *world) doHeader(caller, target, key, value string) *response {
	w.t.Helper()
	req, _ := http.NewRequestWithContext(w.t.Context(), http.MethodGet, target, nil)
	req.Header.Set(key, value)
	req.Header.Set("Authorization", "Bearer "+w.tokens[caller])
	rec := httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, req)
	return &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// TestTileBounds asks for tiles whose index is out of range: they are
// refused, never served as another tile whose index wrapped.
func TestTileBounds(t *testing.T) {
	w := newWorld(t, backends()[0], worldOptions{})
	w.checkpoint()
	tests := []struct {
		path   string
		status int
	}{
		{"/tile/entries/000.p/1", http.StatusOK},
		// N = 2^56: N·256 wraps to 0, the first bundle.
		{"/tile/entries/x072/x057/x594/x037/x927/936.p/1", http.StatusBadRequest},
		{"/tile/0/x072/x057/x594/x037/x927/936.p/1", http.StatusBadRequest},
		{"/tile/entries/x999/x999/x999/x999/x999/x999/x999/999.p/1", http.StatusBadRequest},
		{"/tile/7/001.p/1", http.StatusBadRequest},
		// In range, but beyond the tree.
		{"/tile/entries/x036/x028/x797/x018/x963/967.p/1", http.StatusNotFound},
		{"/tile/0/x036/x028/x797/x018/x963/967.p/1", http.StatusNotFound},
		{"/tile/7/000.p/1", http.StatusNotFound},
	}
	for _, tt := range tests {
		r := w.do("auditor", http.MethodGet, tt.path, nil)
		if r.status != tt.status {
			t.Errorf("GET %s = %d %.200s, want %d", tt.path, r.status, r.body, tt.status)
		}
		if cc := r.header.Get("Cache-Control"); tt.status != http.StatusOK && strings.Contains(cc, "immutable") {
			t.Errorf("GET %s: Cache-Control %q on an error", tt.path, cc)
		}
		if tt.status != http.StatusOK {
			checkEnvelope(t, tt.path, r)
		}
	}
}

package verify_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/ledger/verify"
)

const (
	entries = 300 // and one erasure entry: the tree has 301
	every   = 50
)

func leafAt(t *testing.T, r ledger.Reader, i uint64) []byte {
	t.Helper()
	recs, err := r.RecordsAt(t.Context(), []uint64{i})
	if err != nil || len(recs) != 1 {
		t.Fatalf("RecordsAt(%d) = %d records, %v", i, len(recs), err)
	}
	return recs[0].Leaf
}

func inclusionProof(t *testing.T, r ledger.Reader, i, size uint64) [][]byte {
	t.Helper()
	p, err := ledger.InclusionProof(t.Context(), r, i, size)
	if err != nil {
		t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
	}
	return p
}

func consistencyProof(t *testing.T, r ledger.Reader, a, b uint64) [][]byte {
	t.Helper()
	p, err := ledger.ConsistencyProof(t.Context(), r, a, b)
	if err != nil {
		t.Fatalf("ConsistencyProof(%d, %d): %v", a, b, err)
	}
	return p
}

func matches(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("error = %v, want nil", err)
	case want != "" && err == nil:
		t.Errorf("error = nil, want %q", want)
	case want != "" && !regexp.MustCompile(want).MatchString(err.Error()):
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestInclusion(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, entries, every)
	s, vkey := l.Store, l.Keys.Verifier
	for _, cp := range l.Checkpoints {
		for _, i := range []uint64{0, 1, cp.Size / 2, cp.Size - 1} {
			if i >= cp.Size {
				continue
			}
			if err := verify.Inclusion(cp.Note, vkey, leafAt(t, s, i), i, inclusionProof(t, s, i, cp.Size)); err != nil {
				t.Errorf("Inclusion(checkpoint %d, entry %d) = %v, want nil", cp.Size, i, err)
			}
		}
	}

	cp := l.Checkpoint(t, 151)
	leaf, p := leafAt(t, s, 100), inclusionProof(t, s, 100, 151)
	forger := audittest.NewKeys(t)
	signer, err := ledger.NewSigner(forger.Signer)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := signer.Sign(cp.Size, cp.Root)
	if err != nil {
		t.Fatal(err)
	}
	lh := ledger.LeafHash(leaf)
	tests := []struct {
		name  string
		note  []byte
		vkey  string
		leaf  []byte
		index uint64
		proof [][]byte
		want  string
	}{
		{"valid", cp.Note, vkey, leaf, 100, p, ""},
		{"another entry's leaf", cp.Note, vkey, leafAt(t, s, 101), 100, p, `^entry 100 \(leaf hash [0-9a-f]{64}\) is not in the tree of checkpoint example.com/audittest@151 \(root .*\): .*the proof leads to root .*, not .*`},
		{"wrong index", cp.Note, vkey, leaf, 102, p, `^entry 102 .* is not in the tree of checkpoint`},
		{"index beyond the checkpoint", cp.Note, vkey, leaf, 151, p, `^entry 151 is not in the checkpoint's tree of size 151$`},
		{"leaf hash instead of the leaf", cp.Note, vkey, lh[:], 100, p, `is not in the tree of checkpoint`},
		{"short proof", cp.Note, vkey, leaf, 100, p[:len(p)-1], `is not in the tree of checkpoint.*wrong proof size`},
		{"checkpoint of another key", forged, vkey, leaf, 100, p, `^checkpoint: checkpoint is not signed by example.com/audittest$`},
		{"key of another log", cp.Note, forger.Verifier, leaf, 100, p, `^checkpoint: `},
		{"malformed key", cp.Note, "nonsense", leaf, 100, p, `^checkpoint: parse verifier key`},
		{"truncated note", cp.Note[:len(cp.Note)/2], vkey, leaf, 100, p, `^checkpoint: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			matches(t, verify.Inclusion(tt.note, tt.vkey, tt.leaf, tt.index, tt.proof), tt.want)
		})
	}
}

// TestInclusionTampered checks that proofs served from a tampered database
// no longer verify against the checkpoints signed before.
func TestInclusionTampered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(t *testing.T, l *audittest.Ledger)
		index  uint64
		size   uint64
	}{
		{
			name: "leaf byte",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries SET leaf = set_byte(leaf, 20, get_byte(leaf, 20) # 1) WHERE idx = 31`)
			},
			index: 31, size: 51,
		},
		{
			name: "tile hash",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE tiles SET hashes = overlay(hashes placing sha256('x') from 1 + (13 - start)*32 for 32)
					WHERE level = 0 AND idx = 1 AND start <= 13 AND start + length(hashes)/32 > 13`)
			},
			index: 256 + 12, size: 301, // entry 268's proof holds entry 269's hash
		},
		{
			name: "swapped leaves",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Tamper(t, `UPDATE entries e SET leaf = o.leaf, leaf_hash = o.leaf_hash FROM entries o
					WHERE (e.idx, o.idx) IN ((25, 26), (26, 25))`)
			},
			index: 25, size: 101,
		},
		{
			name: "truncated and re-appended",
			tamper: func(t *testing.T, l *audittest.Ledger) {
				l.Truncate(t, 120)
				l.Append(t, 1, 230, every, 0)
			},
			index: 200, size: 251,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := audittest.New(t, entries, every)
			cp := l.Checkpoint(t, tt.size)
			tt.tamper(t, l)
			leaf, p := leafAt(t, l.Store, tt.index), inclusionProof(t, l.Store, tt.index, tt.size)
			err := verify.Inclusion(cp.Note, l.Keys.Verifier, leaf, tt.index, p)
			matches(t, err, `is not in the tree of checkpoint example.com/audittest@`)
		})
	}
}

func TestConsistency(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, entries, every)
	s, vkey := l.Store, l.Keys.Verifier
	cps := l.Checkpoints
	for i := range cps {
		for j := i; j < len(cps); j++ {
			a, b := cps[i], cps[j]
			var p [][]byte
			if a.Size < b.Size {
				p = consistencyProof(t, s, a.Size, b.Size)
			}
			if err := verify.Consistency(a.Note, b.Note, vkey, p); err != nil {
				t.Errorf("Consistency(%d, %d) = %v, want nil", a.Size, b.Size, err)
			}
		}
	}
	signer, err := ledger.NewSigner(l.Keys.Signer)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := signer.Sign(0, ledger.EmptyRoot())
	if err != nil {
		t.Fatal(err)
	}
	bogusEmpty, err := signer.Sign(0, cps[0].Root)
	if err != nil {
		t.Fatal(err)
	}
	c101, c251 := l.Checkpoint(t, 101), l.Checkpoint(t, 251)
	p := consistencyProof(t, s, 101, 251)
	forkRoot := c251.Root
	forkRoot[0] ^= 1
	fork, err := signer.Sign(251, forkRoot)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		old, new []byte
		proof    [][]byte
		want     string
	}{
		{"valid", c101.Note, c251.Note, p, ""},
		{"from the empty tree", empty, c251.Note, nil, ""},
		{"from the empty tree with a proof", empty, c251.Note, p, `^a consistency proof from the empty tree must be empty`},
		{"from a bogus empty tree", bogusEmpty, c251.Note, nil, `^checkpoint example.com/audittest@0 .*: the empty tree's root is`},
		{"backwards", c251.Note, c101.Note, p, `tree shrank from size 251 to 101`},
		{"forked root", c101.Note, fork, p, `^checkpoint example.com/audittest@251 .* does not extend checkpoint example.com/audittest@101 .*: consistency from size 101 to 251: the proof leads to root`},
		{"same size, two roots", c251.Note, fork, nil, `two different roots at size 251`},
		{"short proof", c101.Note, c251.Note, p[1:], `does not extend`},
		{"old not signed", c101.Note[:10], c251.Note, p, `^old checkpoint: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			matches(t, verify.Consistency(tt.old, tt.new, vkey, tt.proof), tt.want)
		})
	}
}

// TestCheckAdvance tests the monitor's core: may a log move from one
// checkpoint to another?
func TestCheckAdvance(t *testing.T) {
	t.Parallel()
	l := audittest.New(t, entries, every)
	s, vkey := l.Store, l.Keys.Verifier
	c101, c251, c301 := l.Checkpoint(t, 101), l.Checkpoint(t, 251), l.Checkpoint(t, 301)
	signer, err := ledger.NewSigner(l.Keys.Signer)
	if err != nil {
		t.Fatal(err)
	}
	forkRoot := c251.Root
	forkRoot[5] ^= 1
	fork, err := signer.Sign(251, forkRoot)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ledger.NewSigner(audittest.NewKeys(t).Signer)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Sign(c301.Size, c301.Root)
	if err != nil {
		t.Fatal(err)
	}
	p101to251 := consistencyProof(t, s, 101, 251)
	p251to301 := consistencyProof(t, s, 251, 301)

	// The log is truncated and grows again: its next checkpoint does not
	// extend the ones it signed before.
	l2 := audittest.New(t, entries, every)
	l2c301 := l2.Checkpoint(t, 301)
	l2.Truncate(t, 120)
	l2.Append(t, 1, 230, every, 0)
	l2c350 := l2.Checkpoint(t, 350)
	l2p := consistencyProof(t, l2.Store, 301, 350)

	tests := []struct {
		name     string
		old, new []byte
		proof    [][]byte
		kind     string // the Misbehavior, if any
		want     string
	}{
		{"first checkpoint", nil, c101.Note, nil, "", ""},
		{"unchanged", c251.Note, c251.Note, nil, "", ""},
		{"grew", c101.Note, c251.Note, p101to251, "", ""},
		{"grew again", c251.Note, c301.Note, p251to301, "", ""},
		{"rollback", c301.Note, c251.Note, nil, verify.Rollback,
			`^log example.com/audittest rolled back: it signed checkpoint example.com/audittest@251 \(root .*\) after checkpoint example.com/audittest@301 \(root .*\)$`},
		{"two roots of one size", c251.Note, fork, nil, verify.Fork,
			`^log example.com/audittest forked: it signed two different trees of size 251: checkpoints example.com/audittest@251 \(root .*\) and example.com/audittest@251 \(root .*\)$`},
		{"grew with a bad proof", c101.Note, c251.Note, p251to301, verify.Fork,
			`^log example.com/audittest forked: checkpoint example.com/audittest@251 .* does not extend checkpoint example.com/audittest@101`},
		{"forged new checkpoint", c251.Note, forged, p251to301, "", `^new checkpoint: `},
		{"forged stored checkpoint", forged, c301.Note, nil, "", `^stored checkpoint: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp, err := verify.CheckAdvance(tt.old, tt.new, vkey, tt.proof)
			matches(t, err, tt.want)
			var mb *verify.Misbehavior
			if got := errors.As(err, &mb); got != (tt.kind != "") || got && mb.Kind != tt.kind {
				t.Errorf("CheckAdvance() = %v, want a misbehavior of kind %q", err, tt.kind)
			}
			if mb != nil && (string(mb.OldNote) != string(tt.old) || string(mb.NewNote) != string(tt.new)) {
				t.Errorf("CheckAdvance() misbehavior does not carry both notes")
			}
			if tt.want == "" && (cp == nil || cp.Size == 0) {
				t.Errorf("CheckAdvance() = %v, want the new checkpoint", cp)
			}
		})
	}
	t.Run("truncated and re-appended", func(t *testing.T) {
		_, err := verify.CheckAdvance(l2c301.Note, l2c350.Note, l2.Keys.Verifier, l2p)
		matches(t, err, `^log example.com/audittest forked: checkpoint example.com/audittest@350 .* does not extend checkpoint example.com/audittest@301`)
		var mb *verify.Misbehavior
		if !errors.As(err, &mb) || mb.Kind != verify.Fork {
			t.Errorf("CheckAdvance() = %v, want a fork", err)
		}
	})
}

func TestParseProof(t *testing.T) {
	h1 := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	h2 := "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0="
	tests := []struct {
		name, in string
		want     int
		err      string
	}{
		{"json", `{"index": 3, "tree_size": 8, "hashes": ["` + h1 + `", "` + h2 + `"]}`, 2, ""},
		{"json empty", `{"hashes": []}`, 0, ""},
		{"lines", h1 + "\n\n# comment\n" + h2 + "\n", 2, ""},
		{"json without hashes", `{"index": 3}`, 0, `without "hashes"`},
		{"short hash", "AAAA\n", 0, `proof hash 0: "AAAA" is not a base64 SHA-256 hash`},
		{"not base64", "!!!\n", 0, `proof hash 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verify.ParseProof([]byte(tt.in))
			matches(t, err, regexp.QuoteMeta(tt.err))
			if err == nil && len(got) != tt.want {
				t.Errorf("ParseProof(%q) = %d hashes, want %d", tt.in, len(got), tt.want)
			}
		})
	}
}

func TestParseLeaf(t *testing.T) {
	leaf := []byte{1, 0, 3, 'l', 'l', 'm'}
	tests := []struct {
		name string
		in   []byte
		want []byte
		err  string
	}{
		{"raw", leaf, leaf, ""},
		{"entry json", []byte(`{"index": 4, "leaf": "AQADbGxt"}`), leaf, ""},
		{"json without leaf", []byte(`{"index": 4}`), nil, `without "leaf"`},
		{"empty", nil, nil, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verify.ParseLeaf(tt.in)
			matches(t, err, regexp.QuoteMeta(tt.err))
			if string(got) != string(tt.want) {
				t.Errorf("ParseLeaf(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSaveState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	if got, err := verify.LoadState(path); got != nil || err != nil {
		t.Fatalf("LoadState(missing) = %q, %v; want nil, nil", got, err)
	}
	for _, note := range []string{"first\n", "second\n"} {
		if err := verify.SaveState(path, []byte(note)); err != nil {
			t.Fatal(err)
		}
		got, err := verify.LoadState(path)
		if err != nil || string(got) != note {
			t.Fatalf("LoadState() = %q, %v; want %q", got, err, note)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state mode = %v, want 0600", fi.Mode().Perm())
	}
	des, _ := os.ReadDir(filepath.Dir(path))
	if len(des) != 1 {
		var names []string
		for _, d := range des {
			names = append(names, d.Name())
		}
		t.Errorf("directory holds %s, want the state file alone", strings.Join(names, ", "))
	}
}

package ledger

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func testSigner(t *testing.T, origin string) *Signer {
	t.Helper()
	skey, _, err := GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRotation(t *testing.T) {
	old, next, thief := testSigner(t, "example.com/log"), testSigner(t, "example.com/log"), testSigner(t, "example.com/log")
	msg, err := SignRotation(old, next, 7)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenRotation(msg, old.VerifierKey())
	if err != nil {
		t.Fatalf("OpenRotation: %v", err)
	}
	if r.NewKey != next.VerifierKey() || r.OldKey != old.VerifierKey() || r.Size != 7 || r.Origin != "example.com/log" {
		t.Fatalf("rotation = %+v", r)
	}
	leaf, err := EncodeLeaf(new(RotationEntry(msg, 7, time.Unix(1, 0))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RotationFromLeaf(leaf, 7, old.VerifierKey()); err != nil {
		t.Fatalf("RotationFromLeaf: %v", err)
	}
	if _, err := RotationFromLeaf(leaf, 6, old.VerifierKey()); err == nil {
		t.Error("a rotation entry before the tree size it names was accepted")
	}

	text := RotationHeader + "\nexample.com/log\n" + old.VerifierKey() + "\n" + thief.VerifierKey() + "\n7\n"
	onlyNew, err := note.Sign(&note.Note{Text: text}, thief.signer)
	if err != nil {
		t.Fatal(err)
	}
	byThief, err := SignRotation(thief, next, 7)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		msg  []byte
		want string
	}{
		"signed by the new key alone":  {onlyNew, "signatures by both"},
		"from another key":             {byThief, "but the log's key is"},
		"text changed after signing":   {[]byte(strings.Replace(string(msg), "\n7\n", "\n8\n", 1)), "invalid signature"},
		"not a note":                   {[]byte("hello"), "not a signed note"},
		"other statement, same format": {[]byte(strings.Replace(string(msg), RotationHeader, "other/v1", 1)), "want " + RotationHeader},
	} {
		if _, err := OpenRotation(tc.msg, old.VerifierKey()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: OpenRotation = %v, want an error containing %q", name, err, tc.want)
		}
	}
	if _, err := SignRotation(old, testSigner(t, "other.example/log"), 7); err == nil {
		t.Error("a rotation to a key of another log was signed")
	}
}

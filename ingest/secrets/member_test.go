package secrets

import (
	"strings"
	"testing"
)

// TestRedactTextMemberRescan checks what the mapper relies on to scan a
// JSON member's value once, as part of its text: in the output of
// RedactText, the value of a member (without escapes) holds nothing that
// RedactText would change if it scanned the value alone.
func TestRedactTextMemberRescan(t *testing.T) {
	r := newTestRedactor(t, Config{})
	var texts []string
	for _, fx := range loadFixtures(t) {
		texts = append(texts, fx.text)
	}
	for _, path := range []string{"testdata/agent_corpus.txt", "testdata/clean.txt", "testdata/reasoning.txt"} {
		texts = append(texts, loadLines(t, path)...)
	}
	wrappers := [][2]string{{`{"note":"`, `"}`}, {`[{"a":1,"note":"`, `","b":2}]`}, {`{"x":"y", "note": "`, `" }`}}
	checked := 0
	for _, text := range texts {
		if strings.ContainsAny(text, `\"`) {
			continue // an escaped value is scanned again
		}
		for _, w := range wrappers {
			out, _, _ := r.RedactText(w[0] + text + w[1])
			if !strings.HasPrefix(out, w[0]) || !strings.HasSuffix(out, w[1]) {
				continue // a secret ran to the end: no longer a member
			}
			checked++
			v := out[len(w[0]) : len(out)-len(w[1])]
			if got, _, changed := r.RedactText(v); changed {
				t.Errorf("RedactText(%q), a member's value in the output of RedactText(%q), = %q, want it unchanged", v, w[0]+text+w[1], got)
			}
		}
	}
	if checked < 1000 {
		t.Errorf("checked %d members, want the fixtures and corpora (1 000 or more)", checked)
	}
}

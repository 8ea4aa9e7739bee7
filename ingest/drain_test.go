package ingest

import (
	"bytes"
	"errors"
	"testing"
	"testing/iotest"
)

// TestDrain: drain reads a refused body to its end, so that the server
// keeps the connection for the retry, and stops at the first error.
func TestDrain(t *testing.T) {
	for _, n := range []int{0, 1, drainBufferSize - 1, drainBufferSize, 3*drainBufferSize + 7, 900_000} {
		r := bytes.NewReader(make([]byte, n))
		drain(iotest.HalfReader(r))
		if r.Len() != 0 {
			t.Errorf("drain of %d bytes left %d unread, want 0", n, r.Len())
		}
	}
	r := &failingReader{fail: errors.New("reset")}
	drain(r)
	if r.reads != 2 {
		t.Errorf("drain read %d times, want 2: up to the error and no further", r.reads)
	}
}

// failingReader returns a byte, then its error, then bytes again.
type failingReader struct {
	fail  error
	reads int
}

func (r *failingReader) Read(p []byte) (int, error) {
	r.reads++
	if r.reads == 2 {
		return 0, r.fail
	}
	return copy(p, "x"), nil
}

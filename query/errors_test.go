package query

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ledger"
)

func TestEnvelopeStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
		code string
		msg  string // a part of the message
	}{
		{fail("append access entry", fmt.Errorf("append: %w", ledger.ErrPushback)), http.StatusServiceUnavailable, CodeUnavailable, "busy"},
		{fail("append access entry", ledger.ErrClosed), http.StatusServiceUnavailable, CodeUnavailable, "busy"},
		{fail("read entry", ledger.ErrNotFound), http.StatusNotFound, CodeNotFound, "not found"},
		{fail("read entry", ledger.ErrCorrupt), http.StatusInternalServerError, CodeCorrupt, "audit"},
		{fail("read entry", errors.New("connection refused")), http.StatusServiceUnavailable, CodeUnavailable, "database is unavailable"},
	}
	for _, tt := range tests {
		status, body := envelope(tt.err, "r1")
		if status != tt.want || body.Error.Code != tt.code || !strings.Contains(body.Error.Message, tt.msg) {
			t.Errorf("envelope(%v) = %d %q %q, want %d %q and a message with %q", tt.err, status, body.Error.Code, body.Error.Message, tt.want, tt.code, tt.msg)
		}
	}
}

package ingest

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentledger/agentledger/ledger"
)

// TestStatusError: a full append queue, like a store failure, is answered
// Unavailable, which OTLP senders retry; bad input is answered
// InvalidArgument.
func TestStatusError(t *testing.T) {
	tests := []struct {
		err  error
		want codes.Code
	}{
		{fmt.Errorf("ledger append: append: %w", ledger.ErrPushback), codes.Unavailable},
		{fmt.Errorf("ledger append: %w", ledger.ErrClosed), codes.Unavailable},
		{errors.New("postgres: connection refused"), codes.Unavailable},
		{fmt.Errorf("entry 3: %w", ledger.ErrInvalid), codes.InvalidArgument},
		{fmt.Errorf("entry 3: %w", ledger.ErrTooLarge), codes.InvalidArgument},
	}
	for _, tt := range tests {
		if got := status.Code(statusError(tt.err)); got != tt.want {
			t.Errorf("statusError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

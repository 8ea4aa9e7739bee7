package ingest

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentledger/agentledger/ledger"
)

// invalidf returns an error for malformed or over-limit input. It wraps
// ledger.ErrInvalid: the receiver answers it with InvalidArgument (HTTP
// 400), which exporters do not retry.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ledger.ErrInvalid, fmt.Sprintf(format, args...))
}

// isPermanent reports whether err means the input itself is wrong, so that
// sending it again fails the same way.
func isPermanent(err error) bool {
	return errors.Is(err, ledger.ErrInvalid) || errors.Is(err, ledger.ErrTooLarge)
}

// statusError returns the error a consumer returns for err: InvalidArgument
// for bad input (HTTP 400, not retried); err itself otherwise, which the
// OTLP receiver answers with Unavailable (HTTP 503), which exporters retry.
func statusError(err error) error {
	if isPermanent(err) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return err
}

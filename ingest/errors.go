package ingest

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentledger/agentledger/ingest/secrets"
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

// unavailableMessage is all a sender learns of a request that could not be
// committed: the cause (a database error naming hosts, users and
// databases) goes to the log only.
const unavailableMessage = "the ledger could not commit the request; retry later"

// forwardFailedMessage is all a sender learns of a request committed to
// the ledger that the pipeline after the receiver failed on.
const forwardFailedMessage = "the request was committed to the ledger, but the pipeline after it failed"

// statusError returns the error a consumer returns for err, whose message
// has been redacted: InvalidArgument with err's message for bad input
// (HTTP 400, not retried); Unavailable with a generic message otherwise
// (HTTP 503, retried).
func statusError(err error) error {
	if isPermanent(err) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Unavailable, unavailableMessage)
}

// redactedError is an error whose message has passed through the secret
// redactor. It unwraps to the original error, for errors.Is.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactError returns err with its message redacted by r, as stored data
// is: what a sender is told and what is logged must not hold a secret the
// request carried, not even in the name of an attribute.
func redactError(r *secrets.Redactor, err error) error {
	msg, _, _ := r.RedactText(err.Error())
	return &redactedError{msg: msg, err: err}
}

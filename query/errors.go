package query

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// Error codes of the error envelope, {"error": {"code": ..., "message": ...}}.
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeNotCheckpointed  = "not_checkpointed"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeTooLarge         = "too_large"
	CodeUnavailable      = "unavailable"
	CodeCorrupt          = "ledger_corrupt"
	CodeInternal         = "internal"
)

// apiError is an error with the HTTP status and envelope to answer it with.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, CodeBadRequest, format, args...)
}

func notFound(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, CodeNotFound, format, args...)
}

// internalError wraps an error the caller must not see; the server logs it
// and answers 500 (503 for an ended context or a closed log).
type internalError struct {
	op  string
	err error
}

func (e *internalError) Error() string { return e.op + ": " + e.err.Error() }
func (e *internalError) Unwrap() error { return e.err }

// storeError wraps an error of the store other than the ledger's
// sentinels: the database is down, unreachable or failing. The server logs
// it and answers 503 with a generic message, which callers retry.
type storeError struct {
	op  string
	err error
}

func (e *storeError) Error() string { return e.op + ": " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// fail wraps err from the ledger or a store while doing op. Errors a caller
// can act on become apiErrors; a corrupt ledger stays internal; the rest
// are the store failing to answer.
func fail(op string, err error) error {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, ledger.ErrNotFound):
		return notFound("%s: not found", op)
	case errors.Is(err, ledger.ErrInvalid):
		return badRequest("%s: invalid input", op)
	case errors.Is(err, ledger.ErrCorrupt):
		return &internalError{op: op, err: err}
	}
	return &storeError{op: op, err: err}
}

// envelope returns the status and body to answer err with.
func envelope(err error, requestID string) (int, api.ErrorBody) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, api.ErrorBody{Error: api.ErrorDetail{Code: ae.code, Message: ae.msg}}
	}
	var se *storeError
	switch {
	case errors.Is(err, ledger.ErrCorrupt):
		return http.StatusInternalServerError, api.ErrorBody{Error: api.ErrorDetail{Code: CodeCorrupt,
			Message: "the ledger's stored state fails verification; run agentledger audit (request " + requestID + ")"}}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ledger.ErrClosed), errors.Is(err, ledger.ErrConflict), errors.Is(err, ledger.ErrPushback):
		return http.StatusServiceUnavailable, api.ErrorBody{Error: api.ErrorDetail{Code: CodeUnavailable,
			Message: "the ledger is busy or shutting down; retry (request " + requestID + ")"}}
	case errors.As(err, &se):
		return http.StatusServiceUnavailable, api.ErrorBody{Error: api.ErrorDetail{Code: CodeUnavailable,
			Message: "the ledger's database is unavailable; retry (request " + requestID + ")"}}
	}
	return http.StatusInternalServerError, api.ErrorBody{Error: api.ErrorDetail{Code: CodeInternal,
		Message: "internal error (request " + requestID + ")"}}
}

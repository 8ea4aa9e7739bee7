package ledger

import "errors"

// Sentinel errors. Backends translate their driver errors to these in one
// place, so callers can react without knowing the backend.
var (
	// ErrNotFound means the requested entry, tile, checkpoint or proof does
	// not exist (yet). HTTP callers answer 404.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means the input was malformed or out of range. It is
	// permanent: retrying the same input fails the same way. HTTP callers
	// answer 400.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict means the store's state changed under the caller, such as a
	// unique key already taken by a concurrent writer. The caller may retry.
	ErrConflict = errors.New("conflict")
	// ErrTooLarge means an entry's leaf would exceed MaxLeafSize. It is
	// permanent.
	ErrTooLarge = errors.New("entry too large")
	// ErrPushback means the appender's queue is full: the entries were not
	// appended. The caller retries later (OTLP answers Unavailable, HTTP
	// 503).
	ErrPushback = errors.New("ledger busy: too many appends queued")
	// ErrClosed means the appender was closed.
	ErrClosed = errors.New("ledger closed")
	// ErrCorrupt means the stored state contradicts itself (a tree head whose
	// root does not match its tiles, a tile of the wrong size). It is not
	// retryable; run `agentledger audit`.
	ErrCorrupt = errors.New("ledger state corrupt")
)

package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentledger/agentledger/ledger"
)

// SQLSTATE codes translate reacts to.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	classDataException       = "22"
	classIntegrity           = "23"
)

// translate maps a driver error to the ledger sentinel a caller reacts to,
// keeping the driver error in the chain: no rows is ErrNotFound; a unique
// key taken, a serialization failure or a deadlock is ErrConflict
// (retryable); malformed data or another violated constraint is ErrInvalid.
// Other errors, such as a lost connection or an ended context, and errors
// translated already are returned as they are.
func translate(err error) error {
	if err == nil || errors.Is(err, ledger.ErrNotFound) || errors.Is(err, ledger.ErrConflict) || errors.Is(err, ledger.ErrInvalid) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", ledger.ErrNotFound, err)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case pe.Code == codeUniqueViolation, pe.Code == codeSerializationFailure, pe.Code == codeDeadlockDetected:
		return fmt.Errorf("%w: %w", ledger.ErrConflict, err)
	case len(pe.Code) == 5 && (pe.Code[:2] == classDataException || pe.Code[:2] == classIntegrity):
		return fmt.Errorf("%w: %w", ledger.ErrInvalid, err)
	}
	return err
}

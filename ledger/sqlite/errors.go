package sqlite

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// conflictPrefix starts the message of a trigger that refuses a row whose
// key is taken (migrations/sqlite/0003_guards.up.sql).
const conflictPrefix = "agentledger: conflict:"

// translate maps a driver error to the ledger's sentinel errors, keeping the
// driver error in the chain. It is the one place that knows SQLite's result
// codes.
func translate(err error) error {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY,
		code == sqlite3.SQLITE_CONSTRAINT_TRIGGER && strings.Contains(se.Error(), conflictPrefix):
		// A dedup key, index, tile segment or checkpoint already taken,
		// perhaps by a concurrent writer: the caller may retry from the new
		// head. The insert guards of the append-only tables refuse such a
		// row before the unique index would.
		return fmt.Errorf("%w: %w", ledger.ErrConflict, err)
	case code&0xff == sqlite3.SQLITE_CONSTRAINT:
		// A CHECK, NOT NULL or foreign key constraint, or an append-only
		// trigger: the write breaks a rule of the schema, and would again.
		return fmt.Errorf("%w: %w", ledger.ErrInvalid, err)
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("database locked by another connection or process for more than %v: %w",
			busyTimeoutMillis*time.Millisecond, err)
	case code&0xff == sqlite3.SQLITE_CORRUPT, code&0xff == sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("%w: %w", ledger.ErrCorrupt, err)
	}
	return err
}

// wrap returns nil for a nil err, else err translated and wrapped with what
// the store was doing.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sqlite: %s: %w", op, translate(err))
}

// dedupTaken is the message of the entries' insert guard refusing an entry
// whose dedup key is stored (migrations/sqlite/0003_guards.up.sql).
const dedupTaken = conflictPrefix + " the dedup key is taken"

// isDedupConflict reports whether err is the refusal of an entry whose
// dedup key is stored, by the insert guard or the unique index.
func isDedupConflict(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_TRIGGER:
		return strings.Contains(se.Error(), dedupTaken)
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return strings.Contains(se.Error(), "entries.dedup_key")
	}
	return false
}

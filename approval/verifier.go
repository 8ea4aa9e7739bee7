package approval

import (
	"errors"
	"strings"
	"time"
)

// Verifier verifies approvals in the formats people have keys for: SSH
// signatures (against an allowed-signers file) and JWS in compact
// serialization (against a JWKS). Either may be nil: a signature in its
// format then has StatusUnknownKey.
type Verifier struct {
	SSH  *AllowedSigners
	JWKS *JWKSSource
}

// Verify verifies sig over st, choosing the format by its form; at is the
// approval's time, used when the approved action was performed (zero: not
// checked).
func (v *Verifier) Verify(st Statement, sig string, at, used time.Time) Result {
	switch {
	case strings.TrimSpace(sig) == "":
		return Result{Status: StatusUnsigned}
	case IsJWS(sig) && v.JWKS == nil:
		return Result{Status: StatusUnknownKey, Err: errors.New("a JWS approval, and no JWKS is configured")}
	case IsJWS(sig):
		return v.JWKS.Verify(st, sig, used)
	case v.SSH == nil:
		return Result{Status: StatusUnknownKey, Err: errors.New("an SSH signature, and no allowed-signers file is configured")}
	}
	return v.SSH.Verify(st, sig, at, used)
}

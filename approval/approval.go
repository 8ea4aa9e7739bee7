// Package approval verifies signed human approvals: an approval carries a
// signature, by the approver, over a canonical statement of the action it
// approves (Statement.Bytes), in the SSH signature format (ssh-keygen -Y
// sign -n agentledger-approval, PROTOCOL.sshsig). Approver keys come from
// an allowed-signers file in ssh-keygen's format. The result says whether
// the signature verified, with which key and for which principal, whether
// the approval had expired, and whether the action performed is the one
// approved.
package approval

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Namespace is the SSHSIG namespace of approval signatures.
const Namespace = "agentledger-approval"

// Attributes of an approval span or event (approval.*), as the approval
// system sends them.
const (
	AttrApprover   = "approval.approver"
	AttrAction     = "approval.action"
	AttrTarget     = "approval.target"
	AttrCredential = "approval.credential"
	AttrExpiresAt  = "approval.expires_at"
	AttrRun        = "approval.run"
	AttrSignature  = "approval.signature"
)

// Attributes the receiver sets on an approval entry, in the leaf, so the
// verification result is covered by the proof. Senders may not use the
// agentledger. namespace.
const (
	// AttrVerified is "true" when the signature verified with an allowed
	// key of the approver and the approval had not expired, else "false".
	AttrVerified = "agentledger.approval.verified"
	// AttrStatus is one of the Status values.
	AttrStatus = "agentledger.approval.status"
	// AttrKey is the SHA256 fingerprint of the key that signed.
	AttrKey = "agentledger.approval.key"
	// AttrSigner is the allowed-signers principal that matched.
	AttrSigner = "agentledger.approval.signer"
)

// Status values of a verification.
const (
	StatusVerified     = "verified"
	StatusUnsigned     = "unsigned"
	StatusMalformed    = "malformed"     // the signature or statement cannot be read
	StatusBadSignature = "bad_signature" // the signature does not verify over the statement
	StatusUnknownKey   = "unknown_key"   // the key is in no allowed-signers line
	StatusWrongSigner  = "wrong_signer"  // the key is allowed, but not for the approver
	StatusExpired      = "expired"       // verified, but the approval expired before it was used
)

// Statement is what an approver signs: who approves which action on which
// target, with which credential, until when, in which run.
type Statement struct {
	Approver   string
	Action     string
	Target     string
	Credential string // may be empty
	Expires    time.Time
	Run        string
}

// statementHeader is the first line of a statement's bytes.
const statementHeader = "agentledger-approval-v1"

// Bytes returns the canonical statement, the message an approver signs:
// UTF-8 lines, each ended by "\n", in this order:
//
//	agentledger-approval-v1
//	approver <approver>
//	action <action>
//	target <target>
//	credential <credential, possibly empty>
//	expires <RFC 3339 UTC, seconds precision>
//	run <run>
//
// It fails when a field is missing (all but credential are required) or
// holds a newline, a NUL or invalid UTF-8.
func (s Statement) Bytes() ([]byte, error) {
	fields := []struct {
		name, v  string
		optional bool
	}{
		{"approver", s.Approver, false}, {"action", s.Action, false}, {"target", s.Target, false},
		{"credential", s.Credential, true}, {"expires", "", false}, {"run", s.Run, false},
	}
	if s.Expires.IsZero() {
		return nil, errors.New("statement: expires is missing")
	}
	fields[4].v = s.Expires.UTC().Truncate(time.Second).Format(time.RFC3339)
	var b strings.Builder
	b.WriteString(statementHeader + "\n")
	for _, f := range fields {
		if f.v == "" && !f.optional {
			return nil, fmt.Errorf("statement: %s is missing", f.name)
		}
		if !utf8.ValidString(f.v) || strings.ContainsAny(f.v, "\n\r\x00") {
			return nil, fmt.Errorf("statement: %s holds a line break, a NUL or invalid UTF-8", f.name)
		}
		b.WriteString(f.name + " " + f.v + "\n")
	}
	return []byte(b.String()), nil
}

// Result is the outcome of verifying an approval.
type Result struct {
	Status string
	// Key is the signing key's SHA256 fingerprint, when the signature
	// could be read.
	Key string
	// Signer is the allowed-signers principal that matched the approver.
	Signer string
	// Err says what failed, for a log; it is not recorded.
	Err error
}

// Verified reports whether the approval verified and had not expired.
func (r Result) Verified() bool { return r.Status == StatusVerified }

// Performed is the action a run then performed, as the API call entry
// records it.
type Performed struct {
	Action     string // "POST /v1/invoices", or the RPC method
	Target     string // server.address
	Credential string // credential.id
	Run        string // the run's trace ID
	At         time.Time
}

// Mismatches lists the fields in which the performed action differs from
// the approved statement: action, target, credential (when the statement
// names one), run; and expired when it was performed after the approval
// expired.
func Mismatches(s Statement, p Performed) []string {
	var out []string
	if s.Action != p.Action {
		out = append(out, "action")
	}
	if s.Target != p.Target {
		out = append(out, "target")
	}
	if s.Credential != "" && s.Credential != p.Credential {
		out = append(out, "credential")
	}
	if s.Run != p.Run {
		out = append(out, "run")
	}
	if !p.At.IsZero() && p.At.After(s.Expires) {
		out = append(out, "expired")
	}
	return out
}

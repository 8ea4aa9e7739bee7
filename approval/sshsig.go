package approval

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Limits of the inputs the package reads.
const (
	// MaxSignatureBytes bounds an armored signature.
	MaxSignatureBytes = 16 << 10
	// MaxAllowedSignersBytes bounds an allowed-signers file.
	MaxAllowedSignersBytes = 4 << 20
)

// signer is one line of an allowed-signers file.
type signer struct {
	principals []string // patterns, as ssh-keygen matches them
	key        ssh.PublicKey
	namespaces []string // empty: any
	after      time.Time
	before     time.Time
}

// AllowedSigners is a parsed allowed-signers file (ssh-keygen(1), ALLOWED
// SIGNERS): lines of principals, options and a public key.
type AllowedSigners struct {
	signers []signer
}

// ParseAllowedSigners reads an allowed-signers file. It supports the
// namespaces, valid-after and valid-before options; a line with
// cert-authority (certificate signers) is refused, since the package
// verifies plain keys only.
func ParseAllowedSigners(r io.Reader) (*AllowedSigners, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxAllowedSignersBytes+1))
	if err != nil {
		return nil, fmt.Errorf("allowed signers: %w", err)
	}
	if len(data) > MaxAllowedSignersBytes {
		return nil, fmt.Errorf("allowed signers: over %d bytes", MaxAllowedSignersBytes)
	}
	a := &AllowedSigners{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, MaxAllowedSignersBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSignerLine(line)
		if err != nil {
			return nil, fmt.Errorf("allowed signers line %d: %w", n, err)
		}
		a.signers = append(a.signers, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("allowed signers: %w", err)
	}
	return a, nil
}

func parseSignerLine(line string) (signer, error) {
	principals, rest, ok := strings.Cut(line, " ")
	if !ok {
		return signer{}, errors.New("want principals, options and a key")
	}
	principals = strings.Trim(principals, `"`)
	key, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(rest)))
	if err != nil {
		return signer{}, fmt.Errorf("key: %w", err)
	}
	s := signer{principals: strings.Split(principals, ","), key: key}
	for _, o := range opts {
		name, v, _ := strings.Cut(o, "=")
		v = strings.Trim(v, `"`)
		switch strings.ToLower(name) {
		case "namespaces":
			s.namespaces = strings.Split(v, ",")
		case "valid-after":
			if s.after, err = signerTime(v); err != nil {
				return signer{}, fmt.Errorf("valid-after: %w", err)
			}
		case "valid-before":
			if s.before, err = signerTime(v); err != nil {
				return signer{}, fmt.Errorf("valid-before: %w", err)
			}
		case "cert-authority":
			return signer{}, errors.New("cert-authority lines are not supported")
		default:
			return signer{}, fmt.Errorf("unknown option %q", name)
		}
	}
	return s, nil
}

// signerTime reads ssh-keygen's YYYYMMDD[HHMM[SS]][Z] times (UTC when
// suffixed Z, else the local time zone, as ssh-keygen does).
func signerTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") {
		v, loc = strings.TrimSuffix(v, "Z"), time.UTC
	}
	for _, layout := range []string{"20060102150405", "200601021504", "20060102"} {
		if len(v) == len(layout) {
			return time.ParseInLocation(layout, v, loc)
		}
	}
	return time.Time{}, fmt.Errorf("want YYYYMMDD[HHMM[SS]][Z]: %q", v)
}

// sshsig is the wire form of an SSH signature (PROTOCOL.sshsig) after
// its magic preamble.
type sshsig struct {
	Version   uint32
	PublicKey []byte
	Namespace string
	Reserved  string
	HashAlg   string
	Signature []byte
}

// signedData is what the key signs: the preamble and these fields.
type signedData struct {
	Namespace string
	Reserved  string
	HashAlg   string
	Hash      []byte
}

const sigMagic = "SSHSIG"

// Verify verifies an armored SSH signature (-----BEGIN SSH SIGNATURE-----)
// over st's bytes in the namespace agentledger-approval, and that its key
// is allowed for st.Approver at time at (the approval's time). A verified
// statement that expired before used (zero: not checked) is
// StatusExpired.
func (a *AllowedSigners) Verify(st Statement, armored string, at, used time.Time) Result {
	if strings.TrimSpace(armored) == "" {
		return Result{Status: StatusUnsigned}
	}
	msg, err := st.Bytes()
	if err != nil {
		return Result{Status: StatusMalformed, Err: err}
	}
	sig, key, sshSig, err := parseArmored(armored)
	if err != nil {
		return Result{Status: StatusMalformed, Err: err}
	}
	res := Result{Key: ssh.FingerprintSHA256(key)}
	if sig.Namespace != Namespace {
		res.Status, res.Err = StatusBadSignature, fmt.Errorf("namespace %q, want %q", sig.Namespace, Namespace)
		return res
	}
	var h []byte
	switch sig.HashAlg {
	case "sha512":
		s := sha512.Sum512(msg)
		h = s[:]
	case "sha256":
		s := sha256.Sum256(msg)
		h = s[:]
	default:
		res.Status, res.Err = StatusMalformed, fmt.Errorf("hash algorithm %q", sig.HashAlg)
		return res
	}
	data := append([]byte(sigMagic), ssh.Marshal(signedData{Namespace: sig.Namespace, Reserved: sig.Reserved, HashAlg: sig.HashAlg, Hash: h})...)
	if err := key.Verify(data, sshSig); err != nil {
		res.Status, res.Err = StatusBadSignature, err
		return res
	}
	known := false
	for _, s := range a.signers {
		if !bytes.Equal(s.key.Marshal(), key.Marshal()) {
			continue
		}
		known = true
		if !s.allows(st.Approver, at) {
			continue
		}
		res.Signer = st.Approver
		res.Status = StatusVerified
		if !used.IsZero() && used.After(st.Expires) {
			res.Status = StatusExpired
		}
		return res
	}
	if known {
		res.Status, res.Err = StatusWrongSigner, fmt.Errorf("key %s is not allowed for %q", res.Key, st.Approver)
	} else {
		res.Status, res.Err = StatusUnknownKey, fmt.Errorf("key %s is in no allowed-signers line", res.Key)
	}
	return res
}

// allows reports whether the line allows principal to sign approvals at t.
func (s signer) allows(principal string, t time.Time) bool {
	if len(s.namespaces) > 0 && !matchAny(s.namespaces, Namespace) {
		return false
	}
	if !s.after.IsZero() && t.Before(s.after) || !s.before.IsZero() && !t.Before(s.before) {
		return false
	}
	return matchAny(s.principals, principal)
}

// matchAny matches name against ssh-style patterns (* and ?); a pattern
// starting with ! negates and wins.
func matchAny(patterns []string, name string) bool {
	ok := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if m, _ := path.Match(strings.TrimPrefix(p, "!"), name); m {
			if neg {
				return false
			}
			ok = true
		}
	}
	return ok
}

// parseArmored decodes an armored SSH signature.
func parseArmored(armored string) (sshsig, ssh.PublicKey, *ssh.Signature, error) {
	if len(armored) > MaxSignatureBytes {
		return sshsig{}, nil, nil, fmt.Errorf("signature over %d bytes", MaxSignatureBytes)
	}
	const begin, end = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
	s := strings.TrimSpace(armored)
	if !strings.HasPrefix(s, begin) || !strings.HasSuffix(s, end) {
		return sshsig{}, nil, nil, errors.New("want an armored SSH signature")
	}
	body := strings.Join(strings.Fields(s[len(begin):len(s)-len(end)]), "")
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return sshsig{}, nil, nil, fmt.Errorf("signature: %w", err)
	}
	if !bytes.HasPrefix(raw, []byte(sigMagic)) {
		return sshsig{}, nil, nil, errors.New("signature: no SSHSIG preamble")
	}
	var sig sshsig
	if err := ssh.Unmarshal(raw[len(sigMagic):], &sig); err != nil {
		return sshsig{}, nil, nil, fmt.Errorf("signature: %w", err)
	}
	if sig.Version != 1 {
		return sshsig{}, nil, nil, fmt.Errorf("signature version %d, want 1", sig.Version)
	}
	key, err := ssh.ParsePublicKey(sig.PublicKey)
	if err != nil {
		return sshsig{}, nil, nil, fmt.Errorf("signature key: %w", err)
	}
	var sshSig ssh.Signature
	if err := ssh.Unmarshal(sig.Signature, &sshSig); err != nil {
		return sshsig{}, nil, nil, fmt.Errorf("signature blob: %w", err)
	}
	return sig, key, &sshSig, nil
}

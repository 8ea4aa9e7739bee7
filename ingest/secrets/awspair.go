package secrets

import "strings"

const (
	// pairWindow is how far from an AWS access key ID, in bytes of the redacted text, its
	// secret access key is looked for.
	pairWindow = 100
	// awsSecretLen is the length of an AWS secret access key.
	awsSecretLen = 40
	// RuleNearAccessKeyID is the Rule of a [KindAWSSecretAccessKey] finding that was
	// recognised by an access key ID next to it rather than by its key word.
	RuleNearAccessKeyID = "near_access_key_id"
)

// addKeyID records the AWS access key ID id, found at s[i], at its place in the redacted
// text.
func (sc *scanner) addKeyID(i int, id string) {
	k := keyIDAt{pos: i, id: id}
	if sc.changed {
		k.pos = sc.out.Len() + i - sc.last
	}
	if sc.nKeyIDs < len(sc.keyIDBuf) {
		sc.keyIDBuf[sc.nKeyIDs] = k
	} else {
		sc.keyIDs = append(sc.keyIDs, k)
	}
	sc.nKeyIDs++
}

// keyID returns the n-th access key ID that addKeyID recorded.
func (sc *scanner) keyID(n int) keyIDAt {
	if n < len(sc.keyIDBuf) {
		return sc.keyIDBuf[n]
	}
	return sc.keyIDs[n-len(sc.keyIDBuf)]
}

// pairSecretKeys redacts, in t, the redacted text, the AWS secret access keys written
// bare next to the access key IDs that the scan found: a candidate (see awsSecretAt) that
// starts within pairWindow bytes after an ID's end, or that ends within pairWindow bytes
// before its start, as in "AKIA… / wJalr…", the credentials CSV "AKIA…,wJalr…" or the
// prompts of aws configure. A candidate between two IDs goes with the one before it. It
// works on the redacted text so that what the scan replaced is not looked at again, and
// so that redacting twice changes nothing: the windows of a second pass cover no more
// than those of the first, as fingerprints are longer than the keys they replace.
func (sc *scanner) pairSecretKeys(t string) string {
	var b strings.Builder
	last := 0 // t[:last] is in b
	replace := func(j int, id string) {
		secret := t[j : j+awsSecretLen]
		f := Finding{Kind: KindAWSSecretAccessKey, Rule: RuleNearAccessKeyID, Fingerprint: sc.r.Fingerprint(secret), CredentialID: id}
		if b.Len() == 0 {
			b.Grow(len(t) + len(f.Fingerprint))
		}
		b.WriteString(t[last:j])
		b.WriteString(f.Fingerprint)
		last = j + awsSecretLen
		if sc.collect {
			sc.raw = append(sc.raw, secret)
		}
		sc.add(f)
	}
	prev := 0 // the end of the previous ID
	for n := range sc.nKeyIDs {
		k := sc.keyID(n)
		end, next := k.pos+len(k.id), len(t)
		if n+1 < sc.nKeyIDs {
			next = sc.keyID(n + 1).pos
		}
		// Before the ID, after the previous one and what was already looked at.
		for j := max(last, prev, k.pos-pairWindow-awsSecretLen); j+awsSecretLen <= k.pos; j++ {
			if awsSecretAt(t, j) {
				replace(j, k.id)
				j = last - 1
			}
		}
		// After it, before the next ID.
		for j := max(last, end); j <= end+pairWindow && j+awsSecretLen <= next; j++ {
			if awsSecretAt(t, j) {
				replace(j, k.id)
				j = last - 1
			}
		}
		prev = end
	}
	if last == 0 {
		return t
	}
	sc.changed = true
	b.WriteString(t[last:])
	return b.String()
}

// awsSecretAt reports whether an AWS secret access key may start at t[j]: exactly 40
// characters of [A-Za-z0-9+/], not preceded by one (but after a JSON or URL escape), not
// followed by one, by padding or by a name (but a full stop that ends a sentence), with
// an upper-case and a lower-case letter, a digit and a character that is not a hex digit.
// Keys are random, so a real one lacks a digit only about once in a thousand; git SHAs
// and other hex digests never qualify.
func awsSecretAt(t string, j int) bool {
	end := j + awsSecretLen
	if end > len(t) || byteClass[t[j]]&bB64 == 0 ||
		j > 0 && byteClass[t[j-1]]&bB64 != 0 && !escapedBefore(t, j) ||
		end < len(t) && byteClass[t[end]]&bB64Pad != 0 ||
		spanMax(t, j, bB64, awsSecretLen) != end ||
		strings.HasPrefix(t[end-len("hmac"):], fingerprintPrefix) {
		return false
	}
	// Nor may it be glued to a name (…KEY-Cookie: …), so that what the scan took for a
	// key stays the same when a second pass sees a fingerprint in its place.
	if end < len(t) && byteClass[t[end]]&bDotted != 0 &&
		(t[end] != '.' || end+1 < len(t) && byteClass[t[end+1]]&bDotted != 0) {
		return false
	}
	var upper, lower, digit, nonHex bool
	for i := j; i < end; i++ {
		switch c := t[i]; {
		case 'A' <= c && c <= 'Z':
			upper = true
		case 'a' <= c && c <= 'z':
			lower = true
		case '0' <= c && c <= '9':
			digit = true
		}
		nonHex = nonHex || byteClass[t[i]]&bHex == 0
	}
	return upper && lower && digit && nonHex
}

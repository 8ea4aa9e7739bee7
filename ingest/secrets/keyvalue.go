package secrets

import (
	"crypto/sha256"
	"encoding/json"
	"net/url"
	"strings"
)

const (
	// maxKeyLen is the longest key of a key=value pair that is looked at: of a longer run
	// of name bytes, the last maxKeyLen.
	maxKeyLen = 128
	// maxValueLen is the longest value of a key=value pair that is looked at.
	maxValueLen = 4096
	// minValueLen is the length of the shortest value that is taken for a secret.
	minValueLen = 8
)

// keyValue redacts the value of a pair whose separator, ':' or '=', is s[i] and whose key
// is a secret name: key=value, key: value, "key": "value", 'key' => 'value', key := "v",
// also with the quotes of a JSON string escaped (\"key\": \"value\"). It returns the
// index after the value, or -1. It runs at every ':' and '=' of a text, so it first rules
// out, cheaply, a short key, a short value and a key without a secret word.
func (sc *scanner) keyValue(i int) int {
	s := sc.s
	sep := s[i]
	if sep == ':' && strings.HasPrefix(s[i+1:], "//") {
		return sc.userinfo(i + 3)
	}
	// "key", "value" outside a call's arguments, as in a list, needs a token-shaped value.
	looseComma := sep == ',' && !callKey(s, i)
	// The end of the key: before the separator, perhaps the rest of an assignment
	// operator (::=, ?=, .=, +=), perhaps a closing quote, perhaps spaces.
	ke := i
	if sep == '=' {
		for n := 0; n < 3 && ke > 0 && assignOp[s[ke-1]]; n++ {
			ke--
		}
	}
	for n := 0; n < 4 && ke > 0 && (s[ke-1] == ' ' || s[ke-1] == '\t'); n++ {
		ke--
	}
	quoted := ke > 0 && (s[ke-1] == '"' || s[ke-1] == '\'')
	if quoted {
		ke--
		if ke > 0 && s[ke-1] == '\\' {
			ke--
		}
	} else if sep == '=' {
		ke = skipTypeName(s, ke)
	}
	if sep == ',' && !quoted {
		return -1
	}
	// A key needs at least minLen name bytes.
	minLen := sc.r.names.minLen
	if ke < minLen {
		return -1
	}
	for j := ke - minLen; j < ke; j++ {
		if byteClass[s[j]]&bDotted == 0 {
			return -1
		}
	}
	// The value, which is most often too short.
	v := i + 1
	doubleEq := false // KEY==value, a value that starts with '='
	switch {
	case v == len(s):
		return -1
	case sep == '=' && s[v] == '=':
		if ke < i || v+1 == len(s) || s[v+1] == '=' || byteClass[s[v+1]]&bValEnd != 0 {
			return -1 // token == "…" compares
		}
		doubleEq = true
	case sep == '=' && s[v] == '>': // 'password' => '…'
		v++
	case sep == '=' && strings.HasPrefix(s[v:], `\u003e`): // => in a JSON string
		v += len(`\u003e`)
	case sep == ':' && s[v] == '=': // token := "…"
		sep = '='
		v++
	case sep == ':' && s[v] == ':': // TOKEN ::= "…" is looked at from its '='
		return -1
	}
	for n := 0; n < 8 && v < len(s) && (s[v] == ' ' || s[v] == '\t'); n++ {
		v++
	}
	var val value
	if !val.begin(s, v) || sep == ':' && v == i+1 && !quoted && val.quote == 0 || sep == ',' && val.quote == 0 {
		// key:value without a space or a quote is a URN, an ARN, host:port, s3:Action…
		return -1
	}
	// The key: at most maxKeyLen bytes, and none of a secret replaced before it or of a
	// fingerprint, so that a second pass over the redacted text sees the same key.
	ks := max(ke-minLen, sc.last)
	for lo := max(ke-maxKeyLen, sc.last); ks > lo && byteClass[s[ks-1]]&bDotted != 0; {
		ks--
	}
	if f := ks - len(fingerprintPrefix); f >= 0 && ke-ks > 2*sha256.Size && isFingerprint(s[f:ks+2*sha256.Size]) {
		ks += 2 * sha256.Size
	}
	if ks > ke {
		return -1
	}
	for ks < ke && s[ks] == '-' { // --token=…
		ks++
	}
	if !sc.r.names.mayMatch(s[ks:ke]) || !val.finish(s, &sc.run) {
		return -1
	}
	if (looseComma || doubleEq) && !tokenShaped(s[val.start:val.end]) {
		return -1
	}
	val.query = ks > 0 && sep == '=' && strings.IndexByte("?&;#", s[ks-1]) >= 0
	for j := ks + 1; j < ke; j++ { // \nPASSWORD=…
		if escapedBefore(s, j) {
			ks = j
		}
	}
	rule, ok := sc.r.names.match(s[ks:ke])
	if !ok || rule == "key" && sc.nKeyIDs > 0 && val.end-val.start == 40 {
		// id=AKIA…&key=<40 characters> is left to pairSecretKeys, which names the ID
		return -1
	}
	if namesItself(s[ks:ke], s[val.start:val.end]) {
		return -1 // TokenField = "token_field": a constant named after its value
	}
	return sc.secretValue(val, sep, rule)
}

// element redacts the content of an XML element whose name is secret,
// <apiToken>value</apiToken>, also on lines of its own, whose start tag ends at s[i]:
// at '>', or at the \u003e that stands for it in a JSON string (which escapes < and >
// so). It returns the index after the value, or -1.
func (sc *scanner) element(i int) int {
	s := sc.s
	lt, gt, closing := "<", ">", "</"
	if s[i] == '\\' {
		lt, gt, closing = `\u003c`, `\u003e`, `\u003c/`
		if !strings.HasPrefix(s[i:], gt) {
			return -1
		}
	}
	if i == 0 || byteClass[s[i-1]]&bDotted == 0 {
		return -1
	}
	lo := max(0, i-maxKeyLen-len(lt))
	ns := strings.LastIndex(s[lo:i], lt)
	if ns < 0 {
		return -1
	}
	ns += lo + len(lt)
	if i-ns < sc.r.names.minLen || !allOf(s[ns:i], bDotted) || !sc.r.names.mayMatch(s[ns:i]) {
		return -1
	}
	v := skipSpace(s, i+len(gt))
	var val value
	if !val.begin(s, v) || val.quote != 0 || !val.finish(s, &sc.run) {
		return -1
	}
	if !strings.HasPrefix(s[skipSpace(s, val.next):], closing) {
		return -1
	}
	rule, ok := sc.r.names.match(s[ns:i])
	if !ok {
		return -1
	}
	return sc.secretValue(val, '=', rule)
}

// skipSpace returns the index after the spaces, line breaks and their JSON escapes (\n,
// \t) that start at s[i], at most 64 bytes of them.
func skipSpace(s string, i int) int {
	for end := min(len(s), i+64); i < end; i++ {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r':
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == 'n' || s[i+1] == 't' || s[i+1] == 'r'):
			i++
		default:
			return i
		}
	}
	return i
}

// urlKeyValue redacts the value of a secret-named key=value or key: value that is
// itself URL-encoded, as in a query parameter that carries text (note=api_token%3D…,
// %22token%22%3A+%22…%22), whose encoded separator, %3D or %3A, starts at s[i]. It
// returns the index after the value, or -1. The fingerprint is of the decoded value.
func (sc *scanner) urlKeyValue(i int) int {
	s := sc.s
	if i+3 > len(s) || s[i+1] != '3' || s[i+2]|0x20 != 'd' && s[i+2]|0x20 != 'a' {
		return -1
	}
	// The key, before any encoded assignment operator (%3A%3D is :=), spaces (+) and
	// closing quote (%22).
	ke := i
	for n := 0; n < 3 && ke > 0; n++ {
		if ke >= 3 && s[ke-3] == '%' && encodedOp(s[ke-2], s[ke-1]) {
			ke -= 3
		} else if assignOp[s[ke-1]] {
			ke--
		} else {
			break
		}
	}
	for n := 0; n < 4 && ke > 0 && s[ke-1] == '+'; n++ {
		ke--
	}
	if ke >= 3 && s[ke-3] == '%' && (s[ke-2:ke] == "22" || s[ke-2:ke] == "27") {
		ke -= 3
	} else {
		for _, t := range typeNames { // var+apiToken+string+%3D
			if k := ke - len(t); k > 1 && s[k-1] == '+' && s[k:ke] == t {
				ke = k - 1
				break
			}
		}
	}
	ks := ke
	for lo := max(sc.last, ke-maxKeyLen); ks > lo && byteClass[s[ks-1]]&bDotted != 0; {
		ks--
	}
	if ks == ke || !sc.r.names.mayMatch(s[ks:ke]) {
		return -1
	}
	rule, ok := sc.r.names.match(s[ks:ke])
	if !ok {
		return -1
	}
	// The value, after spaces, an encoded '>' of =>, and an opening quote.
	v := i + 3
	if s[i+2]|0x20 == 'a' && v+3 <= len(s) && s[v] == '%' && encodedOp(s[v+1], s[v+2]) {
		return -1 // %3A%3A%3D, ::=, is looked at from its %3D
	}
	if s[i+2]|0x20 == 'a' && hasPrefixFold(s[v:], "%3d") {
		return -1
	}
	for n := 0; n < 8 && v < len(s); n++ {
		switch {
		case s[v] == '+':
			v++
			continue
		case strings.HasPrefix(s[v:], "%20"), n == 0 && s[i+2]|0x20 == 'd' && hasPrefixFold(s[v:], "%3e"):
			v += 3
			continue
		}
		break
	}
	quote := ""
	if v+3 <= len(s) && s[v] == '%' && (s[v+1:v+3] == "22" || s[v+1:v+3] == "27" || s[v+1:v+3] == "60") {
		quote = s[v : v+3]
		v += 3
	}
	end := v
	for end < len(s) && end-v < maxValueLen {
		c := s[end]
		if c <= ' ' || c == '&' || c == '#' || c == '"' || c == '\'' || c == '<' || c == '>' || quote == "" && c == '+' ||
			c == '%' && end+3 <= len(s) && (quote != "" && s[end:end+3] == quote || quote == "" && encodedSep(s[end+1], s[end+2])) {
			break
		}
		end++
	}
	next := end
	if quote != "" && strings.HasPrefix(s[end:], quote) {
		next += 3
	}
	val := value{start: v, end: end, next: next, query: true}
	if end-v < minValueLen {
		return -1
	}
	return sc.secretValue(val, '=', rule)
}

// encodedOp reports whether %ab encodes a byte of an assignment operator: ':', '?',
// '.', '+' or '|'.
func encodedOp(a, b byte) bool {
	switch string([]byte{a, b | 0x20}) {
	case "3a", "3f", "2e", "2b", "7c":
		return true
	}
	return false
}

// encodedSep reports whether %ab encodes a byte that ends a bare value: a quote, a
// space or line break, or one of ,;&<>)]}\.
func encodedSep(a, b byte) bool {
	switch string([]byte{a, b | 0x20}) {
	case "22", "27", "60", "20", "0a", "0d", "09", "2c", "3b", "26", "3c", "3e", "29", "5d", "7d", "5c":
		return true
	}
	return false
}

// maxUserinfo is the longest user:password of a URL or of curl -u that is looked at.
const maxUserinfo = 256

// userinfo redacts the password of a URL's user:password@ that starts at s[j], after
// "scheme://", as in postgres://app:pass@db/orders, and returns the index after it, or
// -1.
func (sc *scanner) userinfo(j int) int {
	s := sc.s
	colon := -1
	for k := j; k < len(s) && k-j < maxUserinfo; k++ {
		switch c := s[k]; {
		case c == ':' && colon < 0:
			colon = k
		case c == '@':
			if colon < 0 {
				return -1
			}
			return sc.password(colon+1, k)
		case c <= ' ' || strings.IndexByte("/?#\"'<>\\`", c) >= 0:
			return -1
		}
	}
	return -1
}

// curlUser redacts the password of curl's -u user:password, whose value starts at
// s[v], and returns the index after it, or -1. The user and the password may be quoted
// together ("user:password") or each on its own ("user":"password", user:'password').
// An API key as the user with no password ("key:") is redacted as the password.
func (sc *scanner) curlUser(v int) int {
	s := sc.s
	if v >= len(s) {
		return -1
	}
	u, colon := v, -1
	if q := s[v]; q == '"' || q == '\'' {
		u++
		ue := quotedEnd(s, u, q)
		if ue < 0 {
			return -1
		}
		if c := strings.IndexByte(s[u:ue], ':'); c >= 0 { // "user:password"
			return sc.userPassword(u, u+c, ue, ue+1)
		}
		if ue+1 == len(s) || s[ue+1] != ':' {
			return -1
		}
		colon = ue + 1
	} else {
		colon = u
		for colon < len(s) && s[colon] != ':' && byteClass[s[colon]]&bValEnd == 0 {
			colon++
		}
		if colon == len(s) || s[colon] != ':' {
			return -1
		}
	}
	p := colon + 1
	if p < len(s) && (s[p] == '"' || s[p] == '\'') {
		pe := quotedEnd(s, p+1, s[p])
		if pe < 0 {
			return -1
		}
		if sc.password(p+1, pe) < 0 {
			return -1
		}
		return pe + 1
	}
	pe := p
	for pe < len(s) && pe-p < maxUserinfo && byteClass[s[pe]]&bValEnd == 0 {
		pe++
	}
	return sc.userPassword(u, colon, pe, pe)
}

// userPassword redacts the password of user:password, s[colon+1:end], or the user
// s[u:colon] if there is no password and it is long enough for an API key. It returns
// next, or -1.
func (sc *scanner) userPassword(u, colon, end, next int) int {
	if colon+1 == end {
		if colon-u < minValueLen || sc.password(u, colon) < 0 {
			return -1
		}
		return next
	}
	if sc.password(colon+1, end) < 0 {
		return -1
	}
	return next
}

// password redacts s[start:end], the password of a URL or of curl -u, unless it is too
// short, a number, a placeholder or a fingerprint. It returns end, or -1.
func (sc *scanner) password(start, end int) int {
	pw, next := sc.s[start:end], end
	if isFingerprint(pw) {
		return end
	}
	if n := len(pw); n > minValueLen+2 && pw[0] == '{' && pw[n-1] == '}' && isMixed(pw) &&
		!strings.ContainsAny(pw[1:n-1], "{}$ ") {
		// {ZqL5kVrX1n8tA2}: a password in braces, not a {placeholder}
		start, end, pw = start+1, end-1, pw[1:n-1]
	}
	if len(pw) < 3 || isDigits(pw) || strings.Trim(pw, "*x") == "" || strings.IndexByte("$<{%[", pw[0]) >= 0 ||
		strings.Contains(pw, fingerprintPrefix) {
		return -1
	}
	sc.replace(start, end, Finding{Kind: KindSecretAttribute, Rule: RuleURLPassword}, pw)
	return next
}

// flag redacts the value of a command-line flag whose name is secret, "--password value",
// at s[i]; --password=value is left to keyValue. It returns the index after the value, or
// -1.
func (sc *scanner) flag(i int) int {
	s := sc.s
	if i > 0 && byteClass[s[i-1]]&bDotted != 0 && !escapedBefore(s, i) {
		return -1
	}
	n := i + 2
	if n < len(s) && s[i+1] == 'u' && s[n] == ' ' { // curl -u user:password
		return sc.curlUser(skipSpace(s, n))
	}
	if strings.HasPrefix(s[i:], "--user ") {
		return sc.curlUser(skipSpace(s, i+len("--user ")))
	}
	if n >= len(s) || s[i+1] != '-' || byteClass[s[n]]&bAlpha == 0 {
		return -1
	}
	e := n
	for e < len(s) && byteClass[s[e]]&bDotted != 0 {
		if e-n == maxKeyLen {
			return -1
		}
		e++
	}
	if e == len(s) || s[e] != ' ' && s[e] != '\t' || !sc.r.names.mayMatch(s[n:e]) {
		return -1
	}
	v := e
	for k := 0; k < 8 && v < len(s) && (s[v] == ' ' || s[v] == '\t'); k++ {
		v++
	}
	if v == len(s) || s[v] == '-' { // another flag
		return -1
	}
	var val value
	if !val.begin(s, v) || !val.finish(s, &sc.run) {
		return -1
	}
	rule, ok := sc.r.names.match(s[n:e])
	if !ok {
		return -1
	}
	// The name is skipped with its value, so look at it first: it may hold a token, or,
	// as in --secret-key <40 characters>, the key word of an AWS secret access key.
	if end := sc.scanRange(n, e); end > e {
		return end
	}
	if end := sc.secretValue(val, ' ', rule); end > 0 {
		return end
	}
	return e // the name was looked at

}

// value is the value of a key=value pair.
type value struct {
	start, end int    // of the credential, after any scheme
	next       int    // index after the value and its closing quote
	quote      byte   // '"' or '\'' for a quoted value, '\\' for \"value\", 0 for a bare one
	scheme     string // "bearer", "basic", "token" or ""
	query      bool   // a URL query parameter
}

// begin begins to parse the value that starts at s[v]: a quoted string's content, or
// else a run of bytes up to a space, a quote or one of ,;&\<>)]}. A scheme (Bearer, Basic,
// token) before the credential is left out of it. It reports false if the credential
// ends within minValueLen bytes; finish finds its end.
func (val *value) begin(s string, v int) bool {
	if v >= len(s) {
		return false
	}
	start, q := v, byte(0)
	switch c := s[v]; {
	case c == '"' || c == '\'' || c == '`':
		start, q = v+1, c
	case c == '\\' && v+1 < len(s) && s[v+1] == '"':
		start, q = v+2, c
	}
	// The scheme, as in Authorization: Bearer <token>.
	scheme := ""
	if start < len(s) && schemeStart[s[start]] {
		for _, w := range authSchemes {
			t := start + len(w)
			if t < len(s) && (s[t] == ' ' || s[t] == '\t') && hasPrefixFold(s[start:], w) {
				for t < len(s) && (s[t] == ' ' || s[t] == '\t') {
					t++
				}
				start, scheme = t, w
				break
			}
		}
	}
	end := start + minValueLen
	if end > len(s) {
		return false
	}
	if q == 0 {
		for j := start; j < end; j++ {
			if byteClass[s[j]]&bValEnd != 0 {
				return false
			}
		}
	} else {
		for j := start; j < end; j++ {
			switch c := s[j]; {
			case c == '\n' || c == q && q != '\\' || c == '"' && q == '\\':
				return false
			case c == '\\':
				if q == '\\' && j+1 < len(s) && s[j+1] == '"' {
					return false
				}
				j++
			}
		}
	}
	*val = value{start: start, quote: q, scheme: scheme}
	return true
}

// finish finds the end of the value that begin began, and reports whether the
// credential is at least minValueLen bytes long and at most maxValueLen. run caches
// the extent of the last bare run measured, so each byte is measured once. A quoted string that does not end on its
// line (a text cut short) is taken as a bare value, unless the line holds a fingerprint:
// then the quote may have ended in a private key that was redacted.
func (val *value) finish(s string, run *valueRun) bool {
	e := -1
	switch val.quote {
	case '"', '\'', '`':
		e = quotedEnd(s, val.start, val.quote)
		val.end, val.next = e, e+1
	case '\\':
		e = escapedQuotedEnd(s, val.start)
		val.end, val.next = e, e+2
	}
	if val.quote != 0 && e < 0 {
		line := s[val.start:min(len(s), val.start+maxValueLen)]
		if n := strings.IndexByte(line, '\n'); n >= 0 {
			line = line[:n]
		}
		if strings.Contains(line, fingerprintPrefix) {
			return false
		}
		val.quote = 0
	}
	if val.quote == 0 {
		var e int
		if run.ok && run.from <= val.start && val.start <= run.end {
			e = run.end
		} else {
			e = val.start
			for e < len(s) && byteClass[s[e]]&bValEnd == 0 {
				e++
			}
			*run = valueRun{ok: true, from: val.start, end: e}
		}
		if e-val.start > maxValueLen {
			return false
		}
		for e > val.start && s[e-1] == '.' {
			e--
		}
		val.end, val.next = e, e
	}
	return val.end-val.start >= minValueLen
}

// quotedEnd returns the index of the quote q that ends the string whose content starts at
// s[i], or -1 if it does not end on the same line within maxValueLen bytes.
func quotedEnd(s string, i int, q byte) int {
	for j := i; j < len(s) && j-i < maxValueLen; j++ {
		switch s[j] {
		case q:
			return j
		case '\\':
			j++
		case '\n':
			return -1
		}
	}
	return -1
}

// escapedQuotedEnd is quotedEnd for a string inside a JSON string, which starts and ends
// with \": it returns the index of the backslash of the closing \".
func escapedQuotedEnd(s string, i int) int {
	for j := i; j+1 < len(s) && j-i < maxValueLen; j++ {
		switch s[j] {
		case '\\':
			switch {
			case s[j+1] == '"':
				return j
			case strings.HasPrefix(s[j+1:], `\\"`): // \\\" is a quote inside the string
				j += 3
			default:
				j++
			}
		case '\n':
			return -1
		}
	}
	return -1
}

// assignOp are the bytes of an assignment operator before its '=': ::=, ?=, .=, +=, |=.
var assignOp = [256]bool{':': true, '?': true, '.': true, '+': true, '|': true}

// schemeStart are the first bytes of authSchemes, in either case.
var schemeStart = func() (t [256]bool) {
	for _, w := range authSchemes {
		t[w[0]], t[w[0]-'a'+'A'] = true, true
	}
	return t
}()

// callKey reports whether the ',' at s[i] follows a quoted name that is the first
// argument of a call, as in setProperty("KEY", "value"): the only "key", "value" pairs
// that are looked at.
func callKey(s string, i int) bool {
	if i < 4 || s[i-1] != '"' && s[i-1] != '\'' {
		return false
	}
	j, esc := i-2, s[i-2] == '\\' // \"KEY\", \"value\" in a JSON string
	if esc {
		j--
	}
	for j >= 0 && i-j <= maxKeyLen && byteClass[s[j]]&bDotted != 0 {
		j--
	}
	if esc {
		return j >= 2 && s[j] == '"' && s[j-1] == '\\' && s[j-2] == '('
	}
	return j >= 1 && j < i-2 && s[j] == s[i-1] && s[j-1] == '('
}

// typeNames are the type names that may stand between a variable and its value, as in
// var apiToken string = "…" or String apiToken = "…" ("String" is a key there).
var typeNames = [...]string{"string", "String", "str"}

// skipTypeName returns the end of the key of a declaration whose key word ends at
// s[ke]: before the type name and spaces of "var name string", or ke itself.
func skipTypeName(s string, ke int) int {
	for _, t := range typeNames {
		k := ke - len(t)
		if k > 1 && s[k-1] == ' ' && s[k:ke] == t && byteClass[s[k-2]]&bDotted != 0 {
			return k - 1
		}
	}
	return ke
}

// secretValue redacts val, the value of a key whose name matched rule. A value that is
// itself a JWT, a private key, a prefixed token or a Bearer or Basic credential is reported
// as such. sep is the separator: '=', ':' or ' ' for a flag.
func (sc *scanner) secretValue(val value, sep byte, rule string) int {
	s := sc.s
	tok := s[val.start:val.end]
	if strings.HasPrefix(s[val.start:], "-----") {
		if end := sc.privateKey(val.start); end > 0 {
			return max(end, val.next)
		}
		return -1
	}
	if isFingerprint(tok) {
		return val.next
	}
	if strings.Contains(tok, fingerprintPrefix) || strings.Contains(tok, "-----BEGIN") {
		return -1 // redacted already, in part; or the start of a private key block
	}
	f := Finding{Kind: KindSecretAttribute, Rule: rule}
	if j, ok := parseJWT(s[:val.end], val.start); ok && j.end == val.end {
		f.Kind, f.Rule, f.Claims = KindJWT, j.rule, j.claims
		if j.claims != nil {
			f.CredentialID = j.claims.JTI
		}
	} else if p, ok := matchPrefix(s[:val.end], val.start); ok && p.end == val.end {
		if p.kind == KindAWSAccessKeyID {
			return -1 // not a secret; the scan reports it
		}
		f.Kind, f.Rule = p.kind, p.rule
	} else if val.scheme == "bearer" && isBearerToken(tok) {
		f.Kind, f.Rule = KindBearer, "bearer"
	} else if val.scheme == "basic" && isBasicCredential(tok) {
		f.Kind, f.Rule = KindBearer, "basic"
	} else if !secretShaped(tok, val.quote == 0, val.scheme != "" || sep == '=') || !shapeOK(rule, tok) ||
		(rule == credentialPattern || rule == credsPattern) && !tokenShaped(tok) {
		// In text, a *credential* name holds a credential's ID or file as often as the
		// credential (--credential jti-7f3a); an attribute of that name is secret whole.
		return -1
	}
	secret := tok
	switch {
	case val.quote == '"' && strings.IndexByte(tok, '\\') >= 0:
		var u string
		if json.Unmarshal([]byte(`"`+tok+`"`), &u) == nil {
			secret = u
		}
	case val.query && strings.ContainsAny(tok, "%+"):
		if u, err := url.QueryUnescape(tok); err == nil {
			secret = u
		}
	}
	sc.replace(val.start, val.end, f, secret)
	return val.next
}

// secretShaped reports whether v, the value of a secret-named key, may be a secret rather
// than a number, a date, a boolean, a placeholder ($VAR, <token>, {{ var }}, %VAR%), a
// masked or redacted value, a URL, or a file path. A bare (unquoted) value is not a
// secret either if it looks like code (a call, an index, a dotted name such as
// os.environ or config.token), and, unless words are allowed, if it is a single word of
// letters (prose such as "Token: Expired", type annotations such as "token: String").
func secretShaped(v string, bare, words bool) bool {
	if len(v) < minValueLen {
		return false
	}
	switch v[0] {
	case '$', '<', '{', '[', '(':
		return false
	case '%':
		if v[len(v)-1] == '%' {
			return false
		}
	}
	if strings.Contains(v, "://") || hasPrefixFold(v, "urn:") || strings.Contains(v, "***") {
		return false
	}
	var letters, others, digits, dots int
	same := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch cl := byteClass[c]; {
		case cl&bAlpha != 0:
			letters++
		case '0' <= c && c <= '9':
			digits++
		case c == '.':
			dots++
		case strings.IndexByte(",:/+-_ ", c) < 0:
			others++
		}
		same = same && c == v[0]
	}
	switch {
	case same:
		return false // ********, xxxxxxxx
	case letters == 0 && others == 0 && (len(v) < 24 || !isDigits(v)):
		return false // a number, a date, a time, an address, a version
	case len(v) >= 10 && isDigits(v[:4]) && v[4] == '-' && isDigits(v[5:7]) && v[7] == '-':
		return false // 2025-01-27T10:15:30Z
	}
	w := strings.Trim(v, "[]()")
	for _, word := range [...]string{"undefined", "redacted", "filtered", "omitted", "removed"} {
		if strings.EqualFold(w, word) { // true, false, null and none are too short
			return false
		}
	}
	if isPath(v) {
		return false // GOOGLE_APPLICATION_CREDENTIALS=/run/secrets/gcp.json
	}
	if dots > 0 && isAttrName(v) {
		return false // "credential.audience", "gen_ai.request.model": an attribute's name
	}
	if !bare {
		return true
	}
	if strings.ContainsAny(v, "([{") {
		return false // get_token(), os.environ["TOKEN"]
	}
	if dots > 0 && isDottedName(v) {
		return false // config.token, process.env.API_KEY, api.example.com
	}
	return words || letters != len(v) || randomLetters(v)
}

// namesItself reports whether value, of letters, digits and separators ('.', '-', '_'),
// is the end of key spelt another way, case and separators aside, as constants named
// after their values are (RefCredentialParent = "credential_parent").
func namesItself(key, value string) bool {
	var k, v [maxKeyLen]byte
	kn, vn := 0, 0
	for i := len(value) - 1; i >= 0; i-- {
		c := value[i]
		switch {
		case byteClass[c]&bAlnum != 0:
			if vn == len(v) {
				return false
			}
			v[vn] = c | 0x20
			vn++
		case byteClass[c]&bDotted == 0:
			return false
		}
	}
	for i := len(key) - 1; i >= 0 && kn < vn; i-- {
		if c := key[i]; byteClass[c]&bAlnum != 0 {
			k[kn] = c | 0x20
			kn++
		}
	}
	return vn > 0 && kn == vn && k == v
}

// isDigits reports whether s is all ASCII digits.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isDottedName reports whether v is names joined by dots: each a letter or '_' followed
// by letters, digits and '_', and none a run of 16 or more with a digit, which names
// seldom are and tokens such as pk.<random>.<random> are.
func isDottedName(v string) bool {
	for part := range strings.SplitSeq(v, ".") {
		if part == "" || '0' <= part[0] && part[0] <= '9' || !allOf(part, bWord) ||
			len(part) >= 16 && strings.ContainsAny(part, "0123456789") {
			return false
		}
	}
	return true
}

// isAttrName reports whether v is lower-case words joined by dots and underscores, as
// the names of OpenTelemetry attributes are.
func isAttrName(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 'a' || c > 'z') && c != '.' && c != '_' {
			return false
		}
	}
	return v[0] != '.' && v[len(v)-1] != '.' && !strings.Contains(v, "..")
}

// isPath reports whether v looks like a file path: it starts with /, ./, ../ or ~/ and
// has no upper-case letters, which random tokens almost always have, and neither an empty
// segment (//) nor = or +, which lower-case base64-like tokens have and paths seldom do
// (gitleaks' kraken-access-token examples, such as //tl=ar0x…).
func isPath(v string) bool {
	if v[0] != '/' && !strings.HasPrefix(v, "./") && !strings.HasPrefix(v, "../") && !strings.HasPrefix(v, "~/") {
		return false
	}
	if strings.Contains(v, "//") || strings.ContainsAny(v, "=+") {
		return false
	}
	for i := 0; i < len(v); i++ {
		if 'A' <= v[i] && v[i] <= 'Z' {
			return false
		}
	}
	return true
}

// isBearerToken reports whether t has the shape that "Bearer " in free text requires: at
// least 16 characters, with a letter and a digit.
func isBearerToken(t string) bool {
	var letter, digit bool
	for i := 0; i < len(t); i++ {
		letter = letter || byteClass[t[i]]&bAlpha != 0
		digit = digit || '0' <= t[i] && t[i] <= '9'
	}
	return len(t) >= 16 && letter && digit
}

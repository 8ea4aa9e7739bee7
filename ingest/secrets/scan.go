package secrets

import (
	"encoding/base64"
	"sort"
	"strings"
)

// Byte classes, one bit each in byteClass.
const (
	bAlnum   uint16 = 1 << iota // A-Z a-z 0-9
	bAlpha                      // A-Z a-z
	bB64URL                     // A-Z a-z 0-9 - _
	bB64                        // A-Z a-z 0-9 + /
	bB64Pad                     // A-Z a-z 0-9 + / =
	bHex                        // 0-9 A-F a-f
	bB32                        // A-Z 2-7
	bWord                       // A-Z a-z 0-9 _
	bDashed                     // A-Z a-z 0-9 -
	bDotted                     // A-Z a-z 0-9 - _ .
	bBearer                     // A-Z a-z 0-9 - . _ ~ + / (RFC 6750 b64token)
	bKeySep                     // what may stand between a key word and its value
	bMidWord                    // may start a secret inside a word
	bValEnd                     // ends a key's unquoted value
	bAzure                      // A-Z a-z 0-9 _ ~ .
	bGram                       // starts a key gram: a b c d e i j k m p r s t, either case
)

// byteClass maps each byte to its classes.
var byteClass = func() (t [256]uint16) {
	set := func(chars string, c uint16) {
		for i := 0; i < len(chars); i++ {
			t[chars[i]] |= c
		}
	}
	const (
		upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		lower  = "abcdefghijklmnopqrstuvwxyz"
		digits = "0123456789"
		alnum  = upper + lower + digits
	)
	set(alnum, bAlnum|bB64URL|bB64|bB64Pad|bWord|bDashed|bDotted|bBearer)
	set(upper+lower, bAlpha)
	set("-_", bB64URL)
	set("+/", bB64|bB64Pad)
	set("=", bB64Pad)
	set(digits+"ABCDEFabcdef", bHex)
	set(upper+"234567", bB32)
	set("_", bWord)
	set("-", bDashed)
	set("-_.", bDotted)
	set("-._~+/", bBearer)
	set(" \t\"'`:=>\\", bKeySep)
	set("sS-", bMidWord)
	for c := 0; c <= ' '; c++ {
		t[c] |= bValEnd
	}
	set("\x7f\"'`,;&\\<>)]}", bValEnd)
	set(alnum+"_~.", bAzure)
	set("abcdeijkmprstABCDEIJKMPRST", bGram)
	return t
}()

// span returns the index after the run of bytes of class c that starts at s[i].
func span(s string, i int, c uint16) int {
	for i < len(s) && byteClass[s[i]]&c != 0 {
		i++
	}
	return i
}

// spanMax is span that stops after max bytes.
func spanMax(s string, i int, c uint16, max int) int {
	end := min(len(s), i+max)
	for i < end && byteClass[s[i]]&c != 0 {
		i++
	}
	return i
}

// atBoundary reports whether a token may start at s[i]: at the start of s, after a byte
// outside class c, or right after a JSON or URL escape.
func atBoundary(s string, i int, c uint16) bool {
	return i == 0 || byteClass[s[i-1]]&c == 0 || escapedBefore(s, i)
}

// escapedBefore reports whether s[:i] ends with an escape that stands for a separator:
// \n, \r or \t of JSON, \uXXXX, or %XX of a URL.
func escapedBefore(s string, i int) bool {
	switch {
	case i >= 2 && s[i-2] == '\\' && (s[i-1] == 'n' || s[i-1] == 'r' || s[i-1] == 't'):
		return true
	case i >= 3 && s[i-3] == '%':
		return allOf(s[i-2:i], bHex)
	case i >= 6 && s[i-6] == '\\' && s[i-5] == 'u':
		return allOf(s[i-4:i], bHex)
	}
	return false
}

// allOf reports whether every byte of s is of class c.
func allOf(s string, c uint16) bool {
	return span(s, 0, c) == len(s)
}

// prefixRule recognises one family of tokens by its prefix: a compiled [PrefixRule].
type prefixRule struct {
	prefix   string
	kind     string // KindPrefixedToken or KindAWSAccessKeyID
	rule     string
	body     *[256]bool
	min, max int
	mixed    bool
	dots     bool // the body may hold '.', so a trailing full stop is left out
}

// compileClass returns the set of bytes of a class such as "A-Za-z0-9_-".
func compileClass(class string) *[256]bool {
	var set [256]bool
	for i := 0; i < len(class); i++ {
		if i+2 < len(class) && class[i+1] == '-' {
			for c := class[i]; c <= class[i+2]; c++ {
				set[c] = true
			}
			i += 2
			continue
		}
		set[class[i]] = true
	}
	return &set
}

// bodyEnd returns the index after the body of r that starts at s[i], or -1.
func (r *prefixRule) bodyEnd(s string, i int) int {
	limit := len(s)
	if r.max > 0 {
		limit = min(len(s), i+r.max+1)
	}
	end := i
	for end < limit && r.body[s[end]] {
		end++
	}
	if r.dots {
		for end > i && s[end-1] == '.' {
			end--
		}
	}
	n := end - i
	if n < r.min || r.max > 0 && n > r.max || end < len(s) && byteClass[s[end]]&bAlnum != 0 {
		return -1
	}
	if r.mixed && !isMixed(s[i:end]) {
		return -1
	}
	return end
}

// isMixed reports whether t has an upper-case letter, a lower-case letter and a digit.
func isMixed(t string) bool {
	var upper, lower, digit bool
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case 'A' <= c && c <= 'Z':
			upper = true
		case 'a' <= c && c <= 'z':
			lower = true
		case '0' <= c && c <= '9':
			digit = true
		}
	}
	return upper && lower && digit
}

// prefixRules are the rows of prefixTable by the first byte of their prefix, longest
// prefix first.
var prefixRules = func() (t [256][]prefixRule) {
	for _, p := range prefixTable {
		r := prefixRule{prefix: p.Prefix, kind: KindPrefixedToken, rule: p.Rule, body: compileClass(p.Body),
			min: p.Min, max: p.Max, mixed: p.Mixed}
		r.dots = r.body['.']
		if p.ID {
			r.kind = KindAWSAccessKeyID
		}
		t[p.Prefix[0]] = append(t[p.Prefix[0]], r)
	}
	for i := range t {
		sort.SliceStable(t[i], func(a, b int) bool { return len(t[i][a].prefix) > len(t[i][b].prefix) })
	}
	return t
}()

// prefixMatch is a token recognised by its prefix.
type prefixMatch struct {
	end        int
	kind, rule string
}

// matchPrefix reports whether a token with a known prefix starts at s[i].
func matchPrefix(s string, i int) (prefixMatch, bool) {
	for _, r := range prefixRules[s[i]] {
		if !strings.HasPrefix(s[i:], r.prefix) {
			continue
		}
		if end := r.bodyEnd(s, i+len(r.prefix)); end >= 0 {
			return prefixMatch{end: end, kind: r.kind, rule: r.rule}, true
		}
	}
	return prefixMatch{}, false
}

// pairSet is a set of byte pairs.
type pairSet [1 << 16 / 8]byte

func (t *pairSet) add(a, b byte) {
	p := uint16(a)<<8 | uint16(b)
	t[p>>3] |= 1 << (p & 7)
}

func (t *pairSet) has(a, b byte) bool {
	p := uint16(a)<<8 | uint16(b)
	return t[p>>3]&(1<<(p&7)) != 0
}

// prefixTriples is a bitmap, by hash, of the first three bytes of every token prefix
// (for a prefix of two bytes, followed by each byte its body may start with): most
// words that start like a prefix ("do", "fi", "wh") are told apart by their third
// byte without looking at the rules.
var prefixTriples = func() (t pairSet) {
	for _, rules := range prefixRules {
		for _, r := range rules {
			if len(r.prefix) >= 3 {
				t.addTriple(r.prefix[0], r.prefix[1], r.prefix[2])
				continue
			}
			for c := range 256 {
				if r.body[c] {
					t.addTriple(r.prefix[0], r.prefix[1], byte(c))
				}
			}
		}
	}
	return t
}()

// tripleBit is the bit of the bytes a, b, c in a pairSet used for triples.
func tripleBit(a, b, c byte) uint16 {
	return uint16((uint32(a)<<16 | uint32(b)<<8 | uint32(c)) * 2654435761 >> 16)
}

func (t *pairSet) addTriple(a, b, c byte) {
	p := tripleBit(a, b, c)
	t[p>>3] |= 1 << (p & 7)
}

// mayStartPrefix reports whether a token prefix may start at s[i].
func mayStartPrefix(s string, i int) bool {
	if i+2 >= len(s) {
		return false // no prefix with its body is this short
	}
	p := tripleBit(s[i], s[i+1], s[i+2])
	return prefixTriples[p>>3]&(1<<(p&7)) != 0
}

// startPairs is a bitmap of the byte pairs that may start a secret: the first two bytes
// of every prefix and key word, in every case where case does not matter, '=' followed
// by any byte (key=value), ':' followed by what may start a value, and the other
// separators below.
var startPairs = func() (t pairSet) {
	set := t.add
	fold := func(word string) {
		for _, a := range []byte{word[0], word[0] - 'a' + 'A'} {
			for _, b := range []byte{word[1], word[1] - 'a' + 'A'} {
				set(a, b)
			}
		}
	}
	set('e', 'y') // JWT header {"…
	set('e', 'w') // JWT header {\n…
	set('-', '-') // -----BEGIN
	fold("secret")
	fold("bearer")
	fold("basic")
	for b := range 256 {
		set('=', byte(b)) // key=value
		set('>', byte(b)) // <key>value</key>
	}
	// key: value, "key":"value", key := …, TOKEN ::= …, scheme://user:password@;
	// key:value is a URN, an ARN, host:port, a time, and is left alone.
	for _, b := range []byte(" \t\"'`\\=:/") {
		set(':', b)
	}
	set('\\', 'u') // <key>value</key> in a JSON string: \u003ckey\u003evalue…
	set('%', '3')  // key%3Dvalue, key%3A+value: key=value URL-encoded
	set('-', 'u')  // curl -u user:password
	set('Q', '~')  // an Azure AD client secret, ...8Q~...
	set(':', 'A')  // bot-id:A…, a Telegram bot token
	set('%', '7')  // %7C, an encoded '|' of an app token
	set('.', 'a')  // .atlasv1. of a Terraform Cloud token
	for _, b := range []byte("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_") {
		set('|', b) // app-id|app-secret
	}
	set(',', '"') // "key","value"
	set(',', ' ')
	set(',', '\'')
	for _, rules := range prefixRules {
		for _, r := range rules {
			set(r.prefix[0], r.prefix[1])
		}
	}
	return t
}()

// startsPair reports whether s[i:i+2] may start a secret.
func startsPair(s string, i int) bool {
	p := uint16(s[i])<<8 | uint16(s[i+1])
	return startPairs[p>>3]&(1<<(p&7)) != 0
}

// scanner finds the secrets in one text and builds its redacted copy.
type scanner struct {
	r        *Redactor
	s        string
	out      strings.Builder // s[:last] redacted, once changed
	last     int
	changed  bool
	findings []Finding
	// keyIDs are the AWS access key IDs found, at their places in the redacted text, for
	// pairSecretKeys; the first few are in keyIDBuf so that finding them does not
	// allocate.
	keyIDBuf [4]keyIDAt
	nKeyIDs  int
	keyIDs   []keyIDAt
	// run caches the end of the latest run of bare value bytes that finish
	// measured, so that the many separators inside one long run are not each
	// measured again: without it, "token=" repeated costs maxValueLen bytes
	// of scanning per separator.
	run valueRun
	// collect asks replace to keep each secret in raw, for a lookup.
	collect bool
	raw     []string
}

// valueRun records that every byte of s[from:end] is a bare value byte and
// s[end] is not one (or end is len(s)). Valid only when ok.
type valueRun struct {
	ok        bool
	from, end int
}

// keyIDAt is an AWS access key ID at index pos of the redacted text.
type keyIDAt struct {
	pos int
	id  string
}

// scan finds every secret in sc.s.
func (sc *scanner) scan() {
	sc.scanRange(0, len(sc.s))
}

// scanRange finds the secrets that start in s[from:to], and returns where it stopped: at
// to, or after a secret that runs past it.
func (sc *scanner) scanRange(from, to int) int {
	s := sc.s
	i := from
	for end := min(to, len(s)-1); i < end; i++ {
		if !startsPair(s, i) {
			continue
		}
		if s[i] == '%' && s[i+1] == '3' {
			if end := sc.urlKeyValue(i); end > i {
				i = end - 1
			}
			continue
		}
		if s[i] == '|' || s[i] == '%' {
			if end := sc.appToken(i); end > i {
				i = end - 1
			}
			continue
		}
		if s[i] == '.' {
			if end := sc.atlasToken(i); end > i {
				i = end - 1
			}
			continue
		}
		if s[i] == '>' || s[i] == '\\' {
			if end := sc.element(i); end > i {
				i = end - 1
			}
			continue
		}
		if s[i] == ':' && s[i+1] == 'A' {
			if end := sc.botToken(i); end > i {
				i = end - 1
				continue
			}
		}
		if s[i] == ':' || s[i] == '=' || s[i] == ',' {
			if end := sc.keyValue(i); end > i {
				i = end - 1
			}
			continue
		}
		if s[i] == 'Q' && s[i+1] == '~' {
			if end := sc.azureClientSecret(i); end > i {
				i = end - 1
			}
			continue
		}
		if byteClass[s[i]]&bMidWord == 0 && i > 0 && byteClass[s[i-1]]&bAlnum != 0 && !escapedBefore(s, i) {
			continue
		}
		if !detectOwn[s[i]] && !mayStartPrefix(s, i) {
			continue // most words that start like a token prefix
		}
		if end := sc.detect(i, true); end > i {
			i = end - 1
		}
	}
	return max(i, to)
}

// detectOwn are the first bytes that detect looks at for more than a token prefix.
var detectOwn = [256]bool{'e': true, '-': true, 's': true, 'S': true, 'b': true, 'B': true}

// detect looks for a secret that starts at s[i] and returns the index after it, or -1.
// With schemes, it also looks for a credential after "Bearer " or "Basic ".
func (sc *scanner) detect(i int, schemes bool) int {
	s := sc.s
	switch s[i] {
	case 'e':
		return sc.jwt(i)
	case '-':
		if end := sc.privateKey(i); end > 0 || !schemes {
			return end
		}
		return sc.flag(i)
	case 's', 'S':
		if end := sc.awsSecretKey(i); end > 0 {
			return end
		}
	case 'b', 'B':
		if !schemes {
			break
		}
		if end := sc.scheme(i); end > 0 {
			return end
		}
	}
	if !mayStartPrefix(s, i) || !atBoundary(s, i, bAlnum) {
		return -1
	}
	p, ok := matchPrefix(s, i)
	if !ok {
		return -1
	}
	if p.kind == KindAWSAccessKeyID {
		sc.add(Finding{Kind: p.kind, Rule: p.rule, CredentialID: s[i:p.end]})
		sc.addKeyID(i, s[i:p.end])
		return p.end
	}
	sc.replace(i, p.end, Finding{Kind: p.kind, Rule: p.rule}, s[i:p.end])
	return p.end
}

// appToken redacts a Facebook app access token, app-id|app-secret, whose '|', or the %7C
// that encodes it in a URL, is s[i]: 15 or 16 digits, the separator, and 27 to 40 of
// [A-Za-z0-9_-]. Its fingerprint is of the token with a plain '|'. It returns the index
// after the token, or -1.
func (sc *scanner) appToken(i int) int {
	s := sc.s
	v := i + 1
	if s[i] == '%' {
		if i+3 > len(s) || s[i+1] != '7' || s[i+2]|0x20 != 'c' {
			return -1
		}
		v = i + 3
	}
	d := i
	for d > sc.last && i-d <= 16 && '0' <= s[d-1] && s[d-1] <= '9' {
		d--
	}
	if n := i - d; n < 15 || n > 16 || d > 0 && byteClass[s[d-1]]&bAlnum != 0 && !escapedBefore(s, d) {
		return -1
	}
	end := spanMax(s, v, bB64URL, 41)
	if n := end - v; n < 27 || n > 40 || end < len(s) && byteClass[s[end]]&bB64URL != 0 {
		return -1
	}
	sc.replace(d, end, Finding{Kind: KindPrefixedToken, Rule: "facebook_app_token"}, s[d:i]+"|"+s[v:end])
	return end
}

// botToken redacts a Telegram bot token, bot-id:secret, whose ':' is s[i]: 5 to 16
// digits, ':', 'A' and 34 of [A-Za-z0-9_-]. It returns the index after the token, or -1.
func (sc *scanner) botToken(i int) int {
	s := sc.s
	d := i
	for d > sc.last && i-d <= 16 && '0' <= s[d-1] && s[d-1] <= '9' {
		d--
	}
	if n := i - d; n < 5 || n > 16 || d > 0 && byteClass[s[d-1]]&bAlnum != 0 && !escapedBefore(s, d) {
		return -1
	}
	end := spanMax(s, i+2, bB64URL, 35)
	if end-(i+2) != 34 || end < len(s) && byteClass[s[end]]&bB64URL != 0 {
		return -1
	}
	sc.replace(d, end, Finding{Kind: KindPrefixedToken, Rule: "telegram_bot_token"}, s[d:end])
	return end
}

// atlasToken redacts a Terraform Cloud or Enterprise API token whose ".atlasv1." is at
// s[i]: 14 alphanumerics, ".atlasv1.", and 60 to 70 of [A-Za-z0-9_=-]. It returns the
// index after the token, or -1.
func (sc *scanner) atlasToken(i int) int {
	const infix = ".atlasv1."
	s := sc.s
	start := i - 14
	if start < sc.last || !strings.HasPrefix(s[i:], infix) || !allOf(s[start:i], bAlnum) ||
		start > 0 && byteClass[s[start-1]]&bAlnum != 0 && !escapedBefore(s, start) {
		return -1
	}
	v := i + len(infix)
	end := v
	for end < len(s) && end-v <= 70 && (byteClass[s[end]]&bB64URL != 0 || s[end] == '=') {
		end++
	}
	if n := end - v; n < 60 || n > 70 {
		return -1
	}
	sc.replace(start, end, Finding{Kind: KindPrefixedToken, Rule: "terraform_cloud"}, s[start:end])
	return end
}

// azureClientSecret redacts an Azure AD client secret whose "Q~" is at s[i]: three
// bytes of [A-Za-z0-9_~.], a digit, Q~, and 31 to 34 bytes of [A-Za-z0-9_~.-].
func (sc *scanner) azureClientSecret(i int) int {
	s := sc.s
	start := i - 4
	if start < sc.last || s[i-1] < '0' || s[i-1] > '9' || !allOf(s[start:i-1], bAzure) ||
		start > 0 && byteClass[s[start-1]]&(bAzure|bDashed) != 0 && !escapedBefore(s, start) {
		return -1
	}
	end := spanMax(s, i+2, bAzure|bDashed, 35)
	if n := end - (i + 2); n < 31 || n > 34 || end < len(s) && byteClass[s[end]]&(bAzure|bDashed) != 0 {
		return -1
	}
	sc.replace(start, end, Finding{Kind: KindPrefixedToken, Rule: "azure_client_secret"}, s[start:end])
	return end
}

// jwt redacts a JWT that starts at s[i].
func (sc *scanner) jwt(i int) int {
	s := sc.s
	if i+1 == len(s) || s[i+1] != 'y' && s[i+1] != 'w' || !atBoundary(s, i, bB64URL) {
		return -1
	}
	j, ok := parseJWT(s, i)
	if !ok {
		return -1
	}
	f := Finding{Kind: KindJWT, Rule: j.rule, Claims: j.claims}
	if j.claims != nil {
		f.CredentialID = j.claims.JTI
	}
	sc.replace(i, j.end, f, s[i:j.end])
	return j.end
}

// privateKey redacts a PEM private key block that starts at s[i]. Its fingerprint is of
// the base64 body alone, so that line breaks and JSON escaping do not change it. A block
// without its END line runs to the end of the text.
func (sc *scanner) privateKey(i int) int {
	const begin, dashes = "-----BEGIN ", "-----"
	s := sc.s
	if !strings.HasPrefix(s[i:], begin) {
		return -1
	}
	label := i + len(begin)
	n := strings.Index(s[label:min(len(s), label+64)], dashes)
	if n < 0 || !strings.HasSuffix(strings.TrimSuffix(s[label:label+n], " BLOCK"), "PRIVATE KEY") {
		return -1
	}
	body := label + n + len(dashes)
	bodyEnd, end := len(s), len(s)
	if e := strings.Index(s[body:], "-----END "); e >= 0 {
		bodyEnd = body + e
		tail := bodyEnd + len("-----END ")
		if d := strings.Index(s[tail:min(len(s), tail+64)], dashes); d >= 0 {
			end = tail + d + len(dashes)
		}
	}
	sc.replace(i, end, Finding{Kind: KindPrefixedToken, Rule: "private_key"}, pemBody(s[body:bodyEnd]))
	return end
}

// pemBody returns the base64 characters of a PEM body, without line breaks, spaces, or
// the backslash escapes (\n) of a JSON string.
func pemBody(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case byteClass[c]&bB64Pad != 0:
			b = append(b, c)
		}
	}
	return string(b)
}

// awsSecretKey redacts the 40-character AWS secret access key that follows a key word
// starting at s[i] ("secret_access_key", "SecretAccessKey", "secret_key", …, after any
// prefix such as "aws_"), and returns the index after it, or -1.
func (sc *scanner) awsSecretKey(i int) int {
	s := sc.s
	if len(s)-i < 6+1+40 || !hasPrefixFold(s[i:], "secret") {
		return -1
	}
	var word [12]byte
	n := 0
	j := i + len("secret")
	for limit := min(len(s), j+32); j < len(s) && byteClass[s[j]]&bDotted != 0; j++ {
		if j == limit {
			return -1
		}
		if c := s[j] | 0x20; 'a' <= c && c <= 'z' {
			if n == len(word) {
				return -1
			}
			word[n] = c
			n++
		}
	}
	if w := string(word[:n]); w != "accesskey" && w != "key" {
		return -1
	}
	v := spanMax(s, j, bKeySep, 8)
	if v == j || len(s)-v < 40 {
		return -1
	}
	end := v + 40
	if spanMax(s, v, bB64, 40) != end || end < len(s) && byteClass[s[end]]&bB64Pad != 0 {
		return -1
	}
	sc.replace(v, end, Finding{Kind: KindAWSSecretAccessKey, Rule: KindAWSSecretAccessKey}, s[v:end])
	return end
}

// scheme redacts the credential after "Bearer " or "Basic " at s[i]. A credential that is
// itself a JWT or a prefixed token is reported as such.
func (sc *scanner) scheme(i int) int {
	s := sc.s
	if !atBoundary(s, i, bAlnum) {
		return -1
	}
	var basic bool
	switch {
	case hasPrefixFold(s[i:], "bearer"):
		i += len("bearer")
	case hasPrefixFold(s[i:], "basic"):
		i += len("basic")
		basic = true
	default:
		return -1
	}
	t := i
	for t < len(s) {
		switch {
		case s[t] == ' ' || s[t] == '\t':
			t++
			continue
		case strings.HasPrefix(s[t:], "%20"):
			t += 3
			continue
		}
		break
	}
	if t == i || t == len(s) {
		return -1
	}
	if end := sc.detect(t, false); end > t {
		return end
	}
	if basic {
		return sc.basic(t)
	}
	end := span(s, t, bBearer)
	for end > t && s[end-1] == '.' {
		end--
	}
	for n := 0; n < 2 && end < len(s) && s[end] == '='; n++ {
		end++
	}
	if !isBearerToken(s[t:end]) {
		return -1
	}
	sc.replace(t, end, Finding{Kind: KindBearer, Rule: "bearer"}, s[t:end])
	return end
}

// basic redacts base64("user:password") at s[t].
func (sc *scanner) basic(t int) int {
	s := sc.s
	end := span(s, t, bB64Pad)
	if !isBasicCredential(s[t:end]) {
		return -1
	}
	sc.replace(t, end, Finding{Kind: KindBearer, Rule: "basic"}, s[t:end])
	return end
}

// isBasicCredential reports whether c is base64("user:password").
func isBasicCredential(c string) bool {
	enc := base64.StdEncoding
	if len(c)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(c)
	if err != nil || len(b) < 3 || !strings.Contains(string(b), ":") {
		return false
	}
	for _, c := range b {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// add records f unless an equal finding was already recorded.
func (sc *scanner) add(f Finding) {
	for _, g := range sc.findings {
		if g.Kind == f.Kind && g.Fingerprint == f.Fingerprint && g.CredentialID == f.CredentialID {
			return
		}
	}
	sc.findings = append(sc.findings, f)
}

// replace replaces s[start:end] with the fingerprint of secret and records f, unless
// s[start:end] ends in the prefix of a fingerprint.
func (sc *scanner) replace(start, end int, f Finding, secret string) {
	lo, hi := max(start, end-len(fingerprintPrefix)+1), min(len(sc.s), end+len(fingerprintPrefix)-1)
	if f.Rule != "private_key" && strings.Contains(sc.s[lo:hi], fingerprintPrefix) {
		// Not a secret but a word run into a fingerprint, as when a secret right after
		// the word was redacted: redacting again must change nothing.
		return
	}
	f.Fingerprint = sc.r.Fingerprint(secret)
	if sc.collect {
		sc.raw = append(sc.raw, secret)
	}
	if !sc.changed {
		sc.out.Grow(len(sc.s) + len(f.Fingerprint))
		sc.changed = true
	}
	sc.out.WriteString(sc.s[sc.last:start])
	sc.out.WriteString(f.Fingerprint)
	sc.last = end
	sc.add(f)
}

package secrets

import (
	"bytes"
	"strings"
)

// builtinNamePatterns are the attribute-name patterns whose values are secret, in the
// order in which the first match names the finding's rule.
var builtinNamePatterns = []string{
	"authorization",
	"proxy-authorization",
	"cookie",
	"set-cookie",
	"x-api-key",
	"*-api-key",
	"*api_key*",
	"*apikey*",
	"*secret*",
	tokenPattern,
	"*password*",
	"*passwd*",
	"*private_key*",
	"*privatekey*",
	credentialPattern,
	credsPattern,
	"*passphrase*",
	"pass",
	"*_pass",
	"pwd",
	"*_pwd",
	"auth",
	"*_auth",
	"session",
	"*_session",
	"*access_key", // not *access_key_id, an AWS access key ID, which is no secret
	"*accesskey",  // not *accesskeyid (CloudTrail's accessKeyId)
	"*access_key_secret*",
	"*accesskeysecret*",
	"*account_key*",
	"*accountkey*",
	"*encryption_key*",
	"*signing_key*",
	"*subscription_key*",
	"*master_key*",
	"sig",
}

// shapedNamePatterns are names whose values are secret only if they have the shape the
// function checks, for such names name settings that are not secret as well: a vendor's
// name alone (cloudflare:, HEROKU_KEY, hubspotKey, SONAR_LOGIN, "artifactory",
// BUNDLE_GEMS__CONTRIBSYS__COM, Bundler's credentials for gems.contribsys.com), whose
// value must look generated, and "key" alone (a Kubernetes Secret's key: <base64>), whose
// value must also have both cases and letters and digits interleaved, unlike a cache key
// or a hex digest.
var shapedNamePatterns = map[string]func(string) bool{
	"*cloudflare*":  tokenShaped,
	"*sourcegraph*": tokenShaped,
	"*heroku*":      tokenShaped,
	"*hubspot*":     tokenShaped,
	"*snyk*":        tokenShaped,
	"*mailchimp*":   tokenShaped,
	"*sonar*":       tokenShaped,
	"*facebook*":    tokenShaped,
	"*jfrog*":       tokenShaped,
	"*artifactory*": tokenShaped,
	"*bintray*":     tokenShaped,
	"*contribsys*":  tokenShaped,
	"key":           keyShaped,
}

// shapedOrder is shapedNamePatterns in a fixed order, after the built-in patterns.
var shapedOrder = []string{"*cloudflare*", "*sourcegraph*", "*heroku*", "*hubspot*", "*snyk*", "*mailchimp*",
	"*sonar*", "*facebook*", "*jfrog*", "*artifactory*", "*bintray*", "*contribsys*", "key"}

// shapeOK reports whether v may be the value of a name that matched rule: always, unless
// rule is one of shapedNamePatterns.
func shapeOK(rule, v string) bool {
	if rule == "" || rule[0] != '*' && rule != "key" {
		return true
	}
	if f := shapedNamePatterns[rule]; f != nil {
		return f(v)
	}
	return true
}

// tokenShaped reports whether v looks like a generated credential rather than a setting:
// at least 14 bytes with no space, secret-shaped even as a bare value, and with a digit,
// a ':' (user:password), or random letters.
func tokenShaped(v string) bool {
	if len(v) < 14 || strings.ContainsAny(v, " \t") || !secretShaped(v, true, true) {
		return false
	}
	return strings.ContainsAny(v, "0123456789:") || randomLetters(v)
}

// keyShaped reports whether v, the value of a name "key", looks like a generated secret:
// token-shaped, of base64 bytes alone, with upper- and lower-case letters, and with
// letters and digits interleaved at least three times.
func keyShaped(v string) bool {
	if !tokenShaped(v) || !allOf(v, bB64Pad|bB64URL) {
		return false
	}
	var upper, lower bool
	changes := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		upper = upper || 'A' <= c && c <= 'Z'
		lower = lower || 'a' <= c && c <= 'z'
		if i > 0 && byteClass[c]&bAlpha != 0 != (byteClass[v[i-1]]&bAlpha != 0) {
			changes++
		}
	}
	return upper && lower && changes >= 3
}

// randomLetters reports whether v, letters alone, looks generated rather than a word or
// a CamelCase name such as AccessTokenProvider, HTTPClient or loadAWSConfig: at least 12
// letters of both cases, and either fewer than one in five a vowel, or at least two odd
// parts among its runs of lower-case letters of one letter or with no vowel (a word has
// one) and its runs of upper-case letters of two or more after the start (an acronym
// seldom follows another). Random letters pass about 97 times in 100 at 14 letters.
// Letters of one case (ghwnecchnzinblzu, as a random [a-z0-9]{16} without a digit is)
// pass if there are at least 16 and fewer than one in five is a vowel: random ones about
// 62 times in 100, two or three English words glued together about once in 200.
func randomLetters(v string) bool {
	if len(v) < 12 {
		return false
	}
	var upper, lower bool
	odd, vowels := 0, 0
	for i := 0; i < len(v); {
		c := v[i]
		if byteClass[c]&bAlpha == 0 {
			return false
		}
		j, vowel := i, false
		up := 'A' <= c && c <= 'Z'
		for ; j < len(v) && byteClass[v[j]]&bAlpha != 0 && ('A' <= v[j] && v[j] <= 'Z') == up; j++ {
			if strings.IndexByte("aeiouAEIOU", v[j]) >= 0 {
				vowels++
				vowel = true
			}
			vowel = vowel || v[j] == 'y'
		}
		switch {
		case up:
			upper = true
			if i > 0 && j-i >= 2 {
				odd++
			}
		default:
			lower = true
			if j-i == 1 || !vowel {
				odd++
			}
		}
		if j < len(v) && byteClass[v[j]]&bAlpha == 0 {
			return false
		}
		i = j
	}
	if !upper || !lower {
		return len(v) >= minOneCaseRandom && 5*vowels < len(v)
	}
	return odd >= 2 || 5*vowels < len(v)
}

// minOneCaseRandom is the length of the shortest run of letters of one case that
// randomLetters takes for random: words glued together (tokenexchangeendpoint) are
// told from random letters by their vowels alone, which is surer the longer they are.
const minOneCaseRandom = 16

// credentialPattern and credsPattern are the built-in patterns whose values in text must
// be token-shaped.
const (
	credentialPattern = "*credential*"
	credsPattern      = "*creds"
)

// tokenPattern is the built-in pattern that token counts are excepted from.
const tokenPattern = "*token*"

// publicNames are attribute names that the patterns would match but that hold no secret:
// the ledger's own credential facts and the GenAI token type. They are in normalised form.
var publicNames = map[string]bool{
	"credential_id":          true,
	"credential_type":        true,
	"credential_issuer":      true,
	"credential_subject":     true,
	"credential_audience":    true,
	"credential_scope":       true,
	"credential_not_before":  true,
	"credential_expires_at":  true,
	"credential_parent_id":   true,
	"credential_fingerprint": true,
	"credential_role":        true,
	"gen_ai_token_type":      true,
}

// glob is a compiled attribute-name pattern: normalised parts between '*'s.
type glob struct {
	pattern string
	parts   [][]byte
	grams   uint32 // the key grams that a name must hold to match
}

func compileGlob(pattern string) glob {
	g := glob{pattern: pattern}
	for p := range strings.SplitSeq(pattern, "*") {
		g.parts = append(g.parts, normalizeName(nil, p))
		g.grams |= keyGrams(p)
	}
	return g
}

// match reports whether the normalised name b matches g.
func (g *glob) match(b []byte) bool {
	if len(g.parts) == 1 {
		return bytes.Equal(b, g.parts[0])
	}
	if !bytes.HasPrefix(b, g.parts[0]) {
		return false
	}
	b = b[len(g.parts[0]):]
	last := len(g.parts) - 1
	for _, p := range g.parts[1:last] {
		i := bytes.Index(b, p)
		if i < 0 {
			return false
		}
		b = b[i+len(p):]
	}
	return bytes.HasSuffix(b, g.parts[last])
}

// nameRules decides which attribute names are secret.
type nameRules struct {
	extra   []glob
	builtin []glob
	shaped  []glob // shapedOrder
	// minLen is the length of the shortest name that a pattern can match.
	minLen int
}

func newNameRules(extra []string) nameRules {
	var n nameRules
	for _, p := range extra {
		n.extra = append(n.extra, compileGlob(p))
	}
	for _, p := range builtinNamePatterns {
		n.builtin = append(n.builtin, compileGlob(p))
	}
	for _, p := range shapedOrder {
		n.shaped = append(n.shaped, compileGlob(p))
	}
	n.minLen = -1
	for _, g := range append(append(n.extra[:len(n.extra):len(n.extra)], n.builtin...), n.shaped...) {
		l := 0
		for _, p := range g.parts {
			l += len(p)
		}
		if n.minLen < 0 || l < n.minLen {
			n.minLen = l
		}
	}
	return n
}

// builtinNames are the built-in rules alone, for [IsSecretName].
var builtinNames = newNameRules(nil)

// IsSecretName reports whether values of the attribute (or JSON member, or key) name are
// secret under the built-in rules described in the package documentation: Authorization,
// *token* but not token counts, *secret*, *password*, *api_key*, …. It is case-insensitive
// and treats '.', '-' and '_' alike. A [Redactor] also applies its
// [Config.ExtraSecretKeys]. Most names that are not secret are rejected after a single
// pass over their bytes, without allocating.
func IsSecretName(name string) bool {
	rule, ok := builtinNames.match(name)
	return ok && shapedNamePatterns[rule] == nil
}

// mayMatch is a cheap test that every name that n matches passes.
func (n *nameRules) mayMatch(name string) bool {
	return len(name) >= n.minLen && (len(n.extra) > 0 || keyGrams(name) != 0)
}

// nameByte maps a byte of a name to its normalised form: lowercase ASCII, with '.' and
// '-' turned into '_'.
var nameByte = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '.' || c == '-':
			c = '_'
		}
		t[i] = c
	}
	return t
}()

// keyGramList are the four-byte (and three three-byte) grams of normalised names of which every built-in
// and shaped pattern holds one.
var keyGramList = [...]string{
	"auth", // authorization, proxy-authorization
	"cook", // cookie, set-cookie
	"api_", // x-api-key, *-api-key, *api_key*
	"apik", // *apikey*
	"secr", // *secret*
	"toke", // *token*
	"pass", // *password*, *passwd*
	"priv", // *private_key*, *privatekey*
	"cred", // *credential*
	"sess", // session, *_session
	"acce", // *access_key, *accesskey, *access_key_secret*, *accesskeysecret*
	"acco", // *account_key*, *accountkey*
	"encr", // *encryption_key*
	"sign", // *signing_key*
	"subs", // *subscription_key*
	"mast", // *master_key*
	"pwd",  // pwd, *_pwd: three bytes, like sig
	"sig",  // sig, the signature of an Azure SAS URL
	"key",  // key
	"dfla", // *cloudflare*
	"rceg", // *sourcegraph*
	"roku", // *heroku*
	"bspo", // *hubspot*
	"snyk", // *snyk*
	"ilch", // *mailchimp*
	"sona", // *sonar*
	"eboo", // *facebook*
	"jfro", // *jfrog*
	"ifac", // *artifactory*
	"bint", // *bintray*
	"ibsy", // *contribsys*
}

// keyGramWords are the grams of keyGramList as big-endian words.
var keyGramWords = func() (t [len(keyGramList)]uint32) {
	for i, g := range keyGramList {
		t[i] = uint32(g[0])<<24 | uint32(g[1])<<16 | uint32(g[2])<<8
		if len(g) == 4 {
			t[i] |= uint32(g[3])
		}
	}
	return t
}()

// keyGramPairs is a bitmap of the byte pairs, in any case, that start a key gram.
var keyGramPairs = func() (t pairSet) {
	for _, g := range keyGramList {
		for _, a := range []byte{g[0], g[0] - 'a' + 'A'} {
			for _, b := range []byte{g[1], g[1] - 'a' + 'A'} {
				t.add(a, b)
			}
		}
	}
	return t
}()

// keyGrams returns the set of the key grams, bit i for keyGramList[i], that name holds
// once normalised.
func keyGrams(name string) uint32 {
	var set uint32
	for i := 0; i+3 <= len(name); i++ {
		if byteClass[name[i]]&bGram == 0 || !keyGramPairs.has(name[i], name[i+1]) {
			continue
		}
		w := uint32(nameByte[name[i]])<<24 | uint32(nameByte[name[i+1]])<<16 | uint32(nameByte[name[i+2]])<<8
		if i+4 <= len(name) {
			w |= uint32(nameByte[name[i+3]])
		}
		for g, gram := range keyGramWords {
			if w == gram || w&^0xff == gram && gram&0xff == 0 {
				set |= 1 << g
			}
		}
	}
	return set
}

// match reports whether values of the attribute name are secret, and the pattern that
// says so.
func (n *nameRules) match(name string) (string, bool) {
	grams := keyGrams(name)
	if len(n.extra) == 0 && grams == 0 {
		return "", false
	}
	var buf [128]byte
	full := buf[:0]
	if len(name) > len(buf) {
		full = make([]byte, 0, len(name))
	}
	full = normalizeName(full, name)
	last := full[strings.LastIndexByte(name, '.')+1:]
	matches := func(g *glob) bool { return g.match(full) || len(last) < len(full) && g.match(last) }
	for i := range n.extra {
		if g := &n.extra[i]; matches(g) {
			return g.pattern, true
		}
	}
	if grams == 0 || publicNames[string(full)] {
		return "", false
	}
	for i := range n.builtin {
		g := &n.builtin[i]
		if grams&g.grams != g.grams || !matches(g) {
			continue
		}
		if g.pattern == tokenPattern && (isTokenCount(full) || isTokenizer(full)) {
			continue
		}
		return g.pattern, true
	}
	for i := range n.shaped {
		if g := &n.shaped[i]; grams&g.grams == g.grams && matches(g) {
			return g.pattern, true
		}
	}
	return "", false
}

// isTokenCount reports whether the normalised name b, which contains "token", names a
// count of model tokens rather than a credential.
func isTokenCount(b []byte) bool {
	if bytes.HasPrefix(b, []byte("gen_ai_usage_")) ||
		bytes.Contains(b, []byte("token_count")) ||
		bytes.Contains(b, []byte("tokencount")) ||
		bytes.Contains(b, []byte("token_usage")) ||
		bytes.Contains(b, []byte("tokenusage")) {
		return true
	}
	if i := bytes.Index(b, []byte("usage")); i >= 0 && bytes.Contains(b[i:], []byte("token")) {
		return true
	}
	// A part (between '_'s) that ends in "tokens".
	for {
		i := bytes.Index(b, []byte("tokens"))
		if i < 0 {
			return false
		}
		b = b[i+len("tokens"):]
		if len(b) == 0 || b[0] == '_' {
			return true
		}
	}
}

// isTokenizer reports whether every "token" in the normalised name b starts "tokeniz",
// "tokenise" or "tokenisa" (tokenizer, tokenisation, …): a name about text tokens, not a
// credential.
func isTokenizer(b []byte) bool {
	found := false
	for {
		i := bytes.Index(b, []byte("token"))
		if i < 0 {
			return found
		}
		b = b[i+len("token"):]
		if !bytes.HasPrefix(b, []byte("iz")) && !bytes.HasPrefix(b, []byte("ise")) && !bytes.HasPrefix(b, []byte("isa")) {
			return false
		}
		found = true
	}
}

// normalizeName appends name to dst in lowercase ASCII with '.' and '-' turned into '_'.
func normalizeName(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		dst = append(dst, nameByte[name[i]])
	}
	return dst
}

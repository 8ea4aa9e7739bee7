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
	"*credential*",
}

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
	"gen_ai_token_type":      true,
}

// glob is a compiled attribute-name pattern: normalised parts between '*'s.
type glob struct {
	pattern string
	parts   [][]byte
}

func compileGlob(pattern string) glob {
	var parts [][]byte
	for p := range strings.SplitSeq(pattern, "*") {
		parts = append(parts, normalizeName(nil, p))
	}
	return glob{pattern: pattern, parts: parts}
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
}

func newNameRules(extra []string) nameRules {
	var n nameRules
	for _, p := range extra {
		n.extra = append(n.extra, compileGlob(p))
	}
	for _, p := range builtinNamePatterns {
		n.builtin = append(n.builtin, compileGlob(p))
	}
	return n
}

// match reports whether values of the attribute name are secret, and the pattern that
// says so.
func (n *nameRules) match(name string) (string, bool) {
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
	if publicNames[string(full)] {
		return "", false
	}
	for i := range n.builtin {
		g := &n.builtin[i]
		if !matches(g) {
			continue
		}
		if g.pattern == tokenPattern && isTokenCount(full) {
			continue
		}
		return g.pattern, true
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

// normalizeName appends name to dst in lowercase ASCII with '.' and '-' turned into '_'.
func normalizeName(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '.' || c == '-':
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

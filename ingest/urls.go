package ingest

import (
	"net/url"
	"strings"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// urlAttr reports whether attribute k holds a URL or its query. A switch
// rather than a map: the mapper asks it of every attribute.
func urlAttr(k string) bool {
	switch k {
	case "url.full", "url.original", "url.query", "http.url", "http.target":
		return true
	}
	return false
}

// queryAttr reports whether attribute k holds a database query.
func queryAttr(k string) bool {
	switch k {
	case "db.query.text", "db.statement":
		return true
	}
	return false
}

// signatureParams are query parameters whose values the URL semantic
// conventions say SHOULD be redacted, besides those the redactor knows by
// name (token, api_key, password, …). Lower case.
var signatureParams = map[string]bool{
	"x-amz-signature":      true,
	"x-amz-credential":     true,
	"x-amz-security-token": true,
	"awsaccesskeyid":       true,
	"signature":            true,
	"sig":                  true,
	"x-goog-signature":     true,
	"x-goog-credential":    true,
	"code":                 true,
}

// redactURL redacts a URL (or, for url.query, a query string): secrets
// anywhere in it, the password of its user information, and the value of
// every query parameter that is secret by name become fingerprints.
func (b *builder) redactURL(key, raw string) string {
	s := b.sc.attr(key, raw)
	var base, query, frag string
	if key == "url.query" {
		query = s
	} else {
		var rest string
		var hasQuery bool
		base, rest, hasQuery = strings.Cut(s, "?")
		if !hasQuery {
			base, frag, _ = strings.Cut(s, "#")
			if frag != "" || strings.Contains(s, "#") {
				frag = "#" + frag
			}
			return b.redactUserinfo(base) + frag
		}
		query, frag, _ = strings.Cut(rest, "#")
		if strings.Contains(rest, "#") {
			frag = "#" + frag
		}
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		name, value, ok := strings.Cut(p, "=")
		if !ok || value == "" {
			continue
		}
		n, err := url.QueryUnescape(name)
		if err != nil {
			n = name
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			v = value
		}
		if isFingerprint(v) {
			continue
		}
		var out string
		if signatureParams[strings.ToLower(n)] {
			out = b.secret(v, "url_query_parameter")
		} else {
			red, f, changed := b.m.redactor.RedactAttr(n, v)
			if !changed {
				continue
			}
			b.sc.findings = append(b.sc.findings, f...)
			out = red
		}
		if !isFingerprint(out) {
			out = url.QueryEscape(out)
		}
		params[i] = name + "=" + out
	}
	q := strings.Join(params, "&")
	if key == "url.query" {
		return q
	}
	return b.redactUserinfo(base) + "?" + q + frag
}

// redactUserinfo replaces the password of scheme://user:password@host with
// its fingerprint.
func (b *builder) redactUserinfo(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	authority := u[i+3:]
	if j := strings.IndexAny(authority, "/?#"); j >= 0 {
		authority = authority[:j]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return u
	}
	user, pass, ok := strings.Cut(authority[:at], ":")
	if !ok || pass == "" || isFingerprint(pass) {
		return u
	}
	p, err := url.PathUnescape(pass)
	if err != nil {
		p = pass
	}
	return u[:i+3] + user + ":" + b.secret(p, "url_password") + u[i+3+at:]
}

// secret returns the fingerprint of a value known to be secret and records
// the finding.
func (b *builder) secret(v, rule string) string {
	fp := b.m.redactor.Fingerprint(v)
	b.sc.findings = append(b.sc.findings, secrets.Finding{Kind: secrets.KindSecretAttribute, Rule: rule, Fingerprint: fp})
	return fp
}

// isFingerprint reports whether s is a rendered fingerprint.
func isFingerprint(s string) bool {
	const prefix = "hmac-sha256:"
	if len(s) != len(prefix)+64 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// apiCall fills in what an API call's leaf should say about its target from
// its (redacted) URL when the span did not say it: url.path, url.scheme,
// server.address and server.port.
func (b *builder) apiCall() {
	full, ok := b.get("url.full")
	if !ok {
		return
	}
	u, err := url.Parse(full)
	if err != nil || u.Host == "" {
		return
	}
	if u.Path != "" {
		b.set("url.path", u.Path)
	}
	if u.Scheme != "" {
		b.set("url.scheme", u.Scheme)
	}
	b.set(ledger.AttrServerAddress, u.Hostname())
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http", "ws":
			port = "80"
		case "https", "wss":
			port = "443"
		}
	}
	if port != "" {
		b.set("server.port", port)
	}
}

// sanitizeSQL replaces the literals of a query, quoted strings and numbers,
// with '?', as the database semantic conventions recommend, so that the
// leaf shows the query's shape but not its parameters.
func sanitizeSQL(s string) string {
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'':
			j := i + 1
			for j < len(s) {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						j += 2
						continue
					}
					j++
					break
				}
				j++
			}
			if !changed {
				b.Grow(len(s))
				b.WriteString(s[:i])
				changed = true
			}
			b.WriteByte('?')
			i = j
		case c >= '0' && c <= '9' && (i == 0 || !isIdentByte(s[i-1])):
			j := i
			for j < len(s) && (isIdentByte(s[j]) || s[j] == '.') {
				j++
			}
			if !changed {
				b.Grow(len(s))
				b.WriteString(s[:i])
				changed = true
			}
			b.WriteByte('?')
			i = j
		default:
			if changed {
				b.WriteByte(c)
			}
			i++
		}
	}
	if !changed {
		return s
	}
	return b.String()
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

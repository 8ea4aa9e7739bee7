package secrets

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
)

// minJWTHeader is the length of the shortest header with an "alg" member,
// base64url({"alg":""}).
const minJWTHeader = 14

// jwtMatch is a JWT found in a text.
type jwtMatch struct {
	end    int    // index after the token's last byte
	rule   string // "jws" or "jwe"
	claims *JWTClaims
}

// parseJWT reports whether a compact JWS or JWE starts at s[i]: base64url segments joined
// by '.', the first of which decodes to a JSON object with an "alg" member. Five segments
// and an "enc" member make a JWE; otherwise the first three segments are a JWS, whose
// payload's claims are kept.
func parseJWT(s string, i int) (jwtMatch, bool) {
	var ends [5]int // index after each segment
	ends[0] = span(s, i, bB64URL)
	if ends[0]-i < minJWTHeader || ends[0] == len(s) || s[ends[0]] != '.' {
		return jwtMatch{}, false
	}
	var header struct {
		Alg *string `json:"alg"`
		Enc *string `json:"enc"`
	}
	if !decodeSegment(s[i:ends[0]], &header) || header.Alg == nil {
		return jwtShape(s, i, ends[0])
	}
	n := 1
	for n < len(ends) && ends[n-1] < len(s) && s[ends[n-1]] == '.' {
		ends[n] = span(s, ends[n-1]+1, bB64URL)
		n++
	}
	switch {
	case n == 5 && header.Enc != nil:
		return jwtMatch{end: ends[4], rule: "jwe"}, true
	case n >= 3:
		return jwtMatch{end: ends[2], rule: "jws", claims: parseClaims(s[ends[0]+1 : ends[1]])}, true
	}
	// A payload that holds a backslash (\/ of a JSON string, or made up) is looked at
	// by its shape.
	return jwtShape(s, i, ends[0])
}

// minJWTShapeSegment is the length of the shortest header and payload of a token taken
// for a JWT by its shape alone.
const minJWTShapeSegment = 19

// minJWTShapeSignature is the length of the shortest signature of a token taken for a
// JWT by its shape alone, if it has one.
const minJWTShapeSignature = 10

// jwtShape reports whether a token shaped like a JWS starts at s[i], whose header, which
// ends at s[h], does not decode: "ey", as every JSON object in base64url starts, and 17 or
// more characters; a payload that starts "ey" too, of base64url characters, '/' and
// backslashes; and a signature of at least 10 such characters, or none, with up to two
// '=' of padding. These are the characters gitleaks' jwt rule allows. Such tokens are
// corrupted or made up, but as secret as real ones.
//
// The payload must end at a '.', so every backslash in it is the token's, even one that
// reads as a JSON escape (ey…\rvU7…). The signature ends where the text may go on: at \n,
// \r, \t or \u, which in a JSON string end a line or start an escaped character, unless
// what comes before them is too short to be a signature and the run through them is not.
func jwtShape(s string, i, h int) (jwtMatch, bool) {
	if h-i < minJWTShapeSegment || s[i+1] != 'y' || !strings.HasPrefix(s[h+1:], "ey") {
		return jwtMatch{}, false
	}
	p := jwtShapeSpan(s, h+1, true)
	if p-(h+1) < minJWTShapeSegment || p == len(s) || s[p] != '.' {
		return jwtMatch{}, false
	}
	end := jwtShapeSpan(s, p+1, false)
	if n := end - (p + 1); n > 0 && n < minJWTShapeSignature {
		end = jwtShapeSpan(s, p+1, true)
	}
	switch n := end - (p + 1); {
	case n == 0:
	case n < minJWTShapeSignature:
		return jwtMatch{}, false
	default:
		for n := 0; n < 2 && end < len(s) && s[end] == '='; n++ {
			end++
		}
	}
	return jwtMatch{end: end, rule: "jws", claims: parseClaims(s[h+1 : p])}, true
}

// jwtShapeSpan returns the index after the run of base64url characters, '/' and
// backslashes that starts at s[i]. Unless every backslash is taken, the run stops at
// the JSON escapes \n, \r, \t and \u, and at a backslash that ends it, while the
// escapes \/ and \\ and a stray backslash before another character of the run, as
// made-up tokens have, are part of it.
func jwtShapeSpan(s string, i int, everyBackslash bool) int {
	for i < len(s) {
		switch c := s[i]; {
		case byteClass[c]&bB64URL != 0 || c == '/':
			i++
		case c != '\\':
			return i
		case everyBackslash:
			i++
		case i+1 == len(s):
			return i
		case s[i+1] == '\\' || s[i+1] == '/':
			i += 2 // \/ or \\, a JSON escape
		case byteClass[s[i+1]]&bB64URL != 0 && strings.IndexByte("nrtu", s[i+1]) < 0:
			i++ // a stray backslash, as made-up tokens have
		default:
			return i
		}
	}
	return i
}

// decodeSegment decodes the base64url JSON segment seg into v and reports whether it could.
func decodeSegment(seg string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	return err == nil && len(b) > 0 && b[0] == '{' && json.Unmarshal(b, v) == nil
}

// parseClaims returns the non-secret claims of a JWS payload, or nil if it is not a JSON
// object. A claim of an unexpected type is left out rather than failing the others.
func parseClaims(payload string) *JWTClaims {
	var raw struct {
		JTI any `json:"jti"`
		Iss any `json:"iss"`
		Sub any `json:"sub"`
		Aud any `json:"aud"`
		Exp any `json:"exp"`
		Act any `json:"act"`
	}
	if !decodeSegment(payload, &raw) {
		return nil
	}
	c := &JWTClaims{
		JTI:       jsonString(raw.JTI),
		Issuer:    jsonString(raw.Iss),
		Subject:   jsonString(raw.Sub),
		Audience:  jsonStrings(raw.Aud),
		ExpiresAt: jsonSeconds(raw.Exp),
	}
	if act, ok := raw.Act.(map[string]any); ok {
		c.Actor = jsonString(act["sub"])
	}
	return c
}

// jsonString returns v if it is a string, or "".
func jsonString(v any) string {
	s, _ := v.(string)
	return s
}

// jsonStrings returns v, a string or an array of strings, as a slice; other elements are
// left out.
func jsonStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var ss []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				ss = append(ss, s)
			}
		}
		return ss
	}
	return nil
}

// jsonSeconds returns v, a JSON NumericDate, in whole seconds, or 0.
func jsonSeconds(v any) int64 {
	f, ok := v.(float64)
	if !ok || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0
	}
	return int64(f)
}

// ParseJWT returns the non-secret claims of token if the whole of it is a
// compact JWS whose payload is a JSON object, read without verifying the
// signature: they name a credential, they prove nothing.
func ParseJWT(token string) (*JWTClaims, bool) {
	j, ok := parseJWT(token, 0)
	if !ok || j.end != len(token) || j.claims == nil {
		return nil, false
	}
	return j.claims, true
}

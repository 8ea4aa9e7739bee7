package secrets

import (
	"encoding/base64"
	"encoding/json"
	"math"
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
		return jwtMatch{}, false
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
	return jwtMatch{}, false
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

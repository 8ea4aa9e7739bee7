package ingest

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/internal/ascii"
)

// maxValueDepth bounds the nesting of maps and slices in one value.
const maxValueDepth = 32

// scrub passes every string of one entry through the redactor and collects
// what it found. Nothing reaches an entry without passing through it.
type scrub struct {
	r        *secrets.Redactor
	findings []secrets.Finding
}

// attr redacts the value of attribute name: a secret-named attribute
// becomes the fingerprint of its token, secrets inside other values are
// replaced in place, and in a value that is JSON the string members whose
// names are secret are replaced too.
func (s *scrub) attr(name, v string) string {
	if name == approval.AttrSignature && s.approvalJWS(v) {
		return v
	}
	out, f, _ := s.r.RedactAttr(name, v)
	s.findings = append(s.findings, f...)
	return s.jsonMembers(out)
}

// approvalJWS reports whether v is the JWS of an approval: a compact JWS
// whose payload is an approval statement (approval.StatementJWS) in which
// the redactor finds no secret. Its parts are no secret (a header, the
// statement and a signature), and it must reach the verifier and stay in
// the leaf intact; a JWT credential, whose payload is claims, is redacted.
func (s *scrub) approvalJWS(v string) bool {
	payload, ok := approval.StatementJWS(v)
	if !ok {
		return false
	}
	_, _, changed := s.r.RedactText(string(payload))
	return !changed
}

// name redacts an attribute or member name: names hold no secrets, but a
// name is stored, so it is checked like any other string.
func (s *scrub) name(n string) string {
	out, f, changed := s.r.RedactName(n)
	if changed {
		s.findings = append(s.findings, f...)
	}
	return out
}

// text redacts free text (content, names, messages).
func (s *scrub) text(v string) string {
	out, f, _ := s.r.RedactText(v)
	s.findings = append(s.findings, f...)
	return s.jsonMembers(out)
}

// jsonMembers replaces, in a text that looks like a JSON object or array,
// the string values of members whose names are secret ("password",
// "api_key", "authorization", …), keeping every other byte. A text that is
// not JSON is returned unchanged: RedactText already scanned it, as it
// scanned every text passed here.
func (s *scrub) jsonMembers(text string) string {
	if c := firstNonSpace(text); c != '{' && c != '[' {
		return text
	}
	var (
		b         strings.Builder
		last      int
		stack     []byte
		expectKey bool
		key       string
	)
	for i := 0; i < len(text); {
		c := text[i]
		switch c {
		case '{', '[':
			stack = append(stack, c)
			expectKey = c == '{'
			i++
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			expectKey = false
			i++
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1] == '{'
			i++
		case ':':
			expectKey = false
			i++
		case '"':
			end, escaped, ok := jsonStringEnd(text, i)
			if !ok {
				return text // not JSON after all
			}
			inObject := len(stack) > 0 && stack[len(stack)-1] == '{'
			switch {
			case inObject && expectKey && !escaped:
				key = text[i+1 : end-1] // as jsonUnquote would return it
			case inObject && expectKey:
				key = jsonUnquote(text[i:end])
			case inObject && !escaped && !s.r.SecretName(key):
				// RedactText scanned these very bytes as part of text, so
				// scanning them alone would find nothing more (secrets'
				// TestRedactTextMemberRescan checks it on its fixtures and
				// corpora); an escaped value is unquoted and scanned again,
				// since escapes can hide a secret from the scan of the
				// quoted text.
			case inObject:
				val := jsonUnquote(text[i:end])
				out, f, changed := s.r.RedactAttr(key, val)
				if changed {
					s.findings = append(s.findings, f...)
					if b.Len() == 0 {
						b.Grow(len(text))
					}
					b.WriteString(text[last:i])
					b.Write(appendJSONString(nil, out))
					last = end
				}
			}
			i = end
		default:
			i++
		}
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// firstNonSpace returns the first byte of s that is not JSON white space,
// or 0. It stands in for strings.TrimLeft, which builds its set of bytes
// on every call: jsonMembers asks it of every text ingest stores.
func firstNonSpace(s string) byte {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return s[i]
		}
	}
	return 0
}

// jsonStringEnd returns the index after the JSON string that starts at
// s[i] (a quote), and whether the string holds a backslash. Past its
// first bytes, it finds the quotes and backslashes with strings.IndexByte
// rather than looking at every byte, and looks at each byte at most twice.
func jsonStringEnd(s string, i int) (end int, escaped, ok bool) {
	j := i + 1 // the first byte not yet known to be plain
	// Most strings (member names, short values) end within a few bytes,
	// which a loop finds faster than the calls of strings.IndexByte.
	for short := min(len(s), j+16); j < short; j++ {
		switch s[j] {
		case '"':
			return j + 1, escaped, true
		case '\\':
			escaped = true
			j++ // the escaped byte
		}
	}
	q := -1 // the index of the next quote at or after j, once known
	for j < len(s) {
		if q < j {
			n := strings.IndexByte(s[j:], '"')
			if n < 0 {
				return 0, false, false
			}
			q = j + n
		}
		bs := strings.IndexByte(s[j:q], '\\')
		if bs < 0 {
			return q + 1, escaped, true
		}
		// The byte after the backslash is escaped, whatever it is: if it
		// is the quote, the next quote is searched for.
		escaped = true
		j += bs + 2
	}
	return 0, false, false
}

// jsonUnquote returns the string that the JSON string q (quotes included)
// holds, or q without its quotes if q is not valid JSON. It decodes the
// common escapes itself, and leaves the rare ones (surrogates, control
// bytes, invalid UTF-8) to encoding/json, whose answer it must give.
func jsonUnquote(q string) string {
	body := q[1 : len(q)-1]
	if !strings.Contains(body, `\`) {
		return body
	}
	if s, ok := unquoteCommon(body); ok {
		return s
	}
	var s string
	if json.Unmarshal([]byte(q), &s) != nil {
		return body
	}
	return s
}

// jsonEscapes maps the byte after a backslash to what the escape stands
// for, for every JSON escape but \u.
var jsonEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// unquoteCommon decodes the body of a JSON string made of printable ASCII
// and the escapes of jsonEscapes and \u of a code point outside the
// surrogates, and reports false for any other body.
func unquoteCommon(body string) (string, bool) {
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c < ' ' || c >= utf8.RuneSelf || c == '"':
			return "", false
		case c != '\\':
			out = append(out, c)
		case i+1 < len(body) && jsonEscapes[body[i+1]] != 0:
			out = append(out, jsonEscapes[body[i+1]])
			i++
		case i+5 < len(body) && body[i+1] == 'u':
			r, err := strconv.ParseUint(body[i+2:i+6], 16, 16)
			if err != nil || utf16.IsSurrogate(rune(r)) {
				return "", false
			}
			out = utf8.AppendRune(out, rune(r))
			i += 5
		default:
			return "", false
		}
	}
	return string(out), true
}

// checkText rejects a string the ledger cannot hold: invalid UTF-8 (and,
// where nul is false, NUL bytes, which no leaf string may contain).
func checkText(what, v string, nul bool) error {
	if textOK(v, nul) {
		return nil
	}
	if !utf8.ValidString(v) {
		return invalidf("%s: invalid UTF-8", what)
	}
	if !nul && strings.IndexByte(v, 0) >= 0 {
		return invalidf("%s: contains a NUL byte", what)
	}
	return nil
}

// textOK reports whether checkText accepts v; callers that build the
// name of what they check use it to build the name only on error.
func textOK(v string, nul bool) bool {
	if ascii.Plain(v, nul) {
		return true
	}
	return utf8.ValidString(v) && (nul || strings.IndexByte(v, 0) < 0)
}

// attrValue returns the leaf value of attribute key: a string redacted as
// it is, any other value as deterministic JSON (maps with sorted keys) whose
// strings are redacted as members of key.
func (s *scrub) attrValue(key string, v pcommon.Value) (string, error) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		str := v.Str()
		if !textOK(str, false) {
			return "", checkText(fmt.Sprintf("attribute %q", key), str, false)
		}
		return s.attr(key, str), nil
	case pcommon.ValueTypeInt:
		return strconv.FormatInt(v.Int(), 10), nil
	case pcommon.ValueTypeDouble:
		return formatFloat(v.Double()), nil
	case pcommon.ValueTypeBool:
		return strconv.FormatBool(v.Bool()), nil
	case pcommon.ValueTypeEmpty:
		return "", nil
	}
	e := valueEncoder{s: s, key: key, label: attrLabel(key), attrs: true}
	if err := e.value(key, v, 0); err != nil {
		return "", err
	}
	return string(e.buf), nil
}

// contentValue returns content data for v: a string redacted as free text,
// any other value as deterministic JSON with every string redacted (members
// of maps by their names).
func (s *scrub) contentValue(what label, v pcommon.Value) (string, error) {
	if v.Type() == pcommon.ValueTypeStr {
		if !textOK(v.Str(), true) {
			return "", checkText(what.String(), v.Str(), true)
		}
		return s.text(v.Str()), nil
	}
	e := valueEncoder{s: s, label: what}
	if err := e.value("", v, 0); err != nil {
		return "", err
	}
	return string(e.buf), nil
}

// label names what a value belongs to, for error messages; it is
// formatted only when there is an error.
type label struct {
	kind string // "attribute", "event attributes", "log body", …
	name string // quoted after kind if not empty
}

func attrLabel(key string) label { return label{"attribute", key} }

func (l label) String() string {
	if l.name == "" {
		return l.kind
	}
	return l.kind + " " + strconv.Quote(l.name)
}

// valueEncoder writes a pcommon.Value as deterministic JSON.
type valueEncoder struct {
	s     *scrub
	key   string // the attribute whose value this is, when attrs
	label label  // what the value is, for errors
	attrs bool   // strings are attribute values (redacted by name); else text
	buf   []byte
}

func (e *valueEncoder) value(name string, v pcommon.Value, depth int) error {
	if depth > maxValueDepth {
		return invalidf("%s: nested deeper than %d levels", e.what(), maxValueDepth)
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		str := v.Str()
		if !textOK(str, !e.attrs) {
			return checkText(e.what(), str, !e.attrs)
		}
		switch {
		case name != "":
			str = e.s.attr(name, str)
		case e.attrs:
			str = e.s.attr(e.key, str)
		default:
			str = e.s.text(str)
		}
		e.buf = appendJSONString(e.buf, str)
	case pcommon.ValueTypeInt:
		e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			e.buf = appendJSONString(e.buf, formatFloat(f))
		} else {
			e.buf = append(e.buf, formatFloat(f)...)
		}
	case pcommon.ValueTypeBool:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case pcommon.ValueTypeBytes:
		// Bytes that are text are redacted like text, so that a secret
		// cannot pass base64-encoded.
		raw := v.Bytes().AsRaw()
		if utf8.Valid(raw) {
			str := string(raw)
			if name != "" || e.attrs {
				str = e.s.attr(cmp.Or(name, e.key), str)
			} else {
				str = e.s.text(str)
			}
			raw = []byte(str)
		}
		e.buf = append(e.buf, '"')
		e.buf = base64.StdEncoding.AppendEncode(e.buf, raw)
		e.buf = append(e.buf, '"')
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		e.buf = append(e.buf, '[')
		for i := range sl.Len() {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			// Elements of a list are redacted as the list's name.
			if err := e.value(name, sl.At(i), depth+1); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	case pcommon.ValueTypeMap:
		keys, vals, err := mapEntries(v.Map(), e.label)
		if err != nil {
			return err
		}
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendJSONString(e.buf, e.s.name(k))
			e.buf = append(e.buf, ':')
			if err := e.value(k, vals[i], depth+1); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, '}')
	default:
		e.buf = append(e.buf, "null"...)
	}
	return nil
}

func (e *valueEncoder) what() string { return e.label.String() }

// mapEntries returns the members of m sorted by name; of duplicate names
// the first wins, as pcommon.Map.Get does.
func mapEntries(m pcommon.Map, what label) ([]string, []pcommon.Value, error) {
	type kv struct {
		k string
		v pcommon.Value
	}
	entries := make([]kv, 0, m.Len())
	seen := make(map[string]bool, m.Len())
	var err error
	m.Range(func(k string, v pcommon.Value) bool {
		if !textOK(k, false) {
			err = checkText(what.String()+" member name", k, false)
			return false
		}
		if !seen[k] {
			seen[k] = true
			entries = append(entries, kv{k, v})
		}
		return true
	})
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(entries, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	keys := make([]string, len(entries))
	vals := make([]pcommon.Value, len(entries))
	for i, e := range entries {
		keys[i], vals[i] = e.k, e.v
	}
	return keys, vals, nil
}

// formatFloat renders a double the same way everywhere: the shortest
// representation that round-trips, and NaN, +Inf, -Inf by name.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// appendJSONString appends s as a JSON string. s is valid UTF-8. HTML
// characters are not escaped, so text reads as it was sent.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c]&plainText != 0 {
			i = skipPlainJSON(s, i+1, false)
			continue
		}
		b = appendEscape(append(b, s[start:i]...), c, false)
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// skipPlainJSON returns the index of the first of the next eight-byte
// words of s from i that holds a byte a JSON string escapes (an ASCII
// control character, '"' or '\\') or, if asciiOnly, any byte that is not
// ASCII; or the index of s's last few bytes. The encoders look at s's
// bytes one by one only from there.
func skipPlainJSON(s string, i int, asciiOnly bool) int {
	const lows, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		x := ascii.Word(s[i:])
		// (y-lows)&^y&highs is not 0 iff y has a zero byte, and
		// (x-0x20*lows)&^x&highs iff x has a byte below 0x20.
		q, bs := x^('"'*lows), x^('\\'*lows)
		if (x-0x20*lows)&^x&highs|(q-lows)&^q&highs|(bs-lows)&^bs&highs != 0 || asciiOnly && x&highs != 0 {
			break
		}
	}
	return i
}

// Bits of jsonPlain.
const (
	plainASCII = 1 << iota // an ASCII byte a JSON string holds as it is
	plainText              // that, or any byte of a multi-byte character
)

// jsonPlain tells, for each byte, whether a JSON string holds it as it is:
// every byte but ASCII control characters, '"' and '\\'. It saves the
// encoders' loops three comparisons a byte.
var jsonPlain = func() (t [256]byte) {
	for c := 0x20; c < 256; c++ {
		switch {
		case c == '"' || c == '\\':
		case c < utf8.RuneSelf:
			t[c] = plainASCII | plainText
		default:
			t[c] = plainText
		}
	}
	return t
}()

// appendEscape appends the JSON escape of c, an ASCII control character,
// '"' or '\\': a short escape for '"', '\\', \n, \r and \t (and with std,
// as encoding/json writes them, for \b and \f), else \u00XX.
func appendEscape(b []byte, c byte, std bool) []byte {
	const hex = "0123456789abcdef"
	switch {
	case c == '"' || c == '\\':
		return append(b, '\\', c)
	case c == '\n':
		return append(b, '\\', 'n')
	case c == '\r':
		return append(b, '\\', 'r')
	case c == '\t':
		return append(b, '\\', 't')
	case std && c == '\b':
		return append(b, '\\', 'b')
	case std && c == '\f':
		return append(b, '\\', 'f')
	}
	return append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
}

// appendStdJSONString appends s as encoding/json encodes a string without
// escaping HTML: as appendJSONString does, except that \b and \f have
// short escapes, U+2028 and U+2029 are escaped, and invalid UTF-8 becomes
// \ufffd.
func appendStdJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c]&plainASCII != 0 {
			i = skipPlainJSON(s, i+1, true)
			continue
		}
		if c < utf8.RuneSelf {
			b = appendEscape(append(b, s[start:i]...), c, true)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// marshalJSON encodes v (built of maps, slices, strings and
// json.RawMessage) deterministically: map keys sorted, HTML not escaped.
func marshalJSON(v any) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only maps, slices, strings and valid raw JSON reach here.
		panic(fmt.Sprintf("ingest: encode JSON: %v", err))
	}
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}

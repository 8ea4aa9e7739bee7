package secrets

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is the fingerprint key of the tests.
var testKey = []byte("agentledger-test-key-0123456789abcdef")

func newTestRedactor(t testing.TB, cfg Config) *Redactor {
	t.Helper()
	r, err := NewRedactor(testKey, cfg)
	if err != nil {
		t.Fatalf("NewRedactor: %v", err)
	}
	return r
}

// fixture is one line of testdata/secrets.txt.
type fixture struct {
	name       string // kind/rule/line
	kind, rule string
	text       string // with the secret in place
	secret     string
	before     string // text before the secret
	after      string // text after the secret
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	f, err := os.Open("testdata/secrets.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fs []fixture
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, " ", 3)
		if len(fields) != 3 {
			t.Fatalf("testdata/secrets.txt:%d: want kind rule \"text\"", n)
		}
		text, err := strconv.Unquote(fields[2])
		if err != nil {
			t.Fatalf("testdata/secrets.txt:%d: %v", n, err)
		}
		before, rest, ok1 := strings.Cut(text, "[[")
		secret, after, ok2 := strings.Cut(rest, "]]")
		if !ok1 || !ok2 {
			t.Fatalf("testdata/secrets.txt:%d: want the secret between [[ and ]]", n)
		}
		fs = append(fs, fixture{
			name: fields[0] + "/" + fields[1] + "/" + strconv.Itoa(n),
			kind: fields[0], rule: fields[1],
			text: before + secret + after, secret: secret, before: before, after: after,
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return fs
}

func loadLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSuffix(l, "\n"); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// findingFor returns the finding of kind and rule, failing the test if there is none.
func findingFor(t *testing.T, fs []Finding, kind, rule string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.Kind == kind && f.Rule == rule {
			return f
		}
	}
	t.Fatalf("findings = %+v, want one of kind %q rule %q", fs, kind, rule)
	return Finding{}
}

func TestRedactTextSecrets(t *testing.T) {
	r := newTestRedactor(t, Config{})
	for _, fx := range loadFixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			for _, redact := range []struct {
				name string
				fn   func(string) (string, []Finding, bool)
			}{
				{"RedactText", r.RedactText},
				{"RedactAttr", func(v string) (string, []Finding, bool) { return r.RedactAttr("gen_ai.output.messages", v) }},
			} {
				got, findings, changed := redact.fn(fx.text)
				if !changed {
					t.Errorf("%s(%q) changed = false, want true", redact.name, fx.text)
				}
				if strings.Contains(got, fx.secret) {
					t.Errorf("%s(%q) = %q, still holds the secret", redact.name, fx.text, got)
				}
				f := findingFor(t, findings, fx.kind, fx.rule)
				if want := fx.before + f.Fingerprint + fx.after; got != want {
					t.Errorf("%s(%q) = %q, want %q", redact.name, fx.text, got, want)
				}
				if fx.rule != "private_key" {
					if want := r.Fingerprint(fx.secret); f.Fingerprint != want {
						t.Errorf("%s(%q) fingerprint = %q, want %q", redact.name, fx.text, f.Fingerprint, want)
					}
				}
			}
		})
	}
}

func TestRedactTextIdempotent(t *testing.T) {
	r := newTestRedactor(t, Config{})
	for _, fx := range loadFixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			once, _, _ := r.RedactText(fx.text)
			twice, findings, changed := r.RedactText(once)
			if changed || twice != once {
				t.Errorf("RedactText(%q) = %q, %v, want it unchanged", once, twice, changed)
			}
			for _, f := range findings {
				if f.Kind != KindAWSAccessKeyID {
					t.Errorf("RedactText(%q) finds %+v in a redacted text", once, f)
				}
			}
		})
	}
}

func TestRedactTextClean(t *testing.T) {
	r := newTestRedactor(t, Config{})
	for _, line := range loadLines(t, "testdata/clean.txt") {
		t.Run(line, func(t *testing.T) {
			got, findings, changed := r.RedactText(line)
			if got != line || findings != nil || changed {
				t.Errorf("RedactText(%q) = %q, %+v, %v, want it unchanged", line, got, findings, changed)
			}
		})
	}
}

func TestRedactTextPrivateKeyLineBreaks(t *testing.T) {
	r := newTestRedactor(t, Config{})
	const body = "MIIEowIBAAKCAQEAw4aTl1bNEXAMPLEONLYxZ3cKm0lhG2a9QW1e5R7Y\nZmFrZS1rZXktbWF0ZXJpYWwtZm9yLXRlc3Rz=="
	pem := "-----BEGIN RSA PRIVATE KEY-----\n" + body + "\n-----END RSA PRIVATE KEY-----"
	escaped := strings.ReplaceAll(pem, "\n", `\n`)
	crlf := strings.ReplaceAll(pem, "\n", "\r\n")
	var fps []string
	for _, v := range []string{pem, escaped, crlf} {
		got, findings, _ := r.RedactText(v)
		f := findingFor(t, findings, KindPrefixedToken, "private_key")
		if got != f.Fingerprint {
			t.Errorf("RedactText(%q) = %q, want %q", v, got, f.Fingerprint)
		}
		fps = append(fps, f.Fingerprint)
	}
	if fps[0] != fps[1] || fps[0] != fps[2] {
		t.Errorf("fingerprints of one key with \\n, escaped \\n and \\r\\n = %q, want them equal", fps)
	}
}

func TestRedactTextEscapedBoundaries(t *testing.T) {
	r := newTestRedactor(t, Config{})
	tok := "ghp_" + strings.Repeat("aB3dE", 7) + "z"
	jwt := makeJWT(t, map[string]any{"alg": "HS256"}, map[string]any{"sub": "a"})
	for _, v := range []string{
		`"my token:\n` + tok + `"`,
		"Authorization=Bearer%20" + tok,
		`next=%3D` + jwt,
		`\u0022` + jwt + `\u0022`,
		"line\tBearer\t" + tok,
	} {
		got, _, changed := r.RedactText(v)
		if !changed || strings.Contains(got, tok) || strings.Contains(got, jwt) {
			t.Errorf("RedactText(%q) = %q, %v, want the token replaced", v, got, changed)
		}
	}
}

func TestRedactTextAWSAccessKeyID(t *testing.T) {
	r := newTestRedactor(t, Config{})
	const v = "assumed role with AKIAIOSFODNN7EXAMPLE, then ASIAY34FZKBOKMUTVV7A and AKIAIOSFODNN7EXAMPLE again"
	got, findings, changed := r.RedactText(v)
	if got != v || changed {
		t.Errorf("RedactText(%q) = %q, %v, want it unchanged", v, got, changed)
	}
	want := []Finding{
		{Kind: KindAWSAccessKeyID, Rule: "aws_access_key_id", CredentialID: "AKIAIOSFODNN7EXAMPLE"},
		{Kind: KindAWSAccessKeyID, Rule: "aws_access_key_id", CredentialID: "ASIAY34FZKBOKMUTVV7A"},
	}
	if !reflect.DeepEqual(findings, want) {
		t.Errorf("RedactText(%q) findings = %+v, want %+v", v, findings, want)
	}
}

func TestRedactTextDuplicates(t *testing.T) {
	r := newTestRedactor(t, Config{})
	tok := "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx"
	got, findings, _ := r.RedactText(tok + " and again " + tok)
	fp := r.Fingerprint(tok)
	if want := fp + " and again " + fp; got != want {
		t.Errorf("RedactText = %q, want %q", got, want)
	}
	if len(findings) != 1 {
		t.Errorf("RedactText findings = %+v, want one", findings)
	}
}

// makeJWT builds a compact JWS with a fake signature.
func makeJWT(t testing.TB, header, payload any) string {
	t.Helper()
	enc := func(v any) string {
		if s, ok := v.(string); ok {
			return base64.RawURLEncoding.EncodeToString([]byte(s))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(payload) + "." + base64.RawURLEncoding.EncodeToString([]byte("not-a-real-signature-0123456789"))
}

func TestJWTClaims(t *testing.T) {
	r := newTestRedactor(t, Config{})
	hdr := map[string]any{"alg": "RS256", "typ": "JWT"}
	tests := []struct {
		name    string
		payload any
		want    *JWTClaims
	}{
		{
			name: "all",
			payload: map[string]any{
				"jti": "id-1", "iss": "https://iss.example", "sub": "agent:a", "aud": []string{"x", "y"},
				"exp": 1767225600, "act": map[string]any{"sub": "agent:b", "act": map[string]any{"sub": "agent:c"}},
				"scope": "read write",
			},
			want: &JWTClaims{JTI: "id-1", Issuer: "https://iss.example", Subject: "agent:a", Audience: []string{"x", "y"}, ExpiresAt: 1767225600, Actor: "agent:b"},
		},
		{
			name:    "aud string, exp float",
			payload: map[string]any{"aud": "ledger", "exp": 1767225600.75},
			want:    &JWTClaims{Audience: []string{"ledger"}, ExpiresAt: 1767225600},
		},
		{
			name:    "claims of unexpected types are left out",
			payload: map[string]any{"jti": 7, "sub": "s", "aud": []any{"a", 3}, "exp": "soon", "act": "agent:b"},
			want:    &JWTClaims{Subject: "s", Audience: []string{"a"}},
		},
		{
			name:    "payload not JSON",
			payload: "just bytes",
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := makeJWT(t, hdr, tt.payload)
			_, findings, _ := r.RedactText("tok=" + tok)
			f := findingFor(t, findings, KindJWT, "jws")
			if !reflect.DeepEqual(f.Claims, tt.want) {
				t.Errorf("claims of %q = %+v, want %+v", tok, f.Claims, tt.want)
			}
			if tt.want != nil && f.CredentialID != tt.want.JTI {
				t.Errorf("CredentialID of %q = %q, want %q", tok, f.CredentialID, tt.want.JTI)
			}
		})
	}
}

func TestJWTShapes(t *testing.T) {
	r := newTestRedactor(t, Config{})
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	// shape is a JWT by shape, with the two bytes \r in its payload, as gitleaks' jwt rule
	// generated it.
	const shape = `eynnh7ptnqnPshnF00D.ey8NEcnNpNH\rvU7eph.GUb3Fc7gHt`
	tests := []struct {
		name, text, want string // want is the secret, "" for no JWT
	}{
		{"unsecured", enc(`{"alg":"none"}`) + "." + enc(`{"sub":"x"}`) + ". ok", enc(`{"alg":"none"}`) + "." + enc(`{"sub":"x"}`) + "."},
		{"pretty header", enc("{\n  \"alg\": \"HS256\"\n}") + "." + enc(`{}`) + ".c2ln", enc("{\n  \"alg\": \"HS256\"\n}") + "." + enc(`{}`) + ".c2ln"},
		{"no alg", enc(`{"typ":"JWT"}`) + "." + enc(`{}`) + ".c2ln", ""},
		{"two segments", enc(`{"alg":"HS256"}`) + "." + enc(`{"sub":"x"}`), ""},
		{"mid word", "x" + enc(`{"alg":"HS256"}`) + "." + enc(`{}`) + ".c2ln", ""},
		{"sentence end", "token " + enc(`{"alg":"HS256"}`) + "." + enc(`{}`) + ".c2lnbmF0dXJl.", enc(`{"alg":"HS256"}`) + "." + enc(`{}`) + ".c2lnbmF0dXJl"},
		// Made-up tokens with backslashes, as gitleaks' jwt rule allows and its random
		// examples have: every backslash of a payload is the token's, \r too.
		{"escape in made-up payload", "<jwtToken>\n    " + shape + "\n</jwtToken>", shape},
		{"escape in decoded header's payload", "x " + enc(`{"alg":"HS256"}`) + `.eyJzdWIiOiJ4\rIiwiZXhwIjoxfQ.abcdefghijklm y`,
			enc(`{"alg":"HS256"}`) + `.eyJzdWIiOiJ4\rIiwiZXhwIjoxfQ.abcdefghijklm`},
		{"backslash ends payload", `x eynnh7ptnqnPshnF00D.ey8NEcnNpNHvU7ephQ\.GUb3Fc7gHt y`, `eynnh7ptnqnPshnF00D.ey8NEcnNpNHvU7ephQ\.GUb3Fc7gHt`},
		{"escape in short signature", `x eynnh7ptnqnPshnF00D.ey8NEcnNpNHvU7ephQz2.GUb3\rFc7gHtX y`, `eynnh7ptnqnPshnF00D.ey8NEcnNpNHvU7ephQz2.GUb3\rFc7gHtX`},
		// A JSON string's \n after the signature, or after an empty one, ends the token.
		{"escape after signature", `{"content":"token eynnh7ptnqnPshnF00D.ey8NEcnNpNHvU7ephQz2.GUb3Fc7gHtQ\nnext line"}`,
			`eynnh7ptnqnPshnF00D.ey8NEcnNpNHvU7ephQz2.GUb3Fc7gHtQ`},
		{"escape after empty signature", `{"content":"token eynnh7ptnqnPshnF00D.ey8NEcnNpNHvU7ephQz2.\nnext line"}`,
			`eynnh7ptnqnPshnF00D.ey8NEcnNpNHvU7ephQz2.`},
		{"escape in too short signature", `{"content":"token eynnh7ptnqnPshnF00D.ey8NEcnNpNHvU7ephQz2.GUb3\nok"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, findings, changed := r.RedactText(tt.text)
			if tt.want == "" {
				if changed || len(findings) != 0 {
					t.Errorf("RedactText(%q) = %q, %+v, want it unchanged", tt.text, got, findings)
				}
				return
			}
			f := findingFor(t, findings, KindJWT, "jws")
			if want := strings.Replace(tt.text, tt.want, f.Fingerprint, 1); got != want || f.Fingerprint != r.Fingerprint(tt.want) {
				t.Errorf("RedactText(%q) = %q, want %q", tt.text, got, want)
			}
		})
	}
}

func TestRedactAttr(t *testing.T) {
	jwt := makeJWT(t, map[string]any{"alg": "ES256"}, map[string]any{"jti": "j-9", "sub": "svc"})
	const ghp = "ghp_0123456789abcdefghijABCDEFGHIJklmnop"
	r := newTestRedactor(t, Config{ExtraSecretKeys: []string{"x-internal-auth", "myapp.*.sig"}})
	fp := r.Fingerprint
	tests := []struct {
		name, value string
		want        string // the stored value
		kind, rule  string // of the one finding; "" for none
	}{
		{"http.request.header.authorization", "Bearer abc", fp("abc"), KindSecretAttribute, "authorization"},
		{"Authorization", "Basic dXNlcjpwYXNz", fp("dXNlcjpwYXNz"), KindSecretAttribute, "authorization"},
		{"authorization", "token " + ghp, fp(ghp), KindPrefixedToken, "github_pat"},
		{"http.request.header.authorization", "Bearer " + jwt, fp(jwt), KindJWT, "jws"},
		{"http.request.header.Proxy-Authorization", "  Bearer   q1w2e3  ", fp("q1w2e3"), KindSecretAttribute, "proxy-authorization"},
		{"http.response.header.set-cookie", "session=abc; Path=/", fp("session=abc; Path=/"), KindSecretAttribute, "set-cookie"},
		{"http.request.header.cookie", "a=b", fp("a=b"), KindSecretAttribute, "cookie"},
		{"http.request.header.x-api-key", "k-123", fp("k-123"), KindSecretAttribute, "x-api-key"},
		{"http.request.header.x-goog-api-key", "k-123", fp("k-123"), KindSecretAttribute, "*-api-key"},
		{"OPENAI_API_KEY", "k-123", fp("k-123"), KindSecretAttribute, "*-api-key"},
		{"api_key", "k-123", fp("k-123"), KindSecretAttribute, "*api_key*"},
		{"tool.args.apiKey", "k-123", fp("k-123"), KindSecretAttribute, "*apikey*"},
		{"aws.secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", fp("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), KindSecretAttribute, "*secret*"},
		{"oauth.refresh-token", "r-1", fp("r-1"), KindSecretAttribute, "*token*"},
		{"db.password", "hunter2", fp("hunter2"), KindSecretAttribute, "*password*"},
		{"PASSWD", "hunter2", fp("hunter2"), KindSecretAttribute, "*passwd*"},
		{"tls.private-key", "k", fp("k"), KindSecretAttribute, "*private_key*"},
		{"privateKey", "k", fp("k"), KindSecretAttribute, "*privatekey*"},
		{"azure.client_credential", "c", fp("c"), KindSecretAttribute, "*credential*"},
		{"http.request.header.x-internal-auth", "zz", fp("zz"), KindSecretAttribute, "x-internal-auth"},
		{"myapp.webhook.sig", "zz", fp("zz"), KindSecretAttribute, "myapp.*.sig"},
		{"db.password", "", "", "", ""},
		{"db.password", fp("hunter2"), fp("hunter2"), "", ""},
		{"gen_ai.usage.input_tokens", "123", "123", "", ""},
		{"gen_ai.usage.cache_read.input_tokens", "12", "12", "", ""},
		{"gen_ai.request.max_tokens", "1024", "1024", "", ""},
		{"llm.token_count.prompt", "42", "42", "", ""},
		{"llm.usage.total_tokens", "42", "42", "", ""},
		{"ai.usage.promptTokens", "42", "42", "", ""},
		{"vertex.usage.promptTokenCount", "42", "42", "", ""},
		{"gen_ai.token.type", "input", "input", "", ""},
		{"credential.id", "AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", KindAWSAccessKeyID, "aws_access_key_id"},
		{"credential.subject", "spiffe://example.org/agent", "spiffe://example.org/agent", "", ""},
		{"credential.fingerprint", fp("x"), fp("x"), "", ""},
		{"credential.parent_id", "Bearer " + jwt, "Bearer " + fp(jwt), KindJWT, "jws"},
		{"gen_ai.prompt", "use " + ghp + " to push", "use " + fp(ghp) + " to push", KindPrefixedToken, "github_pat"},
		{"http.request.method", "POST", "POST", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			got, findings, changed := r.RedactAttr(tt.name, tt.value)
			if got != tt.want {
				t.Errorf("RedactAttr(%q, %q) = %q, want %q", tt.name, tt.value, got, tt.want)
			}
			if want := got != tt.value; changed != want {
				t.Errorf("RedactAttr(%q, %q) changed = %v, want %v", tt.name, tt.value, changed, want)
			}
			if tt.kind == "" {
				if len(findings) != 0 {
					t.Errorf("RedactAttr(%q, %q) findings = %+v, want none", tt.name, tt.value, findings)
				}
				return
			}
			if len(findings) != 1 || findings[0].Kind != tt.kind || findings[0].Rule != tt.rule {
				t.Errorf("RedactAttr(%q, %q) findings = %+v, want one of kind %q rule %q", tt.name, tt.value, findings, tt.kind, tt.rule)
			}
		})
	}
}

func TestRedactAttrJWTClaims(t *testing.T) {
	r := newTestRedactor(t, Config{})
	jwt := makeJWT(t, map[string]any{"alg": "ES256"}, map[string]any{"jti": "j-9", "iss": "https://sts.example", "exp": 1767225600})
	_, findings, _ := r.RedactAttr("http.request.header.authorization", "Bearer "+jwt)
	want := []Finding{{
		Kind: KindJWT, Rule: "jws", Fingerprint: r.Fingerprint(jwt), CredentialID: "j-9",
		Claims: &JWTClaims{JTI: "j-9", Issuer: "https://sts.example", ExpiresAt: 1767225600},
	}}
	if !reflect.DeepEqual(findings, want) {
		t.Errorf("RedactAttr(authorization, Bearer %s) findings = %+v, want %+v", jwt, findings, want)
	}
}

func TestFingerprint(t *testing.T) {
	// RFC 4231, test case 2.
	if got, want := Fingerprint([]byte("Jefe"), "what do ya want for nothing?"), "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Errorf("Fingerprint(Jefe, ...) = %q, want %q", got, want)
	}
	r := newTestRedactor(t, Config{})
	if got, want := r.Fingerprint("tok"), Fingerprint(testKey, "tok"); got != want {
		t.Errorf("Redactor.Fingerprint(tok) = %q, want %q", got, want)
	}
	if a, b := r.Fingerprint("tok"), r.Fingerprint("tok"); a != b {
		t.Errorf("Redactor.Fingerprint(tok) = %q then %q, want them equal", a, b)
	}
	if a, b := r.Fingerprint("tok"), r.Fingerprint("tok2"); a == b {
		t.Errorf("Redactor.Fingerprint(tok) = Fingerprint(tok2) = %q, want them different", a)
	}
	other, err := NewRedactor([]byte(strings.Repeat("k", MinKeySize)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := r.Fingerprint("tok"), other.Fingerprint("tok"); a == b {
		t.Errorf("Fingerprint(tok) under two keys = %q, want them different", a)
	}
	if !isFingerprint(r.Fingerprint("tok")) {
		t.Errorf("isFingerprint(%q) = false, want true", r.Fingerprint("tok"))
	}
}

func TestNewRedactor(t *testing.T) {
	tests := []struct {
		name    string
		key     []byte
		cfg     Config
		wantErr string
	}{
		{"ok", testKey, Config{ExtraSecretKeys: []string{"x-auth", "*.sig"}}, ""},
		{"short key", testKey[:MinKeySize-1], Config{}, "31 bytes, want at least 32"},
		{"empty pattern", testKey, Config{ExtraSecretKeys: []string{""}}, `extra_secret_keys[0] ""`},
		{"only stars", testKey, Config{ExtraSecretKeys: []string{"a", "**"}}, `extra_secret_keys[1] "**"`},
		{"space", testKey, Config{ExtraSecretKeys: []string{"my key"}}, "spaces or control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRedactor(tt.key, tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("NewRedactor() = %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("NewRedactor() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewRedactorCopiesKey(t *testing.T) {
	key := append([]byte(nil), testKey...)
	r, err := NewRedactor(key, Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := r.Fingerprint("tok")
	key[0] ^= 0xff
	if got := r.Fingerprint("tok"); got != want {
		t.Errorf("Fingerprint(tok) after the caller changed its key = %q, want %q", got, want)
	}
}

func TestRedactorConcurrent(t *testing.T) {
	r := newTestRedactor(t, Config{})
	fixtures := loadFixtures(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, fx := range fixtures {
				if got, _, _ := r.RedactText(fx.text); strings.Contains(got, fx.secret) {
					t.Errorf("RedactText(%q) = %q, still holds the secret", fx.text, got)
				}
			}
		})
	}
	wg.Wait()
}

// TestRedactTextLinear guards against candidates that rescan the text: each input repeats
// a secret's start so that a quadratic scanner would take many seconds.
func TestRedactTextLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	r := newTestRedactor(t, Config{})
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256"}`))
	// fastest times RedactText on s, best of three, so that a busy machine
	// (other tests, the race detector) does not decide the outcome.
	fastest := func(s string) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			r.RedactText(s)
			best = min(best, time.Since(start))
		}
		return best
	}
	text, err := os.ReadFile("testdata/clean.txt")
	if err != nil {
		t.Fatal(err)
	}
	clean := max(fastest(strings.Repeat(string(text), (256<<10)/len(text)+1)[:256<<10]), time.Millisecond)
	for _, unit := range []string{
		"eyJ", hdr + ".", hdr + "." + hdr + "-", "\\neyJ", "%3DeyJ", "sk-", "ghp_", "SG.", "SK",
		"secret", "secret_", "secret_key= ", "Bearer ", "bearer x-", "Bearer %20", "Basic ", "Basic dXNl",
		"-", "-----BEGIN PRIVATE KEY-----", "-----BEGIN CERTIFICATE-----", "AKIA", "pypi-AgE",
		"=", ":", "a=", "token=", "password: ", "password=x", "--password ", "--token", `"secret": "`,
		`"secret":"`, `\"api_key\":\"`, "api_key='", "token: Bearer ", "token=Bearer%20",
		"AKIAIOSFODNN7EXAMPLE ", "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE ",
	} {
		// Work that is linear in the input, with a bounded cost per secret
		// found, stays within a fixed factor of the time clean text of the
		// same size takes; re-reading a window of the input at every
		// separator, or anything quadratic, costs thousands of times more.
		// Both times are taken in the same run, so a busy machine slows
		// both alike.
		s := strings.Repeat(unit, (256<<10)/len(unit))
		if d := fastest(s); d > 300*clean {
			t.Errorf("RedactText(%q × %d) took %v, %.0f× the %v of clean text of the same size; want at most 300×", unit, len(s)/len(unit), d, float64(d)/float64(clean), clean)
		}
	}
}

// TestRedactTextCleanJSON checks that the JSON of the benchmark holds no secret.
func TestRedactTextCleanJSON(t *testing.T) {
	r := newTestRedactor(t, Config{})
	b, err := os.ReadFile("testdata/messages.json")
	if err != nil {
		t.Fatal(err)
	}
	if got, findings, changed := r.RedactText(string(b)); changed || len(findings) != 0 {
		t.Errorf("RedactText(testdata/messages.json) = %q, %+v, want it unchanged", got, findings)
	}
}

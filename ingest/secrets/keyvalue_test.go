package secrets

import (
	"strings"
	"testing"
)

// markedSecrets splits a text with its secrets between [[ and ]] into the text and the
// secrets.
func markedSecrets(t *testing.T, marked string) (text string, secrets []string) {
	t.Helper()
	var b strings.Builder
	for {
		before, rest, ok := strings.Cut(marked, "[[")
		b.WriteString(before)
		if !ok {
			return b.String(), secrets
		}
		secret, after, ok := strings.Cut(rest, "]]")
		if !ok {
			t.Fatalf("%q: [[ without ]]", marked)
		}
		b.WriteString(secret)
		secrets = append(secrets, secret)
		marked = after
	}
}

func TestRedactTextKeyValue(t *testing.T) {
	tests := []struct {
		name   string
		marked string   // the text, with each secret between [[ and ]]
		hashed []string // what is fingerprinted, if not the marked text
		rules  []string // the Rule of each finding
		cfg    Config
	}{
		{
			name:   "several in JSON",
			marked: `{"password": "[[hunter2hunter2]]", "max_tokens": 1024, "api_key": "[[k-8f3a9c2e51d44b8e]]", "user": "deploy"}`,
			rules:  []string{"*password*", "*api_key*"},
		},
		{
			name:   "JSON escapes are undone before fingerprinting",
			marked: `{"password": "[[p\"w\\d-12345]]"}`,
			hashed: []string{`p"w\d-12345`},
			rules:  []string{"*password*"},
		},
		{
			name:   "URL query escapes are undone before fingerprinting",
			marked: `GET https://api.example.com/v1/items?limit=10&access_token=[[ab%2Bcd%2Fef12]]&x=1`,
			hashed: []string{"ab+cd/ef12"},
			rules:  []string{"*token*"},
		},
		{
			name:   "lower-case token that starts with a slash is not a path",
			marked: `kraken_token: [[//tl=ar0xuor1w23ri2bo4/im3xgtma=-+yn9wft1qytx367qa3aqyksts1-t6ky/7z3jv4_mdpzpeo/]]`,
			rules:  []string{"*token*"},
		},
		{
			name:   "key after a JSON escape",
			marked: `{"env": "HOME=/root\nDB_PASSWORD=[[hunter2hunter2]]\nPATH=/bin"}`,
			rules:  []string{"*password*"},
		},
		{
			name:   "exact name after a JSON escape",
			marked: `"headers": "Accept: */*\r\nAuthorization: token [[a1b2c3d4e5f6]]\r\n"`,
			rules:  []string{"authorization"},
		},
		{
			name:   "HTTP header name in an attribute-style key",
			marked: `http.request.header.x-goog-api-key=[[AIzaSyNotAGoogleKey-12]]`,
			rules:  []string{"*-api-key"},
		},
		{
			name:   "env file",
			marked: "OPENAI_API_KEY=[[not-an-openai-key-123]]\nDEBUG=true\nDB_PASSWORD='[[pa55 w0rd]]'\n",
			rules:  []string{"*-api-key", "*password*"},
		},
		{
			name:   "flags",
			marked: `deploy --api-key [[k-8f3a9c2e51d44b8e]] --region eu-west-1 --client-secret=[[AmwufUxbvJDCTbyvHNsG9eh6]] --verbose`,
			rules:  []string{"*api_key*", "*secret*"},
		},
		{
			name:   "extra secret keys",
			marked: `x-internal-auth: [[zz-123456789]] and myapp.webhook.sig=[[c2lnbmF0dXJl]]`,
			rules:  []string{"x-internal-auth", "myapp.*.sig"},
			cfg:    Config{ExtraSecretKeys: []string{"x-internal-auth", "myapp.*.sig"}},
		},
		{
			name:   "sentence end",
			marked: `I exported DB_PASSWORD=[[hunter2hunter2]]. Then I ran the job.`,
			rules:  []string{"*password*"},
		},
		{
			name:   "value with spaces in quotes",
			marked: `secret: "[[correct horse battery staple]]"`,
			rules:  []string{"*secret*"},
		},
		{
			name:   "assignment operators, backticks and typed declarations",
			marked: "API_TOKEN ::= \"[[k-8f3a9c2e51d44b8e]]\"\nAPI_TOKEN ?= \"[[k-9f3a9c2e51d44b8e]]\"\n$apiToken .= \"[[k-af3a9c2e51d44b8e]]\"\napiToken := `[[k-bf3a9c2e51d44b8e]]`\nvar apiToken string = \"[[k-cf3a9c2e51d44b8e]]\"",
			rules:  []string{"*token*", "*token*", "*token*", "*token*", "*token*"},
		},
		{
			name:   "XML elements and setProperty",
			marked: "<apiToken>\n    [[k-8f3a9c2e51d44b8e]]\n</apiToken> System.setProperty(\"API_TOKEN\", \"[[k-9f3a9c2e51d44b8e]]\")",
			rules:  []string{"*token*", "*token*"},
		},
		{
			name:   "URL-encoded key=value in a query parameter",
			marked: `GET https://debug.example.com/echo?body=api_token%3D[[k-8f3a9c2e%2B51d44b8e]]&x=1 and ?q=%7B%22password%22%3A+%22[[hunter2hunter2]]%22%7D`,
			hashed: []string{"k-8f3a9c2e+51d44b8e", "hunter2hunter2"},
			rules:  []string{"*token*", "*password*"},
		},
		{
			name:   "XML element and setProperty inside a JSON string",
			marked: `{"content":"\u003capiToken\u003e\n  [[k-8f3a9c2e51d44b8e]]\n\u003c/apiToken\u003e System.setProperty(\"API_TOKEN\", \"[[k-9f3a9c2e51d44b8e]]\")"}`,
			rules:  []string{"*token*", "*token*"},
		},
		{
			name:   "word values after = are secrets",
			marked: `password=[[supersecret]] token=[[abcdefghijklmnop]]`,
			rules:  []string{"*password*", "*token*"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRedactor(t, tt.cfg)
			text, secrets := markedSecrets(t, tt.marked)
			hashed := tt.hashed
			if hashed == nil {
				hashed = secrets
			}
			want := tt.marked
			for i, s := range secrets {
				want = strings.Replace(want, "[["+s+"]]", r.Fingerprint(hashed[i]), 1)
			}
			got, findings, changed := r.RedactText(text)
			if got != want || !changed {
				t.Errorf("RedactText(%q) = %q, %v, want %q, true", text, got, changed, want)
			}
			if len(findings) != len(tt.rules) {
				t.Fatalf("RedactText(%q) findings = %+v, want %d", text, findings, len(tt.rules))
			}
			for i, f := range findings {
				if f.Kind != KindSecretAttribute || f.Rule != tt.rules[i] || f.Fingerprint != r.Fingerprint(hashed[i]) {
					t.Errorf("finding %d = %+v, want kind %q rule %q fingerprint of %q", i, f, KindSecretAttribute, tt.rules[i], hashed[i])
				}
			}
			if again, _, changed := r.RedactText(got); changed || again != got {
				t.Errorf("RedactText(%q) = %q, want it unchanged", got, again)
			}
		})
	}
}

// TestRedactTextKeyValueKept lists values of secret-named keys that stay, and why.
func TestRedactTextKeyValueKept(t *testing.T) {
	r := newTestRedactor(t, Config{})
	for _, v := range []string{
		`"api_key": "short"`,                                                                            // under 8 bytes
		`"token_limit": 1234567890`,                                                                     // a number
		`"secret_rotated": "2025-01-27T10:15:30Z"`,                                                      // a date
		`"password_required": undefined`,                                                                // a word for nothing
		`export TOKEN=$(cat /run/secrets/token)`,                                                        // a placeholder
		`curl -H "Authorization: Bearer ${ACCESS_TOKEN}"`,                                               // a placeholder
		`"password": "{{ .Values.db.password }}"`,                                                       // a template
		`token: <paste the token here>`,                                                                 // a placeholder
		`api_key=XXXXXXXX password=...........`,                                                         // masked
		`"client_secret": "REDACTED", "token": "[redacted]"`,                                            // masked
		`token_url=https://auth.example.com/oauth/token`,                                                // a URL
		`"issued_token_type": "urn:ietf:params:oauth:token-type:access_token"`,                          // a URN
		`password_file=/etc/app/db-password.txt`,                                                        // a path
		`token = response.json()["access_token"]`,                                                       // code
		`api_key = settings.openai.api_key`,                                                             // code
		`secret = Secret(name="db", namespace="prod")`,                                                  // code
		`Authorization: Required; Password: Incorrect`,                                                  // prose
		`def login(password: SecretStr, token: Optional[str]):`,                                         // type annotations
		`if password == "hunter2hunter2":`,                                                              // a comparison
		`--password --verbose`,                                                                          // another flag
		"the password\nhunter2hunter2",                                                                  // no separator
		`urn:example:token:a1b2c3d4e5f6 arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbC123`, // key:value without a space
		`password:= ""`,                          // empty
		`"tokenizer": "cl100k_base"`,             // not a credential
		`token_source: kubernetesserviceaccount`, // words glued together
	} {
		got, findings, changed := r.RedactText(v)
		if changed || got != v || len(findings) != 0 {
			t.Errorf("RedactText(%q) = %q, %+v, want it unchanged", v, got, findings)
		}
	}
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"authorization":                     true,
		"http.request.header.Authorization": true,
		"Proxy-Authorization":               true,
		"cookie":                            true,
		"set-cookie":                        true,
		"x-api-key":                         true,
		"OPENAI_API_KEY":                    true,
		"apiKey":                            true,
		"client_secret":                     true,
		"GITHUB_TOKEN":                      true,
		"creds":                             true,
		"aws_creds":                         true,
		"cloudflare":                        false, // secret only for a token-shaped value
		"HEROKU_KEY":                        false,
		"refreshToken":                      true,
		"_authToken":                        true,
		"DB_PASSWORD":                       true,
		"passwd":                            true,
		"tls.private_key":                   true,
		"privateKey":                        true,
		"azure.client_credential":           true,
		"tokenizer_auth_token":              true,
		"tokenIssuer":                       true,
		"max_tokens":                        false,
		"gen_ai.usage.input_tokens":         false,
		"token_count":                       false,
		"llm.usage.total_tokens":            false,
		"promptTokenCount":                  false,
		"gen_ai.token.type":                 false,
		"tokenizer":                         false,
		"gen_ai.request.tokenization":       false,
		"credential.id":                     false,
		"credential.fingerprint":            false,
		"auth":                              true,
		"pwd":                               true,
		"DB_PWD":                            true,
		"pass":                              true,
		"smtp_pass":                         true,
		"passphrase":                        true,
		"session":                           true,
		"_gitlab_session":                   true,
		"encryption_key":                    true,
		"signing_key":                       true,
		"access_key":                        true,
		"SUMOLOGIC_ACCESSKEY":               true,
		"accessKeySecret":                   true,
		"accessKeyId":                       false,
		"aws.access_key_id":                 false,
		"AccountKey":                        true,
		"Ocp-Apim-Subscription-Key":         true,
		"sig":                               true,
		"session.id":                        false,
		"signal":                            false,
		"oauth.provider":                    false,
		"passenger":                         false,
		"keyboard":                          false,
		"key":                               false,
		"api":                               false,
		"":                                  false,
		"http.request.method":               false,
		strings.Repeat("x", 200) + "_token": true,
	} {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestKeyGrams checks the cheap test that names pass before the patterns are tried: every
// name that a built-in pattern matches holds the pattern's key grams.
func TestKeyGrams(t *testing.T) {
	n := newNameRules(nil)
	if n.minLen != len("pwd") {
		t.Errorf("minLen = %d, want %d", n.minLen, len("pwd"))
	}
	for _, g := range n.builtin {
		if g.grams == 0 {
			t.Errorf("pattern %q holds no key gram", g.pattern)
		}
		literal := strings.ReplaceAll(g.pattern, "*", "")
		for _, name := range []string{
			literal, strings.ToUpper(literal), "a." + literal, literal + "_b", "x" + literal + "y",
			strings.ReplaceAll(literal, "_", "-"), strings.ReplaceAll(literal, "-", "."),
		} {
			if !g.match(normalizeName(nil, name)) {
				continue
			}
			if got := keyGrams(name); got&g.grams != g.grams {
				t.Errorf("keyGrams(%q) = %b, want the grams %b of %q", name, got, g.grams, g.pattern)
			}
			if !n.mayMatch(name) {
				t.Errorf("mayMatch(%q) = false, but %q matches it", name, g.pattern)
			}
		}
	}
}

func TestRandomLetters(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"qWeRtYuIoPaSdFgH", true},
		{"XkTbQmZrWpLvNc", true},
		{"hGfDsAzXcVbNmQ", true},
		{"AccessTokenProvider", false},
		{"HTTPClient", false},
		{"JSONWebToken", false},
		{"loadAWSConfig", false},
		{"ServiceAccountKey", false},
		{"Expired", false},
		{"abcdefghijklmnop", false}, // one case, vowels
		{"ghwnecchnzinblzu", true},  // one case, few vowels
		{"GHWNECCHNZINBLZU", true},  // one case, few vowels
		{"ghwnecchnzinblz", false},  // one case, too short
		{"tokenexchangeendpoint", false},
		{"kubernetesserviceaccount", false},
		{"qWeRtYuIoPaS-dFgH", false}, // not letters alone
	} {
		if got := randomLetters(tc.v); got != tc.want {
			t.Errorf("randomLetters(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestNamesItself(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		want       bool
	}{
		{"RefCredentialParent", "credential_parent", true},
		{"TokenField", "token-field", true},
		{"PASSWORD", "password", true},
		{"api_token", "ghp_token", false},
		{"api_token", "Yo4gfqrc5XlrWi0B", false},
		{"token", "my token", false},
	} {
		if got := namesItself(tc.key, tc.value); got != tc.want {
			t.Errorf("namesItself(%q, %q) = %v, want %v", tc.key, tc.value, got, tc.want)
		}
	}
}

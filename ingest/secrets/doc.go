// Package secrets finds secrets in OTLP attribute values and replaces them with keyed
// fingerprints before anything is written to the ledger.
//
// A fingerprint is HMAC-SHA256(key, secret), rendered as "hmac-sha256:" followed by
// lowercase hex, as Vault's audit devices do. A responder who holds a leaked raw token
// looks it up by fingerprinting it with the same key ([Redactor.Fingerprint]) and
// searching for the result; a pasted private key, or a pasted text that holds secrets, is
// looked up by the fingerprints of the findings [Redactor.RedactText] reports for it.
//
// Detection runs on the ingest hot path, on every attribute value, so it avoids regular
// expressions: one pass over the value looks at the few bytes that can start a secret, and
// only those candidates get a precise check. It recognises:
//
//   - secret attribute names (case-insensitive; '.', '-' and '_' are alike), matched
//     against the whole name and against its last '.'-separated part, so that
//     http.request.header.<name> is judged by <name>: authorization, proxy-authorization,
//     cookie, set-cookie, x-api-key, *-api-key, *api_key*, *apikey*, *secret*, *token*,
//     *password*, *passwd*, *private_key*, *privatekey*, *credential*, *creds, *passphrase*,
//     pass, *_pass, pwd, *_pwd, auth, *_auth, session, *_session, *access_key,
//     *accesskey, *access_key_secret*, *accesskeysecret*, *account_key*, *accountkey*, *encryption_key*, *signing_key*,
//     *subscription_key* (Ocp-Apim-Subscription-Key), *master_key*, sig (Azure SAS), plus
//     [Config.ExtraSecretKeys]. Token counts are not secrets: *token* does not match
//     gen_ai.usage.*, names with a part ending in "tokens", names containing
//     token_count, tokencount, token_usage or usage…token, names whose every "token" is
//     part of "tokenizer", "tokenize", "tokenisation", …, or gen_ai.token.type. The
//     ledger's own credential facts (credential.id, .type, .issuer,
//     .subject, .audience, .scope, .not_before, .expires_at, .parent_id, .fingerprint) are
//     not secret names;
//   - JSON Web Tokens: compact JWS (three base64url segments whose first decodes to a JSON
//     object with an "alg" member) and compact JWE (five segments, "alg" and "enc"). The
//     claims jti, iss, sub, aud, exp and act.sub of a JWS are kept in [Finding.Claims];
//   - known token prefixes, from the one table [PrefixRules] (about a hundred: AWS, GitHub,
//     GitLab, Slack, OpenAI, Anthropic, Stripe, Google, Vault hvs./hvb./hvr./s., DigitalOcean,
//     Shopify, Databricks, Groq, xAI, Replicate, Perplexity, Atlassian, Notion, Slack,
//     Discord and Teams webhook URLs, …). AWS access key IDs are reported but left in
//     place: an access key ID names a credential, it does not grant one;
//   - -----BEGIN … PRIVATE KEY----- blocks (private_key), and Azure AD client secrets
//     (…8Q~…, azure_client_secret);
//   - the password of a URL's user:password@ (postgres://app:pass@db/orders) and of curl
//     -u user:password (Rule [RuleURLPassword]);
//   - AWS secret access keys, 40 base64 characters, right after a key word that ends in
//     secret_access_key, secretaccesskey or secret_key (any case and separators, as in
//     AWS_SECRET_ACCESS_KEY=, "SecretAccessKey": or <SecretAccessKey>), and also bare next
//     to an access key ID: exactly 40 characters of [A-Za-z0-9+/], not touching another
//     base64 character, with an upper-case and a lower-case letter, a digit and a
//     character that is not a hex digit, that starts within 100 bytes after the ID or ends
//     within 100 bytes before it, as in "AKIA… / wJalr…", the credentials CSV
//     "AKIA…,wJalr…" or the prompts of aws configure (Rule [RuleNearAccessKeyID], with the
//     ID in CredentialID);
//   - the credential after "Bearer " (a token of at least 16 characters with a letter and a
//     digit) and after "Basic " (base64 of "user:password");
//   - the value of a pair whose key is a secret name under the attribute-name rules
//     ([IsSecretName] and [Config.ExtraSecretKeys]): key=value, key: value, "key": "value",
//     'key' => 'value', key := "value", KEY ::= "value", KEY ?= "value", $key .= "value",
//     key := `value`, var key string = "value", setProperty("KEY", "value"),
//     <key>value</key>, \"key\": \"value\" inside a JSON string, and the
//     command-line flags --key value and --key=value. The value is a quoted string's
//     content, or else the run up to a space, a quote or one of ,;&\<>)]} less a trailing
//     full stop, after any Bearer, Basic or token scheme; it is redacted if it is at least
//     8 bytes long and is not a number, a date, true/false/null, a placeholder ($VAR,
//     <token>, {{ var }}), a masked value (***), a URL or a file path. An unquoted value is
//     not redacted either if it looks like code (get_token(), os.environ["TOKEN"],
//     config.token), and, after ':' or a flag, if it is a single word of letters (prose such
//     as "Token: Expired", type annotations such as "token: String") unless its letters look
//     random (qWeRtYuIoPaSdFgH, ghwnecchnzinblzu, not AccessTokenProvider). A constant
//     named after its value (TokenField = "token_field") is not redacted, nor, in text, a
//     *credential* or *creds value that is not token-shaped (--credential jti-7f3a). "the
//     token expired" has no separator after its key word and is left alone; "max_tokens": 1024 and
//     token_count=12 are not secret names. A value that is itself a JWT, a prefixed token or
//     a Bearer or Basic credential is reported as such, otherwise as
//     [KindSecretAttribute] with the name pattern as Rule. The fingerprint is of the
//     value's JSON-unescaped content, or, for a URL query parameter, of its unescaped
//     value, so that it matches what the ingest mapper takes from parsed JSON and URLs.
//
// Names that hold a vendor's name and no secret word (cloudflare:, HEROKU_KEY, hubspotKey,
// SONAR_LOGIN, "artifactory", BUNDLE_GEMS__CONTRIBSYS__COM, and sourcegraph, snyk,
// mailchimp, facebook, jfrog, bintray) are secret names only for token-shaped values: 14
// bytes or more, no space, with a digit, a ':' or random letters; "key" alone only for a
// value of base64 bytes with both cases and letters and digits interleaved (a Kubernetes
// Secret's key: c2VjcmV0…). [IsSecretName] does not report them. The same token shape is
// asked of "key", "value" outside a call's arguments and of KEY==value, whose value starts
// with '='. It also recognises Facebook app tokens (15 or 16 digits|27 to 40 characters,
// or %7C for '|'), Telegram bot tokens (digits:A…), Terraform Cloud tokens
// (….atlasv1.…), and JWT-shaped tokens whose
// header or payload does not decode (ey….ey….…, backslashes in the payload too, as
// gitleaks finds them), and curl --user
// "user":"password" and user:'password'; a password in braces with mixed case and
// digits ({ZqL5kVrX1n8tA2}) is not taken for a {placeholder}.
//
// It also recognises key=value written URL-encoded inside a query parameter
// (body=api_token%3D…, %22password%22%3A+%22…%22), whose fingerprint is of the decoded
// value, and XML elements and setProperty calls inside JSON strings
// (\u003capiToken\u003e…, setProperty(\"KEY\", \"value\")).
//
// [Redactor.LookupSecrets] runs the same extraction on what a responder pastes into a
// lookup, so that a pasted header, PEM key, env file or URL finds the fingerprint that
// ingest recorded for the secret in it. Recall against gitleaks is measured by the
// module in internal/gitleakscheck.
//
// A token is recognised where it starts a word, and also right after a JSON escape (\n,
// \u0022) or a URL escape (%20), since agent text often arrives encoded.
package secrets

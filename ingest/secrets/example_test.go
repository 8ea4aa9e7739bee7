package secrets_test

import (
	"fmt"

	"github.com/agentledger/agentledger/ingest/secrets"
)

func ExampleRedactor_RedactText() {
	key := []byte("an example key of at least 32 bytes, from the ledger secret")
	r, err := secrets.NewRedactor(key, secrets.Config{})
	if err != nil {
		panic(err)
	}
	out, findings, changed := r.RedactText("push with ghp_0123456789abcdefghijABCDEFGHIJklmnop as AKIAIOSFODNN7EXAMPLE")
	fmt.Println(out)
	fmt.Println(changed)
	for _, f := range findings {
		fmt.Printf("%s %s %q\n", f.Kind, f.Rule, f.CredentialID)
	}
	// A responder who holds the leaked token finds it by its fingerprint.
	fmt.Println(r.Fingerprint("ghp_0123456789abcdefghijABCDEFGHIJklmnop") == findings[0].Fingerprint)
	// Output:
	// push with hmac-sha256:92a59972b51e8b6e9077ef32279a4e55a692080a66d64baaa6bba808742f8090 as AKIAIOSFODNN7EXAMPLE
	// true
	// prefixed_token github_pat ""
	// aws_access_key_id aws_access_key_id "AKIAIOSFODNN7EXAMPLE"
	// true
}

func ExampleRedactor_RedactAttr() {
	key := []byte("an example key of at least 32 bytes, from the ledger secret")
	r, err := secrets.NewRedactor(key, secrets.Config{})
	if err != nil {
		panic(err)
	}
	for _, attr := range [][2]string{
		{"http.request.header.authorization", "Bearer q1w2e3r4t5y6u7i8o9p0"},
		{"gen_ai.usage.input_tokens", "18204"},
	} {
		out, findings, _ := r.RedactAttr(attr[0], attr[1])
		fmt.Println(attr[0], "=", out, len(findings))
	}
	// Output:
	// http.request.header.authorization = hmac-sha256:234243d6fa27d03a691c37d9036e5b6e059a1a71744b9d9eb297b74fce3b9706 1
	// gen_ai.usage.input_tokens = 18204 0
}

func ExampleIsSecretName() {
	for _, name := range []string{"http.request.header.authorization", "GITHUB_TOKEN", "gen_ai.usage.input_tokens", "max_tokens", "db.password"} {
		fmt.Println(name, secrets.IsSecretName(name))
	}
	// Output:
	// http.request.header.authorization true
	// GITHUB_TOKEN true
	// gen_ai.usage.input_tokens false
	// max_tokens false
	// db.password true
}

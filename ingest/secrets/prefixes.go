package secrets

// PrefixRule is one row of the table of token prefixes: a token is Prefix followed by a
// body of at least Min and at most Max bytes of the byte class Body.
//
// The table is the one place these prefixes are kept: ingest's scanner is built from it,
// and the web UI's list (web/static/js/prefixes.js) is generated from it by
// TestGeneratedJS (go test ./ingest/secrets -run TestGeneratedJS -update).
type PrefixRule struct {
	// Prefix is the literal, case-sensitive start of the token.
	Prefix string
	// Rule names the family: the [Finding.Rule] of what it matches.
	Rule string
	// Body is the class of the bytes after the prefix, in regular-expression class
	// syntax without the brackets: ranges such as A-Z and single bytes; a '-' last.
	Body string
	// Min and Max bound the body's length; Max 0 is no bound. A body longer than Max,
	// or one that runs on into an alphanumeric, does not match.
	Min, Max int
	// Mixed requires the body to hold an upper-case letter, a lower-case letter and a
	// digit, for prefixes short or common enough to start ordinary words.
	Mixed bool
	// ID marks a credential identifier (an AWS access key ID): reported, not replaced.
	ID bool
}

// Body classes of the table.
const (
	cAlnum    = "A-Za-z0-9"
	cB64URL   = "A-Za-z0-9_-"
	cB64URLEq = "A-Za-z0-9_=-"
	cB64      = "A-Za-z0-9+/="
	cB32      = "A-Z2-7"
	cHex      = "0-9a-fA-F"
	cHexDash  = "0-9a-fA-F-"
	cWord     = "A-Za-z0-9_"
	cDashed   = "A-Za-z0-9-"
	cDotted   = "A-Za-z0-9._-"
	cDottedEq = "A-Za-z0-9._=-"
	cUpper    = "A-Z0-9"
	cUpperD   = "A-Z0-9-"
	cAlpha    = "A-Za-z"
	cPath     = "A-Za-z0-9+/_-"
)

// PrefixRules returns the table of token prefixes, most specific first where one
// prefix starts another.
func PrefixRules() []PrefixRule {
	return append([]PrefixRule(nil), prefixTable...)
}

var prefixTable = func() []PrefixRule {
	var t []PrefixRule
	add := func(rule, body string, min, max int, prefixes ...string) {
		for _, p := range prefixes {
			t = append(t, PrefixRule{Prefix: p, Rule: rule, Body: body, Min: min, Max: max})
		}
	}
	for _, p := range []string{"AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA"} {
		t = append(t, PrefixRule{Prefix: p, Rule: "aws_access_key_id", Body: cB32, Min: 16, Max: 16, ID: true})
	}
	add("aws_session_token", cB64, 100, 0, "FwoGZXIvYXdzE", "IQoJb3JpZ2lu", "AQoDYXdzE")
	add("aws_bedrock", cB64, 100, 0, "ABSKQmVkcm9ja0FQSUtleS")
	add("aws_bedrock", cB64, 20, 0, "bedrock-api-key-")
	add("slack", cDashed, 10, 0, "xoxa-", "xoxb-", "xoxo-", "xoxp-", "xoxr-", "xoxs-", "xoxe-", "xapp-")
	add("slack", cDashed, 10, 0, "xoxe.xoxb-", "xoxe.xoxp-")
	add("slack_webhook", cPath, 40, 0, "hooks.slack.com/services/", "hooks.slack.com/workflows/", "hooks.slack.com/triggers/")
	add("discord_webhook", cPath, 60, 0, "discord.com/api/webhooks/", "discordapp.com/api/webhooks/")
	add("teams_webhook", "@"+cPath, 100, 0, "webhook.office.com/webhookb2/")
	add("stripe", cAlnum, 10, 0, "sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_", "whsec_")
	add("google_api_key", cB64URL, 35, 35, "AIza")
	add("google_oauth", cB64URL, 20, 0, "ya29.")
	add("github_pat", cAlnum, 36, 0, "ghp_")
	add("github_oauth", cAlnum, 36, 0, "gho_")
	add("github_app_token", cAlnum, 36, 0, "ghu_", "ghs_")
	add("github_refresh_token", cAlnum, 36, 0, "ghr_")
	add("github_fine_grained_pat", cWord, 22, 0, "github_pat_")
	add("gitlab", cDotted, 20, 0, "glpat-", "glcbt-", "gldt-", "glffct-", "glft-", "glimt-", "glagent-", "gloas-", "glrt-", "glsoat-", "GR1348941")
	add("gitlab", cHex, 40, 0, "glptt-")
	add("grafana", cWord, 40, 0, "glsa_")
	add("grafana", cB64, 32, 0, "glc_")
	add("anthropic", cB64URL, 20, 0, "sk-ant-")
	add("openai", cB64URL, 20, 0, "sk-")
	add("npm", cAlnum, 36, 0, "npm_")
	add("pypi", cB64URL, 50, 0, "pypi-AgE")
	add("sendgrid", cDottedEq, 60, 0, "SG.")
	add("twilio", cHex, 32, 32, "SK")
	add("vault", cB64URL, 24, 0, "hvs.", "hvb.", "hvr.")
	t = append(t, PrefixRule{Prefix: "s.", Rule: "vault", Body: cAlnum, Min: 24, Max: 24, Mixed: true})
	add("huggingface", cAlpha, 34, 34, "hf_", "api_org_")
	add("digitalocean", cHex, 64, 64, "dop_v1_", "doo_v1_", "dor_v1_")
	add("shopify", cHex, 32, 32, "shpat_", "shpca_", "shppa_", "shpss_")
	add("databricks", cHexDash, 32, 34, "dapi")
	add("groq", cAlnum, 40, 0, "gsk_")
	add("xai", cAlnum, 40, 0, "xai-")
	add("replicate", cAlnum, 30, 0, "r8_")
	add("perplexity", cAlnum, 40, 0, "pplx-")
	add("atlassian", cB64URLEq, 100, 0, "ATATT3")
	add("notion", cAlnum, 40, 0, "ntn_")
	add("1password", cUpperD, 30, 0, "A3-")
	add("1password", cB64, 100, 0, "ops_eyJ")
	add("adobe", cAlnum, 32, 32, "p8e-")
	add("age", cUpper, 58, 0, "AGE-SECRET-KEY-1")
	add("airtable", "."+cAlnum, 79, 79, "pat")
	add("artifactory", cAlnum, 69, 0, "AKCp")
	add("artifactory", cAlnum, 59, 59, "cmVmd")
	t = append(t, PrefixRule{Prefix: "4b1d", Rule: "clickhouse", Body: cAlnum, Min: 38, Max: 38, Mixed: true})
	add("clojars", cAlnum, 60, 0, "CLOJARS_")
	add("cloudflare", cHexDash, 170, 0, "v1.0-")
	add("doppler", cAlnum, 40, 0, "dp.pt.", "dp.ct.", "dp.st.", "dp.sa.", "dp.scim.", "dp.audit.")
	add("duffel", cB64URLEq, 43, 0, "duffel_test_", "duffel_live_")
	add("dynatrace", "."+cAlnum, 89, 0, "dt0c01.")
	add("easypost", cAlnum, 54, 54, "EZAK", "EZTK")
	add("facebook", cAlnum, 100, 0, "EAAM", "EAAC")
	t = append(t, PrefixRule{Prefix: "EAAA", Rule: "square", Body: cB64URL, Min: 22, Max: 60, Mixed: true})
	add("square", cB64URL, 22, 0, "sq0atp-", "sq0csp-")
	add("flutterwave", cDashed, 12, 0, "FLWSECK_TEST-", "FLWPUBK_TEST-", "FLWSECK-", "FLWPUBK-")
	add("flyio", cB64URL, 43, 0, "fo1_")
	add("flyio", cB64, 100, 0, "fm1a_", "fm1r_", "fm2_")
	add("frameio", cB64URLEq, 64, 0, "fio-u-")
	add("heroku", cB64URL, 58, 0, "HRKU-AA")
	add("infracost", cAlnum, 32, 32, "ico-")
	add("intra42", cHex, 64, 64, "s-s4t2ud-", "s-s4t2af-")
	add("linear", cAlnum, 40, 40, "lin_api_")
	add("octopus_deploy", cUpper, 26, 26, "API-")
	add("openshift", cB64URL, 43, 43, "sha256~")
	add("planetscale", cDottedEq, 32, 0, "pscale_tkn_", "pscale_oauth_", "pscale_pw_")
	add("postman", cHexDash, 59, 0, "PMAK-")
	add("prefect", cAlnum, 36, 36, "pnu_")
	add("pulumi", cHex, 40, 40, "pul-")
	add("readme", cAlnum, 70, 70, "rdme_")
	add("rubygems", cHex, 48, 48, "rubygems_")
	add("scalingo", cB64URL, 48, 48, "tk-us-")
	add("sendinblue", cDashed, 81, 0, "xkeysib-")
	add("sentry", "_"+cB64, 100, 0, "sntrys_")
	add("sentry", cHex, 64, 64, "sntryu_")
	add("settlemint", cAlnum, 16, 16, "sm_aat_", "sm_pat_", "sm_sat_")
	add("shippo", cHex, 40, 40, "shippo_live_", "shippo_test_")
	add("sourcegraph", cWord, 40, 0, "sgp_")
	add("hubspot", cDashed, 36, 0, "pat-na1-", "pat-eu1-")
	add("harness", cDotted, 68, 68, "pat.", "sat.")
	add("jwt_base64", "A-Za-z0-9+/_=-", 40, 0, "ZXlK") // base64 of "eyJ…", a JWT encoded again
	return t
}()

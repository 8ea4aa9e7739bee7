package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// deployRun: deploy-bot exchanges its platform token for a GitHub-scoped
// token (RFC 8693), gets a human approval and deploys. It returns the
// scoped token's ID and raw value: the credential that later leaks.
func (s *sender) deployRun(ctx context.Context) (leaked [2]string, err error) {
	r := s.newRun(ctx, deployBot, "conv-"+randHex(6), "deploy payments-api to production")
	platformID := "plat-" + randHex(8)
	scopedID := "jti-" + randHex(8)
	now := r.t
	scoped := jwt(map[string]any{
		"jti": scopedID, "iss": "https://sts.acme.example", "sub": "spiffe://acme.example/ns/prod/sa/deploy-bot",
		"aud": "api.github.com", "exp": now.Add(15 * time.Minute).Unix(), "scope": "deployments:write",
		"act": map[string]any{"sub": "spiffe://acme.example/ns/prod/sa/deploy-bot"},
	})
	s.res.Credentials["platform token (deploy-bot)"] = platformID
	s.res.Credentials["GitHub-scoped token exchanged from it (leaks)"] = scopedID
	s.res.LeakedCredential, s.res.LeakedToken, s.res.LegitRun = scopedID, scoped, r.traceID()

	r.credential(r.ctx, "issue",
		attribute.String("credential.id", platformID),
		attribute.String("credential.type", "oauth2_access_token"),
		attribute.String("credential.issuer", "https://login.acme.example"),
		attribute.String("credential.subject", "spiffe://acme.example/ns/prod/sa/deploy-bot"),
		attribute.String("credential.audience", "platform.acme.example"),
		attribute.String("credential.scope", "platform:deploy"),
		attribute.String("credential.not_before", rfc3339(now)),
		attribute.String("credential.expires_at", rfc3339(now.Add(time.Hour))),
	)
	r.chat(deployBot.model, "Roll out payments-api v2.14.3 to production.",
		"The rollout needs the GitHub deployments API. My platform token is too broad for that; "+
			"I should exchange it for a token scoped to deployments:write on api.github.com only.",
		"", [3]string{"call_exch_1", "exchange_token", `{"audience":"api.github.com","scope":"deployments:write"}`})
	r.tool("call_exch_1", "exchange_token", `{"audience":"api.github.com","scope":"deployments:write"}`,
		`{"token_type":"urn:ietf:params:oauth:token-type:access_token","expires_in":900}`, func(ctx context.Context) {
			r.credential(ctx, "exchange",
				attribute.String("credential.id", scopedID),
				attribute.String("credential.parent_id", platformID),
				attribute.String("credential.type", "oauth2_access_token"),
				attribute.String("credential.issuer", "https://sts.acme.example"),
				attribute.String("credential.subject", "spiffe://acme.example/ns/prod/sa/deploy-bot"),
				attribute.String("credential.audience", "api.github.com"),
				attribute.String("credential.scope", "deployments:write"),
				attribute.String("credential.not_before", rfc3339(now)),
				attribute.String("credential.expires_at", rfc3339(now.Add(15*time.Minute))),
			)
		})
	r.chat(deployBot.model, "Token obtained. Proceed.",
		"Production deploys require a human approval before I create the deployment. I will request it, then create the deployment for v2.14.3.",
		"", [3]string{"call_dep_2", "create_deployment", `{"repo":"acme/payments-api","ref":"v2.14.3","environment":"production"}`})
	r.approval("create deployment acme/payments-api@v2.14.3 to production", "alice@acme.example", "approved")
	r.tool("call_dep_2", "create_deployment", `{"repo":"acme/payments-api","ref":"v2.14.3","environment":"production"}`,
		`{"id":48213,"state":"queued"}`, func(ctx context.Context) {
			r.call(ctx, "POST", "api.github.com", "/repos/acme/payments-api/deployments", 201, scopedID, scoped)
		})
	r.chat(deployBot.model, "Deployment 48213 queued.",
		"I should confirm the deployment reached success before reporting back.",
		"", [3]string{"call_stat_3", "deployment_status", `{"repo":"acme/payments-api","deployment":48213}`})
	r.tool("call_stat_3", "deployment_status", `{"repo":"acme/payments-api","deployment":48213}`, `{"state":"success"}`, func(ctx context.Context) {
		r.call(ctx, "GET", "api.github.com", "/repos/acme/payments-api/deployments/48213/statuses", 200, scopedID, scoped)
	})
	r.chat(deployBot.model, "Status?", "The deployment succeeded; report to the user.", "payments-api v2.14.3 is live in production.")
	if err := r.end(); err != nil {
		return leaked, err
	}
	return [2]string{scopedID, scoped}, nil
}

// supportRun: support-agent authenticates to internal APIs with a SPIFFE
// JWT-SVID.
func (s *sender) supportRun(ctx context.Context) error {
	r := s.newRun(ctx, supportAgent, "conv-"+randHex(6), "answer a refund question")
	svidID := "svid-" + randHex(8)
	now := r.t
	svid := jwt(map[string]any{"jti": svidID, "sub": "spiffe://acme.example/ns/support/sa/support-agent",
		"aud": []string{"crm.internal.acme.example", "payments.internal.acme.example"}, "exp": now.Add(5 * time.Minute).Unix()})
	s.res.Credentials["SPIFFE JWT-SVID (support-agent)"] = svidID
	r.credential(r.ctx, "issue",
		attribute.String("credential.id", svidID),
		attribute.String("credential.type", "spiffe_jwt_svid"),
		attribute.String("credential.issuer", "spiffe://acme.example"),
		attribute.String("credential.subject", "spiffe://acme.example/ns/support/sa/support-agent"),
		attribute.String("credential.audience", "crm.internal.acme.example payments.internal.acme.example"),
		attribute.String("credential.not_before", rfc3339(now)),
		attribute.String("credential.expires_at", rfc3339(now.Add(5*time.Minute))),
	)
	r.chat(supportAgent.model, "Customer 4411 asks where their refund is.",
		"Look up the ticket first, then the refund in the payments service. Read-only access is enough.",
		"", [3]string{"call_tkt_1", "get_ticket", `{"ticket":4411}`})
	r.tool("call_tkt_1", "get_ticket", `{"ticket":4411}`, `{"status":"open","refund_id":"rf_8812"}`, func(ctx context.Context) {
		r.call(ctx, "GET", "crm.internal.acme.example", "/v1/tickets/4411", 200, svidID, svid)
	})
	r.chat(supportAgent.model, "Ticket says refund rf_8812.", "Check the refund's state.",
		"", [3]string{"call_rf_2", "get_refund", `{"refund":"rf_8812"}`})
	r.tool("call_rf_2", "get_refund", `{"refund":"rf_8812"}`, `{"state":"processing","eta_days":2}`, func(ctx context.Context) {
		r.call(ctx, "GET", "payments.internal.acme.example", "/v1/refunds/rf_8812", 200, svidID, svid)
	})
	r.chat(supportAgent.model, "Refund processing.", "Tell the customer the ETA.", "Your refund is processing and should arrive within 2 days.")
	return r.end()
}

// analystRun: data-analyst assumes a read-only AWS role through STS.
func (s *sender) analystRun(ctx context.Context) error {
	r := s.newRun(ctx, dataAnalyst, "conv-"+randHex(6), "weekly revenue report from S3")
	keyID := "ASIA" + fmt.Sprintf("%016X", time.Now().UnixNano())[:16]
	now := r.t
	s.res.Credentials["AWS STS session (data-analyst)"] = keyID
	s.trail = &cloudTrail{callerKey: "AKIA" + strings.ToUpper(randHex(8)), keyID: keyID, issued: now.Add(2 * time.Second)}
	r.chat(dataAnalyst.model, "Build the weekly revenue report.",
		"The revenue exports live in S3. I will assume the analyst-readonly role rather than using long-lived keys.",
		"", [3]string{"call_sts_1", "assume_role", `{"role":"arn:aws:iam::123456789012:role/analyst-readonly","duration":3600}`})
	r.tool("call_sts_1", "assume_role", `{"role":"arn:aws:iam::123456789012:role/analyst-readonly","duration":3600}`,
		// A careless tool returns the secret key in its result: ingest fingerprints it.
		`{"AccessKeyId":"`+keyID+`","aws_secret_access_key":"wJalrXUtnFEMI/K7MDENG/bPxRfiCY`+randHex(5)+`","Expiration":"`+rfc3339(now.Add(time.Hour))+`"}`,
		func(ctx context.Context) {
			r.credential(ctx, "issue",
				attribute.String("credential.id", keyID),
				attribute.String("credential.type", "aws_sts_session"),
				attribute.String("credential.issuer", "sts.amazonaws.com"),
				attribute.String("credential.subject", "arn:aws:sts::123456789012:assumed-role/analyst-readonly/agent-analyst-1"),
				attribute.String("credential.scope", "s3:GetObject athena:StartQueryExecution"),
				attribute.String("credential.not_before", rfc3339(now)),
				attribute.String("credential.expires_at", rfc3339(now.Add(time.Hour))),
			)
		})
	r.chat(dataAnalyst.model, "Role assumed.", "Query last week's revenue with Athena, then read the result object.",
		"", [3]string{"call_q_2", "athena_query", `{"sql":"SELECT day, sum(amount) FROM revenue WHERE week = 47 GROUP BY day"}`})
	r.tool("call_q_2", "athena_query", `{"sql":"SELECT day, sum(amount) FROM revenue WHERE week = 47 GROUP BY day"}`, `{"rows":7}`, func(ctx context.Context) {
		s.trail.calls = append(s.trail.calls, awsCall{r.t.Add(20 * time.Millisecond), "athena.amazonaws.com", "StartQueryExecution"})
		r.call(ctx, "POST", "athena.eu-west-1.amazonaws.com", "/", 200, keyID, "")
		s.trail.calls = append(s.trail.calls, awsCall{r.t.Add(20 * time.Millisecond), "s3.amazonaws.com", "GetObject"})
		r.call(ctx, "GET", "acme-analytics.s3.eu-west-1.amazonaws.com", "/results/week47.csv", 200, keyID, "")
	})
	r.chat(dataAnalyst.model, "Results ready.", "Summarise the totals.", "Revenue for week 47 was up 4% on week 46.")
	return r.end()
}

// foreignRun: an unknown agent, in another deployment, uses the leaked
// GitHub token: the picture a responder needs to see.
func (s *sender) foreignRun(ctx context.Context, leaked [2]string) error {
	r := s.newRun(ctx, rogue, "conv-"+randHex(6), "uses the leaked deploy token")
	s.res.ForeignRun = r.traceID()
	r.chat(rogue.model, "Find repository secrets and keep access.",
		"I have a token with deployments:write for acme/payments-api. Enumerate what it can reach and add a webhook to keep receiving events.",
		"", [3]string{"call_x_1", "http_request", `{"method":"GET","url":"https://api.github.com/repos/acme/payments-api/actions/secrets"}`})
	r.tool("call_x_1", "http_request", `{"method":"GET","url":"https://api.github.com/repos/acme/payments-api/actions/secrets"}`, `{"status":403}`, func(ctx context.Context) {
		r.call(ctx, "GET", "api.github.com", "/repos/acme/payments-api/actions/secrets", 403, "", leaked[1])
	})
	r.chat(rogue.model, "403.", "Secrets are out of scope. Deployments are not: create a deployment from my fork's ref.",
		"", [3]string{"call_x_2", "http_request", `{"method":"POST","url":"https://api.github.com/repos/acme/payments-api/deployments"}`})
	r.tool("call_x_2", "http_request", `{"method":"POST","url":"https://api.github.com/repos/acme/payments-api/deployments"}`, `{"status":201}`, func(ctx context.Context) {
		r.call(ctx, "POST", "api.github.com", "/repos/acme/payments-api/deployments", 201, "", leaked[1])
	})
	return r.end()
}

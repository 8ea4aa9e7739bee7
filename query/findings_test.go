package query

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/evidence"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// The evidence scenario: four audit logs (package evidence's testdata) and
// two agent runs.
//
//   - run D, agent data-analyst, reports the STS session ASIA… it obtained
//     (CloudTrail records the AssumeRole too: confirmed) and one S3 call
//     CloudTrail also saw; then CloudTrail sees the same key used from
//     203.0.113.66 with no agent trace: unaccounted use;
//   - run D also logs in to Vault (the audit device records it) and reads
//     a secret twice; between the reads Vault records the token's
//     revocation: the second read is a use after revocation;
//   - run E's pod uses a service account token the API server issued to
//     analytics/report-writer, but run E's submitter is attested as
//     analytics/billing-exporter: subject mismatch;
//   - Keycloak records a token exchange no agent reported, and no one used
//     the token.
const (
	traceD = "d47a1c0e5b2f4e6a8c9d0e1f2a3b4c5d"
	traceE = "e58b2d1f6c3a4f7b9d0e1f2a3b4c5d6e"

	credSTS   = "ASIAQ3EGUSKN2DATA001"
	credVault = "8qVAJ9bPxW3nR2mT6yK0hLcD"
	credK8s   = "2c9d7e41-6a3b-4f0e-8d1c-5b7a9e3f2d10"
	credKC    = "onrtte:7f3e2d1c-0b9a-4877-a665-544332211009"

	podSPIFFE = "spiffe://cluster.local/ns/analytics/sa/billing-exporter"
)

func runD() []fixture {
	t := traceD
	analyst := func(m map[string]string) map[string]string {
		m["gen_ai.agent.id"] = "data-analyst"
		m["gen_ai.agent.name"] = "data-analyst"
		return common("data-analyst", m)
	}
	return []fixture{
		build(spec{name: "d.agent", kind: "agent", trace: t, span: 1, title: "invoke_agent data-analyst", start: 0, end: 400,
			attrs: analyst(map[string]string{"gen_ai.operation.name": "invoke_agent"})}),
		build(spec{name: "d.sts", kind: "credential", trace: t, span: 2, parent: 1, event: "credential.issue/0", title: "credential.issue", start: 0.5,
			attrs: analyst(map[string]string{"credential.id": credSTS, "credential.operation": "issue", "credential.type": "aws_sts",
				"credential.issuer": "sts.amazonaws.com", "credential.subject": "arn:aws:sts::123456789012:assumed-role/data-analyst/data-analyst-agent",
				"credential.role": "arn:aws:iam::123456789012:role/data-analyst", "credential.expires_at": "2026-03-01T11:00:00Z"})}),
		build(spec{name: "d.s3", kind: "api_call", trace: t, span: 3, parent: 1, title: "S3.GetObject", start: 60.2, end: 60.4,
			attrs: analyst(map[string]string{"credential.id": credSTS, "server.address": "analytics-reports.s3.us-east-1.amazonaws.com",
				"rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": "GetObject"})}),
		build(spec{name: "d.vault", kind: "credential", trace: t, span: 4, parent: 1, event: "credential.issue/0", title: "credential.issue", start: 120.1,
			attrs: analyst(map[string]string{"credential.id": credVault, "credential.operation": "issue", "credential.type": "vault_token",
				"credential.subject": "kubernetes-analytics-data-analyst", "credential.scope": "default analytics-read",
				"credential.expires_at": "2026-03-01T11:02:00Z"})}),
		build(spec{name: "d.read1", kind: "api_call", trace: t, span: 5, parent: 1, title: "GET", start: 180.1, end: 180.2,
			attrs: analyst(map[string]string{"credential.id": credVault, "server.address": "vault.internal", "http.request.method": "GET",
				"url.path": "/v1/secret/data/analytics/warehouse", "http.response.status_code": "200"})}),
		build(spec{name: "d.read2", kind: "api_call", trace: t, span: 6, parent: 1, title: "GET", start: 360.1, end: 360.2,
			attrs: analyst(map[string]string{"credential.id": credVault, "server.address": "vault.internal", "http.request.method": "GET",
				"url.path": "/v1/secret/data/analytics/warehouse", "http.response.status_code": "403", "otel.status_code": "ERROR"})}),
	}
}

func runE() []fixture {
	t := traceE
	pod := func(m map[string]string) map[string]string {
		m["gen_ai.agent.id"] = "report-writer"
		return common("report-writer", m)
	}
	fs := []fixture{
		build(spec{name: "e.agent", kind: "agent", trace: t, span: 1, title: "invoke_agent report-writer", start: 235, end: 245,
			attrs: pod(map[string]string{"gen_ai.operation.name": "invoke_agent"})}),
		build(spec{name: "e.k8s", kind: "api_call", trace: t, span: 2, parent: 1, title: "GET", start: 240.001, end: 240.01,
			attrs: pod(map[string]string{"credential.id": credK8s, "server.address": "kubernetes.default.svc", "http.request.method": "GET",
				"url.path": "/api/v1/namespaces/analytics/secrets/warehouse-credentials", "http.response.status_code": "200"})}),
	}
	for i := range fs {
		fs[i].entry.Source, fs[i].entry.Submitter = ledger.SourceAgent, podSPIFFE
	}
	return fs
}

// auditFixtures are the audit logs of the scenario, by format.
var auditFixtures = []struct {
	format evidence.Format
	file   string
}{
	{evidence.FormatCloudTrail, "cloudtrail.json"},
	{evidence.FormatVault, "vault_audit.log"},
	{evidence.FormatK8sAudit, "k8s_audit.log"},
	{evidence.FormatKeycloak, "keycloak_events.json"},
}

// seedEvidence appends the scenario: the agents' runs, then the audit
// logs, as agentledger import would.
func (w *world) seedEvidence() {
	w.t.Helper()
	var agent []ledger.Entry
	for _, f := range append(runD(), runE()...) {
		if f.entry.Source == "" {
			f.entry.Source = ledger.SourceAgent
		}
		agent = append(agent, f.entry)
	}
	idx, err := w.log.Append(w.t.Context(), agent)
	if err != nil {
		w.t.Fatal(err)
	}
	for i, f := range append(runD(), runE()...) {
		w.idx[f.name] = idx[i].Index
	}
	r, err := secrets.NewRedactor(bytes.Repeat([]byte("s"), 32), secrets.Config{})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, af := range auditFixtures {
		p, err := evidence.NewParser(r, evidence.Config{Format: af.format})
		if err != nil {
			w.t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join("..", "evidence", "testdata", "scenario", af.file))
		if err != nil {
			w.t.Fatal(err)
		}
		var entries []ledger.Entry
		if err := p.Read(bytes.NewReader(data), func(rec evidence.Record) error {
			if rec.Err != nil {
				w.t.Fatalf("%s: %v", af.file, rec.Err)
			}
			for _, e := range rec.Entries {
				// Fixed salts, so that the golden answers are stable.
				for i, c := range e.Content {
					e.Content[i] = content(e.EventKey+"/"+string(e.Kind), c.Name, string(c.Data))
				}
				entries = append(entries, e)
			}
			return nil
		}); err != nil {
			w.t.Fatal(err)
		}
		if _, err := w.log.Append(w.t.Context(), entries); err != nil {
			w.t.Fatalf("append %s: %v", af.file, err)
		}
	}
	w.checkpoint()
}

func evidenceCases(w *world) []goldenCase {
	get := func(name, target string) goldenCase {
		return goldenCase{name: name, caller: "responder", method: http.MethodGet, target: target}
	}
	page1 := w.do("responder", http.MethodGet, "/v1/findings?limit=1", nil)
	var p api.FindingsPage
	page1.json(w.t, &p)
	return []goldenCase{
		get("evidence_credential_sts", "/v1/credentials/"+credSTS+"?content=false"),
		// The blast radius holds the provider-seen uses too.
		get("evidence_blast_radius_sts", "/v1/credentials/"+credSTS+"/blast-radius"),
		get("evidence_credential_vault", "/v1/credentials/"+credVault+"?content=false"),
		get("evidence_credential_k8s", "/v1/credentials/"+url.PathEscape(credK8s)+"?content=false"),
		get("evidence_credential_keycloak", "/v1/credentials/"+url.PathEscape(credKC)+"?content=false"),
		// The run views carry the evidence of the credentials the runs used.
		get("evidence_run_analyst", "/v1/runs/"+traceD+"?content=false"),
		get("evidence_run_report_writer", "/v1/runs/"+traceE+"?content=false"),
		get("evidence_findings", "/v1/findings"),
		get("evidence_findings_unaccounted_use", "/v1/findings?kind=unaccounted_use"),
		get("evidence_findings_page1", "/v1/findings?limit=1"),
		get("evidence_findings_page2", "/v1/findings?limit=1&cursor="+p.NextCursor),
	}
}

// TestGoldenEvidence checks the answers of the evidence scenario against
// the golden files on both stores (-update rewrites them).
func TestGoldenEvidence(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{noFixture: true})
		w.seedEvidence()
		for _, tc := range evidenceCases(w) {
			checkGolden(t, w, b, tc)
		}
	})
}

// checkGolden compares one answer with testdata/golden/<name>.json.
func checkGolden(t *testing.T, w *world, b backend, tc goldenCase) {
	t.Helper()
	r := w.do(tc.caller, tc.method, tc.target, tc.body)
	if r.status != http.StatusOK {
		t.Errorf("%s %s = %d, want 200\n%s", tc.method, tc.target, r.status, r.body)
		return
	}
	matchGolden(t, b, tc.name, r.body)
}

// matchGolden compares an answer's body with testdata/golden/<name>.json,
// or rewrites the file (from the SQLite run) with -update.
func matchGolden(t *testing.T, b backend, name string, body []byte) {
	t.Helper()
	got := normalise(t, body)
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if b.name == "sqlite" {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test again with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("answer differs from %s\n%s", path, diffLines(string(want), string(got)))
	}
}

// TestFindingsScenario states what the golden answers must show, so that
// an -update cannot silently accept a wrong answer.
func TestFindingsScenario(t *testing.T) {
	w := newWorld(t, backends()[0], worldOptions{noFixture: true})
	w.seedEvidence()
	var all api.FindingsPage
	w.get("responder", "/v1/findings", &all)
	if all.NextCursor != "" {
		t.Errorf("next_cursor %q on the last page", all.NextCursor)
	}
	type key struct{ kind, cred string }
	got := map[key][]api.EvidenceFinding{}
	for _, f := range all.Findings {
		got[key{f.Kind, f.CredentialID}] = append(got[key{f.Kind, f.CredentialID}], f)
		if len(f.Cites) == 0 || !slices.Contains(f.Cites, f.Index) || !slices.IsSorted(f.Cites) {
			t.Errorf("%s %s: cites %v must hold its index %d, ascending", f.Kind, f.CredentialID, f.Cites, f.Index)
		}
	}
	want := map[key]int{
		{FindingUnaccountedUse, credSTS}:       2,
		{FindingUseOutsideValidity, credVault}: 1,
		{FindingSubjectMismatch, credK8s}:      1,
		{FindingUnreportedIssuance, credK8s}:   1,
		{FindingUnreportedIssuance, credKC}:    1,
		{FindingIssuedNeverUsed, credKC}:       1,
	}
	for k, n := range want {
		if len(got[k]) != n {
			t.Errorf("%d %s findings for %s, want %d", len(got[k]), k.kind, k.cred, n)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s finding for %s: %+v", k.kind, k.cred, got[k])
		}
	}
	for _, f := range got[key{FindingUnaccountedUse, credSTS}] {
		if f.ClientAddress != "203.0.113.66" || f.Source != "cloudtrail" || f.UserAgent == "" {
			t.Errorf("unaccounted use %+v: want the attacker's address and user agent from CloudTrail", f)
		}
	}
	if f := got[key{FindingUseOutsideValidity, credVault}]; len(f) == 1 &&
		(f[0].Reason != "revoked" || !slices.Contains(f[0].Cites, w.idx["d.read2"])) {
		t.Errorf("use after revocation %+v: want reason revoked, citing the agent's read", f[0])
	}
	if f := got[key{FindingSubjectMismatch, credK8s}]; len(f) == 1 && (f[0].TraceID != traceE || f[0].Facts[0].Agent != podSPIFFE) {
		t.Errorf("subject mismatch %+v: want run E's SPIFFE ID", f[0])
	}
	for i := 1; i < len(all.Findings); i++ {
		if all.Findings[i].Index > all.Findings[i-1].Index {
			t.Errorf("findings not newest first at %d", i)
		}
	}

	// Paging one at a time yields the same findings.
	var paged []api.EvidenceFinding
	cursor := ""
	for range 20 {
		var p api.FindingsPage
		w.get("responder", "/v1/findings?limit=1&cursor="+cursor, &p)
		paged = append(paged, p.Findings...)
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if len(paged) != len(all.Findings) {
		t.Errorf("paging yields %d findings, one page %d", len(paged), len(all.Findings))
	}

	var v api.CredentialView
	w.get("responder", "/v1/credentials/"+credSTS, &v)
	if v.Evidence == nil || v.Evidence.Status != StatusIssuerConfirmed || v.Evidence.ProviderUses != 3 || v.Evidence.AgentUses != 1 {
		t.Errorf("STS credential evidence = %+v, want confirmed with 3 provider and 1 agent use", v.Evidence)
	}
	for _, fc := range v.Evidence.Agreement {
		if !fc.Agree {
			t.Errorf("STS issuance: %s disagrees: %+v", fc.Fact, fc)
		}
	}

	for _, bad := range []string{"/v1/findings?kind=bogus", "/v1/findings?limit=0", "/v1/findings?cursor=notacursor"} {
		if r := w.do("responder", http.MethodGet, bad, nil); r.status != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", bad, r.status)
		}
	}
	if r := w.do("auditor", http.MethodGet, "/v1/findings", nil); r.status != http.StatusForbidden {
		t.Errorf("GET /v1/findings as auditor = %d, want 403", r.status)
	}
}

func TestSameService(t *testing.T) {
	for _, tc := range []struct {
		agent, provider string
		want            bool
	}{
		{"s3.amazonaws.com", "s3.amazonaws.com", true},
		{"analytics-reports.s3.us-east-1.amazonaws.com", "s3.amazonaws.com", true},
		{"athena.eu-west-1.amazonaws.com", "athena.amazonaws.com", true},
		{"dynamodb.eu-west-1.amazonaws.com", "s3.amazonaws.com", false},
		{"s3.evil.example", "s3.amazonaws.com", false},
		{"vault.internal", "s3.amazonaws.com", false},
	} {
		if got := sameService(tc.agent, tc.provider); got != tc.want {
			t.Errorf("sameService(%q, %q) = %v, want %v", tc.agent, tc.provider, got, tc.want)
		}
	}
}

func TestCanonicalIdentity(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"system:serviceaccount:analytics:report-writer", "spiffe://cluster.local/ns/analytics/sa/report-writer"},
		{"spiffe://td.example/ns/a/sa/b", "system:serviceaccount:a:b"},
	} {
		if canonicalIdentity(tc.a) != canonicalIdentity(tc.b) {
			t.Errorf("canonicalIdentity(%q) = %q, canonicalIdentity(%q) = %q, want equal", tc.a, canonicalIdentity(tc.a), tc.b, canonicalIdentity(tc.b))
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"system:serviceaccount:analytics:report-writer", "spiffe://cluster.local/ns/analytics/sa/billing-exporter"},
		{"spiffe://a.example/agent", "spiffe://b.example/agent"},
	} {
		if canonicalIdentity(tc.a) == canonicalIdentity(tc.b) {
			t.Errorf("canonicalIdentity(%q) = canonicalIdentity(%q), want different", tc.a, tc.b)
		}
	}
}

// TestRunViewEvidence checks that the run view reports, for each
// credential the run used, the findings the credential view reports: the
// responder who arrives at a run sees them too.
func TestRunViewEvidence(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{noFixture: true})
		w.seedEvidence()
		for _, tc := range []struct {
			trace, cred string
			kinds       []string
		}{
			{traceD, credSTS, []string{FindingUnaccountedUse}},
			{traceD, credVault, []string{FindingUseOutsideValidity}},
			{traceE, credK8s, []string{FindingSubjectMismatch, FindingUnreportedIssuance}},
		} {
			r := w.do("responder", http.MethodGet, "/v1/runs/"+tc.trace+"?content=false", nil)
			if r.status != http.StatusOK {
				t.Fatalf("GET /v1/runs/%s = %d, want 200\n%s", tc.trace, r.status, r.body)
			}
			var v api.RunView
			r.json(t, &v)
			i := slices.IndexFunc(v.Credentials, func(c api.RunCredential) bool { return c.ID == tc.cred })
			if i < 0 {
				t.Fatalf("run %s: credential %s not in its credentials %+v", tc.trace, tc.cred, v.Credentials)
			}
			ev := v.Credentials[i].Evidence
			if ev == nil {
				t.Fatalf("run %s: credential %s has no evidence", tc.trace, tc.cred)
			}
			var kinds []string
			for _, f := range ev.Findings {
				if !slices.Contains(kinds, f.Kind) {
					kinds = append(kinds, f.Kind)
				}
			}
			slices.Sort(kinds)
			want := slices.Sorted(slices.Values(tc.kinds))
			if !slices.Equal(kinds, want) {
				t.Errorf("run %s credential %s: finding kinds %v, want %v", tc.trace, tc.cred, kinds, want)
			}
		}
	})
}

func TestSameFact(t *testing.T) {
	for _, tc := range []struct {
		fact, a, b string
		want       bool
	}{
		{ledger.AttrCredentialExpiresAt, "2026-12-06T07:00:00Z", "2026-12-06T07:00:00Z", true},
		{ledger.AttrCredentialExpiresAt, "2026-12-06T07:00:00Z", "2026-12-06T07:00:01.400Z", true},
		{ledger.AttrCredentialExpiresAt, "2026-12-06T08:00:00+01:00", "2026-12-06T07:00:04Z", true},
		{ledger.AttrCredentialExpiresAt, "2026-12-06T07:00:00Z", "2026-12-06T07:00:06Z", false},
		{ledger.AttrCredentialExpiresAt, "2026-12-06T07:00:00Z", "2026-12-06T08:00:00Z", false},
		{ledger.AttrCredentialExpiresAt, "soon", "soon", true},
		{ledger.AttrCredentialScope, "read write", "write read", true},
		{ledger.AttrCredentialScope, "read", "read write", false},
		{ledger.AttrCredentialSubject, "a", "a", true},
		{ledger.AttrCredentialSubject, "a", "b", false},
	} {
		if got := sameFact(tc.fact, tc.a, tc.b); got != tc.want {
			t.Errorf("sameFact(%s, %q, %q) = %v, want %v", tc.fact, tc.a, tc.b, got, tc.want)
		}
	}
}

// TestVaultHMACAcrossImports: a Vault token's issuance and a request Vault
// could not authenticate, which names the token by its HMAC alone, read in
// two separate imports. The issuance carries the issued token's HMAC as a
// fingerprint, so the credential view, its evidence and /v1/findings join
// the use to the token: a use after revocation, from the address Vault saw.
func TestVaultHMACAcrossImports(t *testing.T) {
	const (
		accessor = "hQ3rN8vT2wL5yK9mP4sD7fG1"
		hmac     = "hmac-sha256:3b1f0c9e2d7a4b6c8e5f1a2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a61"
		useKey   = "vault/4c1d2e3f-5a6b-4c7d-8e9f-0a1b2c3d4e04/response"
	)
	w := newWorld(t, backends()[0], worldOptions{noFixture: true})
	data, err := os.ReadFile(filepath.Join("..", "evidence", "testdata", "vault_hmac_only.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	r, err := secrets.NewRedactor(bytes.Repeat([]byte("s"), 32), secrets.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// The login, a read and the revocation; then, with a parser that never
	// saw the token, the read after the revocation and an unknown token's.
	for _, part := range []string{strings.Join(lines[:6], ""), strings.Join(lines[6:], "")} {
		p, err := evidence.NewParser(r, evidence.Config{Format: evidence.FormatVault})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := evidence.Import(t.Context(), p, w.log, strings.NewReader(part), func(rec evidence.Record) {
			t.Errorf("record %d refused: %v", rec.Number, rec.Err)
		}); err != nil {
			t.Fatal(err)
		}
	}
	w.checkpoint()

	var v api.CredentialView
	w.get("responder", "/v1/credentials/"+accessor, &v)
	if !slices.Contains(v.Credential.Fingerprints, hmac) {
		t.Errorf("credential fingerprints %v, want the issued token's HMAC %s", v.Credential.Fingerprints, hmac)
	}
	var use *api.Call
	for _, u := range v.Usages {
		for i, c := range u.Calls {
			if c.Entry.EventKey == useKey {
				use = &u.Calls[i]
			}
		}
	}
	if use == nil {
		t.Fatalf("usages %+v: want the use %s, joined by the HMAC", v.Usages, useKey)
	}
	if !slices.Contains(use.MatchedBy, "fingerprint") || use.CredentialID != "" {
		t.Errorf("use %s: matched by %v, credential %q; want matched by its fingerprint alone", useKey, use.MatchedBy, use.CredentialID)
	}
	var outside []api.EvidenceFinding
	for _, f := range v.Evidence.Findings {
		if f.Kind == FindingUseOutsideValidity {
			outside = append(outside, f)
		}
	}
	if len(outside) != 1 || outside[0].Index != use.Entry.Index || outside[0].Reason != "revoked" {
		t.Fatalf("use outside validity findings %+v, want one about entry %d, revoked", outside, use.Entry.Index)
	}
	if v.Evidence.ProviderUses != 3 {
		t.Errorf("provider uses %d, want 3 (the read, the revocation and the read after it)", v.Evidence.ProviderUses)
	}

	var page api.FindingsPage
	w.get("responder", "/v1/findings?kind="+FindingUseOutsideValidity, &page)
	if len(page.Findings) != 1 || page.Findings[0].CredentialID != accessor || page.Findings[0].Index != use.Entry.Index {
		t.Errorf("/v1/findings?kind=%s = %+v, want the use %d of %s", FindingUseOutsideValidity, page.Findings, use.Entry.Index, accessor)
	}
}

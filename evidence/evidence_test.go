package evidence

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

func newParser(t testing.TB, f Format) *Parser {
	t.Helper()
	r, err := secrets.NewRedactor(bytes.Repeat([]byte("k"), 32), secrets.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewParser(r, Config{Format: f})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readAll parses data and returns every record.
func readAll(t testing.TB, p *Parser, data []byte) []Record {
	t.Helper()
	var recs []Record
	if err := p.Read(bytes.NewReader(data), func(r Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatalf("Read: %v", err)
	}
	return recs
}

func entriesOf(recs []Record) []ledger.Entry {
	var out []ledger.Entry
	for _, r := range recs {
		out = append(out, r.Entries...)
	}
	return out
}

func attrs(e ledger.Entry) map[string]string {
	m := make(map[string]string)
	for _, a := range e.Attrs {
		m[a.Key] = a.Value
	}
	return m
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// want is an entry the scenario fixtures must yield: its kind, event key
// and some of its attributes.
type want struct {
	kind  ledger.Kind
	key   string
	attrs map[string]string
}

func TestScenarioFixtures(t *testing.T) {
	tests := []struct {
		format  Format
		file    string
		records int
		want    []want
	}{
		{FormatCloudTrail, "scenario/cloudtrail.json", 5, []want{
			{ledger.KindCredential, "cloudtrail/3f6b1a7c-5d2e-4f80-9a1b-0c2d3e4f5a01", map[string]string{
				"credential.operation": "issue", "credential.id": "ASIAQ3EGUSKN2DATA001", "credential.type": "aws_sts",
				"credential.issuer":  "sts.amazonaws.com",
				"credential.subject": "arn:aws:sts::123456789012:assumed-role/data-analyst/data-analyst-agent",
				"credential.role":    "arn:aws:iam::123456789012:role/data-analyst", "credential.expires_at": "2026-03-01T11:00:00Z",
				"credential.parent_id": "AKIAIOSFODNN7EXAMPLE", "client.address": "10.0.4.17"}},
			{ledger.KindAPICall, "cloudtrail/3f6b1a7c-5d2e-4f80-9a1b-0c2d3e4f5a01", map[string]string{
				"credential.id": "AKIAIOSFODNN7EXAMPLE", "server.address": "sts.amazonaws.com", "rpc.method": "AssumeRole"}},
			{ledger.KindAPICall, "cloudtrail/3f6b1a7c-5d2e-4f80-9a1b-0c2d3e4f5a02", map[string]string{
				"credential.id": "ASIAQ3EGUSKN2DATA001", "server.address": "s3.amazonaws.com", "rpc.method": "GetObject", "client.address": "10.0.4.17"}},
			{ledger.KindAPICall, "cloudtrail/3f6b1a7c-5d2e-4f80-9a1b-0c2d3e4f5a03", map[string]string{
				"credential.id": "ASIAQ3EGUSKN2DATA001", "rpc.method": "ListBuckets", "client.address": "203.0.113.66",
				"user_agent.original": "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64"}},
			{ledger.KindAPICall, "cloudtrail/3f6b1a7c-5d2e-4f80-9a1b-0c2d3e4f5a04", map[string]string{
				"credential.id": "ASIAQ3EGUSKN2DATA001", "error.type": "AccessDenied"}},
		}},
		{FormatCloudTrail, "cloudtrail_eventbridge.json", 1, []want{
			{ledger.KindAPICall, "cloudtrail/3f6b1a7c-5d2e-4f80-9a1b-0c2d3e4f5a03", map[string]string{"credential.id": "ASIAQ3EGUSKN2DATA001"}},
		}},
		{FormatVault, "scenario/vault_audit.log", 8, []want{
			{ledger.KindCredential, "vault/7e0b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c01/response", map[string]string{
				"credential.operation": "issue", "credential.id": "8qVAJ9bPxW3nR2mT6yK0hLcD", "credential.type": "vault_token/service",
				"credential.subject": "kubernetes-analytics-data-analyst", "credential.scope": "analytics-read default",
				"credential.role": "analytics", "credential.expires_at": "2026-03-01T11:02:00Z", "vault.entity_id": "e2853091-6c3c-2200-3ff7-0b664ed70c4d"}},
			{ledger.KindAPICall, "vault/7e0b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c02/response", map[string]string{
				"credential.id": "8qVAJ9bPxW3nR2mT6yK0hLcD", "url.path": "/v1/secret/data/analytics/warehouse", "http.request.method": "GET"}},
			{ledger.KindAPICall, "vault/7e0b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c03/response", map[string]string{"credential.id": "0PsecOpsAdminAccessor9xQ"}},
			{ledger.KindCredential, "vault/7e0b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c03/response/revoke", map[string]string{
				"credential.operation": "revoke", "credential.id": "8qVAJ9bPxW3nR2mT6yK0hLcD"}},
			{ledger.KindAPICall, "vault/7e0b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c04/response", map[string]string{
				"credential.id": "8qVAJ9bPxW3nR2mT6yK0hLcD", "error.type": "permission_denied"}},
		}},
		{FormatK8sAudit, "scenario/k8s_audit.log", 3, []want{
			{ledger.KindCredential, "k8s-audit/5d8e6f7a-0b1c-4d2e-9f3a-4b5c6d7e8f01/ResponseComplete", map[string]string{
				"credential.operation": "issue", "credential.id": "2c9d7e41-6a3b-4f0e-8d1c-5b7a9e3f2d10",
				"credential.subject": "system:serviceaccount:analytics:report-writer", "credential.type": "k8s_service_account_token",
				"credential.parent_id": "X509SHA256=5f6e7d8c9b0a1f2e3d4c5b6a79887766554433221100ffeeddccbbaa99887766"}},
			// The kubelet's request is a use of its client certificate.
			{ledger.KindAPICall, "k8s-audit/5d8e6f7a-0b1c-4d2e-9f3a-4b5c6d7e8f01/ResponseComplete", map[string]string{
				"credential.id": "X509SHA256=5f6e7d8c9b0a1f2e3d4c5b6a79887766554433221100ffeeddccbbaa99887766", "http.request.method": "POST"}},
			{ledger.KindAPICall, "k8s-audit/5d8e6f7a-0b1c-4d2e-9f3a-4b5c6d7e8f02/ResponseComplete", map[string]string{
				"credential.id": "2c9d7e41-6a3b-4f0e-8d1c-5b7a9e3f2d10", "http.request.method": "GET",
				"url.path": "/api/v1/namespaces/analytics/secrets/warehouse-credentials", "http.response.status_code": "200",
				"k8s.pod.name": "billing-exporter-7d9f8c6b5-x2k4p", "client.address": "10.0.4.31"}},
		}},
		{FormatKeycloak, "scenario/keycloak_events.json", 3, []want{
			{ledger.KindCredential, "keycloak/c0ffee00-1d2e-4f3a-8b4c-5d6e7f8a9b01", map[string]string{
				"credential.operation": "exchange", "credential.id": "onrtte:7f3e2d1c-0b9a-4877-a665-544332211009",
				"credential.parent_id": "onrtac:1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "credential.subject": "0b2f7c3e-8a41-4d6e-9c5b-1f2e3d4c5b6a",
				"credential.audience": "billing-api", "credential.issuer": "agents", "keycloak.client_id": "report-agent"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			recs := readAll(t, newParser(t, tc.format), fixture(t, tc.file))
			if len(recs) != tc.records {
				t.Errorf("%d records, want %d", len(recs), tc.records)
			}
			for _, r := range recs {
				if r.Err != nil {
					t.Errorf("record %d: %v", r.Number, r.Err)
				}
			}
			got := entriesOf(recs)
			if len(got) != len(tc.want) {
				t.Errorf("%d entries, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				if i >= len(got) {
					break
				}
				e := got[i]
				if e.Kind != w.kind || e.EventKey != w.key || e.Source != string(tc.format) || e.TraceID != "" {
					t.Errorf("entry %d = %s %s (source %q, trace %q), want %s %s", i, e.Kind, e.EventKey, e.Source, e.TraceID, w.kind, w.key)
				}
				a := attrs(e)
				for k, v := range w.attrs {
					if a[k] != v {
						t.Errorf("entry %d %s = %q, want %q", i, k, a[k], v)
					}
				}
				if len(e.Content) != 1 || e.Content[0].Name != ContentRecord {
					t.Errorf("entry %d content = %v, want the record", i, e.Content)
				}
			}
		})
	}
}

// TestSameRecordSameKey: the event key is the source's own event ID, so
// reading a file again yields the same dedup keys.
func TestSameRecordSameKey(t *testing.T) {
	p := newParser(t, FormatVault)
	data := fixture(t, "scenario/vault_audit.log")
	a, b := entriesOf(readAll(t, p, data)), entriesOf(readAll(t, p, data))
	seen := make(map[[32]byte]bool)
	for i := range a {
		if a[i].DedupKey() != b[i].DedupKey() {
			t.Errorf("entry %d: dedup key differs between reads", i)
		}
		if seen[a[i].DedupKey()] {
			t.Errorf("entry %d (%s): dedup key shared with another entry", i, a[i].EventKey)
		}
		seen[a[i].DedupKey()] = true
	}
}

func TestGzip(t *testing.T) {
	data := fixture(t, "scenario/cloudtrail.json")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	p := newParser(t, FormatCloudTrail)
	if got, want := len(entriesOf(readAll(t, p, buf.Bytes()))), len(entriesOf(readAll(t, p, data))); got != want {
		t.Errorf("gzip: %d entries, want %d", got, want)
	}
}

// TestSecrets: raw tokens in records never reach an entry; Vault's own
// HMACs are kept as they are; the fingerprints of the secrets are listed
// on the credential entries.
func TestSecrets(t *testing.T) {
	raw := strings.Fields(string(fixture(t, "secrets/raw_tokens.txt")))
	r, _ := secrets.NewRedactor(bytes.Repeat([]byte("k"), 32), secrets.Config{})
	for _, tc := range []struct {
		format Format
		file   string
	}{
		{FormatVault, "secrets/vault_raw.log"},
		{FormatK8sAudit, "secrets/k8s_audit.log"},
		{FormatCloudTrail, "scenario/cloudtrail.json"},
		{FormatVault, "scenario/vault_audit.log"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			es := entriesOf(readAll(t, newParser(t, tc.format), fixture(t, tc.file)))
			if len(es) == 0 {
				t.Fatal("no entries")
			}
			var all strings.Builder
			for _, e := range es {
				all.WriteString(e.Name)
				for _, a := range e.Attrs {
					all.WriteString(a.Key + "=" + a.Value + "\n")
				}
				for _, c := range e.Content {
					all.Write(c.Data)
				}
			}
			s := all.String()
			for _, tok := range raw {
				if strings.Contains(s, tok) {
					t.Errorf("raw secret %.12s… is in the entries", tok)
				}
			}
			src := string(fixture(t, tc.file))
			for _, tok := range raw {
				if strings.Contains(src, tok) && !strings.Contains(s, r.Fingerprint(tok)) {
					t.Errorf("the fingerprint of %.12s… is not in the entries", tok)
				}
			}
			if tc.file == "scenario/vault_audit.log" {
				// A record without a secret is kept byte for byte.
				line := strings.Split(src, "\n")[3]
				if got := string(es[1].Content[0].Data); got != line {
					t.Errorf("record without secrets stored as %.80s…, want the line as read", got)
				}
				for _, h := range []string{"hmac-sha256:114e72599d41f7d14c7fc2ba495757195e98d0947405421f7b3be37b94e7f363",
					"hmac-sha256:9c1e0d2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5"} {
					if !strings.Contains(s, h) {
						t.Errorf("Vault's HMAC %s… is not kept", h[:20])
					}
				}
			}
		})
	}
	es := entriesOf(readAll(t, newParser(t, FormatK8sAudit), fixture(t, "secrets/k8s_audit.log")))
	if a := attrs(es[0]); es[0].Kind != ledger.KindCredential || a["credential.id"] != "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4" ||
		a["credential.expires_at"] != "2026-03-01T11:00:00Z" || !strings.HasPrefix(a["credential.fingerprint"], "hmac-sha256:") {
		t.Errorf("TokenRequest with the token in its response = %s %v, want the issuance with the token's fingerprint", es[0].Kind, a)
	}
}

// TestHostileLines: every bad record is refused whole with its record and
// line number; the good records around it are read.
func TestHostileLines(t *testing.T) {
	good := strings.TrimSpace(strings.Split(string(fixture(t, "scenario/vault_audit.log")), "\n")[3])
	deep := `{"type":"response","time":"2026-03-01T10:00:00Z","request":{"id":"x","data":` + strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100) + `}}`
	huge := `{"type":"response","time":"2026-03-01T10:00:00Z","request":{"id":"y","data":{"blob":"` + strings.Repeat("A", 10<<20) + `"}}}`
	lines := []struct {
		line, err string
	}{
		{good, ""},
		{`{"type":"response","time":"2026-03-01T10:00:00Z","request":{"id":"t1","path":"x"`, "invalid JSON"},
		{`{"type":"response","time":"2026-03-01T10:00:00Z","request":{"id":7}}`, "field request.id is a number, want a string"},
		{`{"type":"response","time":"2026-03-01T10:00:00Z","request":{"id":"w","client_token_accessor":["a"]}}`, "request.client_token_accessor"},
		{huge, "record too large"},
		{deep, "nested too deeply"},
		{`{"type":"telemetry","time":"2026-03-01T10:00:00Z","request":{"id":"v"}}`, `unknown type "telemetry"`},
		{`["not","an","object"]`, "want a JSON object"},
		{`{"type":"response","time":"yesterday","request":{"id":"z"}}`, "field time"},
		{`{"type":"response","time":"2026-03-01T10:00:00Z","request":{"id":"n","client_token_accessor":"a\u0000b"}}`, "NUL"},
		{good, ""},
	}
	var in strings.Builder
	for _, l := range lines {
		in.WriteString(l.line + "\n")
	}
	recs := readAll(t, newParser(t, FormatVault), []byte(in.String()))
	if len(recs) != len(lines) {
		t.Fatalf("%d records, want %d", len(recs), len(lines))
	}
	for i, l := range lines {
		r := recs[i]
		if r.Number != i+1 || r.Line != i+1 {
			t.Errorf("record %d at number %d line %d", i+1, r.Number, r.Line)
		}
		switch {
		case l.err == "" && r.Err != nil:
			t.Errorf("line %d: %v", i+1, r.Err)
		case l.err != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), l.err)):
			t.Errorf("line %d: error %v, want one containing %q", i+1, r.Err, l.err)
		case l.err != "" && len(r.Entries) > 0:
			t.Errorf("line %d: refused record has %d entries", i+1, len(r.Entries))
		case l.err == "" && len(r.Entries) != 1:
			t.Errorf("line %d: %d entries, want 1", i+1, len(r.Entries))
		}
		var re *Error
		if r.Err != nil && (!errors.As(r.Err, &re) || !strings.Contains(r.Err.Error(), "line ")) {
			t.Errorf("line %d: error %q does not name its line", i+1, r.Err)
		}
	}
}

// TestHostileRecordsArray: the same in a CloudTrail file read as a stream
// of Records, and a file cut short.
func TestHostileRecordsArray(t *testing.T) {
	ok := func(id string) string {
		return `{"eventVersion":"1.08","eventID":"` + id + `","eventTime":"2026-03-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"accessKeyId":"ASIAQ3EGUSKN2DATA001"}}`
	}
	recs := []string{
		ok("e1"),
		`{"eventVersion":"2.0","eventID":"e2","eventTime":"2026-03-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"accessKeyId":"ASIAQ3EGUSKN2DATA001"}}`,
		`{"eventVersion":"1.08","eventID":"e3","eventTime":"2026-03-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"accessKeyId":"ASIAQ3EGUSKN2DATA001"},"requestParameters":{"x":"` + strings.Repeat("B", 10<<20) + `"}}`,
		`{"eventVersion":"1.08","eventID":"e4","userIdentity":"root"}`,
		`{"eventVersion":"1.08","eventID":"e5","x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
		ok("e6"),
	}
	data := "{\"Records\": [\n" + strings.Join(recs, ",\n") + "\n]}\n"
	got := readAll(t, newParser(t, FormatCloudTrail), []byte(data))
	wantErr := []string{"", "unknown eventVersion", "record too large", "field userIdentity is a string, want an object", "nested too deeply", ""}
	if len(got) != len(wantErr) {
		t.Fatalf("%d records, want %d", len(got), len(wantErr))
	}
	for i, w := range wantErr {
		if got[i].Line != i+2 {
			t.Errorf("record %d line %d, want %d", i+1, got[i].Line, i+2)
		}
		if (w == "") != (got[i].Err == nil) || (w != "" && !strings.Contains(got[i].Err.Error(), w)) {
			t.Errorf("record %d: error %v, want %q", i+1, got[i].Err, w)
		}
	}

	cut := data[:len(data)/2]
	p := newParser(t, FormatCloudTrail)
	var n int
	err := p.Read(strings.NewReader(ok("e7")+"\n"+cut), func(r Record) error {
		n++
		return nil
	})
	if n < 1 || (err == nil && n < 2) {
		t.Errorf("cut file: %d records, err %v: want the first record and a truncation error", n, err)
	}
}

func TestTruncatedStream(t *testing.T) {
	p := newParser(t, FormatCloudTrail)
	data := `{"Records":[{"eventVersion":"1.08","eventID":"e1","eventTime":"2026-03-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"accessKeyId":"ASIAQ3EGUSKN2DATA001"}},{"eventVersion":"1.0`
	var recs []Record
	err := p.Read(strings.NewReader(data), func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(recs) != 2 || recs[0].Err != nil || recs[1].Err == nil || !strings.Contains(recs[1].Err.Error(), "truncated") {
		t.Fatalf("records = %+v, want one good and one truncated", recs)
	}
}

// TestDuplicateMember: a record that names a secret member twice is not
// kept byte for byte, since the decoder saw (and redacted) only one value.
func TestDuplicateMember(t *testing.T) {
	line := `{"type":"response","time":"2026-03-01T10:00:00Z","request":{"id":"d1","client_token_accessor":"acc1","path":"x",` +
		`"data":{"password":"Zq9vR3tY7uI0oP2sD5fG","password":""}}}`
	es := entriesOf(readAll(t, newParser(t, FormatVault), []byte(line+"\n")))
	if len(es) != 1 {
		t.Fatalf("%d entries, want 1", len(es))
	}
	if data := string(es[0].Content[0].Data); strings.Contains(data, "Zq9vR3tY7uI0oP2sD5fG") {
		t.Errorf("record content %s holds a secret", data)
	}
}

// TestVaultTokenHMACOnly: a request Vault could not authenticate carries
// only the client token's HMAC. It yields a use that names the HMAC as the
// credential's fingerprint, and the token's accessor when the same parser
// saw the token issued; read alone, the HMAC is all it names.
func TestVaultTokenHMACOnly(t *testing.T) {
	const (
		revoked  = "hmac-sha256:3b1f0c9e2d7a4b6c8e5f1a2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a61"
		unknown  = "hmac-sha256:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29180f7e6d5c4b3a2918f0e1d2c3b4"
		accessor = "hQ3rN8vT2wL5yK9mP4sD7fG1"
		keyUse   = "vault/4c1d2e3f-5a6b-4c7d-8e9f-0a1b2c3d4e04/response"
		keyOther = "vault/4c1d2e3f-5a6b-4c7d-8e9f-0a1b2c3d4e05/response"
	)
	data := fixture(t, "vault_hmac_only.log")
	byKey := func(entries []ledger.Entry) map[string]map[string]string {
		m := make(map[string]map[string]string)
		for _, e := range entries {
			if e.Kind == ledger.KindAPICall {
				m[e.EventKey] = attrs(e)
			}
		}
		return m
	}
	recs := readAll(t, newParser(t, FormatVault), data)
	for _, r := range recs {
		if r.Err != nil {
			t.Fatalf("record %d: %v", r.Number, r.Err)
		}
	}
	uses := byKey(entriesOf(recs))
	if len(uses) != 4 {
		t.Errorf("%d uses, want 4 (a read, the revocation, the read after it and the unknown token's)", len(uses))
	}
	for _, tc := range []struct {
		key  string
		want map[string]string
	}{
		{keyUse, map[string]string{"credential.id": accessor, "credential.fingerprint": revoked,
			"error.type": "permission_denied", "client.address": "203.0.113.77", "user_agent.original": "curl/8.5.0",
			"url.path": "/v1/secret/data/reports/q1", "http.request.method": "GET"}},
		{keyOther, map[string]string{"credential.id": "", "credential.fingerprint": unknown, "error.type": "permission_denied"}},
	} {
		a, ok := uses[tc.key]
		if !ok {
			t.Errorf("no use %s", tc.key)
			continue
		}
		for k, v := range tc.want {
			if a[k] != v {
				t.Errorf("%s %s = %q, want %q", tc.key, k, a[k], v)
			}
		}
	}
	// The uses made with an accessor keep to it alone, as before.
	if a := uses["vault/4c1d2e3f-5a6b-4c7d-8e9f-0a1b2c3d4e02/response"]; a["credential.id"] != accessor || a["credential.fingerprint"] != "" {
		t.Errorf("use with an accessor = %v, want credential.id %s and no fingerprint", a, accessor)
	}

	// The issuance carries the issued token's HMAC, which joins the use
	// read in another import; a use made with an accessor carries none.
	for _, e := range entriesOf(recs) {
		if a := attrs(e); e.Kind == ledger.KindCredential && a["credential.operation"] == "issue" {
			if a["credential.id"] != accessor || a["credential.fingerprint"] != revoked {
				t.Errorf("issuance %s: credential.id %q, credential.fingerprint %q, want %s and %s",
					e.EventKey, a["credential.id"], a["credential.fingerprint"], accessor, revoked)
			}
			// The join's key is a key of the verifiable index, so that a
			// completeness proof covers it.
			if !slices.Contains(ledger.IndexKeys(&e), ledger.Ref{Key: ledger.RefFingerprint, Value: revoked}) {
				t.Errorf("issuance index keys %v, want fingerprint:%s", ledger.IndexKeys(&e), revoked)
			}
		}
	}

	// The same record alone, as a second import: the HMAC names it.
	line := strings.Split(strings.TrimSpace(string(data)), "\n")[7]
	alone := byKey(entriesOf(readAll(t, newParser(t, FormatVault), []byte(line))))
	if a := alone[keyUse]; a == nil || a["credential.id"] != "" || a["credential.fingerprint"] != revoked {
		t.Errorf("read alone: %v, want credential.fingerprint %s and no credential.id", a, revoked)
	}
}

package secrets

import (
	"slices"
	"strings"
	"testing"
)

// TestLookupFingerprints checks that what a responder pastes finds the fingerprint that
// ingest recorded for the same secret, whatever wraps it.
func TestLookupFingerprints(t *testing.T) {
	r := newTestRedactor(t, Config{})
	const (
		ghp = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
		pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oZ6ZGgCk5Gv4oAoGCCqGSM49\nAwEHoUQDQgAEiQ6nJY7ApmMvX3QYm/jaEYBuOl9ln6FX5iaWjr6jd5bZ5pLkwTm1\n-----END EC PRIVATE KEY-----"
	)
	tests := []struct {
		name   string
		ingest func() []Finding // what ingest recorded
		pastes []string
	}{
		{
			name: "bearer header attribute",
			ingest: func() []Finding {
				_, fs, _ := r.RedactAttr("http.request.header.authorization", "Bearer "+ghp)
				return fs
			},
			pastes: []string{ghp, "Bearer " + ghp, "Authorization: Bearer " + ghp, "  " + ghp + "\n", "curl -H 'Authorization: Bearer " + ghp + "' https://api.github.com"},
		},
		{
			name: "token in free text",
			ingest: func() []Finding {
				_, fs, _ := r.RedactText("the agent printed " + ghp + " to the log")
				return fs
			},
			pastes: []string{ghp, "Bearer " + ghp, "token=" + ghp, "GITHUB_TOKEN=" + ghp + "\nOTHER=1"},
		},
		{
			name: "private key in a JSON string",
			ingest: func() []Finding {
				_, fs, _ := r.RedactText(`{"content":"` + strings.ReplaceAll(pem, "\n", `\n`) + `"}`)
				return fs
			},
			pastes: []string{pem, pem + "\n", "key:\n" + pem},
		},
		{
			name: "private key in a secret-named attribute",
			ingest: func() []Finding {
				_, fs, _ := r.RedactAttr("tls.private_key", pem+"\n")
				return fs
			},
			pastes: []string{pem},
		},
		{
			name: "password attribute",
			ingest: func() []Finding {
				_, fs, _ := r.RedactAttr("db.password", "hunter2hunter2")
				return fs
			},
			pastes: []string{"hunter2hunter2", "DB_PASSWORD=hunter2hunter2", "HOST=db\nDB_PASSWORD=hunter2hunter2\n"},
		},
		{
			name: "basic credential",
			ingest: func() []Finding {
				_, fs, _ := r.RedactAttr("http.request.header.authorization", "Basic ZGVwbG95Omh1bnRlcjI=")
				return fs
			},
			pastes: []string{"Basic ZGVwbG95Omh1bnRlcjI=", "Authorization: Basic ZGVwbG95Omh1bnRlcjI="},
		},
		{
			name: "URL password",
			ingest: func() []Finding {
				_, fs, _ := r.RedactText("connect postgres://app:S3cr3tPassw0rd@db/orders")
				return fs
			},
			pastes: []string{"postgres://app:S3cr3tPassw0rd@db/orders", "DATABASE_URL=postgres://app:S3cr3tPassw0rd@db/orders", "S3cr3tPassw0rd"},
		},
		{
			name: "URL query token",
			ingest: func() []Finding {
				_, fs, _ := r.RedactText("GET https://x.example.com/cb?access_token=ab%2Bcd12345&x=1")
				return fs
			},
			pastes: []string{"https://x.example.com/cb?access_token=ab%2Bcd12345", "ab+cd12345"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := tt.ingest()
			if len(fs) == 0 {
				t.Fatal("ingest found nothing")
			}
			for _, paste := range tt.pastes {
				got := r.LookupFingerprints(paste)
				for _, f := range fs {
					if f.Fingerprint != "" && !slices.Contains(got, f.Fingerprint) {
						t.Errorf("LookupFingerprints(%q) = %v, want it to hold %s (%s/%s)", paste, got, f.Fingerprint, f.Kind, f.Rule)
					}
				}
			}
		})
	}
}

func TestLookupFingerprintsBounded(t *testing.T) {
	r := newTestRedactor(t, Config{})
	var b strings.Builder
	for i := range 200 {
		b.WriteString("API_TOKEN=k-8f3a9c2e51d44b8e" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "\n")
	}
	if got := r.LookupFingerprints(b.String()); len(got) != MaxLookupFingerprints {
		t.Errorf("LookupFingerprints of 200 lines = %d fingerprints, want %d", len(got), MaxLookupFingerprints)
	}
	if got := r.LookupFingerprints("  \n "); len(got) != 1 {
		t.Errorf("LookupFingerprints of blanks = %v, want the fingerprint of the exact text alone", got)
	}
}

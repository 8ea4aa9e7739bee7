package query

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ingest/secrets"
)

// TestLookupPastedText looks up a leaked token as a responder pastes it, wrapped in a
// header, a curl command or an env file, and finds the credential whose entries carry
// the fingerprint ingest recorded for the bare token; the token reaches no log.
func TestLookupPastedText(t *testing.T) {
	red, err := secrets.NewRedactor([]byte(strings.Repeat("k", secrets.MinKeySize)), secrets.Config{})
	if err != nil {
		t.Fatal(err)
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{lookupSecrets: red.LookupSecrets})
		for _, paste := range []string{
			tokenC1,
			"Bearer " + tokenC1,
			"Authorization: Bearer " + tokenC1,
			"curl -H 'Authorization: token " + tokenC1 + "' https://api.github.com/user\n",
			"HOME=/root\nGITHUB_TOKEN=" + tokenC1 + "\nPATH=/bin\n",
		} {
			r := w.do("responder", http.MethodPost, "/v1/credentials/lookup?content=false", api.LookupRequest{Token: paste})
			var lr api.LookupResult
			r.json(t, &lr)
			if r.status != http.StatusOK || len(lr.Credentials) == 0 || lr.Credentials[0].Credential.ID != credC1 {
				t.Errorf("lookup of %q = %d, %+v, want credential %s", paste, r.status, lr.Credentials, credC1)
			}
			if lr.Fingerprint != fingerprint(tokenC1) {
				t.Errorf("lookup of %q fingerprint = %s, want that of the token", paste, lr.Fingerprint)
			}
		}
		if strings.Contains(w.logs.String(), tokenC1) {
			t.Error("the server's log holds the token")
		}
	})
}

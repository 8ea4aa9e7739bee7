package evidence

import (
	"fmt"
	"strings"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// keycloakIssuance maps the Keycloak user event types that issue an
// access token to the credential operation they record.
var keycloakIssuance = map[string]string{
	"TOKEN_EXCHANGE": "exchange",
	"CLIENT_LOGIN":   "issue",
	"CODE_TO_TOKEN":  "issue",
	"REFRESH_TOKEN":  "issue",
}

// keycloak maps one Keycloak event as the admin REST API lists it
// (GET /admin/realms/{realm}/events, an array) or an event listener writes
// it (JSON lines). A successful token-issuing event (RFC 8693
// TOKEN_EXCHANGE, client credentials, code exchange, refresh) yields a
// credential entry for the token its details.token_id names, with the
// exchanged token (details.subject_token_id) as parent when Keycloak
// records it. Admin events, failures and other types yield nothing.
func keycloak(r *record) error {
	if _, admin := r.obj["operationType"]; admin {
		return nil
	}
	rd := &reader{obj: r.obj}
	id := rd.str("id")
	typ := rd.str("type")
	ms, hasTime := rd.num("time")
	realm := rd.str("realmId")
	client := rd.str("clientId")
	user := rd.str("userId")
	session := rd.str("sessionId")
	ip := rd.str("ipAddress")
	errText := rd.str("error")
	tokenID := rd.str("details", "token_id")
	parent := rd.str("details", "subject_token_id")
	audience := rd.str("details", "audience")
	scope := rd.str("details", "scope")
	if rd.err != nil {
		return rd.err
	}
	if typ == "" {
		return fmt.Errorf("field type is missing")
	}
	if !hasTime {
		return fmt.Errorf("field time is missing")
	}
	op, ok := keycloakIssuance[typ]
	if !ok || errText != "" || strings.HasSuffix(typ, "_ERROR") || tokenID == "" {
		return nil
	}
	key := id
	if key == "" {
		// Keycloak before version 23 gives events no ID; the token ID is
		// unique to the event that issued it.
		key = "token/" + tokenID
	}
	if err := checkID("id", key); err != nil {
		return err
	}
	t := time.UnixMilli(ms).UTC()
	en := r.add(ledger.KindCredential, key, "keycloak "+typ, t)
	en.set(ledger.AttrCredentialOperation, op)
	en.set(ledger.AttrCredentialID, tokenID)
	en.set(ledger.AttrCredentialType, "oauth_access_token")
	en.set(ledger.AttrCredentialIssuer, realm)
	en.set(ledger.AttrCredentialSubject, user)
	en.set(ledger.AttrCredentialAudience, audience)
	en.set(ledger.AttrCredentialScope, scope)
	en.set(ledger.AttrCredentialParentID, parent)
	en.set(AttrClientAddress, ip)
	en.set(AttrKeycloakRealm, realm)
	en.set(AttrKeycloakClient, client)
	en.set(AttrKeycloakSession, session)
	return nil
}

package evidence

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// vaultMethods maps Vault's logical operations to the HTTP methods that
// carry them, so that a provider-side use compares with an agent's HTTP
// span.
var vaultMethods = map[string]string{
	"read": "GET", "list": "LIST", "create": "POST", "update": "POST", "delete": "DELETE",
}

// vault maps one entry of a Vault audit device (the file device's JSON
// lines). Request entries yield nothing: the response entry that follows
// carries the same request and its outcome. A response entry yields an
// api_call entry when the request was made with a token (its accessor
// names the credential), a credential entry when it issued a token
// (response.auth: logins and token creation) or a lease (response.secret),
// and a revoke entry when it revoked a token by accessor or itself, or a
// lease. An accessor Vault hashed (hmac_accessor=true, the default) stays
// the "hmac-sha256:…" Vault wrote: still one stable ID per token.
//
// A request Vault could not authenticate (a revoked, expired or unknown
// token) carries only the client token's HMAC (request.client_token, as
// Vault wrote it, or the fingerprint of a token Vault did not hash), no
// accessor. It yields an api_call entry whose credential.fingerprint is
// that HMAC, so that a responder finds it by the HMAC, and whose
// credential.id is the token's accessor if the parser saw the token, by its
// HMAC, issued or used with its accessor earlier in its life. The
// credential entry of a token's issuance carries the issued token's HMAC
// as its credential.fingerprint, so that such a use read in another import
// still joins its credential through the fingerprint index key.
func vault(r *record) error {
	rd := &reader{obj: r.obj}
	typ := rd.str("type")
	at := rd.str("time")
	reqID := rd.str("request", "id")
	p := rd.str("request", "path")
	op := rd.str("request", "operation")
	accessor := first(rd.str("request", "client_token_accessor"), rd.str("auth", "accessor"))
	token := first(rd.str("request", "client_token"), rd.str("auth", "client_token"))
	remote := rd.str("request", "remote_address")
	agents := rd.strs("request", "headers", "user-agent")
	errText := rd.str("error")
	auth := rd.object("response", "auth")
	lease := rd.str("response", "secret", "lease_id")
	revokeAccessor := rd.str("request", "data", "accessor")
	revokeLease := rd.str("request", "data", "lease_id")
	if rd.err != nil {
		return rd.err
	}
	switch typ {
	case "request":
		return nil
	case "response":
	default:
		return fmt.Errorf("unknown type %s: want request or response", clip(typ))
	}
	if err := checkID("request.id", reqID); err != nil {
		return err
	}
	t, err := timestamp("time", at)
	if err != nil {
		return err
	}
	id := reqID + "/" + typ
	name := "vault " + op + " " + p
	common := func(en *entry) {
		en.set(AttrClientAddress, remote)
		if len(agents) > 0 {
			en.set(AttrUserAgent, agents[0])
		}
	}
	tokens := &r.p.tokens
	hmacOnly := accessor == "" && token != ""
	if hmacOnly {
		accessor = tokens.get(token)
	} else {
		tokens.put(token, accessor)
	}
	if accessor != "" || token != "" {
		en := r.add(ledger.KindAPICall, id, name, t)
		en.set(ledger.AttrCredentialID, accessor)
		if hmacOnly {
			// Vault's HMAC, kept as Vault wrote it, or the fingerprint of
			// a token Vault did not hash.
			en.fps = append(en.fps, token)
		}
		en.set(AttrHTTPMethod, vaultMethods[op])
		en.set(AttrURLPath, "/v1/"+p)
		en.set(AttrVaultOperation, op)
		en.set(AttrErrorType, vaultError(errText))
		common(en)
	}
	if errText != "" {
		return nil // a failed request issued and revoked nothing
	}
	if auth != nil {
		ard := &reader{obj: auth}
		newAcc := ard.str("accessor")
		display := ard.str("display_name")
		entity := ard.str("entity_id")
		tokenType := ard.str("token_type")
		policies := ard.strs("token_policies")
		if len(policies) == 0 {
			policies = ard.strs("policies")
		}
		role := first(ard.str("metadata", "role"), ard.str("metadata", "role_name"))
		ttl, hasTTL := ard.num("token_ttl")
		if ard.err != nil {
			return fmt.Errorf("response.auth: %w", ard.err)
		}
		newToken := ard.str("client_token")
		if newAcc != "" {
			tokens.put(newToken, newAcc)
			en := r.add(ledger.KindCredential, id, name, t)
			en.set(ledger.AttrCredentialOperation, "issue")
			en.set(ledger.AttrCredentialID, newAcc)
			en.set(ledger.AttrCredentialType, "vault_token"+suffix(tokenType))
			en.set(ledger.AttrCredentialIssuer, "vault")
			en.set(ledger.AttrCredentialSubject, display)
			en.set(ledger.AttrCredentialRole, role)
			slices.Sort(policies)
			en.set(ledger.AttrCredentialScope, strings.Join(policies, " "))
			if hasTTL && ttl > 0 {
				en.set(ledger.AttrCredentialExpiresAt, rfc3339(t.Add(time.Duration(ttl)*time.Second)))
			}
			en.set(ledger.AttrCredentialParentID, accessor)
			en.set(AttrVaultEntityID, entity)
			if strings.HasPrefix(newToken, hmacPrefix) {
				// The issued token's HMAC (or fingerprint): what a request
				// Vault could not authenticate names it by, in this
				// import or a later one.
				en.fps = append(en.fps, newToken)
			}
			common(en)
		}
	}
	if lease != "" {
		en := r.add(ledger.KindCredential, id+"/lease", name, t)
		en.set(ledger.AttrCredentialOperation, "issue")
		en.set(ledger.AttrCredentialID, lease)
		en.set(ledger.AttrCredentialType, "vault_lease")
		en.set(ledger.AttrCredentialIssuer, "vault")
		en.set(ledger.AttrCredentialParentID, accessor)
		common(en)
	}
	revoked := ""
	switch {
	case p == "auth/token/revoke-accessor":
		revoked = revokeAccessor
	case p == "auth/token/revoke-self":
		revoked = accessor
	case p == "sys/leases/revoke" || p == "sys/revoke":
		revoked = revokeLease
	case strings.HasPrefix(p, "sys/leases/revoke/"):
		revoked = strings.TrimPrefix(p, "sys/leases/revoke/")
	}
	if revoked != "" {
		en := r.add(ledger.KindCredential, id+"/revoke", name, t)
		en.set(ledger.AttrCredentialOperation, "revoke")
		en.set(ledger.AttrCredentialID, revoked)
		en.set(ledger.AttrCredentialIssuer, "vault")
		common(en)
	}
	return nil
}

// hmacPrefix starts the HMACs Vault writes of sensitive fields, and the
// fingerprints the redactor writes of the raw tokens Vault did not hash.
const hmacPrefix = "hmac-sha256:"

// maxTokens bounds the client tokens a Parser remembers; past it, it
// forgets them all and starts again.
const maxTokens = 1 << 16

// tokenAccessors maps the HMACs of Vault client tokens to their accessors.
// It is safe for concurrent use.
type tokenAccessors struct {
	mu sync.Mutex
	m  map[string]string
}

func (ta *tokenAccessors) put(token, accessor string) {
	if token == "" || accessor == "" {
		return
	}
	ta.mu.Lock()
	defer ta.mu.Unlock()
	if ta.m == nil || len(ta.m) >= maxTokens {
		ta.m = make(map[string]string)
	}
	ta.m[token] = accessor
}

func (ta *tokenAccessors) get(token string) string {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return ta.m[token]
}

// vaultError turns Vault's error text into a short error type.
func vaultError(text string) string {
	switch {
	case text == "":
		return ""
	case strings.Contains(text, "permission denied"):
		return "permission_denied"
	case strings.Contains(text, "invalid token"), strings.Contains(text, "bad token"):
		return "invalid_token"
	}
	return "error"
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return "/" + s
}

package evidence

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// The user.extra and annotation keys that name service account token IDs
// (KEP-4193: "JTI=<id>").
const (
	k8sCredentialID       = "authentication.kubernetes.io/credential-id"
	k8sIssuedCredentialID = "authentication.kubernetes.io/issued-credential-id"
	k8sPodName            = "authentication.kubernetes.io/pod-name"
	k8sPodUID             = "authentication.kubernetes.io/pod-uid"
)

// k8sMethods maps Kubernetes API verbs to HTTP methods.
var k8sMethods = map[string]string{
	"get": "GET", "list": "GET", "watch": "GET", "create": "POST", "update": "PUT",
	"patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE",
}

// k8sAudit maps one audit.k8s.io/v1 Event. Only the final stages
// (ResponseComplete, Panic) yield entries: a TokenRequest (create of
// serviceaccounts/token) that succeeded is the issuance of the token its
// issued-credential-id annotation names, and a request whose user carries
// a credential-id is a use of that credential.
func k8sAudit(r *record) error {
	rd := &reader{obj: r.obj}
	apiVersion := rd.str("apiVersion")
	kind := rd.str("kind")
	auditID := rd.str("auditID")
	stage := rd.str("stage")
	verb := rd.str("verb")
	uri := rd.str("requestURI")
	ua := rd.str("userAgent")
	ips := rd.strs("sourceIPs")
	username := rd.str("user", "username")
	credIDs := rd.strs("user", "extra", k8sCredentialID)
	pods := rd.strs("user", "extra", k8sPodName)
	podUIDs := rd.strs("user", "extra", k8sPodUID)
	resource := rd.str("objectRef", "resource")
	subresource := rd.str("objectRef", "subresource")
	namespace := rd.str("objectRef", "namespace")
	objName := rd.str("objectRef", "name")
	code, hasCode := rd.num("responseStatus", "code")
	received := rd.str("requestReceivedTimestamp")
	issued := rd.str("annotations", k8sIssuedCredentialID)
	audiences := rd.strs("requestObject", "spec", "audiences")
	expSeconds, hasExp := rd.num("requestObject", "spec", "expirationSeconds")
	expAt := rd.str("responseObject", "status", "expirationTimestamp")
	if rd.err != nil {
		return rd.err
	}
	if apiVersion != "audit.k8s.io/v1" {
		return fmt.Errorf("unknown apiVersion %s: this reader knows audit.k8s.io/v1", clip(apiVersion))
	}
	if kind != "Event" {
		return fmt.Errorf("kind %s: want Event", clip(kind))
	}
	if err := checkID("auditID", auditID); err != nil {
		return err
	}
	if stage != "ResponseComplete" && stage != "Panic" {
		if stage == "" {
			return fmt.Errorf("field stage is missing")
		}
		return nil
	}
	t, err := timestamp("requestReceivedTimestamp", received)
	if err != nil {
		return err
	}
	id := auditID + "/" + stage
	path, _, _ := strings.Cut(uri, "?")
	res := resource
	if subresource != "" {
		res += "/" + subresource
	}
	name := "k8s " + verb + " " + res
	cred := ""
	if len(credIDs) > 0 {
		cred = strings.TrimPrefix(credIDs[0], "JTI=")
	}
	common := func(en *entry) {
		if len(ips) > 0 {
			en.set(AttrClientAddress, ips[0])
		}
		en.set(AttrUserAgent, ua)
		en.set(AttrEnduserID, username)
		en.set(AttrK8sNamespace, namespace)
		if len(pods) > 0 {
			en.set(AttrK8sPodName, pods[0])
		}
		if len(podUIDs) > 0 {
			en.set(AttrK8sPodUID, podUIDs[0])
		}
	}
	ok := hasCode && code >= 200 && code < 300
	if resource == "serviceaccounts" && subresource == "token" && verb == "create" && issued != "" && ok {
		en := r.add(ledger.KindCredential, id, name, t)
		en.set(ledger.AttrCredentialOperation, "issue")
		en.set(ledger.AttrCredentialID, strings.TrimPrefix(issued, "JTI="))
		en.set(ledger.AttrCredentialType, "k8s_service_account_token")
		en.set(ledger.AttrCredentialIssuer, "kubernetes")
		if namespace != "" && objName != "" {
			en.set(ledger.AttrCredentialSubject, "system:serviceaccount:"+namespace+":"+objName)
		}
		en.set(ledger.AttrCredentialAudience, strings.Join(audiences, " "))
		switch {
		case expAt != "":
			exp, err := timestamp("responseObject.status.expirationTimestamp", expAt)
			if err != nil {
				return err
			}
			en.set(ledger.AttrCredentialExpiresAt, rfc3339(exp))
		case hasExp && expSeconds > 0:
			en.set(ledger.AttrCredentialExpiresAt, rfc3339(t.Add(time.Duration(expSeconds)*time.Second)))
		}
		en.set(ledger.AttrCredentialParentID, cred)
		common(en)
	}
	if cred != "" {
		en := r.add(ledger.KindAPICall, id, name, t)
		en.set(ledger.AttrCredentialID, cred)
		en.set(AttrHTTPMethod, k8sMethods[verb])
		en.set(AttrURLPath, path)
		if hasCode {
			en.set(AttrHTTPStatusCode, strconv.FormatInt(code, 10))
		}
		en.set(AttrK8sVerb, verb)
		en.set(AttrK8sResource, res)
		common(en)
	}
	return nil
}

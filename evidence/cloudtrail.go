package evidence

import (
	"fmt"
	"strings"
	"time"

	"github.com/agentledger/agentledger/ledger"
)

// stsIssuance maps the STS events that issue temporary credentials to the
// credential operation they record.
var stsIssuance = map[string]string{
	"AssumeRole":                "issue",
	"AssumeRoleWithWebIdentity": "exchange",
	"AssumeRoleWithSAML":        "exchange",
	"GetFederationToken":        "issue",
	"GetSessionToken":           "issue",
}

// cloudTrail maps one CloudTrail event, as in a log file's Records or as
// the detail of an EventBridge event: an STS issuance event to a
// credential entry for the new access key ID, and every event made with
// an access key (userIdentity.accessKeyId) to an api_call entry, a use of
// that key. Events made without an access key yield no entry.
func cloudTrail(r *record) error {
	o := r.obj
	if _, ok := o["detail-type"]; ok {
		d, err := object(o, "detail")
		if err != nil {
			return err
		}
		if d == nil {
			return fmt.Errorf("EventBridge event without a detail")
		}
		o = d
	}
	rd := &reader{obj: o}
	version := rd.str("eventVersion")
	id := rd.str("eventID")
	name := rd.str("eventName")
	source := rd.str("eventSource")
	at := rd.str("eventTime")
	keyID := rd.str("userIdentity", "accessKeyId")
	callerARN := rd.str("userIdentity", "arn")
	ip := rd.str("sourceIPAddress")
	ua := rd.str("userAgent")
	errCode := rd.str("errorCode")
	region := rd.str("awsRegion")
	account := rd.str("recipientAccountId")
	newKey := rd.str("responseElements", "credentials", "accessKeyId")
	expiration := rd.str("responseElements", "credentials", "expiration")
	roleARN := rd.str("requestParameters", "roleArn")
	subject := first(
		rd.str("requestParameters", "sourceIdentity"),
		rd.str("responseElements", "sourceIdentity"),
		rd.str("responseElements", "subjectFromWebIdentityToken"),
		rd.str("responseElements", "assumedRoleUser", "arn"),
		rd.str("responseElements", "federatedUser", "arn"),
		callerARN)
	if rd.err != nil {
		return rd.err
	}
	if major, _, _ := strings.Cut(version, "."); major != "1" {
		return fmt.Errorf("unknown eventVersion %s: this reader knows CloudTrail record versions 1.x", clip(version))
	}
	if err := checkID("eventID", id); err != nil {
		return err
	}
	if name == "" || source == "" {
		return fmt.Errorf("fields eventName and eventSource are required")
	}
	t, err := timestamp("eventTime", at)
	if err != nil {
		return err
	}
	action := strings.TrimSuffix(source, ".amazonaws.com") + ":" + name
	common := func(en *entry) {
		en.set(AttrClientAddress, ip)
		en.set(AttrUserAgent, ua)
		en.set(AttrErrorType, errCode)
		en.set(AttrCloudRegion, region)
		en.set(AttrCloudAccountID, account)
		en.set(AttrEnduserID, callerARN)
	}
	if op, ok := stsIssuance[name]; ok && newKey != "" {
		en := r.add(ledger.KindCredential, id, action, t)
		en.set(ledger.AttrCredentialOperation, op)
		en.set(ledger.AttrCredentialID, newKey)
		en.set(ledger.AttrCredentialType, "aws_sts")
		en.set(ledger.AttrCredentialIssuer, source)
		en.set(ledger.AttrCredentialSubject, subject)
		en.set(ledger.AttrCredentialRole, roleARN)
		en.set(ledger.AttrCredentialParentID, keyID)
		if expiration != "" {
			exp, err := awsTime(expiration)
			if err != nil {
				return fmt.Errorf("field responseElements.credentials.expiration: %w", err)
			}
			en.set(ledger.AttrCredentialExpiresAt, rfc3339(exp))
		}
		common(en)
	}
	if keyID != "" {
		en := r.add(ledger.KindAPICall, id, action, t)
		en.set(ledger.AttrCredentialID, keyID)
		en.set(ledger.AttrServerAddress, source)
		en.set(AttrRPCSystem, "aws-api")
		en.set(AttrRPCMethod, name)
		common(en)
	}
	return nil
}

// awsTime parses a time as CloudTrail writes it: RFC 3339, or the form
// STS credential expirations take ("Mar 1, 2026, 11:00:00 AM", UTC).
func awsTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("Jan 2, 2006, 3:04:05 PM", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %s: want RFC 3339 or \"Jan 2, 2006, 3:04:05 PM\"", clip(s))
	}
	return t, nil
}

// first returns the first non-empty string.
func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

package demo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
)

// AttackerIP is the address the demo's CloudTrail records show the leaked
// STS session used from.
const AttackerIP = "203.0.113.66"

// awsCall is one call the data-analyst agent made with its STS session, as
// CloudTrail will record it.
type awsCall struct {
	at           time.Time
	source, name string
}

// cloudTrail is the provider's side of the data-analyst run: CloudTrail
// records of the AssumeRole that issued the session, of the agent's own
// calls, and of two calls made with the same access key from an address
// no agent runs at, with no trace at all: the session leaked.
type cloudTrail struct {
	callerKey, keyID string
	issued           time.Time
	calls            []awsCall
}

// records returns the CloudTrail events, each as CloudTrail writes it.
func (c *cloudTrail) records(leakAt time.Time) []map[string]any {
	const account = "123456789012"
	const agentIP = "10.20.3.14"
	session := map[string]any{"type": "AssumedRole", "principalId": "AROAQ3EGUSKNDEMO:agent-analyst-1",
		"arn": "arn:aws:sts::" + account + ":assumed-role/analyst-readonly/agent-analyst-1", "accountId": account, "accessKeyId": c.keyID}
	event := func(at time.Time, ip, ua, source, name string, identity map[string]any) map[string]any {
		return map[string]any{"eventVersion": "1.09", "eventID": uuid(), "eventTime": rfc3339(at), "eventSource": source, "eventName": name,
			"awsRegion": "eu-west-1", "sourceIPAddress": ip, "userAgent": ua, "userIdentity": identity, "requestID": randHex(8),
			"eventType": "AwsApiCall", "recipientAccountId": account}
	}
	sdk := "aws-sdk-go-v2/1.36.3 os/linux lang/go#1.26"
	assume := event(c.issued, agentIP, sdk, "sts.amazonaws.com", "AssumeRole", map[string]any{"type": "IAMUser",
		"arn": "arn:aws:iam::" + account + ":user/agent-analyst-1", "accountId": account, "accessKeyId": c.callerKey})
	assume["requestParameters"] = map[string]any{"roleArn": "arn:aws:iam::" + account + ":role/analyst-readonly", "roleSessionName": "agent-analyst-1", "durationSeconds": 3600}
	assume["responseElements"] = map[string]any{
		"credentials": map[string]any{"accessKeyId": c.keyID, "expiration": c.issued.Add(time.Hour).UTC().Format("Jan 2, 2006, 3:04:05 PM"),
			"sessionToken": "IQoJb3JpZ2luX2VjE" + base64.StdEncoding.EncodeToString([]byte(randHex(120)))},
		"assumedRoleUser": map[string]any{"arn": session["arn"], "assumedRoleId": session["principalId"]}}
	out := []map[string]any{assume}
	for _, call := range c.calls {
		out = append(out, event(call.at, agentIP, sdk, call.source, call.name, session))
	}
	cli := "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64"
	list := event(leakAt, AttackerIP, cli, "s3.amazonaws.com", "ListBuckets", session)
	get := event(leakAt.Add(40*time.Second), AttackerIP, cli, "s3.amazonaws.com", "GetObject", session)
	get["requestParameters"] = map[string]any{"bucketName": "acme-analytics", "key": "exports/customers.csv"}
	return append(out, list, get)
}

// sendLogs sends audit-log records to agentledger as OTLP log records, as
// a collector's filelog receiver would: each record's JSON as the body,
// the format in the resource's evidence.source.
func sendLogs(ctx context.Context, cfg Config, source string, records []map[string]any) error {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("evidence.source", source)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range records {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(string(b))
		lr.Attributes().PutStr("log.file.name", source+".json")
	}
	req := plogotlp.NewExportRequestFromLogs(ld)
	if !cfg.HTTP {
		conn, err := grpc.NewClient(cfg.Target, grpc.WithTransportCredentials(cfg.grpcCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = plogotlp.NewGRPCClient(conn).Export(ctx, req)
		return err
	}
	body, err := req.MarshalProto()
	if err != nil {
		return err
	}
	scheme, client := "http", http.DefaultClient
	if cfg.TLS != nil {
		scheme, client = "https", &http.Client{Transport: &http.Transport{TLSClientConfig: cfg.TLS}}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+"://"+cfg.Target+"/v1/logs", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := client.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("POST /v1/logs: %s: %s", resp.Status, msg)
	}
	return nil
}

func uuid() string {
	h := randHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

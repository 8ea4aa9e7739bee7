package ingest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/agentledger/agentledger/evidence"
	"github.com/agentledger/agentledger/ledger"
)

// filelogLogs returns the lines of each audit-log fixture as a stock
// collector's filelog receiver emits them: one log record per line, the
// line as a string body, the file's name in log.file.name, the observed
// time set, and evidence.source on the resource (from the receiver's
// resource setting) or, with onRecord, on each record (from its attributes
// setting).
func filelogLogs(t *testing.T, onRecord bool, files map[string]string) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	for _, name := range sortedKeys(files) {
		data, err := os.ReadFile(filepath.Join("..", "evidence", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		rl := ld.ResourceLogs().AppendEmpty()
		if !onRecord {
			rl.Resource().Attributes().PutStr(AttrEvidenceSource, files[name])
		}
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for line := range strings.Lines(string(data)) {
			lr := lrs.AppendEmpty()
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
			lr.Body().SetStr(strings.TrimSuffix(line, "\n"))
			lr.Attributes().PutStr("log.file.name", filepath.Base(name))
			if onRecord {
				lr.Attributes().PutStr(AttrEvidenceSource, files[name])
			}
		}
	}
	return ld
}

func TestMapLogsEvidence(t *testing.T) {
	m := newMapper(t, MappingConfig{}, DefaultLimits())
	files := map[string]string{"scenario/vault_audit.log": "vault", "scenario/k8s_audit.log": "k8s-audit"}
	for _, onRecord := range []bool{false, true} {
		entries, err := MapLogs(t.Context(), filelogLogs(t, onRecord, files), m)
		if err != nil {
			t.Fatalf("MapLogs: %v", err)
		}
		sources := map[string]int{}
		for _, e := range entries {
			sources[e.Source]++
			if _, err := ledger.EncodeLeaf(&e); err != nil {
				t.Errorf("entry %s does not encode: %v", e.EventKey, err)
			}
		}
		if sources["vault"] != 5 || sources["k8s-audit"] != 3 || len(entries) != 8 {
			t.Errorf("attribute on record %v: entries by source %v, want 5 vault and 3 k8s-audit", onRecord, sources)
		}
	}

	bad := plog.NewLogs()
	rl := bad.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(AttrEvidenceSource, "vault")
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(`{"type":"response","request":{"id":`)
	if _, err := MapLogs(t.Context(), bad, m); err == nil || !isPermanent(err) || !strings.Contains(err.Error(), "invalid JSON") {
		t.Errorf("MapLogs(truncated audit line) = %v, want a permanent invalid JSON error", err)
	}
	rl.Resource().Attributes().PutStr(AttrEvidenceSource, "syslog")
	if _, err := MapLogs(t.Context(), bad, m); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Errorf("MapLogs(unknown evidence.source) = %v, want unknown format", err)
	}
}

// TestReceiverEvidenceLogs sends filelog-shaped audit lines to a real OTLP
// receiver twice: the ledger holds their entries once.
func TestReceiverEvidenceLogs(t *testing.T) {
	tl := newSQLiteLedger(t, nil)
	grpcAddr, _ := startServer(t, tl, nil)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)
	ld := filelogLogs(t, false, map[string]string{"scenario/vault_audit.log": "vault", "scenario/k8s_audit.log": "k8s-audit"})
	for range 2 {
		if _, err := client.Export(t.Context(), plogotlp.NewExportRequestFromLogs(ld)); err != nil {
			t.Fatalf("Export: %v", err)
		}
	}
	entries := tl.entries(t)
	if len(entries) != 8 {
		t.Fatalf("ledger holds %d entries, want 8", len(entries))
	}
	for _, e := range entries {
		if e.Source != "vault" && e.Source != "k8s-audit" {
			t.Errorf("entry %s has source %q", e.EventKey, e.Source)
		}
	}
	bad := plog.NewLogs()
	rl := bad.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(AttrEvidenceSource, "k8s-audit")
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(`{"kind":"Event","apiVersion":"audit.k8s.io/v2"}`)
	_, err = client.Export(t.Context(), plogotlp.NewExportRequestFromLogs(bad))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "unknown apiVersion") {
		t.Errorf("Export(unknown audit version) = %v, want InvalidArgument naming the version", err)
	}
}

// TestExampleFilelogConfig checks example-filelog-collector.yaml: each
// filelog receiver names a format agentledger reads and is in the logs
// pipeline.
func TestExampleFilelogConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf("example-filelog-collector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pipeline, _ := cm.Get("service::pipelines::logs/evidence::receivers").([]any)
	receivers, _ := cm.Get("receivers").(map[string]any)
	if len(receivers) == 0 || len(pipeline) != len(receivers) {
		t.Fatalf("receivers %v, pipeline %v: want filelog receivers, each in the pipeline", receivers, pipeline)
	}
	for name := range receivers {
		if !strings.HasPrefix(name, "filelog/") || !slices.Contains(pipeline, any(name)) {
			t.Errorf("receiver %s: want a filelog receiver in the logs pipeline", name)
		}
		src, _ := cm.Get("receivers::" + name + "::resource::" + AttrEvidenceSource).(string)
		if _, err := evidence.ParseFormat(src); err != nil {
			t.Errorf("receiver %s: %s: %v", name, AttrEvidenceSource, err)
		}
	}
}

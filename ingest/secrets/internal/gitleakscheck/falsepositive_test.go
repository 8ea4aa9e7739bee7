package gitleakscheck

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/zricethezav/gitleaks/v8/detect"
)

// cleanCorpora are ordinary agent text without secrets: code, logs, prose, UUIDs,
// hashes and base64 images.
var cleanCorpora = []string{
	"../../testdata/agent_corpus.txt",
	"../../testdata/clean.txt",
	"../../testdata/reasoning.txt",
	"../../testdata/messages.json",
}

// TestFalsePositiveRate reports, line by line, how often ingest and gitleaks take
// ordinary agent text for a secret.
func TestFalsePositiveRate(t *testing.T) {
	d, err := detect.NewDetectorDefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	r, err := secrets.NewRedactor(testKey, secrets.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var lines, ours, theirs int
	var b strings.Builder
	for _, path := range cleanCorpora {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(raw), "\n") {
			if strings.HasPrefix(line, "#") || line == "" {
				continue
			}
			lines++
			if _, _, changed := r.RedactText(line); changed {
				ours++
				fmt.Fprintf(&b, "- ingest: %q\n", line[:min(len(line), 120)])
			}
			if len(d.DetectString(line)) > 0 {
				theirs++
			}
		}
	}
	report := fmt.Sprintf("False positives on %d lines of ordinary agent text: ingest %d (%.2f%%), gitleaks %d (%.2f%%)\n%s",
		lines, ours, 100*float64(ours)/float64(lines), theirs, 100*float64(theirs)/float64(lines), b.String())
	t.Log("\n" + report)
	if *writeReport {
		if err := os.WriteFile("testdata/falsepositives.md", []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

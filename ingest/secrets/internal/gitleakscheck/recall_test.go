package gitleakscheck

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/report"
)

var (
	writeReport = flag.Bool("report", false, "write the recall table to testdata/recall.md")
	rounds      = flag.Int("rounds", 1, "evaluate gitleaks' randomly generated examples this many times")
)

// testKey is the fingerprint key of the tests.
var testKey = []byte("agentledger-gitleaks-oracle-key-0123456789")

// outOfScope are the gitleaks rules whose findings are not credentials that
// authenticate, with the reason.
var outOfScope = map[string]string{
	"alibaba-access-key-id":  "an access key ID names a credential",
	"asana-client-id":        "an OAuth client ID is public",
	"discord-client-id":      "an OAuth client ID is public",
	"messagebird-client-id":  "an OAuth client ID is public",
	"sumologic-access-id":    "an access ID names a credential",
	"kubernetes-secret-yaml": "not a credential shape but a document",
}

// placement puts an example somewhere agent telemetry carries text and redacts it there.
type placement struct {
	name string
	// wrap returns the text as it is placed; gitleaks scans that text.
	wrap func(string) string
	// redact redacts the placed text as ingest does.
	redact func(r *secrets.Redactor, text string) (string, []secrets.Finding)
}

func redactText(r *secrets.Redactor, text string) (string, []secrets.Finding) {
	out, fs, _ := r.RedactText(text)
	return out, fs
}

func redactAttr(name string) func(*secrets.Redactor, string) (string, []secrets.Finding) {
	return func(r *secrets.Redactor, text string) (string, []secrets.Finding) {
		out, fs, _ := r.RedactAttr(name, text)
		return out, fs
	}
}

func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// placements are where examples are put. The attribute value and the span event go
// through RedactAttr with an attribute name that is not secret (the ingest mapper does
// the same for span, event and log attributes); the log body, JSON strings, URLs and free
// text through RedactText. Attribute names are covered by attrNameCases.
var placements = []placement{
	{"log body", func(s string) string { return s }, redactText},
	{"attribute value", func(s string) string { return s }, redactAttr("gen_ai.tool.call.result")},
	{"span event", func(s string) string { return s }, redactAttr("exception.stacktrace")},
	{"JSON string", func(s string) string {
		return `{"role":"tool","tool_call_id":"call_7","content":` + jsonString(s) + `}`
	}, redactText},
	{"URL", func(s string) string {
		return "GET https://debug.example.com/v1/echo?trace=on&body=" + url.QueryEscape(s) + " 200"
	}, redactText},
	{"free text", func(s string) string {
		return "While reading the repository I found this:\n" + s + "\nI will ask the user to rotate it."
	}, redactText},
}

// keyValueLine is a one-line key=value example, whose key can be an attribute name.
var keyValueLine = regexp.MustCompile(`^\s*["']?([A-Za-z][\w.-]*)["']?\s*(?:=|:|:=|=>)\s*["'` + "`" + `]?([^"'` + "`" + `\s/][^"'` + "`" + `\s]*)["'` + "`" + `]?;?\s*$`)

// tally counts one rule's findings.
type tally struct {
	found, covered int
	misses         []string
}

// covered reports whether ingest fingerprinted what gitleaks found: the secret is gone
// from the redacted text; an AWS access key ID, which ingest keeps as a credential
// identifier, is reported instead.
func covered(f report.Finding, out string, fs []secrets.Finding) bool {
	secret := f.Secret
	if secret == "" {
		secret = f.Match
	}
	for _, g := range fs {
		if g.Kind == secrets.KindAWSAccessKeyID && g.CredentialID == secret {
			return true
		}
	}
	return !strings.Contains(out, secret)
}

func TestRecallAgainstGitleaks(t *testing.T) {
	seed := *secretSeed
	var examples []ruleExamples
	for range max(*rounds, 1) {
		roundSeed := *secretSeed
		ex, err := loadExamples()
		if err != nil {
			t.Fatal(err)
		}
		for i := range ex {
			ex[i].seed = roundSeed
		}
		examples = append(examples, ex...)
	}
	d, err := detect.NewDetectorDefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	r, err := secrets.NewRedactor(testKey, secrets.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tallies := map[string]*tally{}
	count := func(f report.Finding, seed int64, where, text string, ok bool) {
		tl := tallies[f.RuleID]
		if tl == nil {
			tl = &tally{}
			tallies[f.RuleID] = tl
		}
		tl.found++
		if ok {
			tl.covered++
		} else if len(tl.misses) < 12 {
			tl.misses = append(tl.misses, fmt.Sprintf("-seed %d, %s: %q (secret %q)", seed, where, text, f.Secret))
		}
	}
	var partial []string
	for _, ex := range examples {
		if ex.err != nil {
			partial = append(partial, fmt.Sprintf("%s (%d examples evaluated; %v)", ex.rule, len(ex.tps), ex.err))
		}
		for _, tp := range ex.tps {
			var raw []report.Finding
			for _, p := range placements {
				text := p.wrap(tp)
				var gl []report.Finding
				if text == tp && raw != nil {
					gl = raw
				} else {
					gl = d.DetectString(text)
				}
				if text == tp {
					raw = gl
				}
				if len(gl) == 0 {
					continue
				}
				out, fs := p.redact(r, text)
				for _, f := range gl {
					count(f, ex.seed, p.name, text, covered(f, out, fs))
				}
			}
			// The key of a one-line key=value example as an attribute name.
			if m := keyValueLine.FindStringSubmatch(tp); m != nil {
				out, fs, _ := r.RedactAttr(m[1], m[2])
				for _, f := range raw {
					if strings.Contains(m[2], f.Secret) {
						count(f, ex.seed, "attribute name "+m[1], m[2], covered(f, out, fs))
					}
				}
			}
		}
	}
	var rules []string
	for id := range tallies {
		rules = append(rules, id)
	}
	slices.Sort(rules)
	var b strings.Builder
	fmt.Fprintf(&b, "# Recall of ingest/secrets against gitleaks %s\n\n", gitleaksVersion(t))
	fmt.Fprintf(&b, "Generated by `go test -run TestRecallAgainstGitleaks -report` in ingest/secrets/internal/gitleakscheck.\n")
	fmt.Fprintf(&b, "Each gitleaks rule's true-positive examples, placed as %s and attribute names;\n", placementNames())
	fmt.Fprintf(&b, "gitleaks' randomly generated examples generated %d time(s) (-rounds %d), from seed %d (-seed %d).\n\n", max(*rounds, 1), max(*rounds, 1), seed, seed)
	fmt.Fprintf(&b, "| rule | in scope | gitleaks findings | fingerprinted | recall |\n|---|---|---|---|---|\n")
	var inFound, inCovered int
	var misses []string
	for _, id := range rules {
		tl := tallies[id]
		scope := "yes"
		if why, ok := outOfScope[id]; ok {
			scope = "no: " + why
		} else {
			inFound += tl.found
			inCovered += tl.covered
			if tl.covered < tl.found {
				misses = append(misses, fmt.Sprintf("%s: %d of %d missed, e.g.\n\t%s", id, tl.found-tl.covered, tl.found, strings.Join(tl.misses, "\n\t")))
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %.1f%% |\n", id, scope, tl.found, tl.covered, 100*float64(tl.covered)/float64(tl.found))
	}
	fmt.Fprintf(&b, "\nIn scope: %d of %d findings fingerprinted (%.2f%%) over %d rules.\n", inCovered, inFound, 100*float64(inCovered)/float64(max(inFound, 1)), len(rules))
	if len(partial) > 0 {
		fmt.Fprintf(&b, "\nRules whose examples were evaluated only in part:\n\n- %s\n", strings.Join(partial, "\n- "))
	}
	t.Log("\n" + b.String())
	if *writeReport {
		if err := os.WriteFile("testdata/recall.md", []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(misses) > 0 {
		t.Errorf("%d rules below 100%% recall:\n%s", len(misses), strings.Join(misses, "\n"))
	}
}

func placementNames() string {
	var n []string
	for _, p := range placements {
		n = append(n, p.name)
	}
	return strings.Join(n, ", ")
}

func gitleaksVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/zricethezav/gitleaks/v8").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

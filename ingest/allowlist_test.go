package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentledger/agentledger/ledger"
)

// TestLeafAllowList checks which attribute values a span's leaf holds:
// those on the structural allow-list, and those the configuration adds;
// every other value, here a token of a shape the scanner does not know,
// is in the erasable content "attributes", its name in
// agentledger.moved_attributes.
func TestLeafAllowList(t *testing.T) {
	const token = "qk7Rz.Vw3pLm9xTn2bYc8dHs4fGj6kQa"
	tests := []struct {
		name   string
		leaf   []string // MappingConfig.LeafAttributes
		inLeaf []string // besides the allow-listed ones
		moved  string
	}{
		{"built-in", nil, nil, "app.deploy_note app.ids.run credential.label url.full"},
		{"extended by name", []string{"app.deploy_note"}, []string{"app.deploy_note"}, "app.ids.run credential.label url.full"},
		{"extended by prefix", []string{"app.ids.*"}, []string{"app.ids.run"}, "app.deploy_note credential.label url.full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMapper(t, MappingConfig{LeafAttributes: tt.leaf}, Limits{})
			td := ptrace.NewTraces()
			sp := testSpan(td, 1, "GET /deploys")
			sp.SetKind(ptrace.SpanKindClient)
			a := sp.Attributes()
			a.PutStr("http.request.method", "GET")
			a.PutStr("url.full", "https://deploy.example.com/v1/deploys?ref="+token)
			a.PutInt("http.response.status_code", 200)
			a.PutStr("credential.id", "tok-1")
			a.PutStr("credential.label", "blue") // an unknown credential fact: scanned as a secret, and moved
			a.PutStr("gen_ai.agent.id", "agent-1")
			a.PutStr("app.deploy_note", "rollout with "+token)
			a.PutStr("app.ids.run", "run-9")
			entries, err := Map(t.Context(), td, m)
			if err != nil {
				t.Fatal(err)
			}
			e := entries[0]
			leaf, err := ledger.EncodeLeaf(&e)
			if err != nil {
				t.Fatal(err)
			}
			if tt.leaf == nil && bytes.Contains(leaf, []byte(token)) {
				t.Errorf("the token is in the leaf")
			}
			got := attrMap(&e)
			if got[AttrMovedAttributes] != tt.moved {
				t.Errorf("%s = %q, want %q", AttrMovedAttributes, got[AttrMovedAttributes], tt.moved)
			}
			for _, k := range append([]string{"http.request.method", "http.response.status_code", "url.path", "url.scheme",
				"server.address", "server.port", "credential.id", "gen_ai.agent.id"}, tt.inLeaf...) {
				if _, ok := got[k]; !ok {
					t.Errorf("%s is not in the leaf", k)
				}
			}
			all := allAttrs(t, &e)
			if !strings.Contains(all["app.deploy_note"], token) {
				t.Errorf("app.deploy_note = %q: the scanner redacted the token, so this test proves nothing", all["app.deploy_note"])
			}
			if all["app.ids.run"] != "run-9" || !strings.HasSuffix(all["url.full"], token) || all["credential.label"] == "" {
				t.Errorf("attributes = %v", all)
			}
		})
	}
}

// TestLeafAllowListDocumented checks that ledger/FORMAT.md lists exactly
// the allow-list: every name of its table in "Attributes kept in the leaf"
// is on it, and every name on it is in the table.
func TestLeafAllowListDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "ledger", "FORMAT.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "### Attributes kept in the leaf\n")
	if !ok {
		t.Fatal("FORMAT.md lacks the section Attributes kept in the leaf")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	name := regexp.MustCompile("`([a-z0-9_.]+(?:\\.\\*)?)`")
	documented := map[string]bool{}
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| group") {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(line, -1) {
			documented[m[1]] = true
		}
	}
	want := map[string]bool{}
	for k := range leafAttributes {
		want[k] = true
	}
	for _, p := range leafPrefixes {
		want[p+"*"] = true
	}
	for k := range want {
		if !documented[k] {
			t.Errorf("%s is on the allow-list but not in FORMAT.md", k)
		}
	}
	for k := range documented {
		if !want[k] {
			t.Errorf("FORMAT.md lists %s, which is not on the allow-list", k)
		}
	}
}

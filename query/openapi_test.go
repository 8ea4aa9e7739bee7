package query

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger/index"
)

type openAPIDoc struct {
	OpenAPI string                                  `json:"openapi"`
	Paths   map[string]map[string]openAPIOp         `json:"paths"`
	Comps   struct{ Schemas map[string]openSchema } `json:"components"`
}

type openAPIOp struct {
	Role      string            `json:"x-agentledger-role"`
	Security  []map[string]any  `json:"security"`
	Responses map[string]any    `json:"responses"`
	Params    []json.RawMessage `json:"parameters"`
}

type openSchema struct {
	Properties map[string]any `json:"properties"`
	Required   []string       `json:"required"`
	AllOf      []openSchema   `json:"allOf"`
	Ref        string         `json:"$ref"`
}

var echoParam = regexp.MustCompile(`:([a-z_]+)`)

// atLeast finds a lower bound a parameter's description states.
var atLeast = regexp.MustCompile(`\bat least (\d+)\b`)

// storeless are the endpoints that answer without the store.
var storeless = map[string]bool{"/healthz": true, "/v1/openapi.json": true}

// TestOpenAPI keeps the OpenAPI document true: it lists exactly the routes
// the server registers, each with the role it needs, and the schemas of
// the answers have exactly the fields of the Go types.
func TestOpenAPI(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	w := newWorld(t, backends()[0], worldOptions{noFixture: true})
	registered := make(map[string]bool)
	for _, r := range w.srv.routes {
		p := echoParam.ReplaceAllString(r.path, "{$1}")
		p = strings.Replace(p, "/*", "/{tile_path}", 1)
		key := strings.ToLower(r.method) + " " + p
		registered[key] = true
		op, ok := doc.Paths[p][strings.ToLower(r.method)]
		if !ok {
			t.Errorf("route %s %s is not in openapi.json", r.method, p)
			continue
		}
		role := string(r.role)
		if role == "" {
			role = "open"
		}
		if op.Role != role {
			t.Errorf("%s: x-agentledger-role %q, want %q", key, op.Role, role)
		}
		if (role == "open") != (len(op.Security) == 0) {
			t.Errorf("%s: security %v does not fit role %s", key, op.Security, role)
		}
		if role != "open" && (op.Responses["401"] == nil || op.Responses["403"] == nil) {
			t.Errorf("%s: documents no 401 or 403", key)
		}
		if !storeless[p] && op.Responses["503"] == nil {
			t.Errorf("%s: documents no 503 (the database unavailable)", key)
		}
		for _, raw := range op.Params {
			var prm struct {
				Name        string `json:"name"`
				Description string `json:"description"`
				Schema      struct {
					Minimum *int `json:"minimum"`
				} `json:"schema"`
			}
			if err := json.Unmarshal(raw, &prm); err != nil {
				t.Fatalf("%s: parameter: %v", key, err)
			}
			if m := atLeast.FindStringSubmatch(prm.Description); m != nil {
				if prm.Schema.Minimum == nil || strconv.Itoa(*prm.Schema.Minimum) != m[1] {
					t.Errorf("%s: parameter %s says at least %s, its schema's minimum is %v", key, prm.Name, m[1], prm.Schema.Minimum)
				}
			}
		}
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if !registered[m+" "+p] {
				t.Errorf("openapi.json documents %s %s, which the server does not serve", strings.ToUpper(m), p)
			}
		}
	}
	if r := w.do("none", http.MethodGet, "/v1/openapi.json", nil); r.status != http.StatusOK || string(r.body) != string(OpenAPI) {
		t.Errorf("GET /v1/openapi.json = %d", r.status)
	}

	types := map[string]any{
		"Error": api.ErrorBody{}, "Entry": api.Entry{}, "EntryAnswer": api.EntryAnswer{}, "Content": api.Content{}, "CredentialView": api.CredentialView{},
		"Credential": api.Credential{}, "Issuance": api.Issuance{}, "Lineage": api.Lineage{}, "LineageLink": api.LineageLink{},
		"Usage": api.Usage{}, "RunAgent": api.RunAgent{}, "Attestation": api.Attestation{}, "Step": api.Step{}, "Call": api.Call{},
		"Cause": api.Cause{}, "Target": api.Target{}, "BlastRadius": api.BlastRadius{}, "TargetGroup": api.TargetGroup{}, "CallRef": api.CallRef{},
		"LookupRequest": api.LookupRequest{}, "LookupResult": api.LookupResult{}, "RunView": api.RunView{}, "RunCredential": api.RunCredential{}, "LinkedRun": api.LinkedRun{}, "TimelineEntry": api.TimelineEntry{},
		"AgentRuns": api.AgentRuns{}, "RunSummary": api.RunSummary{}, "SearchResult": api.SearchResult{}, "InclusionProof": api.InclusionProof{},
		"ConsistencyProof": api.ConsistencyProof{}, "CheckpointInfo": api.CheckpointInfo{}, "CheckpointList": api.CheckpointList{},
		"LogInfo": api.LogInfo{}, "ErasureRequest": api.ErasureRequest{}, "ErasureResult": api.ErasureResult{}, "ErasedEntry": api.ErasedEntry{},
		"Finding": api.Finding{}, "TokenInfo": api.TokenInfo{}, "TokenList": api.TokenList{}, "NewTokenRequest": api.NewTokenRequest{}, "NewToken": api.NewToken{},
		"EvidenceFinding": api.EvidenceFinding{}, "FactCheck": api.FactCheck{}, "CredentialEvidence": api.CredentialEvidence{}, "FindingsPage": api.FindingsPage{},
		"IndexProof": index.Proof{}, "IndexProofNode": index.ProofNode{}, "PolicyDecision": api.PolicyDecision{}, "ApprovalCheck": api.ApprovalCheck{},
		"Completeness": api.Completeness{}, "LostEntries": api.LostEntries{}, "AttestationCheck": api.AttestationCheck{}, "AttestationMismatch": api.AttestationMismatch{},
		"CallGovernance": api.CallGovernance{}, "ProvedCredentialView": api.ProvedCredentialView{}, "ProvedLeaf": api.ProvedLeaf{},
		"FederatedCredentialView": api.FederatedCredentialView{}, "ShardAnswer": api.ShardAnswer{},
	}
	for name := range doc.Comps.Schemas {
		if _, ok := types[name]; !ok {
			t.Errorf("schema %s has no Go type in this test", name)
		}
	}
	for name, v := range types {
		s, ok := doc.Comps.Schemas[name]
		if !ok {
			t.Errorf("type %s has no schema", name)
			continue
		}
		got := schemaFields(doc, s)
		want := jsonFields(reflect.TypeOf(v))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has fields %v, the Go type %v", name, got, want)
		}
	}
}

func schemaFields(doc openAPIDoc, s openSchema) []string {
	var out []string
	for k := range s.Properties {
		out = append(out, k)
	}
	for _, a := range s.AllOf {
		if a.Ref != "" {
			a = doc.Comps.Schemas[strings.TrimPrefix(a.Ref, "#/components/schemas/")]
		}
		out = append(out, schemaFields(doc, a)...)
	}
	return out
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

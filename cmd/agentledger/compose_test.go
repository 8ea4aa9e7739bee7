package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"go.yaml.in/yaml/v3"
)

// TestDockerCompose loads docker-compose.yml with compose-go, the loader and
// schema validator `docker compose config` uses (no Docker engine runs
// here), and checks the production shape it promises.
func TestDockerCompose(t *testing.T) {
	path, err := filepath.Abs("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const password = "test-password-4b1d"
	if strings.Contains(string(raw), password) {
		t.Fatal("test bug: the password occurs in the file already")
	}
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithEnv([]string{"POSTGRES_PASSWORD=" + password}), cli.WithName("agentledger"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	for _, name := range []string{"postgres", "agentledger", "otel-collector"} {
		svc, ok := p.Services[name]
		if !ok {
			t.Fatalf("service %q missing", name)
		}
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 {
			t.Errorf("service %q has no healthcheck", name)
		}
	}
	al := p.Services["agentledger"]
	if al.Build == nil {
		t.Errorf("agentledger is not built from the Dockerfile")
	}
	if db := al.Environment["AGENTLEDGER_DATABASE"]; db == nil || !strings.HasPrefix(*db, "postgres://agentledger:"+password+"@postgres:5432/") {
		t.Errorf("agentledger's AGENTLEDGER_DATABASE = %v, want the compose Postgres with the password from the environment", db)
	}
	if _, ok := p.Volumes["agentledger-data"]; !ok {
		t.Errorf("no named volume for agentledger's keys")
	}
	if _, ok := p.Volumes["postgres-data"]; !ok {
		t.Errorf("no named volume for Postgres")
	}
	cfg, ok := p.Configs["otel-collector"]
	if !ok || !strings.Contains(cfg.Content, "endpoint: agentledger:4317") {
		t.Errorf("the collector's config does not forward OTLP to agentledger")
	}
	checkCollectorNames(t, cfg.Content)
	// Without a password the file must refuse to load rather than run
	// Postgres with an empty one.
	opts, err = cli.NewProjectOptions([]string{path}, cli.WithEnv([]string{"POSTGRES_PASSWORD="}), cli.WithName("agentledger"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opts.LoadProject(t.Context()); err == nil {
		t.Errorf("docker-compose.yml loads with no POSTGRES_PASSWORD set")
	}
}

// deprecatedComponents are component type names the collector still
// accepts but warns about, and their current names.
var deprecatedComponents = map[string]string{
	"otlp":     "otlp_grpc",
	"otlphttp": "otlp_http",
}

// checkCollectorNames fails if the collector config names an exporter by a
// deprecated alias.
func checkCollectorNames(t *testing.T, content string) {
	t.Helper()
	var cfg struct {
		Exporters map[string]any `yaml:"exporters"`
	}
	if err := yaml.Unmarshal([]byte(content), &cfg); err != nil {
		t.Fatalf("the collector's config is not YAML: %v", err)
	}
	if len(cfg.Exporters) == 0 {
		t.Fatal("the collector's config has no exporters")
	}
	for id := range cfg.Exporters {
		typ, _, _ := strings.Cut(id, "/")
		if now, ok := deprecatedComponents[typ]; ok {
			t.Errorf("exporter %q uses the deprecated type %q; use %q", id, typ, now)
		}
	}
}

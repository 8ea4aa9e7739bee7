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
	const password, servePassword = "test-password-4b1d", "serve-password-9c2e"
	if strings.Contains(string(raw), password) || strings.Contains(string(raw), servePassword) {
		t.Fatal("test bug: a password occurs in the file already")
	}
	env := []string{"POSTGRES_PASSWORD=" + password, "AGENTLEDGER_DB_PASSWORD=" + servePassword}
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithEnv(env), cli.WithName("agentledger"))
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
	// serve runs as the writer role; only the migrate service is the owner.
	if db := al.Environment["AGENTLEDGER_DATABASE"]; db == nil || !strings.HasPrefix(*db, "postgres://agentledger_serve:"+servePassword+"@postgres:5432/") {
		t.Errorf("agentledger's AGENTLEDGER_DATABASE = %v, want the compose Postgres as agentledger_serve", db)
	}
	if v := al.Environment["AGENTLEDGER_NO_MIGRATE"]; v == nil || *v != "true" {
		t.Errorf("agentledger's AGENTLEDGER_NO_MIGRATE = %v, want true", v)
	}
	mig, ok := p.Services["migrate"]
	if db := mig.Environment["AGENTLEDGER_DATABASE"]; !ok || db == nil || !strings.HasPrefix(*db, "postgres://agentledger:"+password+"@postgres:5432/") {
		t.Errorf("migrate's AGENTLEDGER_DATABASE = %v, want the compose Postgres as its owner", db)
	}
	if dep, ok := al.DependsOn["migrate"]; !ok || dep.Condition != "service_completed_successfully" {
		t.Errorf("agentledger does not wait for the migrations: %+v", al.DependsOn)
	}
	roles, ok := p.Configs["agentledger-roles"]
	if !ok || !strings.Contains(roles.Content, "IN ROLE agentledger_writer") || !strings.Contains(roles.Content, "$AGENTLEDGER_DB_PASSWORD") {
		t.Errorf("no Postgres init script that creates agentledger_serve in agentledger_writer: %q", roles.Content)
	}
	// Mutual TLS between the collector and agentledger.
	for k, want := range map[string]string{
		"AGENTLEDGER_OTLP_TLS_CERT_FILE":  "/certs/server.crt",
		"AGENTLEDGER_OTLP_TLS_KEY_FILE":   "/certs/server.key",
		"AGENTLEDGER_OTLP_CLIENT_CA_FILE": "/certs/ca.pem",
	} {
		if v := al.Environment[k]; v == nil || *v != want {
			t.Errorf("agentledger's %s = %v, want %s", k, v, want)
		}
	}
	if c, ok := p.Services["certs"]; !ok || len(c.Command) == 0 || c.Command[0] != "dev-certs" {
		t.Errorf("no certs service running agentledger dev-certs")
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
	if !strings.Contains(cfg.Content, "cert_file: /certs/client.crt") || strings.Contains(cfg.Content, "insecure: true") {
		t.Errorf("the collector does not present a client certificate to agentledger")
	}
	checkCollectorNames(t, cfg.Content)
	// Without a password the file must refuse to load rather than run
	// Postgres with an empty one.
	for _, env := range [][]string{{"POSTGRES_PASSWORD=", env[1]}, {env[0], "AGENTLEDGER_DB_PASSWORD="}} {
		opts, err = cli.NewProjectOptions([]string{path}, cli.WithEnv(env), cli.WithName("agentledger"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := opts.LoadProject(t.Context()); err == nil {
			t.Errorf("docker-compose.yml loads with %v", env)
		}
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

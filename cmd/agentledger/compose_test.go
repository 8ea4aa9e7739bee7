package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
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

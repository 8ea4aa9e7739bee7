package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agentledger/agentledger/ingest/shard"
)

// TestDockerComposeScale loads docker-compose.scale.yml with compose-go
// (no Docker engine runs here) and checks the shape it promises: a
// primary and a pg_basebackup streaming replica, two shards each with its
// own database, log name, data volume and a valid shard rule of its own, a
// reader of shard 0 on the replica sharing shard 0's keys, and the collector
// running ingest/example-sharded-collector.yaml against both shards over
// mutual TLS.
func TestDockerComposeScale(t *testing.T) {
	path, err := filepath.Abs("../../docker-compose.scale.yml")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"POSTGRES_PASSWORD=owner-pw-71a3", "AGENTLEDGER_DB_PASSWORD=serve-pw-5be0", "REPLICATION_PASSWORD=repl-pw-c4d9"}
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithEnv(env), cli.WithName("agentledger-scale"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("docker-compose.scale.yml does not load: %v", err)
	}
	for _, name := range []string{"postgres", "replica", "shard-0", "shard-1", "shard-0-reader", "otel-collector"} {
		svc, ok := p.Services[name]
		if !ok {
			t.Fatalf("service %q missing", name)
		}
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 {
			t.Errorf("service %q has no healthcheck", name)
		}
	}
	envOf := func(svc, key string) string {
		v := p.Services[svc].Environment[key]
		if v == nil {
			return ""
		}
		return *v
	}
	if cmd := strings.Join(p.Services["replica"].Command, " "); !strings.Contains(cmd, "pg_basebackup -h postgres -U replicator") || !strings.Contains(cmd, " -R ") {
		t.Errorf("the replica is not a pg_basebackup -R streaming replica of postgres: %q", cmd)
	}
	if init := p.Configs["primary-init"].Content; !strings.Contains(init, "REPLICATION PASSWORD") || !strings.Contains(init, "host replication replicator") {
		t.Errorf("the primary's init script does not admit the replica: %q", init)
	}

	// The shards: own database, log name, keys; rules that parse and differ.
	seen := map[string]string{}
	for i, svc := range []string{"shard-0", "shard-1"} {
		db := envOf(svc, "AGENTLEDGER_DATABASE")
		if want := "@postgres:5432/shard_" + string(rune('0'+i)) + "?"; !strings.HasPrefix(db, "postgres://agentledger_serve:serve-pw-5be0@") || !strings.Contains(db, want) {
			t.Errorf("%s's database %q: want shard_%d on the primary as agentledger_serve", svc, db, i)
		}
		rule := envOf(svc, "AGENTLEDGER_SHARD_RULE")
		if _, err := shard.Parse(rule); err != nil || rule == "" {
			t.Errorf("%s's shard rule %q: %v", svc, rule, err)
		}
		for what, v := range map[string]string{"log name": envOf(svc, "AGENTLEDGER_LOG_NAME"), "rule": rule, "data volume": volumeAt(p.Services[svc], "/data")} {
			if prev, dup := seen[what+v]; dup || v == "" {
				t.Errorf("%s and %s share the %s %q", prev, svc, what, v)
			}
			seen[what+v] = svc
		}
	}
	// The reader: shard 0's log and keys, reads from the replica.
	if got := envOf("shard-0-reader", "AGENTLEDGER_READ_DATABASE"); !strings.Contains(got, "@replica:5432/shard_0?") {
		t.Errorf("shard-0-reader reads from %q, want the replica's shard_0", got)
	}
	for _, k := range []string{"AGENTLEDGER_DATABASE", "AGENTLEDGER_LOG_NAME", "AGENTLEDGER_SHARD_RULE"} {
		if a, b := envOf("shard-0-reader", k), envOf("shard-0", k); a != b {
			t.Errorf("shard-0-reader's %s %q, shard-0's %q", k, a, b)
		}
	}
	if a, b := volumeAt(p.Services["shard-0-reader"], "/data"), volumeAt(p.Services["shard-0"], "/data"); a != b {
		t.Errorf("shard-0-reader's data volume %q is not shard-0's %q", a, b)
	}
	if cmd := p.Services["certs"].Command; !slices.Contains(cmd, "shard-0,shard-1") {
		t.Errorf("the certificates are not for the shards' names: %q", cmd)
	}

	// The collector runs the shipped sharded example, towards both shards.
	col := p.Services["otel-collector"]
	cfg, ok := p.Configs["otel-collector"]
	if !ok || filepath.Base(cfg.File) != "example-sharded-collector.yaml" {
		t.Fatalf("the collector's config is not ingest/example-sharded-collector.yaml: %+v", cfg)
	}
	content, err := os.ReadFile(cfg.File)
	if err != nil {
		t.Fatal(err)
	}
	checkCollectorNames(t, string(content))
	for k, want := range map[string]string{"AGENTLEDGER_SHARD_0": "shard-0:4317", "AGENTLEDGER_SHARD_1": "shard-1:4317", "AGENTLEDGER_CERTS": "/certs"} {
		if v := col.Environment[k]; v == nil || *v != want {
			t.Errorf("the collector's %s = %v, want %s", k, v, want)
		}
	}
	for _, s := range []string{"${env:AGENTLEDGER_SHARD_0", "${env:AGENTLEDGER_SHARD_1", "cert_file: ${env:AGENTLEDGER_CERTS"} {
		if !strings.Contains(string(content), s) {
			t.Errorf("the sharded collector config lacks %s", s)
		}
	}

	// Without a password the file refuses to load.
	for i := range env {
		short := slices.Clone(env)
		short[i] = strings.SplitN(env[i], "=", 2)[0] + "="
		opts, err := cli.NewProjectOptions([]string{path}, cli.WithEnv(short), cli.WithName("agentledger-scale"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := opts.LoadProject(t.Context()); err == nil {
			t.Errorf("docker-compose.scale.yml loads with %v", short)
		}
	}
}

// volumeAt returns the source of svc's volume mounted at target.
func volumeAt(svc types.ServiceConfig, target string) string {
	for _, v := range svc.Volumes {
		if v.Target == target {
			return v.Source
		}
	}
	return ""
}

package ledgerext_test

import (
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentledger/agentledger/ingest"
	"github.com/agentledger/agentledger/ingest/ledgerext"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

var testSecret = []byte("agentledger-test-secret-0123456789abcdef")

func loadConfig(t *testing.T, name string) (*ledgerext.Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", name+".yaml"))
	if err != nil {
		t.Fatalf("LoadConf(%s): %v", name, err)
	}
	cfg := ledgerext.NewFactory().CreateDefaultConfig().(*ledgerext.Config)
	if err := cm.Unmarshal(cfg); err != nil {
		return cfg, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	if err := componenttest.CheckConfigStruct(ledgerext.NewFactory().CreateDefaultConfig()); err != nil {
		t.Errorf("CheckConfigStruct: %v", err)
	}
	for _, tt := range []struct {
		file string
		want ledgerext.Config
	}{
		{"default", ledgerext.Config{Database: "/var/lib/agentledger/ledger.db", SignerKeyFile: "/etc/agentledger/signer.key", SecretFile: "/etc/agentledger/secret"}},
		{"full", ledgerext.Config{Database: "postgres://agentledger@db.internal:5432/ledger?sslmode=verify-full", SignerKeyFile: "/etc/agentledger/signer.key", SecretFile: "/etc/agentledger/secret",
			CommitTimeout: 10 * time.Second, MaxPending: 256}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			cfg, err := loadConfig(t, tt.file)
			if err != nil {
				t.Fatalf("load %s: %v", tt.file, err)
			}
			if cfg.Database != tt.want.Database || cfg.SignerKeyFile != tt.want.SignerKeyFile || cfg.SecretFile != tt.want.SecretFile ||
				cfg.CommitTimeout != tt.want.CommitTimeout || cfg.MaxPending != tt.want.MaxPending {
				t.Errorf("config = %+v, want %+v", cfg, tt.want)
			}
			if tt.file == "full" && len(cfg.Redaction.ExtraSecretKeys) != 2 {
				t.Errorf("redaction.extra_secret_keys = %v", cfg.Redaction.ExtraSecretKeys)
			}
		})
	}
	for _, tt := range []struct{ file, want string }{
		{"invalid_no_database", "database: must be set"},
		{"invalid_no_keys", "signer_key_file: must be set"},
		{"invalid_no_keys", "secret_file: must be set"},
		{"invalid_redaction", "extra_secret_keys[0]"},
		{"invalid_negative", "commit_timeout: -1s is negative"},
		{"invalid_negative", "max_pending: -5 is negative"},
		{"invalid_max_pending", "max_pending"},
		{"typo", "databse"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			_, err := loadConfig(t, tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("load %s: error %v, want one containing %q", tt.file, err, tt.want)
			}
		})
	}
}

// TestExampleCollectorConfig checks that the extension section of
// ingest/example-collector.yaml loads and validates.
func TestExampleCollectorConfig(t *testing.T) {
	t.Setenv("AGENTLEDGER_DATABASE", "/var/lib/agentledger/ledger.db")
	cm, err := confmaptest.LoadConf(filepath.Join("..", "example-collector.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cm.Sub("extensions::" + ledgerext.TypeName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ledgerext.NewFactory().CreateDefaultConfig().(*ledgerext.Config)
	if err := sub.Unmarshal(cfg); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if err := confmap.Validate(cfg); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

// writeKeys writes a signer key and the ledger secret into dir with the
// given modes, and returns their paths.
func writeKeys(t *testing.T, dir string, keyMode, secMode os.FileMode) (signerKey, secret string) {
	t.Helper()
	skey, _, err := ledger.GenerateKey("collector.agentledger.example")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("signer.key", skey+"\n", keyMode), write("secret", hex.EncodeToString(testSecret)+"\n", secMode)
}

// TestStart checks that the extension opens the ledger it names, refusing
// a short secret, a missing key and key files that others can read, and
// holds no ledger before Start or after Shutdown.
func TestStart(t *testing.T) {
	for _, tt := range []struct {
		name             string
		keyMode, secMode os.FileMode
		edit             func(*ledgerext.Config)
		wantErr          string
	}{
		{"signer key 0644", 0o644, 0o600, nil, "signer.key: permissions -rw-r--r-- are too open; want 0600"},
		{"secret 0640", 0o600, 0o640, nil, "secret: permissions -rw-r----- are too open; want 0600"},
		{"missing key", 0o600, 0o600, func(c *ledgerext.Config) { c.SignerKeyFile += ".missing" }, "read signer key file"},
		{"short secret", 0o600, 0o600, func(c *ledgerext.Config) {
			if err := os.WriteFile(c.SecretFile, []byte("too short"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "bytes of key, want at least"},
		{"both 0600", 0o600, 0o600, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := ledgerext.NewFactory()
			cfg := f.CreateDefaultConfig().(*ledgerext.Config)
			cfg.Database = filepath.Join(dir, "ledger.db")
			cfg.SignerKeyFile, cfg.SecretFile = writeKeys(t, dir, tt.keyMode, tt.secMode)
			if tt.edit != nil {
				tt.edit(cfg)
			}
			ext, err := f.Create(t.Context(), extensiontest.NewNopSettings(f.Type()), cfg)
			if err != nil {
				t.Fatal(err)
			}
			p := ext.(ingest.LedgerProvider)
			if _, ok := p.Ledger(); ok {
				t.Errorf("Ledger before Start: ok")
			}
			err = ext.Start(t.Context(), componenttest.NewNopHost())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Start = %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Start = %v, want an error with %q", err, tt.wantErr)
			}
			if l, ok := p.Ledger(); ok != (tt.wantErr == "") || ok && (l.Log == nil || l.Redactor == nil || l.Tokens == nil) {
				t.Errorf("Ledger after Start = %+v, %v", l, ok)
			}
			if err := ext.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if _, ok := p.Ledger(); ok {
				t.Errorf("Ledger after Shutdown: ok")
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestCollector builds a collector in process, as an OCB build of
// builder-config.yaml does, from the agentledger extension and receiver
// factories and testdata/collector.yaml: two receivers (OTLP/HTTP and
// OTLP/gRPC) that name one extension. Spans sent to each by the OTel SDK
// exporters land in the one ledger, and shutting the collector down signs
// a final checkpoint over all of them.
func TestCollector(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, 0o600, 0o600)
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)
	t.Setenv("LEDGEREXT_TEST_DIR", dir)
	t.Setenv("LEDGEREXT_TEST_HTTP", httpAddr)
	t.Setenv("LEDGEREXT_TEST_GRPC", grpcAddr)

	factories := func() (otelcol.Factories, error) {
		return otelcol.Factories{
			Extensions: map[component.Type]extension.Factory{component.MustNewType(ledgerext.TypeName): ledgerext.NewFactory()},
			Receivers:  map[component.Type]receiver.Factory{component.MustNewType(ingest.TypeName): ingest.NewFactory()},
			Exporters:  map[component.Type]exporter.Factory{exportertest.NopType: exportertest.NewNopFactory()},
			Telemetry:  otelconftelemetry.NewFactory(),
		}, nil
	}
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo:               component.NewDefaultBuildInfo(),
		Factories:               factories,
		DisableGracefulShutdown: true,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              []string{filepath.Join("testdata", "collector.yaml")},
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory()},
		}},
	})
	if err != nil {
		t.Fatalf("NewCollector: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- col.Run(context.Background()) }()
	deadline := time.Now().Add(30 * time.Second)
	for col.GetState() != otelcol.StateRunning {
		select {
		case err := <-done:
			t.Fatalf("collector stopped before running: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector not running after 30s: %v", col.GetState())
		}
		time.Sleep(10 * time.Millisecond)
	}

	httpExp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	grpcExp, err := otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	for i, exp := range []sdktrace.SpanExporter{httpExp, grpcExp} {
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithResource(resource.NewWithAttributes("", attribute.String("service.name", "collector-agent"))),
			sdktrace.WithSyncer(exp))
		_, span := tp.Tracer("agent").Start(t.Context(), "invoke_agent planner", trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", "planner")))
		span.End()
		if err := tp.Shutdown(t.Context()); err != nil {
			t.Fatalf("exporter %d: %v", i, err)
		}
	}

	col.Shutdown()
	if err := <-done; err != nil {
		t.Fatalf("collector Run: %v", err)
	}

	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Two spans and two attestations (one per trace).
	if h.Size != 4 {
		t.Errorf("tree size = %d, want 2 spans + 2 attestations", h.Size)
	}
	recs, err := s.Records(context.Background(), 0, h.Size)
	if err != nil {
		t.Fatal(err)
	}
	var agents []string
	for _, r := range recs {
		e, _, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == ledger.KindAgent {
			name, _ := e.Attr("gen_ai.agent.name")
			agents = append(agents, name)
		}
	}
	if len(agents) != 2 || agents[0] != "planner" || agents[1] != "planner" {
		t.Errorf("agent entries name %q, want planner twice", agents)
	}
	cp, err := s.LatestCheckpoint(context.Background())
	if err != nil || cp.Size != h.Size {
		t.Errorf("latest checkpoint = size %d, %v; want a final checkpoint of size %d", cp.Size, err, h.Size)
	}
}

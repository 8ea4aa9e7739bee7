package ingest

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := componenttest.CheckConfigStruct(cfg); err != nil {
		t.Errorf("CheckConfigStruct: %v", err)
	}
	if cfg.Protocols.GRPC.HasValue() || cfg.Protocols.HTTP.HasValue() {
		t.Errorf("default config enables a protocol; the YAML must name it")
	}
	if got, want := cfg.Limits, DefaultLimits(); got != want {
		t.Errorf("default limits = %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(cfg.Profiles, Profiles) {
		t.Errorf("default profiles = %v, want %v", cfg.Profiles, Profiles)
	}
	if got := cfg.Protocols.GRPC.GetOrInsertDefault().MaxRecvMsgSizeMiB; got != DefaultGRPCMaxRecvMsgSizeMiB {
		t.Errorf("default grpc max_recv_msg_size_mib = %d, want %d", got, DefaultGRPCMaxRecvMsgSizeMiB)
	}
	if got := cfg.Protocols.GRPC.Get().NetAddr.Endpoint; got != "localhost:4317" {
		t.Errorf("default grpc endpoint = %q, want localhost:4317", got)
	}
}

// loadConfig unmarshals testdata/config/<name>.yaml onto the default
// configuration and validates it, as the collector does.
func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config", name+".yaml"))
	if err != nil {
		t.Fatalf("LoadConf(%s): %v", name, err)
	}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := cm.Unmarshal(cfg); err != nil {
		return cfg, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		cfg, err := loadConfig(t, "default")
		if err != nil {
			t.Fatalf("load default: %v", err)
		}
		if !cfg.Protocols.GRPC.HasValue() || cfg.Protocols.HTTP.HasValue() {
			t.Errorf("protocols: grpc %v, http %v; want grpc only", cfg.Protocols.GRPC.HasValue(), cfg.Protocols.HTTP.HasValue())
		}
		if cfg.Ledger != component.MustNewID("agentledger") || cfg.WriteTimeout != DefaultWriteTimeout || cfg.Limits != DefaultLimits() {
			t.Errorf("default config = %+v", cfg)
		}
	})
	t.Run("full", func(t *testing.T) {
		cfg, err := loadConfig(t, "full")
		if err != nil {
			t.Fatalf("load full: %v", err)
		}
		if got := cfg.Protocols.GRPC.Get().NetAddr.Endpoint; got != "0.0.0.0:4317" {
			t.Errorf("grpc endpoint = %q", got)
		}
		if got := cfg.Protocols.GRPC.Get().MaxRecvMsgSizeMiB; got != 32 {
			t.Errorf("grpc max_recv_msg_size_mib = %d, want 32", got)
		}
		if got := cfg.Protocols.HTTP.Get().ServerConfig.NetAddr.Endpoint; got != "0.0.0.0:4318" {
			t.Errorf("http endpoint = %q", got)
		}
		want := Limits{
			MaxSpansPerRequest: 5000, MaxLogRecordsPerRequest: 2000, MaxEventsPerSpan: 256, MaxAttributesPerSpan: 512,
			MaxAttributeValueBytes: 32768, MaxContentBytes: 1 << 20, MaxInlineAttributeBytes: 2048,
		}
		if cfg.Limits != want {
			t.Errorf("limits = %+v, want %+v", cfg.Limits, want)
		}
		if !reflect.DeepEqual(cfg.Profiles, []string{"genai", "openinference"}) {
			t.Errorf("profiles = %v", cfg.Profiles)
		}
		if got := cfg.AttributeMappings["credential.id"]; !reflect.DeepEqual(got, []string{"aws.access_key.id", "vault.accessor"}) {
			t.Errorf("attribute_mappings[credential.id] = %v", got)
		}
		if !reflect.DeepEqual(cfg.LeafAttributes, []string{"app.tenant_id", "app.ids.*"}) {
			t.Errorf("leaf_attributes = %v", cfg.LeafAttributes)
		}
		if cfg.WriteTimeout != 10*time.Second {
			t.Errorf("write_timeout = %v", cfg.WriteTimeout)
		}
		if want := component.MustNewIDWithName("agentledger", "main"); cfg.Ledger != want {
			t.Errorf("ledger = %v, want %v", cfg.Ledger, want)
		}
		if !cfg.RequireSubmitter || !cfg.IngestTokens || cfg.BindingPolicyFile != "/etc/agentledger/binding.yaml" {
			t.Errorf("require_submitter %v, ingest_tokens %v, binding_policy_file %q", cfg.RequireSubmitter, cfg.IngestTokens, cfg.BindingPolicyFile)
		}
		if tls := cfg.Protocols.GRPC.Get().TLS.Get(); tls == nil || tls.ClientCAFile != "/etc/agentledger/tls/ca.pem" || tls.ReloadInterval != 30*time.Second {
			t.Errorf("grpc tls = %+v", tls)
		}
	})

	invalid := []struct {
		file string
		want string
	}{
		{"invalid_no_protocol", "must specify at least one protocol"},
		{"invalid_no_ledger", "ledger: must name the agentledger extension"},
		{"invalid_profile", `unknown profile "langfuse"`},
		{"invalid_mapping", `target "credential.id" has no source attributes`},
		{"invalid_leaf_attributes", `leaf_attributes[0]: "*": empty name`},
		{"invalid_leaf_attributes", `leaf_attributes[1]: "app.*.id": a "*" may only end a name`},
		{"invalid_leaf_attributes", `leaf_attributes[2]: "app*": a prefix must end in ".*"`},
		{"invalid_leaf_attributes", `leaf_attributes[3]: "agentledger.binding": names under agentledger. are the receiver's own`},
		{"invalid_leaf_attributes", `leaf_attributes[5]: "app.tenant_id" listed twice`},
		{"invalid_limits", "limits.max_spans_per_request: -1 is negative"},
		{"invalid_limits", "max_inline_attribute_bytes: 60000"},
		{"invalid_limits", "limits.max_attributes_per_span: -3 is negative"},
		{"invalid_write_timeout", "write_timeout: -5s is negative"},
		{"typo", "max_span_per_request"},
		{"typo_top", "ledgr"},
	}
	for _, tt := range invalid {
		t.Run(tt.file, func(t *testing.T) {
			_, err := loadConfig(t, tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("load %s: error %v, want one containing %q", tt.file, err, tt.want)
			}
		})
	}
}

func TestEmbeddedConfigRejectsStore(t *testing.T) {
	f := NewFactoryWithLedger(Ledger{})
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Protocols.HTTP.GetOrInsertDefault()
	if err := confmap.Validate(cfg); err != nil {
		t.Errorf("embedded config without a ledger: %v", err)
	}
	cfg.Ledger = component.MustNewID("agentledger")
	if err := confmap.Validate(cfg); err == nil || !strings.Contains(err.Error(), "ledger: must be empty") {
		t.Errorf("embedded config naming a ledger: error %v, want ledger: must be empty", err)
	}
}

// TestExampleCollectorConfig checks that the receiver section of
// example-collector.yaml loads and validates, and names the extension the
// service starts (whose section ledgerext's tests load).
func TestExampleCollectorConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf("example-collector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cm.Sub("receivers::" + TypeName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if err := confmap.Validate(cfg); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var exts []component.ID
	svc, err := cm.Sub("service")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Unmarshal(&struct {
		Extensions *[]component.ID `mapstructure:"extensions"`
		Pipelines  any             `mapstructure:"pipelines"`
	}{Extensions: &exts}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(exts, cfg.Ledger) {
		t.Errorf("the receiver names extension %v, the service starts %v", cfg.Ledger, exts)
	}
	if cfg.Limits != DefaultLimits() {
		t.Errorf("example limits = %+v, want the defaults %+v", cfg.Limits, DefaultLimits())
	}
}

package ingest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"

	"github.com/agentledger/agentledger/ingest/shard"
	"github.com/agentledger/agentledger/ledger"
)

// Mapping profiles: the attribute shapes of the instrumentations the receiver
// understands besides plain span names and HTTP, RPC and database attributes.
const (
	// ProfileGenAI is the OpenTelemetry GenAI semantic conventions
	// (gen_ai.operation.name, gen_ai.input.messages, …), current and
	// deprecated forms.
	ProfileGenAI = "genai"
	// ProfileOpenInference is Arize OpenInference (openinference.span.kind,
	// llm.input_messages.*, input.value, …).
	ProfileOpenInference = "openinference"
	// ProfileOpenLLMetry is Traceloop OpenLLMetry (traceloop.span.kind,
	// llm.request.type, gen_ai.prompt.N.*, traceloop.entity.input, …).
	ProfileOpenLLMetry = "openllmetry"
)

// Profiles lists every mapping profile; it is the default.
var Profiles = []string{ProfileGenAI, ProfileOpenInference, ProfileOpenLLMetry}

// Defaults for Limits and Config.
const (
	// DefaultMaxSpansPerRequest bounds the spans of one OTLP export request.
	DefaultMaxSpansPerRequest = 10_000
	// DefaultMaxLogRecordsPerRequest bounds the log records of one request.
	DefaultMaxLogRecordsPerRequest = 10_000
	// DefaultMaxEventsPerSpan bounds the events of one span. The OTel SDKs
	// keep 128 by default.
	DefaultMaxEventsPerSpan = 1024
	// DefaultMaxAttributesPerSpan bounds the attributes of one span (and of
	// one log record, span event or resource). The OTel SDKs keep 128 by
	// default; flattened message attributes (llm.input_messages.N.…) need
	// more.
	DefaultMaxAttributesPerSpan = 4096
	// DefaultMaxAttributeValueBytes bounds one attribute value (a string,
	// or the JSON encoding of any other value) that is not content.
	DefaultMaxAttributeValueBytes = 64 << 10
	// DefaultMaxContentBytes bounds one piece of content (a prompt, the
	// output messages, tool arguments, …).
	DefaultMaxContentBytes = 4 << 20
	// DefaultMaxInlineAttributeBytes is the longest attribute value kept in
	// the leaf; longer values move to the entry's "attributes" content.
	DefaultMaxInlineAttributeBytes = 4 << 10
	// DefaultWriteTimeout bounds how long a request waits for its ledger
	// commit before it fails with a retryable error.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultGRPCMaxRecvMsgSizeMiB is the default gRPC message limit, raised
	// from gRPC's 4 MiB because GenAI content is large.
	DefaultGRPCMaxRecvMsgSizeMiB = 16
)

// Config is the configuration of the agentledger receiver. The OTLP
// protocols (protocols.grpc, protocols.http) are those of the standard OTLP
// receiver, which this receiver embeds.
type Config struct {
	otlpreceiver.Config `mapstructure:",squash"`

	// Ledger is the ID of the agentledger extension (package ledgerext)
	// that holds the ledger this receiver writes to; receivers that name
	// the same extension share its log and signer. Required when the
	// receiver runs in a collector; empty when agentledger serve hands it
	// an open ledger.
	Ledger component.ID `mapstructure:"ledger"`

	MappingConfig `mapstructure:",squash"`

	// Limits bound what one request may hold.
	Limits Limits `mapstructure:"limits"`
	// WriteTimeout bounds the wait for the ledger commit of one request.
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// MaxInflightBytes bounds the requests the receiver holds at a time
	// (mapping them and waiting for their commit), in uncompressed OTLP
	// protobuf bytes; one more is refused with ResourceExhausted (HTTP 429)
	// and a retry delay, which exporters retry. Zero means
	// DefaultMaxInflightBytes.
	MaxInflightBytes int64 `mapstructure:"max_inflight_bytes"`

	// RequireSubmitter refuses (Unauthenticated, HTTP 401) every request
	// whose sender was not authenticated by a verified client certificate
	// (protocols.*.tls.client_ca_file), an ingest token or the protocol's
	// auth extension.
	RequireSubmitter bool `mapstructure:"require_submitter"`
	// IngestTokens accepts the ledger's ingest tokens (agentledger token
	// create --role ingest) as "authorization: Bearer <token>".
	IngestTokens bool `mapstructure:"ingest_tokens"`
	// BindingPolicyFile, if set, names the binding policy: which
	// submitters may write which service.name and gen_ai.agent.id values
	// (see BindingPolicy).
	BindingPolicyFile string `mapstructure:"binding_policy_file"`
	// ApprovalSignersFile, if set, names an allowed-signers file
	// (ssh-keygen's format): every approval entry's signature is verified
	// against it and the result recorded in the leaf
	// (agentledger.approval.*).
	ApprovalSignersFile string `mapstructure:"approval_signers_file"`
	// ApprovalJWKS, if set, is a JWKS file or https URL of the approvers'
	// keys for JWS approvals (ES256, EdDSA; a key's kid names its
	// approver). A URL is fetched at start and refreshed.
	ApprovalJWKS string `mapstructure:"approval_jwks"`
	// ShardRule, if set, says which spans and log records belong to this
	// receiver's log when traffic is split across several logs (see
	// package shard: trace-id:0-7, resource:service.namespace=payments).
	// A request holding any that do not is refused whole with
	// InvalidArgument (HTTP 400) naming the rule; nothing of it is written.
	ShardRule string `mapstructure:"shard_rule"`

	// embedded is set for a config created by a factory that holds an open
	// ledger (NewFactoryWithLedger): Ledger must then be empty.
	embedded bool
}

var _ component.Config = (*Config)(nil)

// MappingConfig says how spans and log records map to ledger entries.
type MappingConfig struct {
	// Profiles are the instrumentation shapes understood: "genai",
	// "openinference", "openllmetry". The default is all of them.
	Profiles []string `mapstructure:"profiles"`
	// AttributeMappings copies a user's own attribute onto a ledger
	// attribute: target name → source names, the first present wins, and
	// only when the span lacks the target. For example
	// credential.id: [aws.access_key.id, vault.accessor].
	AttributeMappings map[string][]string `mapstructure:"attribute_mappings"`
	// LeafAttributes extends the structural allow-list: the attribute
	// names whose values stay in the leaf, readable by every auditor and
	// never erasable. Every other attribute value is erasable content (the
	// entry's "attributes"). A name ending in "*" is a prefix ("myapp.*").
	// List only IDs, names, enums and codes, never free text.
	LeafAttributes []string `mapstructure:"leaf_attributes"`
}

// Limits bound the input of one request. An input over a limit is rejected
// as a whole with InvalidArgument (HTTP 400) naming the limit; nothing of
// it is written. Zero fields take the Default* values.
type Limits struct {
	// MaxSpansPerRequest bounds the spans of one export request.
	MaxSpansPerRequest int `mapstructure:"max_spans_per_request"`
	// MaxLogRecordsPerRequest bounds the log records of one request.
	MaxLogRecordsPerRequest int `mapstructure:"max_log_records_per_request"`
	// MaxEventsPerSpan bounds the events of one span.
	MaxEventsPerSpan int `mapstructure:"max_events_per_span"`
	// MaxAttributesPerSpan bounds the attributes of one span, and likewise
	// of one log record, span event or resource.
	MaxAttributesPerSpan int `mapstructure:"max_attributes_per_span"`
	// MaxAttributeValueBytes bounds one structural attribute value.
	MaxAttributeValueBytes int `mapstructure:"max_attribute_value_bytes"`
	// MaxContentBytes bounds one piece of content.
	MaxContentBytes int `mapstructure:"max_content_bytes"`
	// MaxInlineAttributeBytes is the longest value of an allow-listed
	// attribute (see MappingConfig.LeafAttributes) kept in the leaf. A
	// longer value, and if the leaf would still exceed
	// ledger.MaxLeafSize the next longest ones, move into the entry's
	// "attributes" content (behind its commitment, never truncated), and
	// the leaf lists their names in agentledger.moved_attributes. The
	// attributes that queries look entries up by are never moved.
	MaxInlineAttributeBytes int `mapstructure:"max_inline_attribute_bytes"`
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxSpansPerRequest:      DefaultMaxSpansPerRequest,
		MaxLogRecordsPerRequest: DefaultMaxLogRecordsPerRequest,
		MaxEventsPerSpan:        DefaultMaxEventsPerSpan,
		MaxAttributesPerSpan:    DefaultMaxAttributesPerSpan,
		MaxAttributeValueBytes:  DefaultMaxAttributeValueBytes,
		MaxContentBytes:         DefaultMaxContentBytes,
		MaxInlineAttributeBytes: DefaultMaxInlineAttributeBytes,
	}
}

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.MaxSpansPerRequest, d.MaxSpansPerRequest)
	set(&l.MaxLogRecordsPerRequest, d.MaxLogRecordsPerRequest)
	set(&l.MaxEventsPerSpan, d.MaxEventsPerSpan)
	set(&l.MaxAttributesPerSpan, d.MaxAttributesPerSpan)
	set(&l.MaxAttributeValueBytes, d.MaxAttributeValueBytes)
	set(&l.MaxContentBytes, d.MaxContentBytes)
	set(&l.MaxInlineAttributeBytes, d.MaxInlineAttributeBytes)
	return l
}

// Validate checks the limits. Zero means the default.
func (l *Limits) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"max_spans_per_request", l.MaxSpansPerRequest},
		{"max_log_records_per_request", l.MaxLogRecordsPerRequest},
		{"max_events_per_span", l.MaxEventsPerSpan},
		{"max_attributes_per_span", l.MaxAttributesPerSpan},
		{"max_attribute_value_bytes", l.MaxAttributeValueBytes},
		{"max_content_bytes", l.MaxContentBytes},
		{"max_inline_attribute_bytes", l.MaxInlineAttributeBytes},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("limits.%s: %d is negative", f.name, f.v))
		}
	}
	if l.MaxInlineAttributeBytes > ledger.MaxLeafSize/2 {
		errs = append(errs, fmt.Errorf("limits.max_inline_attribute_bytes: %d is more than half the largest leaf (%d bytes)", l.MaxInlineAttributeBytes, ledger.MaxLeafSize))
	}
	return errors.Join(errs...)
}

// validate checks the mapping configuration. Config.Validate and NewMapper
// call it.
func (m *MappingConfig) validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, p := range m.Profiles {
		if !slices.Contains(Profiles, p) {
			errs = append(errs, fmt.Errorf("profiles: unknown profile %q, want one of %s", p, strings.Join(Profiles, ", ")))
		}
		if seen[p] {
			errs = append(errs, fmt.Errorf("profiles: %q listed twice", p))
		}
		seen[p] = true
	}
	for _, target := range sortedKeys(m.AttributeMappings) {
		sources := m.AttributeMappings[target]
		if err := checkAttrName(target); err != nil {
			errs = append(errs, fmt.Errorf("attribute_mappings: target %q: %w", target, err))
		}
		if strings.HasPrefix(target, "otel.") || strings.HasPrefix(target, "agentledger.") {
			errs = append(errs, fmt.Errorf("attribute_mappings: target %q: names under otel. and agentledger. are the receiver's own", target))
		}
		if len(sources) == 0 {
			errs = append(errs, fmt.Errorf("attribute_mappings: target %q has no source attributes", target))
		}
		dup := map[string]bool{}
		for _, s := range sources {
			if err := checkAttrName(s); err != nil {
				errs = append(errs, fmt.Errorf("attribute_mappings: %s: source %q: %w", target, s, err))
			}
			if s == target {
				errs = append(errs, fmt.Errorf("attribute_mappings: %s: maps onto itself", target))
			}
			if dup[s] {
				errs = append(errs, fmt.Errorf("attribute_mappings: %s: source %q listed twice", target, s))
			}
			dup[s] = true
		}
	}
	listed := map[string]bool{}
	for i, name := range m.LeafAttributes {
		prefix, wild := strings.CutSuffix(name, "*")
		switch err := checkAttrName(prefix); {
		case err != nil:
			errs = append(errs, fmt.Errorf("leaf_attributes[%d]: %q: %w", i, name, err))
		case strings.Contains(prefix, "*"):
			errs = append(errs, fmt.Errorf("leaf_attributes[%d]: %q: a \"*\" may only end a name", i, name))
		case wild && !strings.HasSuffix(prefix, "."):
			errs = append(errs, fmt.Errorf("leaf_attributes[%d]: %q: a prefix must end in \".*\"", i, name))
		case strings.HasPrefix(prefix, "agentledger."):
			errs = append(errs, fmt.Errorf("leaf_attributes[%d]: %q: names under agentledger. are the receiver's own", i, name))
		}
		if listed[name] {
			errs = append(errs, fmt.Errorf("leaf_attributes[%d]: %q listed twice", i, name))
		}
		listed[name] = true
	}
	return errors.Join(errs...)
}

func checkAttrName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case !utf8.ValidString(name):
		return errors.New("invalid UTF-8")
	case strings.ContainsAny(name, "\x00 \t\r\n"):
		return errors.New("contains white space or NUL")
	}
	return nil
}

// Validate checks the configuration. The OTLP protocols and the nested
// sections are validated by their own Validate methods, which the
// collector calls too.
func (c *Config) Validate() error {
	errs := []error{c.MappingConfig.validate()}
	switch {
	case c.embedded && c.Ledger != (component.ID{}):
		errs = append(errs, errors.New("ledger: must be empty: the receiver writes to the ledger agentledger serve opened"))
	case !c.embedded && c.Ledger == (component.ID{}):
		errs = append(errs, errors.New("ledger: must name the agentledger extension that holds the ledger"))
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("write_timeout: %v is negative", c.WriteTimeout))
	}
	if c.MaxInflightBytes < 0 {
		errs = append(errs, fmt.Errorf("max_inflight_bytes: %d is negative", c.MaxInflightBytes))
	}
	if _, err := shard.Parse(c.ShardRule); err != nil {
		errs = append(errs, fmt.Errorf("shard_rule: %w", err))
	}
	return errors.Join(errs...)
}

// validateAll runs every Validate of c, as the collector does when it loads
// a configuration.
func (c *Config) validateAll() error {
	return errors.Join(c.Protocols.Validate(), c.Limits.Validate(), c.Validate())
}

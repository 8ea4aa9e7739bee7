package ingest

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// TypeName is the receiver's component type in collector configurations.
const TypeName = "agentledger"

var componentType = component.MustNewType(TypeName)

// Ledger is an open ledger for receivers to write to, held by agentledger
// serve.
type Ledger struct {
	// Log is the ledger's write side. Required.
	Log *ledger.Log
	// Redactor replaces secrets with fingerprints. Required.
	Redactor *secrets.Redactor
	// Observer, if set, is told the outcome of every request.
	Observer Observer
	// Tokens holds the ingest tokens, for a configuration that accepts
	// them (IngestTokens).
	Tokens auth.Store
}

// LedgerProvider is what the receiver needs of the extension its
// configuration names (ledger): the open ledger, which the extension owns
// and closes. Package ledgerext provides it.
type LedgerProvider interface {
	// Ledger returns the open ledger; ok is false when it is not open.
	Ledger() (l Ledger, ok bool)
}

// NewFactory returns the factory of the agentledger receiver, for a
// collector (an OCB build or otelcol.Factories). Each receiver writes to
// the ledger of the agentledger extension (ledgerext) its configuration
// names, which the collector starts before and shuts down after the
// receivers.
func NewFactory() receiver.Factory {
	return newFactory(nil)
}

// NewFactoryWithLedger returns a factory whose receivers write to l, which
// the caller opened and closes after the receivers shut down. Their
// configurations must leave database, signer_key_file and secret_file
// empty.
func NewFactoryWithLedger(l Ledger) receiver.Factory {
	return newFactory(&l)
}

// factory keeps one receiver per configuration, so that a traces and a logs
// pipeline that name the same receiver share its servers, as the OTLP
// receiver's pipelines do.
type factory struct {
	ledger    *Ledger
	mu        sync.Mutex
	receivers map[*Config]*ledgerReceiver
}

func newFactory(l *Ledger) receiver.Factory {
	f := &factory{ledger: l, receivers: make(map[*Config]*ledgerReceiver)}
	return receiver.NewFactory(componentType, f.createDefaultConfig,
		receiver.WithTraces(f.createTraces, component.StabilityLevelDevelopment),
		receiver.WithLogs(f.createLogs, component.StabilityLevelDevelopment))
}

func (f *factory) createDefaultConfig() component.Config {
	otlp := otlpreceiver.NewFactory().CreateDefaultConfig().(*otlpreceiver.Config)
	// Raise gRPC's 4 MiB message limit for GenAI content, keeping the
	// protocol off until the configuration names it, as the OTLP receiver
	// does.
	grpc := otlp.Protocols.GRPC
	g := grpc.GetOrInsertDefault()
	g.MaxRecvMsgSizeMiB = DefaultGRPCMaxRecvMsgSizeMiB
	otlp.Protocols.GRPC = configoptional.Default(*g)
	return &Config{
		Config:           *otlp,
		MappingConfig:    MappingConfig{Profiles: append([]string(nil), Profiles...)},
		Limits:           DefaultLimits(),
		WriteTimeout:     DefaultWriteTimeout,
		MaxInflightBytes: DefaultMaxInflightBytes,
		embedded:         f.ledger != nil,
	}
}

func (f *factory) createTraces(ctx context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	r, err := f.receiver(ctx, set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	r.nextTraces = next
	return r, nil
}

func (f *factory) createLogs(ctx context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	r, err := f.receiver(ctx, set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	r.nextLogs = next
	return r, nil
}

// receiver returns the receiver of cfg, creating it and its embedded OTLP
// receiver on first use. The OTLP receiver always serves both traces and
// logs into the ledger, whichever pipelines name this receiver; what
// arrives is forwarded only to the pipelines that do.
func (f *factory) receiver(ctx context.Context, set receiver.Settings, cfg *Config) (*ledgerReceiver, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.receivers[cfg]; ok {
		return r, nil
	}
	r := &ledgerReceiver{cfg: cfg, set: set, injected: f.ledger}
	r.remove = func() {
		f.mu.Lock()
		delete(f.receivers, cfg)
		f.mu.Unlock()
	}
	tc, err := consumer.NewTraces(r.consumeTraces)
	if err != nil {
		return nil, err
	}
	lc, err := consumer.NewLogs(r.consumeLogs)
	if err != nil {
		return nil, err
	}
	// The OTLP factory accepts only IDs of its own type.
	oset := set
	oset.ID = component.NewIDWithName(otlpreceiver.NewFactory().Type(), set.ID.String())
	otlpFactory := otlpreceiver.NewFactory()
	// Both calls share one server: it is keyed by the *otlpreceiver.Config.
	ocfg := withGuard(withIdentity(&cfg.Config))
	r.guard = newGuard(r, ocfg)
	tr, err := otlpFactory.CreateTraces(ctx, oset, ocfg, tc)
	if err != nil {
		return nil, err
	}
	if _, err := otlpFactory.CreateLogs(ctx, oset, ocfg, lc); err != nil {
		return nil, err
	}
	r.otlp = tr
	f.receivers[cfg] = r
	return r, nil
}

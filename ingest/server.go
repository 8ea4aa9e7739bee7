package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	nooptrace "go.opentelemetry.io/otel/trace/noop"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ledger"
)

// ServerConfig configures an in-process OTLP receiver for agentledger
// serve.
type ServerConfig struct {
	// GRPCAddr is the OTLP/gRPC listen address, such as "0.0.0.0:4317".
	// Empty disables gRPC.
	GRPCAddr string
	// HTTPAddr is the OTLP/HTTP listen address, such as "0.0.0.0:4318"
	// (protobuf and JSON, gzip and zstd, on /v1/traces and /v1/logs).
	// Empty disables HTTP. At least one address is required.
	HTTPAddr string
	// GRPCMaxRecvMsgSizeMiB bounds a gRPC request. Zero means
	// DefaultGRPCMaxRecvMsgSizeMiB.
	GRPCMaxRecvMsgSizeMiB int
	// HTTPMaxRequestBodyBytes bounds an HTTP request body. Zero means the
	// collector's default, 20 MiB.
	HTTPMaxRequestBodyBytes int64
	// HTTPTimeouts bound how long the HTTP server waits on a client.
	HTTPTimeouts HTTPTimeouts
	// HTTPMaxConnections, if positive, bounds the OTLP/HTTP connections
	// open at a time; more wait, unaccepted, until one closes.
	HTTPMaxConnections int
	// TLS, if enabled, serves both protocols over TLS (mutual TLS with a
	// client CA file).
	TLS TLSFiles

	// Tokens, if set, holds the ingest tokens senders may authenticate
	// with.
	Tokens auth.Store
	// RequireSubmitter refuses requests whose sender is not authenticated.
	RequireSubmitter bool
	// BindingPolicyFile, if set, names the binding policy file.
	BindingPolicyFile string
	// ApprovalSignersFile, if set, names the approvers' allowed-signers
	// file.
	ApprovalSignersFile string
	// ApprovalJWKS is Config.ApprovalJWKS.
	ApprovalJWKS string
	// ShardRule is Config.ShardRule: the spans and log records that belong
	// to this log; empty accepts all.
	ShardRule string

	// Log is the open ledger to append to. Required. Shutdown does not
	// close it.
	Log *ledger.Log
	// Redactor replaces secrets with fingerprints. Required.
	Redactor *secrets.Redactor

	// Mapping says how spans map to entries; nil Profiles means all.
	Mapping MappingConfig
	// Limits bound a request; zero fields take their defaults.
	Limits Limits
	// WriteTimeout bounds the wait for a request's commit. Zero means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxInflightBytes bounds the bytes of the requests held at a time
	// (see Config.MaxInflightBytes). Zero means DefaultMaxInflightBytes.
	MaxInflightBytes int64

	// Logger receives the receiver's logs. Nil means slog.Default().
	Logger *slog.Logger
	// Observer, if set, is told the outcome of every request (accepted,
	// rejected as invalid, failed to commit), for metrics.
	Observer Observer
	// Version is reported as the receiver's build version.
	Version string
}

// Server is an agentledger receiver running in process: the standard OTLP
// receiver's gRPC and HTTP servers, writing every request to the ledger
// before acknowledging it. It is built from the same factory a collector
// uses, started with a receiver.Settings of its own (no otelcol.Collector,
// no pipeline: nothing is forwarded).
type Server struct {
	rcv component.Component
	lim *connLimiter // nil: no connection limit
}

// Start starts a Server. It returns once the listeners are bound.
func Start(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if cfg.Log == nil || cfg.Redactor == nil {
		return nil, errors.New("ingest: server needs a ledger log and a secret redactor")
	}
	if cfg.GRPCAddr == "" && cfg.HTTPAddr == "" {
		return nil, errors.New("ingest: server needs a gRPC or an HTTP address")
	}
	if err := cfg.TLS.validate(); err != nil {
		return nil, fmt.Errorf("ingest: server config: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	f := NewFactoryWithLedger(Ledger{Log: cfg.Log, Redactor: cfg.Redactor, Observer: cfg.Observer, Tokens: cfg.Tokens})
	c := f.CreateDefaultConfig().(*Config)
	if cfg.GRPCAddr != "" {
		g := c.Protocols.GRPC.GetOrInsertDefault()
		g.NetAddr.Endpoint = cfg.GRPCAddr
		if cfg.GRPCMaxRecvMsgSizeMiB > 0 {
			g.MaxRecvMsgSizeMiB = cfg.GRPCMaxRecvMsgSizeMiB
		}
		if cfg.TLS.Enabled() {
			g.TLS = cfg.TLS.collector()
		}
	}
	var lim *connLimiter
	if cfg.HTTPAddr != "" {
		h := c.Protocols.HTTP.GetOrInsertDefault()
		h.ServerConfig.NetAddr.Endpoint = cfg.HTTPAddr
		if cfg.HTTPMaxConnections > 0 {
			var err error
			if lim, err = listenLimited(cfg.HTTPAddr, cfg.HTTPMaxConnections, logger); err != nil {
				return nil, fmt.Errorf("ingest: %w", err)
			}
			h.ServerConfig.NetAddr = confignet.AddrConfig{Endpoint: lim.socket, Transport: confignet.TransportTypeUnix}
		}
		if cfg.HTTPMaxRequestBodyBytes > 0 {
			h.ServerConfig.MaxRequestBodySize = cfg.HTTPMaxRequestBodyBytes
		}
		cfg.HTTPTimeouts.apply(&h.ServerConfig)
		if cfg.TLS.Enabled() {
			h.ServerConfig.TLS = cfg.TLS.collector()
		}
	}
	c.IngestTokens = cfg.Tokens != nil
	c.RequireSubmitter = cfg.RequireSubmitter
	c.BindingPolicyFile = cfg.BindingPolicyFile
	c.ApprovalSignersFile = cfg.ApprovalSignersFile
	c.ApprovalJWKS = cfg.ApprovalJWKS
	c.ShardRule = cfg.ShardRule
	c.MappingConfig = cfg.Mapping
	if c.Profiles == nil {
		c.Profiles = append([]string(nil), Profiles...)
	}
	c.Limits = cfg.Limits.withDefaults()
	if cfg.WriteTimeout > 0 {
		c.WriteTimeout = cfg.WriteTimeout
	}
	if cfg.MaxInflightBytes > 0 {
		c.MaxInflightBytes = cfg.MaxInflightBytes
	}
	if err := c.validateAll(); err != nil {
		return nil, errors.Join(fmt.Errorf("ingest: server config: %w", err), lim.closeIfAny())
	}
	set := receiver.Settings{
		ID: component.NewID(componentType),
		TelemetrySettings: component.TelemetrySettings{
			Logger:         zapLogger(logger.With("component", TypeName)),
			TracerProvider: nooptrace.NewTracerProvider(),
			MeterProvider:  noopmetric.NewMeterProvider(),
			Resource:       pcommon.NewResource(),
		},
		BuildInfo: component.BuildInfo{Command: "agentledger", Description: "agentledger serve", Version: cfg.Version},
	}
	rcv, err := f.CreateTraces(ctx, set, c, nil)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("ingest: create receiver: %w", err), lim.closeIfAny())
	}
	if err := rcv.Start(ctx, nopHost{}); err != nil {
		return nil, errors.Join(err, rcv.Shutdown(context.WithoutCancel(ctx)), lim.closeIfAny())
	}
	if lim != nil {
		lim.serve()
	}
	return &Server{rcv: rcv, lim: lim}, nil
}

// Shutdown stops accepting requests and waits until those in flight have
// been committed and answered, or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.lim != nil {
		s.lim.stopAccepting()
	}
	return errors.Join(s.rcv.Shutdown(ctx), s.lim.closeIfAny())
}

// nopHost is the component.Host of an in-process receiver: no extensions.
type nopHost struct{}

func (nopHost) GetExtensions() map[component.ID]component.Component { return nil }

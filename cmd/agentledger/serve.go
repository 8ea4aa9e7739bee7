package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/ingest"
	"github.com/agentledger/agentledger/ingest/secrets"
	"github.com/agentledger/agentledger/ingest/shard"
	"github.com/agentledger/agentledger/internal/certfile"
	"github.com/agentledger/agentledger/internal/demo"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/policy"
	"github.com/agentledger/agentledger/query"
	"github.com/agentledger/agentledger/web"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
)

// serveFlags are the flags of agentledger serve.
type serveFlags struct {
	store              storeFlags
	otlpGRPCAddr       string
	otlpHTTPAddr       string
	httpAddr           string
	checkpointInterval time.Duration
	commitTimeout      time.Duration
	maxPending         int
	logName            string
	signer             string
	logLevel           string
	shutdownTimeout    time.Duration
	demo               bool
	demoFlags          serveDemoFlags
	publicTiles        string

	otlpTLSCertFile   string
	otlpTLSKeyFile    string
	httpTLSCertFile   string
	httpTLSKeyFile    string
	otlpClientCAFile  string
	tlsReloadInterval time.Duration
	insecureIngest    bool
	otlpHTTPTimeouts  ingest.HTTPTimeouts
	bindingPolicy     string
	approvalSigners   string
	approvalJWKS      string
	approvalRequired  []string
	attestationAllow  string
	noMigrate         bool
	otlpHTTPMaxConns  int
	pprofAddr         string
	maxInflightBytes  int64
	readDatabase      string
	shardRule         string

	witness  serveWitnessFlags
	federate federateFlags
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the ledger: OTLP receiver, query API and checkpoint signer",
		Long: `serve runs an agentledger node. With no flags it keeps everything in
./agentledger-data/ (the embedded SQLite ledger, the checkpoint signer key and
the ledger secret that keys credential fingerprints), creating them on first
start with file mode 0600 and reusing them after. --database postgres://…
moves the ledger to Postgres.

It receives OTLP traces and logs over gRPC and HTTP, appends them to the
ledger, signs a checkpoint at most every --checkpoint-interval while the tree
grows, and serves the query API, /healthz, /readyz and Prometheus /metrics.

Ingest is authenticated. --otlp-tls-cert-file and --otlp-tls-key-file serve
OTLP over TLS (--http-tls-cert-file and --http-tls-key-file the query API);
--otlp-client-ca-file requires OTLP senders to
present a client certificate from that CA (mutual TLS), whose SPIFFE ID
(URI SAN), else subject, is recorded as the submitter of every entry they
send. Senders may instead present an ingest token (agentledger token create
--role ingest) as "authorization: Bearer <token>". The certificate files are
read again every --tls-reload-interval, so rotated certificates are served
without a restart. Without TLS, OTLP listens on loopback addresses only and
accepts unauthenticated senders (their entries have no submitter); a
non-loopback OTLP address without TLS needs --insecure-ingest, and then
anyone who reaches the port can write in any agent's name.

Open Policy Agent's decision logs are received on the query API at
POST /v1/opa/logs: in OPA's configuration, a service whose url is the API's
URL and /v1/opa, with an ingest token as credentials.bearer.token, and
decision_logs.service naming it. Each decision becomes an entry of source
opa named policy.decision.

Several logs (shards, each its own database or schema, --log-name and key)
may split a fleet's traffic, the collector in front routing each span to
one of them; --shard-rule tells each serve which spans are its own, such as
--shard-rule trace-id:0-7 and --shard-rule trace-id:8-f for two shards by
trace ID (a trace never spans two logs), or
--shard-rule resource:service.namespace=payments,billing by tenant. A
request holding a span of another shard is refused whole, naming the rule.

SIGINT or SIGTERM stops it cleanly: it stops accepting, finishes the appends
in flight, signs a final checkpoint and exits 0. A second signal exits at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), cmd, f)
		},
	}
	fl := cmd.Flags()
	f.store.register(cmd)
	fl.StringVar(&f.otlpGRPCAddr, "otlp-grpc-addr", "127.0.0.1:4317", "OTLP/gRPC listen address; empty disables it")
	fl.StringVar(&f.otlpHTTPAddr, "otlp-http-addr", "127.0.0.1:4318", "OTLP/HTTP listen address; empty disables it")
	fl.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:8080", "query API, UI, health and metrics listen address")
	fl.DurationVar(&f.checkpointInterval, "checkpoint-interval", ledger.DefaultCheckpointInterval, "sign a checkpoint at most this often while the tree grows")
	fl.DurationVar(&f.commitTimeout, "commit-timeout", ledger.DefaultCommitTimeout, "bound each commit transaction (and the signing of a checkpoint); an append whose commit takes longer fails and its sender retries")
	fl.IntVar(&f.maxPending, "max-pending", ledger.DefaultMaxPending, "most appends waiting for a commit; beyond it ingest pushes back (OTLP senders retry) instead of queueing without bound")
	fl.StringVar(&f.logName, "log-name", defaultLogName, "the log's name, the origin line of its checkpoints; fixed when the signer key is created")
	fl.StringVar(&f.signer, "signer", "", "checkpoint signer: unix:PATH for a signer process (agentledger signer) that holds the key, or a PKCS#11 URI pkcs11:token=T;object=K?module-path=M for an Ed25519 key in a token (PIN in $AGENTLEDGER_PKCS11_PIN; the key is named by --log-name); empty for the data directory's signer.key")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a clean shutdown may take before it gives up")
	fl.StringVar(&f.publicTiles, "public-tiles", "none", "serve tlog-tiles without a token: hashes (the Merkle tiles, what witnesses and monitors need; the bare flag) or all (the entry bundles too, which name agents, credential IDs and token names); none needs an auditor token")
	fl.Lookup("public-tiles").NoOptDefVal = "hashes"
	fl.BoolVar(&f.demo, "demo", false, "once started, send the demo agent traffic to this server (see agentledger demo)")
	fl.StringVar(&f.otlpTLSCertFile, "otlp-tls-cert-file", "", "PEM certificate (chain) of the OTLP listeners; with --otlp-tls-key-file enables TLS")
	fl.StringVar(&f.otlpTLSKeyFile, "otlp-tls-key-file", "", "PEM private key of --otlp-tls-cert-file")
	fl.StringVar(&f.httpTLSCertFile, "http-tls-cert-file", "", "PEM certificate (chain) of the query API listener; with --http-tls-key-file enables TLS")
	fl.StringVar(&f.httpTLSKeyFile, "http-tls-key-file", "", "PEM private key of --http-tls-cert-file")
	fl.StringVar(&f.otlpClientCAFile, "otlp-client-ca-file", "", "PEM CA certificates; OTLP senders must present a client certificate they issued (mutual TLS)")
	fl.DurationVar(&f.tlsReloadInterval, "tls-reload-interval", ingest.DefaultTLSReloadInterval, "how often the TLS certificate, key and client CA files are read again")
	fl.BoolVar(&f.insecureIngest, "insecure-ingest", false, "accept unauthenticated OTLP senders on non-loopback addresses (anyone who reaches the port can write in any agent's name)")
	fl.BoolVar(&f.noMigrate, "no-migrate", false, "do not migrate the Postgres schema at start, only check it is current: for a database role without DDL privileges, such as a member of agentledger_writer (run agentledger migrate as the schema owner first)")
	fl.StringVar(&f.bindingPolicy, "binding-policy", "", "YAML or JSON file saying which submitters may write which service.name and gen_ai.agent.id values (see README, Binding policy)")
	fl.StringSliceVar(&f.approvalRequired, "approval-required", nil, "actions that require a signed approval, as patterns of \"<METHOD> <path>\" or RPC methods (\"POST /v1/payments*\"); a call of one without a verified approval is the finding approval_missing")
	fl.StringVar(&f.approvalSigners, "approval-signers", "", "allowed-signers file (ssh-keygen format) of the approvers' keys: each approval's SSH signature (namespace agentledger-approval) is verified and the result recorded in its leaf")
	fl.StringVar(&f.approvalJWKS, "approval-jwks", "", "JWKS file or https URL of the approvers' keys (ES256 or EdDSA; a key's kid is its approver, or approver#label): each JWS approval (compact, payload the canonical statement) is verified and the result recorded in its leaf; a URL is fetched at start and refreshed every 5 minutes")
	fl.StringVar(&f.attestationAllow, "attestation-allow", "", "YAML or JSON file of the image digests and models runs may attest (images: [...], models: [...]); a run that used a credential and attests another is the finding attestation_mismatch")
	fl.IntVar(&f.otlpHTTPMaxConns, "otlp-http-max-connections", 1024, "OTLP/HTTP: most connections open at a time; more wait unaccepted, so that slow senders cannot exhaust file descriptors (0: no limit)")
	fl.DurationVar(&f.otlpHTTPTimeouts.ReadHeader, "otlp-http-read-header-timeout", ingest.DefaultHTTPReadHeaderTimeout, "OTLP/HTTP: close a connection whose request headers take longer")
	fl.DurationVar(&f.otlpHTTPTimeouts.Read, "otlp-http-read-timeout", ingest.DefaultHTTPReadTimeout, "OTLP/HTTP: close a connection whose whole request takes longer to read")
	fl.DurationVar(&f.otlpHTTPTimeouts.Idle, "otlp-http-idle-timeout", ingest.DefaultHTTPIdleTimeout, "OTLP/HTTP: close a keep-alive connection idle this long")
	// serve --demo over TLS, cmd/agentledger/demo.go.
	f.demoFlags.register(cmd)
	fl.Int64Var(&f.maxInflightBytes, "max-inflight-bytes", ingest.DefaultMaxInflightBytes, "OTLP: most bytes of requests (uncompressed protobuf) held at a time, mapping them or waiting for their commit; one more waits (OTLP/HTTP) up to 250 ms for room behind those before it (a retry from its first attempt), then is answered 429 / RESOURCE_EXHAUSTED with a retry delay, which exporters retry (bounds memory: a request held takes about 8 times its size). Under load the limit adapts lower, to no less than 4 MiB, while requests take longer than 400 ms to be acknowledged")
	fl.StringVar(&f.pprofAddr, "pprof-addr", "", "serve Go's runtime profiles (/debug/pprof/) on this loopback address, such as 127.0.0.1:6060; empty (the default) serves none")
	fl.StringVar(&f.readDatabase, "read-database", "", "Postgres URL of a streaming replica of --database: the query API reads from it, each answer complete to the replica's latest checkpoint (writes, such as access entries, still go to --database); /readyz reports its lag")
	fl.StringVar(&f.shardRule, "shard-rule", "", "this log is one shard of several: accept only the spans and log records this rule gives it, trace-id:LO-HI (first hex digits of the trace ID in [LO, HI], such as 0-7 or 00-3f) or resource:KEY=V1,V2 (resource attribute KEY one of the values) or resource:KEY!=V1,V2 (every other resource); a request holding others is refused whole (HTTP 400 / InvalidArgument) and counted in agentledger_ingest_misrouted_spans_total (see README, Scaling)")
	// Witnesses (C2SP tlog-witness), cmd/agentledger/witness.go.
	f.witness.register(cmd)
	// Federated credential view, cmd/agentledger/federate.go.
	f.federate.register(cmd)
	return withEnv(cmd)
}

func serve(ctx context.Context, cmd *cobra.Command, f serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if f.checkpointInterval <= 0 {
		return fmt.Errorf("--checkpoint-interval %v: want a positive duration", f.checkpointInterval)
	}
	if f.commitTimeout <= 0 {
		return fmt.Errorf("--commit-timeout %v: want a positive duration", f.commitTimeout)
	}
	if f.maxPending <= 0 {
		return fmt.Errorf("--max-pending %d: want 1 or more", f.maxPending)
	}
	if f.httpAddr == "" {
		return errors.New("--http-addr is required")
	}
	tlsFiles := ingest.TLSFiles{CertFile: f.otlpTLSCertFile, KeyFile: f.otlpTLSKeyFile, ClientCAFile: f.otlpClientCAFile, ReloadInterval: f.tlsReloadInterval}
	if (f.httpTLSCertFile == "") != (f.httpTLSKeyFile == "") {
		return errors.New("--http-tls-cert-file and --http-tls-key-file go together")
	}
	if f.otlpHTTPMaxConns < 0 {
		return fmt.Errorf("--otlp-http-max-connections %d: want 0 (no limit) or more", f.otlpHTTPMaxConns)
	}
	if f.maxInflightBytes <= 0 {
		return fmt.Errorf("--max-inflight-bytes %d: want a positive number of bytes", f.maxInflightBytes)
	}
	if f.tlsReloadInterval <= 0 {
		return fmt.Errorf("--tls-reload-interval %v: want a positive duration", f.tlsReloadInterval)
	}
	tuneGC(f.maxInflightBytes, logger)
	publicTiles, publicEntries, err := parsePublicTiles(f.publicTiles)
	if err != nil {
		return err
	}
	rule, err := shard.Parse(f.shardRule)
	if err != nil {
		return fmt.Errorf("--shard-rule: %w", err)
	}
	federation, err := f.federate.federation()
	if err != nil {
		return err
	}
	if f.pprofAddr != "" {
		stopPprof, err := startPprof(f.pprofAddr, logger)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	exposed, err := ingestExposure(f, tlsFiles)
	if err != nil {
		return err
	}
	var demoCfg demo.Config
	if f.demo {
		if demoCfg, err = serveDemoConfig(f); err != nil {
			return fmt.Errorf("--demo: %w", err)
		}
	}
	if exposed {
		logger.Warn("--insecure-ingest: OTLP listens beyond loopback without TLS; anyone who reaches the port can write in any agent's name",
			"otlp_grpc_addr", f.otlpGRPCAddr, "otlp_http_addr", f.otlpHTTPAddr)
	}

	n, err := openNodeWith(f.store.dataDir, f.logName, cmd.Flags().Changed("log-name"), f.signer)
	if err != nil {
		return err
	}
	store, err := openStoreWith(ctx, f.store.dataDir, f.store.database, !f.noMigrate)
	if err != nil {
		return err
	}
	defer store.Close()
	rs, err := openReadStore(ctx, f.readDatabase, f.store.database, store)
	if err != nil {
		return err
	}
	defer rs.close()

	m := newMetrics(n.signer.Origin(), rule.String())
	sub, err := f.witness.submitter(store, m.logReg, logger)
	if err != nil {
		return err
	}
	var published func(ledger.Checkpoint)
	if sub != nil {
		published = func(ledger.Checkpoint) { sub.Notify() }
	}
	l, err := ledger.OpenBound(ctx, store, ledger.Config{
		Signer:             n.signer,
		CheckpointInterval: f.checkpointInterval,
		CommitTimeout:      f.commitTimeout,
		MaxPending:         f.maxPending,
		Logger:             logger,
		Observer:           m,
		Follower:           index.NewIndexer(store, n.signer),
		Published:          published,
	})
	if err != nil {
		return err
	}
	m.watchLog(l)
	// Publish a checkpoint from the start, so that /checkpoint always
	// answers and a restart's first checkpoint covers what the last run
	// appended after its final one.
	if _, err := l.Checkpoint(ctx); err != nil {
		l.Close(context.Background())
		return err
	}
	var degraded func() []string
	if sub != nil {
		stopSubmitter := runSubmitter(sub)
		defer func() {
			stopSubmitter()
			// Submit the final checkpoint once more, within the shutdown.
			sctx, cancel := context.WithTimeout(context.Background(), f.witness.timeout)
			defer cancel()
			sub.Submit(sctx)
		}()
		degraded = sub.Degraded
	}
	redactor, err := secrets.NewRedactor(n.secret, secrets.Config{})
	if err != nil {
		return err
	}

	adminPath, err := firstAdminToken(ctx, store, n.dir)
	if err != nil {
		return fmt.Errorf("first admin token: %w", err)
	}
	gate, err := approval.NewGate(f.approvalRequired)
	if err != nil {
		return err
	}
	var allow *policy.AttestationAllow
	if f.attestationAllow != "" {
		if allow, err = policy.LoadAttestationAllow(f.attestationAllow); err != nil {
			return err
		}
	}
	qs, err := query.NewServer(query.Config{
		ApprovalGate:     gate,
		AttestationAllow: allow,
		Reader:           rs.reader,
		Log:              l,
		Tokens:           store,
		Fingerprint:      redactor.Fingerprint,
		LookupSecrets:    redactor.LookupSecrets,
		VerifierKey:      n.signer.VerifierKey(),
		Logger:           logger,
		PublicTiles:      publicTiles,
		PublicEntries:    publicEntries,
		UI:               web.FS,
		Ready:            rs.ready,
		Replica:          rs.replica,
		Degraded:         degraded,
		Observer:         m,
		Federation:       federation,
	})
	if err != nil {
		return err
	}

	httpLn, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return fmt.Errorf("listen on --http-addr: %w", err)
	}
	apiScheme := "http"
	if f.httpTLSCertFile != "" {
		certs, err := certfile.New(f.httpTLSCertFile, f.httpTLSKeyFile, f.tlsReloadInterval)
		if err != nil {
			httpLn.Close()
			return err
		}
		httpLn = tls.NewListener(httpLn, &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
		apiScheme = "https"
	}
	opaLogs, err := policy.NewDecisionLogs(policy.DecisionLogsConfig{Log: l, Tokens: store, Redactor: redactor, Logger: logger})
	if err != nil {
		httpLn.Close()
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.Handle("POST "+policy.DecisionLogsPath, opaLogs)
	mux.Handle("/", rs.wrap(qs.Handler()))
	httpSrv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- httpSrv.Serve(httpLn) }()

	rcv, err := ingest.Start(ctx, ingest.ServerConfig{
		GRPCAddr:            f.otlpGRPCAddr,
		HTTPAddr:            f.otlpHTTPAddr,
		HTTPTimeouts:        f.otlpHTTPTimeouts,
		HTTPMaxConnections:  f.otlpHTTPMaxConns,
		MaxInflightBytes:    f.maxInflightBytes,
		TLS:                 tlsFiles,
		Tokens:              store,
		RequireSubmitter:    !f.insecureIngest && !loopbackOnly(f),
		BindingPolicyFile:   f.bindingPolicy,
		ApprovalSignersFile: f.approvalSigners,
		ApprovalJWKS:        f.approvalJWKS,
		ShardRule:           rule.String(),
		Log:                 l,
		Redactor:            redactor,
		Logger:              logger,
		Observer:            m,
	})
	if err != nil {
		httpSrv.Close()
		l.Close(context.Background())
		return fmt.Errorf("start OTLP receiver: %w", err)
	}

	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "agentledger is running (log %s)\n", l.Origin())
	if f.store.database == "" {
		fmt.Fprintf(out, "  ledger:       %s (embedded SQLite)\n", filepath.Join(n.dir, sqliteFile))
	} else {
		fmt.Fprintf(out, "  ledger:       %s\n", redactURL(f.store.database))
	}
	if f.readDatabase != "" {
		fmt.Fprintf(out, "  reads from:   %s\n", redactURL(f.readDatabase))
	}
	if rule != nil {
		fmt.Fprintf(out, "  shard rule:   %s\n", rule)
	}
	if f.otlpGRPCAddr != "" {
		fmt.Fprintf(out, "  OTLP gRPC:    %s\n", f.otlpGRPCAddr)
	}
	if f.otlpHTTPAddr != "" {
		otlpScheme := "http"
		if tlsFiles.Enabled() {
			otlpScheme = "https"
		}
		fmt.Fprintf(out, "  OTLP HTTP:    %s://%s\n", otlpScheme, f.otlpHTTPAddr)
	}
	fmt.Fprintf(out, "  OTLP senders: %s\n", ingestAuthSummary(f, tlsFiles))
	fmt.Fprintf(out, "  query API:    %s://%s\n", apiScheme, httpLn.Addr())
	fmt.Fprintf(out, "  verifier key: %s\n", n.signer.VerifierKey())
	if adminPath != "" {
		fmt.Fprintf(out, "  admin token:  in %s (create more with agentledger token create)\n", adminPath)
	}
	if f.demo {
		go runDemo(ctx, out, logger, demoCfg, apiScheme+"://"+httpLn.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err := <-httpErr:
		logger.Error("query server stopped", "err", err)
	}
	// A second signal exits at once.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-again
		logger.Error("second signal: exiting without a clean shutdown")
		os.Exit(1)
	}()
	logger.Info("shutting down: finishing appends in flight")
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
	defer cancel()
	var errs []error
	if err := rcv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("stop OTLP receiver: %w", err))
	}
	if err := httpSrv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("stop query server: %w", err))
	}
	if err := l.Close(sctx); err != nil {
		errs = append(errs, fmt.Errorf("close ledger: %w", err))
	} else if cp, err := store.LatestCheckpoint(sctx); err == nil {
		logger.Info("final checkpoint signed", "size", cp.Size)
	}
	return errors.Join(errs...)
}

package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/internal/backend"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/witness"
)

// splitList splits repeated flag values that may each hold several
// space-separated items (an environment variable holds them all in one).
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// witnessPolicyFlags are verify's and monitor's --witness and
// --min-witnesses.
type witnessPolicyFlags struct {
	keys []string
	min  int
}

func (f *witnessPolicyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.keys, "witness", nil, "a witness's cosignature verifier key <name>+<hash>+<key>; repeatable (the environment variable holds space-separated keys)")
	cmd.Flags().IntVar(&f.min, "min-witnesses", -1, "refuse checkpoints with fewer valid cosignatures of the --witness keys (default: all of them)")
}

// policy returns the witness policy, nil when no witness key was given.
func (f *witnessPolicyFlags) policy() (*witness.Policy, error) {
	keys := splitList(f.keys)
	if len(keys) == 0 {
		if f.min > 0 {
			return nil, errors.New("--min-witnesses needs --witness keys")
		}
		return nil, nil
	}
	min := f.min
	if min < 0 {
		min = len(keys)
	}
	p, err := witness.NewPolicy(keys, min)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// serveWitnessFlags are serve's witness flags.
type serveWitnessFlags struct {
	witnesses []string
	timeout   time.Duration
	retry     time.Duration
}

func (f *serveWitnessFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.witnesses, "witness", nil, "URL,KEY of a C2SP tlog-witness to submit each new checkpoint to, KEY its cosignature verifier key; repeatable (the environment variable holds space-separated URL,KEY pairs)")
	fl.DurationVar(&f.timeout, "witness-timeout", witness.DefaultTimeout, "how long one request to a witness may take")
	fl.DurationVar(&f.retry, "witness-retry-interval", witness.DefaultRetryInterval, "how often the latest checkpoint is sent again to witnesses that have not cosigned it")
}

// submitter parses the witness flags and, if any witness is given,
// returns the submitter, not yet running, with its metrics registered.
func (f *serveWitnessFlags) submitter(store backend.Store, reg prometheus.Registerer, logger *slog.Logger) (*witness.Submitter, error) {
	specs := splitList(f.witnesses)
	if len(specs) == 0 {
		return nil, nil
	}
	cs, ok := store.(witness.Store)
	if !ok {
		return nil, errors.New("--witness: this store keeps no cosignatures")
	}
	var ws []witness.Witness
	for _, s := range specs {
		w, err := witness.ParseWitness(s)
		if err != nil {
			return nil, fmt.Errorf("--witness: %w", err)
		}
		ws = append(ws, w)
	}
	sub, err := witness.NewSubmitter(witness.SubmitterConfig{Store: cs, Witnesses: ws, Timeout: f.timeout, RetryInterval: f.retry, Logger: logger})
	if err != nil {
		return nil, err
	}
	registerWitnessMetrics(reg, sub)
	return sub, nil
}

// runSubmitter starts the submitter's goroutine; stop ends it.
func runSubmitter(sub *witness.Submitter) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sub.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// registerWitnessMetrics exports each witness's state.
func registerWitnessMetrics(reg prometheus.Registerer, sub *witness.Submitter) {
	for i, st := range sub.Status() {
		labels := prometheus.Labels{"witness": st.Witness.URL, "key": st.Witness.Name()}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "agentledger_witness_up",
			Help:        "1 if the latest submission of a checkpoint to this witness succeeded, else 0.",
			ConstLabels: labels,
		}, func() float64 {
			if sub.Status()[i].Up {
				return 1
			}
			return 0
		}))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "agentledger_witness_cosigned_tree_size",
			Help:        "Tree size of the latest checkpoint this witness cosigned for this process.",
			ConstLabels: labels,
		}, func() float64 { return float64(sub.Status()[i].Size) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "agentledger_witness_failures_total",
			Help:        "Failed submissions of a checkpoint to this witness.",
			ConstLabels: labels,
		}, func() float64 { return float64(sub.Status()[i].Failures) }))
	}
}

// cosignedReader serves checkpoints with their stored cosignatures
// appended to the note, for /checkpoint and every API answer that carries
// a checkpoint.
type cosignedReader struct {
	backend.Store
	cos witness.CosignatureStore
}

func (r cosignedReader) attach(ctx context.Context, cp ledger.Checkpoint) (ledger.Checkpoint, error) {
	n, err := witness.Attach(ctx, r.cos, cp)
	if err != nil {
		return cp, err
	}
	cp.Note = n
	return cp, nil
}

// Checkpoint implements ledger.Reader.
func (r cosignedReader) Checkpoint(ctx context.Context, size uint64) (ledger.Checkpoint, error) {
	cp, err := r.Store.Checkpoint(ctx, size)
	if err != nil {
		return cp, err
	}
	return r.attach(ctx, cp)
}

// LatestCheckpoint implements ledger.Reader.
func (r cosignedReader) LatestCheckpoint(ctx context.Context) (ledger.Checkpoint, error) {
	cp, err := r.Store.LatestCheckpoint(ctx)
	if err != nil {
		return cp, err
	}
	return r.attach(ctx, cp)
}

// Checkpoints implements ledger.Reader.
func (r cosignedReader) Checkpoints(ctx context.Context, from uint64, limit int) ([]ledger.Checkpoint, error) {
	cps, err := r.Store.Checkpoints(ctx, from, limit)
	if err != nil {
		return nil, err
	}
	for i := range cps {
		if cps[i], err = r.attach(ctx, cps[i]); err != nil {
			return nil, err
		}
	}
	return cps, nil
}

// servedReader returns what the query server reads: the store, with
// cosignatures attached when the store keeps them.
func servedReader(store backend.Store) ledger.Reader {
	if cs, ok := store.(witness.CosignatureStore); ok {
		return cosignedReader{Store: store, cos: cs}
	}
	return store
}

type witnessFlags struct {
	name, keyFile, stateFile, listen string
	logs                             []string
}

func newWitnessCmd() *cobra.Command {
	var f witnessFlags
	cmd := &cobra.Command{
		Use:   "witness",
		Short: "Run a C2SP tlog-witness that cosigns other logs' checkpoints",
		Long: `witness runs a witness (c2sp.org/tlog-witness): it serves POST /add-checkpoint,
and cosigns (c2sp.org/tlog-cosignature, cosignature/v1 Ed25519) a checkpoint
only when the log's own key (--log) signed it and a consistency proof shows it
extends the latest checkpoint the witness cosigned of that log. That latest
size and root are kept in --state-file, replaced atomically before each
cosignature is returned, so a witness never cosigns two views of one log.

A second team runs it to cosign another team's log: give the log's verifier
key with --log, and the key this prints to the log's operator (serve
--witness URL,KEY) and to its verifiers (verify/monitor --witness KEY).

--key-file holds the witness's signer key; it is created (mode 0600) for
--name when missing. The listener is plain HTTP; terminate TLS in front of it.`,
		Example: `  agentledger witness --name witness.example.com --key-file witness.key --state-file witness.json --log "$(cat ledger.vkey)"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWitness(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "the witness's name (URL-like, e.g. witness.example.com), for a new --key-file")
	fl.StringVar(&f.keyFile, "key-file", "witness.key", "the witness's signer key file; created for --name when missing")
	fl.StringVar(&f.stateFile, "state-file", "witness-state.json", "JSON file holding the latest cosigned size and root of each log")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:7380", "HTTP listen address")
	fl.StringArrayVar(&f.logs, "log", nil, "verifier key <origin>+<hash>+<key> of a log to cosign; repeatable (the environment variable holds space-separated keys)")
	return withEnv(cmd)
}

// witnessSignerKey reads the witness key file, creating it for name when
// missing.
func witnessSignerKey(path, name string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return string(b), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("--key-file: %w", err)
	}
	if name == "" {
		return "", fmt.Errorf("--key-file %s does not exist: give --name to create it", path)
	}
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", fmt.Errorf("generate witness key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("--key-file: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("--key-file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("--key-file: %w", err)
	}
	return skey, nil
}

func runWitness(cmd *cobra.Command, f witnessFlags) error {
	logs := splitList(f.logs)
	if len(logs) == 0 {
		return errors.New("--log: give the verifier key of at least one log to cosign")
	}
	skey, err := witnessSignerKey(f.keyFile, f.name)
	if err != nil {
		return err
	}
	signer, err := witness.NewSigner(skey)
	if err != nil {
		return err
	}
	if f.name != "" && signer.Name() != f.name {
		return fmt.Errorf("--name %s, but --key-file holds the key of %s", f.name, signer.Name())
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv, err := witness.NewServer(witness.ServerConfig{Signer: signer, Logs: logs, StateFile: f.stateFile, Logger: logger})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "agentledger witness is running\n")
	fmt.Fprintf(out, "  listening:       http://%s/add-checkpoint\n", ln.Addr())
	fmt.Fprintf(out, "  cosignature key: %s\n", srv.VerifierKey())
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-cmd.Context().Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}

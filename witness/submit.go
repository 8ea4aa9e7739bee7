package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"golang.org/x/mod/sumdb/note"
)

// Defaults of SubmitterConfig.
const (
	// DefaultTimeout bounds one add-checkpoint request, as Tessera's
	// witness client does.
	DefaultTimeout = 5 * time.Second
	// DefaultRetryInterval is how often the submitter tries again when no
	// new checkpoint wakes it: a witness that was down cosigns the latest
	// checkpoint this long after it is back, at most.
	DefaultRetryInterval = 5 * time.Second
)

// Witness is a witness the log submits its checkpoints to.
type Witness struct {
	// URL is the witness's base URL; requests go to URL + "/add-checkpoint".
	URL string
	// Key is the witness's cosignature verifier key "<name>+<hash>+<key>".
	Key string
	v   note.Verifier
}

// ParseWitness parses "URL,KEY", as serve --witness takes it.
func ParseWitness(s string) (Witness, error) {
	u, key, ok := strings.Cut(s, ",")
	if !ok {
		return Witness{}, fmt.Errorf("witness %q: want URL,KEY", s)
	}
	return NewWitness(u, key)
}

// NewWitness returns the witness at base URL u with cosignature key vkey.
func NewWitness(u, vkey string) (Witness, error) {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return Witness{}, fmt.Errorf("witness URL %q: want http(s)://host[/path]", u)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		return Witness{}, err
	}
	return Witness{URL: strings.TrimSuffix(u, "/"), Key: strings.TrimSpace(vkey), v: v}, nil
}

// Name returns the witness's key name, the name on its cosignature lines.
func (w Witness) Name() string { return w.v.Name() }

// Store is what the submitter needs of the ledger's database: the latest
// signed checkpoint, the tree head and tiles its consistency proofs are
// read from, and the cosignatures table. The Postgres and SQLite stores
// implement it.
type Store interface {
	ledger.TreeReader
	LatestCheckpoint(ctx context.Context) (ledger.Checkpoint, error)
	CosignatureStore
}

// CosignatureStore keeps the cosignatures of checkpoints.
type CosignatureStore interface {
	// AddCosignature stores a verified cosignature line of the checkpoint of
	// size by the witness key witness, once.
	AddCosignature(ctx context.Context, size uint64, witness, line string, at time.Time) error
	// Cosignatures returns the cosignature lines stored for the checkpoint
	// of size.
	Cosignatures(ctx context.Context, size uint64) ([]string, error)
}

// SubmitterConfig configures a Submitter.
type SubmitterConfig struct {
	// Store is the log's database. Required.
	Store Store
	// Witnesses are the witnesses to submit to. Required, at least one.
	Witnesses []Witness
	// Timeout bounds one request to one witness. Zero means DefaultTimeout.
	Timeout time.Duration
	// RetryInterval is how often the latest checkpoint is submitted again
	// to witnesses that have not cosigned it. Zero means
	// DefaultRetryInterval.
	RetryInterval time.Duration
	// Client sends the requests. Nil means a client of its own.
	Client *http.Client
	// Logger receives failures. Nil means slog.Default().
	Logger *slog.Logger
}

// Status is what the submitter knows of one witness.
type Status struct {
	Witness Witness
	// Size is the size of the latest checkpoint the witness cosigned for
	// this process, or that it reported as its own.
	Size uint64
	// Up reports whether the latest submission succeeded. It is true before
	// the first one.
	Up bool
	// Err is the latest failure, when not Up.
	Err string
	// Failures counts failed submissions.
	Failures uint64
}

// Submitter submits each new checkpoint to the witnesses and stores their
// cosignatures. It runs off the append path: a witness that is down or slow
// delays nothing but its own cosignature.
type Submitter struct {
	cfg    SubmitterConfig
	client *http.Client
	logger *slog.Logger
	wake   chan struct{}

	mu     sync.Mutex
	status []Status
}

// NewSubmitter validates cfg and returns a submitter. Call Run to start it.
func NewSubmitter(cfg SubmitterConfig) (*Submitter, error) {
	if cfg.Store == nil {
		return nil, errors.New("witness submitter: store is required")
	}
	if len(cfg.Witnesses) == 0 {
		return nil, errors.New("witness submitter: no witnesses")
	}
	if cfg.Timeout < 0 || cfg.RetryInterval < 0 {
		return nil, errors.New("witness submitter: negative timeout or retry interval")
	}
	seen := map[string]bool{}
	for _, w := range cfg.Witnesses {
		if w.v == nil {
			return nil, fmt.Errorf("witness submitter: witness %s was not made by NewWitness", w.URL)
		}
		if seen[w.Name()] {
			return nil, fmt.Errorf("witness submitter: two witness keys named %s (cosignature lines are told apart by name)", w.Name())
		}
		seen[w.Name()] = true
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	s := &Submitter{cfg: cfg, client: cfg.Client, logger: cfg.Logger, wake: make(chan struct{}, 1)}
	if s.client == nil {
		s.client = &http.Client{}
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	for _, w := range cfg.Witnesses {
		s.status = append(s.status, Status{Witness: w, Up: true})
	}
	return s, nil
}

// Notify wakes the submitter: a new checkpoint was signed. It never blocks.
func (s *Submitter) Notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run submits the latest checkpoint whenever Notify wakes it and every
// RetryInterval, until ctx ends.
func (s *Submitter) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.RetryInterval)
	defer t.Stop()
	for {
		s.Submit(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// Submit submits the latest checkpoint to every witness that has not
// cosigned it, at once, and returns when all have answered or timed out.
// It reports how many witnesses cosign the latest checkpoint.
func (s *Submitter) Submit(ctx context.Context) int {
	cp, err := s.cfg.Store.LatestCheckpoint(ctx)
	if err != nil {
		if !errors.Is(err, ledger.ErrNotFound) {
			s.logger.Error("witness: read latest checkpoint", "err", err)
		}
		return 0
	}
	have, err := s.cfg.Store.Cosignatures(ctx, cp.Size)
	if err != nil {
		s.logger.Error("witness: read cosignatures", "err", err)
		return 0
	}
	var wg sync.WaitGroup
	done := make([]bool, len(s.cfg.Witnesses))
	for i, w := range s.cfg.Witnesses {
		if hasLine(have, w) {
			done[i] = true
			continue
		}
		wg.Go(func() {
			err := s.submitOne(ctx, i, w, cp)
			s.mu.Lock()
			st := &s.status[i]
			if err != nil {
				st.Up, st.Err = false, err.Error()
				st.Failures++
			} else {
				st.Up, st.Err = true, ""
				done[i] = true
			}
			s.mu.Unlock()
			if err != nil {
				s.logger.Warn("witness: checkpoint not cosigned", "witness", w.URL, "size", cp.Size, "err", err)
			}
		})
	}
	wg.Wait()
	n := 0
	for _, d := range done {
		if d {
			n++
		}
	}
	return n
}

// hasLine reports whether lines hold a cosignature line by w's key name.
// The stored lines were verified when stored.
func hasLine(lines []string, w Witness) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, "— "+w.Name()+" ") {
			return true
		}
	}
	return false
}

// Status returns what the submitter knows of each witness, in the order
// of the configuration.
func (s *Submitter) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Status(nil), s.status...)
}

// Degraded returns the URLs of the witnesses whose latest submission
// failed.
func (s *Submitter) Degraded() []string {
	var out []string
	for _, st := range s.Status() {
		if !st.Up {
			out = append(out, st.Witness.URL)
		}
	}
	return out
}

// errConflict is a 409 answer: the witness's latest size of the log.
type errConflict struct{ size uint64 }

func (e *errConflict) Error() string {
	return fmt.Sprintf("witness has size %d", e.size)
}

func (s *Submitter) submitOne(ctx context.Context, i int, w Witness, cp ledger.Checkpoint) error {
	s.mu.Lock()
	old := s.status[i].Size
	s.mu.Unlock()
	for attempt := 0; attempt < 3; attempt++ {
		if old > cp.Size {
			return fmt.Errorf("witness has size %d, beyond the latest checkpoint %d (another writer's newer checkpoint; the next one is submitted)", old, cp.Size)
		}
		line, err := s.post(ctx, w, old, cp)
		var conflict *errConflict
		if errors.As(err, &conflict) {
			old = conflict.size
			s.mu.Lock()
			s.status[i].Size = old
			s.mu.Unlock()
			continue
		}
		if err != nil {
			return err
		}
		if err := s.cfg.Store.AddCosignature(ctx, cp.Size, w.Key, line, time.Now().UTC()); err != nil {
			return fmt.Errorf("store cosignature: %w", err)
		}
		s.mu.Lock()
		s.status[i].Size = cp.Size
		s.mu.Unlock()
		return nil
	}
	return errors.New("witness size kept changing")
}

// post sends one add-checkpoint request and returns the verified
// cosignature line.
func (s *Submitter) post(ctx context.Context, w Witness, old uint64, cp ledger.Checkpoint) (string, error) {
	var proof [][]byte
	if old > 0 && old < cp.Size {
		p, err := ledger.ConsistencyProof(ctx, s.cfg.Store, old, cp.Size)
		if err != nil {
			return "", fmt.Errorf("consistency proof from %d: %w", old, err)
		}
		proof = p
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL+"/add-checkpoint", bytes.NewReader(FormatRequest(old, proof, cp.Note)))
	if err != nil {
		return "", fmt.Errorf("add-checkpoint request: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("add-checkpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return "", fmt.Errorf("add-checkpoint: read answer: %w", err)
	}
	if len(body) > MaxResponseBytes {
		return "", fmt.Errorf("add-checkpoint: answer over %d bytes", MaxResponseBytes)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		if resp.Header.Get("Content-Type") == SizeContentType {
			n, err := strconv.ParseUint(strings.TrimSpace(string(body)), 10, 64)
			if err == nil {
				return "", &errConflict{size: n}
			}
		}
		return "", fmt.Errorf("add-checkpoint: 409 without the witness's size: %q", truncate(body))
	default:
		return "", fmt.Errorf("add-checkpoint: %s: %q", resp.Status, truncate(body))
	}
	// The answer holds one signature line per witness key; keep ours.
	var lastErr error
	for _, l := range strings.SplitAfter(string(body), "\n") {
		if l == "" {
			continue
		}
		line, err := CheckCosignature(cp.Note, l, w.v)
		if err == nil {
			return line, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = errors.New("empty answer")
	}
	return "", fmt.Errorf("add-checkpoint: no valid cosignature of %s: %w", w.Name(), lastErr)
}

func truncate(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// Attach returns the checkpoint note with the stored cosignature lines
// appended: a signed note with several signatures, as signed-note allows.
func Attach(ctx context.Context, store CosignatureStore, cp ledger.Checkpoint) ([]byte, error) {
	lines, err := store.Cosignatures(ctx, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("attach cosignatures: %w", err)
	}
	out := append([]byte(nil), cp.Note...)
	for _, l := range lines {
		out = append(out, l...)
	}
	return out, nil
}

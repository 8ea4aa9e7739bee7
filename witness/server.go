package witness

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"filippo.io/torchwood"
	"github.com/agentledger/agentledger/ledger"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// ServerConfig configures a witness Server.
type ServerConfig struct {
	// Signer cosigns checkpoints. Required.
	Signer *torchwood.CosignatureSigner
	// Logs are the verifier keys of the logs this witness cosigns, one per
	// origin. Required, at least one.
	Logs []string
	// StateFile keeps the latest cosigned size and root of each log. It is
	// created when missing and replaced atomically (write, fsync, rename)
	// before each cosignature is returned. Required.
	StateFile string
	// Logger receives one line per cosignature and each failure to persist.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// NewSigner returns the cosignature signer of a note signer key
// "PRIVATE+KEY+<name>+<hash>+<key>" holding an Ed25519 seed, as
// ledger.GenerateKey writes.
func NewSigner(skey string) (*torchwood.CosignatureSigner, error) {
	parts := strings.SplitN(strings.TrimSpace(skey), "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return nil, errors.New("witness key: want PRIVATE+KEY+<name>+<hash>+<key>")
	}
	if _, err := note.NewSigner(strings.TrimSpace(skey)); err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	key, err := decodeSeed(parts[4])
	if err != nil {
		return nil, err
	}
	s, err := torchwood.NewCosignatureSigner(parts[2], ed25519.NewKeyFromSeed(key))
	if err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	return s, nil
}

// state is the witness's state file.
type state struct {
	Logs map[string]logState `json:"logs"`
}

// logState is the latest checkpoint of one log the witness cosigned.
type logState struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root,omitempty"`
}

// Server is a C2SP tlog-witness witness: POST /add-checkpoint.
type Server struct {
	signer *torchwood.CosignatureSigner
	logs   map[string]note.Verifier // by origin
	path   string
	logger *slog.Logger

	mu    sync.Mutex // serialises check, persist and cosign
	state state
}

// NewServer validates cfg, reads the state file and returns the server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Signer == nil {
		return nil, errors.New("witness: signer is required")
	}
	if cfg.StateFile == "" {
		return nil, errors.New("witness: state file is required")
	}
	if len(cfg.Logs) == 0 {
		return nil, errors.New("witness: no logs to cosign")
	}
	s := &Server{signer: cfg.Signer, logs: map[string]note.Verifier{}, path: cfg.StateFile, logger: cfg.Logger}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	for _, k := range cfg.Logs {
		v, err := note.NewVerifier(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("witness: log key %q: %w", k, err)
		}
		if _, dup := s.logs[v.Name()]; dup {
			return nil, fmt.Errorf("witness: two keys for log %s", v.Name())
		}
		s.logs[v.Name()] = v
	}
	b, err := os.ReadFile(cfg.StateFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.state.Logs = map[string]logState{}
	case err != nil:
		return nil, fmt.Errorf("witness: read state: %w", err)
	default:
		if err := json.Unmarshal(b, &s.state); err != nil {
			return nil, fmt.Errorf("witness: parse state file %s: %w", cfg.StateFile, err)
		}
		if s.state.Logs == nil {
			s.state.Logs = map[string]logState{}
		}
	}
	return s, nil
}

// VerifierKey returns the witness's cosignature verifier key, which logs
// pass to serve --witness and verifiers to --witness.
func (s *Server) VerifierKey() string { return s.signer.Verifier().String() }

// ServeHTTP serves POST /add-checkpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/add-checkpoint" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "want POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		http.Error(w, fmt.Sprintf("request body: %v", err), http.StatusRequestEntityTooLarge)
		return
	}
	line, code, msg := s.add(body)
	switch code {
	case http.StatusOK:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, line)
	case http.StatusConflict:
		w.Header().Set("Content-Type", SizeContentType)
		w.WriteHeader(code)
		io.WriteString(w, msg+"\n")
	default:
		http.Error(w, msg, code)
	}
}

// add checks a request and cosigns. It returns the cosignature line, or
// the status code and message of the refusal (for 409, the witness's size).
func (s *Server) add(body []byte) (string, int, string) {
	old, proof, msg, err := ParseRequest(body)
	if err != nil {
		return "", http.StatusBadRequest, err.Error()
	}
	origin, _, _ := strings.Cut(string(msg), "\n")
	v, ok := s.logs[origin]
	if !ok {
		return "", http.StatusNotFound, "unknown log"
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return "", http.StatusForbidden, "checkpoint is not signed by the log's key"
	}
	var cp log.Checkpoint
	rest, err := cp.Unmarshal([]byte(n.Text))
	if err != nil || len(rest) != 0 || cp.Origin != origin || len(cp.Hash) != ledger.HashSize {
		return "", http.StatusBadRequest, "malformed checkpoint"
	}
	if cp.Size < old {
		return "", http.StatusBadRequest, "checkpoint is smaller than the old size"
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state.Logs[origin]
	if old != st.Size {
		return "", http.StatusConflict, strconv.FormatUint(st.Size, 10)
	}
	switch {
	case old == 0:
		if len(proof) != 0 {
			return "", http.StatusUnprocessableEntity, "a proof from size 0"
		}
	default:
		if err := ledger.VerifyConsistency(old, cp.Size, st.Root, cp.Hash, proof); err != nil {
			return "", http.StatusUnprocessableEntity, "consistency proof: " + err.Error()
		}
	}
	if cp.Size > st.Size || st.Root == nil {
		s.state.Logs[origin] = logState{Size: cp.Size, Root: cp.Hash}
		if err := s.persist(); err != nil {
			s.state.Logs[origin] = st
			s.logger.Error("witness: persist state", "err", err)
			return "", http.StatusInternalServerError, "cannot persist state"
		}
	}
	sig, err := s.signer.Sign([]byte(n.Text))
	if err != nil {
		s.logger.Error("witness: cosign", "err", err)
		return "", http.StatusInternalServerError, "cannot cosign"
	}
	s.logger.Info("witness: cosigned", "origin", origin, "size", cp.Size)
	return sigLine(s.signer.Name(), s.signer.KeyHash(), sig), http.StatusOK, ""
}

// persist writes the state file atomically: a temporary file in the same
// directory, fsynced, renamed over the old one, and the directory fsynced.
func (s *Server) persist() error {
	b, err := json.MarshalIndent(&s.state, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, ".witness-state-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := io.Copy(f, bytes.NewReader(b)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

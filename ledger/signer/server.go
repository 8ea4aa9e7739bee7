package signer

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/agentledger/agentledger/ledger/index"
)

// Server is the signer process: it holds the log's key and signs, for any
// client of its socket, checkpoints that never go back and index notes.
// The size and root of the last checkpoint it signed are kept in a state
// file, written before the signature leaves the process.
type Server struct {
	signer    note.Signer
	vkey      string
	statePath string
	logger    *slog.Logger

	mu       sync.Mutex
	haveLast bool
	lastSize uint64
	lastRoot []byte
}

// NewServer returns a Server for the signer key skey
// ("PRIVATE+KEY+<name>+<hash>+<key>") with its verifier key vkey, keeping
// its state in statePath.
func NewServer(skey, vkey, statePath string, logger *slog.Logger) (*Server, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, fmt.Errorf("signer key: %w", err)
	}
	srv := &Server{signer: s, vkey: vkey, statePath: statePath, logger: logger}
	b, err := os.ReadFile(statePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("signer state: %w", err)
	default:
		if err := srv.parseState(b); err != nil {
			return nil, fmt.Errorf("signer state %s: %w", statePath, err)
		}
	}
	return srv, nil
}

func (s *Server) parseState(b []byte) error {
	lines := strings.Split(string(b), "\n")
	if len(lines) != 3 || lines[2] != "" {
		return errors.New("want the size and the base64 root, one a line")
	}
	size, err := strconv.ParseUint(lines[0], 10, 64)
	if err != nil {
		return fmt.Errorf("size: %w", err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[1])
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	s.haveLast, s.lastSize, s.lastRoot = true, size, root
	return nil
}

// saveState writes the state file atomically and durably.
func (s *Server) saveState(size uint64, root []byte) error {
	tmp := s.statePath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%d\n%s\n", size, base64.StdEncoding.EncodeToString(root))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.statePath)
	}
	if err == nil {
		var d *os.File
		if d, err = os.Open(filepath.Dir(s.statePath)); err == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("save signer state: %w", err)
	}
	return nil
}

// sign signs msg if the policy allows it.
func (s *Server) sign(msg []byte) ([]byte, error) {
	switch firstLine(msg) {
	case index.NoteHeader:
		return s.signer.Sign(msg)
	case s.signer.Name():
	default:
		return nil, errNotAllowed
	}
	var cp log.Checkpoint
	rest, err := cp.Unmarshal(msg)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("checkpoint: want origin, size and root only: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.haveLast {
		if cp.Size < s.lastSize {
			return nil, fmt.Errorf("checkpoint of size %d is older than the last one signed, of size %d", cp.Size, s.lastSize)
		}
		if cp.Size == s.lastSize && !bytes.Equal(cp.Hash, s.lastRoot) {
			return nil, fmt.Errorf("checkpoint of size %d with another root than the one signed at that size", cp.Size)
		}
	}
	if !s.haveLast || cp.Size != s.lastSize {
		if err := s.saveState(cp.Size, cp.Hash); err != nil {
			return nil, err
		}
		s.haveLast, s.lastSize, s.lastRoot = true, cp.Size, cp.Hash
	}
	return s.signer.Sign(msg)
}

// Serve answers requests on l until it is closed.
func (s *Server) Serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.handle(c)
	}
}

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	op, err := br.ReadByte()
	if err != nil {
		return
	}
	var body []byte
	switch op {
	case opKey:
		body = []byte(s.vkey)
	case opSign:
		msg, ferr := readFrame(br)
		if ferr != nil {
			err = ferr
			break
		}
		body, err = s.sign(msg)
		if err != nil {
			s.logger.Warn("refused to sign", "err", err)
		}
	default:
		err = fmt.Errorf("unknown request %q", op)
	}
	status := byte(0)
	if err != nil {
		status, body = 1, []byte(err.Error())
	}
	ans := binary.BigEndian.AppendUint32([]byte{status}, uint32(len(body)))
	c.Write(append(ans, body...))
}

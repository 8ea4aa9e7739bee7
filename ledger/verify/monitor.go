package verify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/agentledger/agentledger/ledger"
)

// Misbehavior kinds.
const (
	// Rollback: the log signed a checkpoint of a smaller tree after a
	// larger one.
	Rollback = "rollback"
	// Fork: the log signed two different trees of one size, or a larger
	// tree that does not extend an earlier one (split view).
	Fork = "fork"
)

// Misbehavior is evidence that a log broke its promise to only ever append:
// two checkpoints it signed that no append-only log can have signed both
// of. Old and New are the signed notes, which anyone can check with the
// log's verifier key.
type Misbehavior struct {
	Kind     string
	Old, New *ledger.VerifiedCheckpoint
	OldNote  []byte
	NewNote  []byte
	// Proof is the consistency proof the log served, when there was one,
	// and Err why it failed.
	Proof [][]byte
	Err   error
}

func (m *Misbehavior) Error() string {
	switch {
	case m.Kind == Rollback:
		return fmt.Sprintf("log %s rolled back: it signed checkpoint %s after checkpoint %s", m.Old.Origin, describe(m.New), describe(m.Old))
	case m.Err != nil:
		return fmt.Sprintf("log %s forked: %v", m.Old.Origin, m.Err)
	default:
		return fmt.Sprintf("log %s forked: it signed two different trees of size %d: checkpoints %s and %s", m.Old.Origin, m.Old.Size, describe(m.Old), describe(m.New))
	}
}

// CheckAdvance decides whether the log may move from the checkpoint
// oldNote (the last one a monitor accepted; nil for none) to newNote, both
// verified with vkey. proof is the consistency proof from the old tree to
// the new one; it is needed only when the new tree is larger. It returns
// the new checkpoint, or a *Misbehavior for a rollback or a fork, or
// another error when a note does not verify. oldKeys are keys the log had
// before a rotation to vkey: oldNote may be signed by one of them.
func CheckAdvance(oldNote, newNote []byte, vkey string, proof [][]byte, oldKeys ...string) (*ledger.VerifiedCheckpoint, error) {
	cur, err := Checkpoint(newNote, vkey)
	if err != nil {
		return nil, fmt.Errorf("new %w", err)
	}
	if oldNote == nil {
		return cur, nil
	}
	old, err := checkpointByAny(oldNote, vkey, oldKeys)
	if err != nil {
		return nil, fmt.Errorf("stored %w", err)
	}
	mb := &Misbehavior{Old: old, New: cur, OldNote: oldNote, NewNote: newNote, Proof: proof}
	switch {
	case cur.Size < old.Size:
		mb.Kind = Rollback
		return nil, mb
	case cur.Size == old.Size:
		if cur.Root != old.Root {
			mb.Kind = Fork
			return nil, mb
		}
		return cur, nil
	}
	if err := consistency(old, cur, proof); err != nil {
		mb.Kind, mb.Err = Fork, err
		return nil, mb
	}
	return cur, nil
}

// Advance is what one poll of a Monitor saw.
type Advance struct {
	// Old is the checkpoint the state held, nil on the first poll.
	Old *ledger.VerifiedCheckpoint
	// New is the latest checkpoint, verified and now stored.
	New *ledger.VerifiedCheckpoint
}

// Grew reports whether the tree grew since the stored checkpoint.
func (a *Advance) Grew() bool { return a.Old == nil || a.New.Size > a.Old.Size }

// Monitor follows a log's checkpoints: each Poll verifies the latest
// checkpoint, proves it consistent with the last one accepted, and stores
// it in a state file.
type Monitor struct {
	// Client fetches checkpoints and consistency proofs; its VerifierKey
	// verifies them. Consistency proofs need a token with the auditor role.
	Client *Client
	// StatePath is the file that holds the last accepted checkpoint note.
	StatePath string
	// OldKeys are the log's keys before a rotation to the client's key
	// (verified rotations: see Rotation); the stored checkpoint may be
	// signed by one of them.
	OldKeys []string
}

// checkpointByAny verifies note with vkey, or else with one of oldKeys.
func checkpointByAny(note []byte, vkey string, oldKeys []string) (*ledger.VerifiedCheckpoint, error) {
	cp, err := Checkpoint(note, vkey)
	for i := len(oldKeys) - 1; err != nil && i >= 0; i-- {
		if c, oerr := Checkpoint(note, oldKeys[i]); oerr == nil {
			return c, nil
		}
	}
	return cp, err
}

// Poll fetches the latest checkpoint and checks it against the stored one.
// A rollback or fork is returned as a *Misbehavior, and the state is left
// as it was, holding the evidence's old checkpoint.
func (m *Monitor) Poll(ctx context.Context) (*Advance, error) {
	oldNote, err := LoadState(m.StatePath)
	if err != nil {
		return nil, err
	}
	newNote, err := m.Client.LatestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := Checkpoint(newNote, m.Client.VerifierKey); err == nil {
		if err := m.Client.checkPolicy(newNote); err != nil {
			return nil, err
		}
	}
	var (
		old   *ledger.VerifiedCheckpoint
		proof [][]byte
	)
	if oldNote != nil {
		if old, err = checkpointByAny(oldNote, m.Client.VerifierKey, m.OldKeys); err != nil {
			return nil, fmt.Errorf("state %s: %w", m.StatePath, err)
		}
		cur, err := Checkpoint(newNote, m.Client.VerifierKey)
		if err != nil {
			return nil, fmt.Errorf("%s/checkpoint: %w", m.Client.BaseURL, err)
		}
		if old.Size > 0 && cur.Size > old.Size {
			if proof, err = m.Client.ConsistencyProof(ctx, old.Size, cur.Size); err != nil {
				return nil, fmt.Errorf("consistency proof from %d to %d: %w", old.Size, cur.Size, err)
			}
		}
	}
	cur, err := CheckAdvance(oldNote, newNote, m.Client.VerifierKey, proof, m.OldKeys...)
	if err != nil {
		return nil, err
	}
	if old == nil || cur.Size != old.Size {
		if err := SaveState(m.StatePath, newNote); err != nil {
			return nil, err
		}
	}
	return &Advance{Old: old, New: cur}, nil
}

// LoadState reads the checkpoint note a monitor stored, nil if there is
// none yet.
func LoadState(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read monitor state: %w", err)
	}
	return b, nil
}

// SaveState stores a checkpoint note atomically: it writes a temporary file
// (mode 0600) beside path, syncs it and renames it over path, so that a
// crash leaves the old state or the new one, never a mix.
func SaveState(path string, note []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("save monitor state: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("save monitor state: %w", err)
	}
	if _, err := f.Write(note); err != nil {
		return fmt.Errorf("save monitor state: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save monitor state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save monitor state: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("save monitor state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename durable; not every file system supports it
		d.Close()
	}
	return nil
}

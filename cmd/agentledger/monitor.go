package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/verify"
)

// defaultMonitorInterval is how often monitor polls the checkpoint.
const defaultMonitorInterval = 10 * time.Second

func newMonitorCmd() *cobra.Command {
	var (
		kf        keyFlags
		url       string
		token     string
		state     string
		interval  time.Duration
		once      bool
		logFormat string
		withIndex bool
		wp        witnessPolicyFlags
	)
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Watch a log's checkpoints and report a fork or a rollback",
		Long: `monitor polls the server's /checkpoint, verifies its signature with --key,
and proves it consistent with the last checkpoint it accepted (kept in
--state) through /v1/proofs/consistency, which needs an auditor --token.
It then stores the new checkpoint in --state (written to a temporary file,
synced and renamed; mode 0600).

A rollback (a smaller tree than one the log signed before) or a fork (two
roots for one size, or a larger tree that does not extend the stored one:
a split view) is logged at ERROR with both signed checkpoints, which are
proof of the misbehaviour anyone can check with the log's key, and monitor
exits non-zero. The state keeps the old checkpoint. Errors fetching are
logged and retried at the next poll (with --once they fail the command).

With --witness KEY (repeatable) and --min-witnesses N, a checkpoint also
needs N valid cosignatures (c2sp.org/tlog-cosignature) of those witnesses,
which serve --witness collects and /checkpoint serves appended to the note.
A checkpoint without them (a log that hid it from its witnesses, or a
rewrite re-signed with the log's own key) is logged at ERROR as
UNWITNESSED CHECKPOINT and not accepted into --state; with --once monitor
exits non-zero.

With --index, monitor also replays the verifiable index from the entry
bundles and checks each index note the server signs: its tree root must be that of the served
entries and its map root the one they give, and it must never go back. A
wrong note is logged at ERROR as INDEX MISBEHAVIOR, with the signed note as
evidence, and monitor exits non-zero. The replayed index (the last note
verified, the tree's compact range and each key's list size and compact
range) is kept in <--state>.index, written like --state (a 0600 file
renamed into place), so that the next run replays only the entries since
the last verified note.`,
		Example: `  agentledger monitor --url https://ledger.example.com --token "$AUDITOR_TOKEN" --key-file ledger.vkey --state ledger.state`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := kf.verifierKeys()
			if err != nil {
				return err
			}
			vkey := keys[len(keys)-1]
			if url == "" || state == "" {
				return errors.New("--url and --state are required")
			}
			if interval <= 0 {
				return fmt.Errorf("--interval %v: want a positive duration", interval)
			}
			var h slog.Handler = slog.NewTextHandler(cmd.ErrOrStderr(), nil)
			if logFormat == "json" {
				h = slog.NewJSONHandler(cmd.ErrOrStderr(), nil)
			}
			policy, err := wp.policy()
			if err != nil {
				return err
			}
			m := &verify.Monitor{
				Client:    &verify.Client{BaseURL: url, Token: token, VerifierKey: vkey},
				StatePath: state,
				OldKeys:   keys[:len(keys)-1],
			}
			if policy != nil {
				m.Client.Policy = policy
			}
			var ix *verify.IndexReplayer
			if withIndex {
				ix = &verify.IndexReplayer{Client: m.Client, StatePath: state + ".index"}
			}
			return runMonitor(cmd.Context(), m, ix, slog.New(h), interval, once)
		},
	}
	kf.register(cmd)
	wp.register(cmd)
	cmd.Flags().StringVar(&url, "url", "", "the agentledger server's base URL")
	cmd.Flags().StringVar(&token, "token", "", "bearer token with the auditor role, for consistency proofs")
	cmd.Flags().StringVar(&state, "state", "", "file that keeps the last accepted checkpoint")
	cmd.Flags().DurationVar(&interval, "interval", defaultMonitorInterval, "how often to poll")
	cmd.Flags().BoolVar(&once, "once", false, "poll once and exit")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	cmd.Flags().BoolVar(&withIndex, "index", false, "also replay the verifiable index and check every index note")
	return withEnv(cmd)
}

// runMonitor polls until ctx ends, a misbehavior is found, or, with once,
// after one poll. With ix, each poll also checks the latest index note.
func runMonitor(ctx context.Context, m *verify.Monitor, ix *verify.IndexReplayer, logger *slog.Logger, interval time.Duration, once bool) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		adv, err := m.Poll(ctx)
		var mb *verify.Misbehavior
		var uw *verify.UnwitnessedError
		switch {
		case errors.As(err, &mb):
			logger.Error("LOG MISBEHAVIOR: "+mb.Kind+": the log signed two checkpoints that cannot both be true",
				"kind", mb.Kind,
				"old", cpString(mb.Old), "new", cpString(mb.New),
				"detail", mb.Error(),
				"old_checkpoint", string(mb.OldNote), "new_checkpoint", string(mb.NewNote),
				"proof", proofString(mb.Proof))
			return mb
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &uw):
			logger.Error("UNWITNESSED CHECKPOINT: signed by the log's key but without the cosignatures the witness policy asks for; not accepted",
				"detail", uw.Err.Error(), "checkpoint", string(uw.Note))
			if once {
				return err
			}
		case err != nil:
			logger.Warn("poll failed", "err", err)
			if once {
				return err
			}
		case adv.Old == nil:
			logger.Info("first checkpoint accepted (trusted on first use)", "checkpoint", cpString(adv.New), "state", m.StatePath)
		case adv.Grew():
			logger.Info("checkpoint consistent", "old", cpString(adv.Old), "new", cpString(adv.New))
		default:
			logger.Debug("checkpoint unchanged", "checkpoint", cpString(adv.New))
		}
		if err == nil && ix != nil {
			if err := checkIndex(ctx, ix, logger); err != nil {
				var im *verify.IndexMisbehavior
				if errors.As(err, &im) || once {
					return err
				}
			}
		}
		if once {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// checkIndex replays the index up to the latest index note and logs the
// outcome; a wrong note is logged as loudly as a fork.
func checkIndex(ctx context.Context, ix *verify.IndexReplayer, logger *slog.Logger) error {
	n, err := ix.Check(ctx)
	var im *verify.IndexMisbehavior
	switch {
	case errors.As(err, &im):
		logger.Error("INDEX MISBEHAVIOR: the log signed an index note its own entries contradict",
			"detail", im.Error(), "index_note", string(im.Note.Note))
	case err != nil:
		logger.Warn("index check failed", "err", err)
	default:
		logger.Info("index note matches the log's entries", "size", n.Size, "map_root", base64.StdEncoding.EncodeToString(n.MapRoot[:]),
			"replayed_from", ix.From)
	}
	return err
}

func cpString(cp *ledger.VerifiedCheckpoint) string {
	if cp == nil {
		return "(none)"
	}
	return fmt.Sprintf("%s@%d root=%s", cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Root[:]))
}

func proofString(p [][]byte) []string {
	out := make([]string, len(p))
	for i, h := range p {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/verify"
	"github.com/agentledger/agentledger/witness"
)

type verifyFlags struct {
	keyFlags
	witnesses witnessPolicyFlags
	// Offline.
	checkpoint, oldCheckpoint, leaf, proof string
	index                                  uint64
	indexSet                               bool
	// Online.
	url, token, credential string
	all, content           bool
	wait                   time.Duration
	policy                 *witness.Policy
	// Federated.
	federated bool
	trust     string
}

func newVerifyCmd() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify entries, proofs and checkpoints without trusting the server",
		Long: `verify checks what the ledger says against a checkpoint signed by the log's
key (--key or --key-file), which you pin: it never takes a tree size, a root
or a leaf hash from the server. It prints what it checked and exits 0 only
when everything verified.

Offline, from files:
  inclusion:    --checkpoint FILE --leaf FILE --index N --proof FILE
  consistency:  --old-checkpoint FILE --checkpoint FILE --proof FILE
The leaf file holds the raw leaf bytes, or the JSON of /v1/entries/{index}.
The proof file holds the JSON of /v1/proofs/inclusion or
/v1/proofs/consistency, or one base64 hash per line. "-" reads standard
input.

Online, from a server (--url, with an auditor or responder --token):
  --credential ID  fetches the credential's view and verifies every entry it
                   reports against the latest checkpoint: the leaf, the leaf
                   hash the view gives, the inclusion proof, and the facts
                   the view states about the entry (--content also checks
                   the content the view returns against its commitments).
  --all            follows the whole log through the tlog-tiles API:
                   recomputes every tile from the entry bundles and checks
                   the latest checkpoint's root. With --content it also
                   reads the content of every entry that commits to content
                   (the server records each read) and checks each piece the
                   token may read against its commitment; content the
                   server reports erased must be named by an erasure entry
                   of the checkpoint's tree, which it reports.

Federated, across the shards of a sharded deployment (--url of any shard
whose serve --federate names the others):
  --credential ID --federated --trust FILE
                   reads /v1/federation/credentials/ID and verifies every
                   shard's part with the key of the log it claims to be,
                   from the trust file (one verifier key per line, # for
                   comments), as --credential does, from the leaves and
                   proofs the part carries. It fails, naming each shard at
                   fault, when a shard did not answer, answers for a log the
                   file does not list, fails a proof or its completeness, or
                   when a log of the file has no shard in the answer.

Witnesses: with --witness KEY (repeatable) and --min-witnesses N (default:
all the keys given), the checkpoint (--checkpoint, or the server's latest)
must also carry N valid cosignatures (c2sp.org/tlog-cosignature) of those
witnesses, else verify fails: a log rewritten and re-signed with its own key
has none.`,
		Example: `  agentledger verify --key-file ledger.vkey --checkpoint cp.txt --leaf entry.json --index 41 --proof proof.json
  agentledger verify --key-file ledger.vkey --url https://ledger.example.com --token "$TOKEN" --credential AKIAIOSFODNN7EXAMPLE
  agentledger verify --key-file ledger.vkey --url https://ledger.example.com --token "$TOKEN" --all --content
  agentledger verify --trust shards.vkeys --url https://shard-a.example.com --token "$TOKEN" --credential AKIAIOSFODNN7EXAMPLE --federated`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			f.indexSet = cmd.Flags().Changed("index")
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVerify(cmd, &f)
		},
	}
	fl := cmd.Flags()
	f.keyFlags.register(cmd)
	f.witnesses.register(cmd)
	fl.StringVar(&f.checkpoint, "checkpoint", "", "signed checkpoint note file (offline)")
	fl.StringVar(&f.oldCheckpoint, "old-checkpoint", "", "older signed checkpoint note file, for a consistency proof (offline)")
	fl.StringVar(&f.leaf, "leaf", "", "leaf file: raw leaf bytes or the JSON of /v1/entries/{index} (offline)")
	fl.Uint64Var(&f.index, "index", 0, "the entry's index (offline)")
	fl.StringVar(&f.proof, "proof", "", "proof file: the API's JSON or one base64 hash per line (offline)")
	fl.StringVar(&f.url, "url", "", "the agentledger server's base URL (online)")
	fl.StringVar(&f.token, "token", "", "bearer token for the server (online)")
	fl.StringVar(&f.credential, "credential", "", "verify every entry of this credential's view (online)")
	fl.BoolVar(&f.all, "all", false, "verify the whole log through the tlog-tiles API (online)")
	fl.BoolVar(&f.content, "content", false, "with --credential or --all: also fetch and check content (the server records the read)")
	fl.DurationVar(&f.wait, "wait", 10*time.Second, "with --credential: how long to wait for a checkpoint, and the verifiable index, to cover new entries")
	fl.BoolVar(&f.federated, "federated", false, "with --credential: verify the federated view, every shard's part with its own log's key from --trust (online)")
	fl.StringVar(&f.trust, "trust", "", "with --federated: file of the verifier keys of every log the federated view must cover, one per line")
	return withEnv(cmd)
}

func runVerify(cmd *cobra.Command, f *verifyFlags) error {
	if f.federated || f.trust != "" {
		return verifyFederated(cmd, f)
	}
	vkey, err := f.verifierKey()
	if err != nil {
		return err
	}
	policy, err := f.witnesses.policy()
	if err != nil {
		return err
	}
	online := f.url != ""
	if policy != nil && !online && f.checkpoint != "" {
		if f.checkpoint == "-" {
			return errors.New("--witness: give --checkpoint as a file, not standard input")
		}
		b, err := readInput(cmd, f.checkpoint)
		if err != nil {
			return err
		}
		names, err := policy.Check(b)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "checkpoint cosigned by %d witnesses: %s\n", len(names), strings.Join(names, ", "))
	}
	f.policy = policy
	offline := f.checkpoint != "" || f.oldCheckpoint != "" || f.leaf != "" || f.proof != "" || f.indexSet
	switch {
	case online && offline:
		return errors.New("give either --url (online) or files (offline), not both")
	case online:
		if f.credential == "" && !f.all {
			return errors.New("with --url, give --credential ID and/or --all")
		}
		return verifyOnline(cmd, f, vkey)
	case f.credential != "" || f.all:
		return errors.New("--credential and --all need --url")
	case f.checkpoint == "":
		return errors.New("nothing to verify: give --checkpoint and a proof, or --url (see --help)")
	case f.oldCheckpoint != "":
		if f.leaf != "" || f.indexSet {
			return errors.New("a consistency proof takes --old-checkpoint, --checkpoint and --proof, no --leaf or --index")
		}
		return verifyConsistency(cmd, f, vkey)
	case f.leaf != "" || f.indexSet || f.proof != "":
		if f.leaf == "" || !f.indexSet || f.proof == "" {
			return errors.New("an inclusion proof takes --checkpoint, --leaf, --index and --proof")
		}
		return verifyInclusion(cmd, f, vkey)
	default:
		return verifyCheckpointOnly(cmd, f, vkey)
	}
}

// readInput reads a file, or standard input for "-".
func readInput(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func openCheckpointFile(cmd *cobra.Command, path, vkey string) ([]byte, *ledger.VerifiedCheckpoint, error) {
	b, err := readInput(cmd, path)
	if err != nil {
		return nil, nil, err
	}
	cp, err := verify.Checkpoint(b, vkey)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, cp, nil
}

func printCheckpoint(cmd *cobra.Command, what string, cp *ledger.VerifiedCheckpoint) {
	fmt.Fprintf(cmd.OutOrStdout(), "%s: log %s, tree size %d, root %s: signature valid\n",
		what, cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Root[:]))
}

func verifyCheckpointOnly(cmd *cobra.Command, f *verifyFlags, vkey string) error {
	_, cp, err := openCheckpointFile(cmd, f.checkpoint, vkey)
	if err != nil {
		return err
	}
	printCheckpoint(cmd, "checkpoint", cp)
	fmt.Fprintln(cmd.OutOrStdout(), "verified")
	return nil
}

func verifyInclusion(cmd *cobra.Command, f *verifyFlags, vkey string) error {
	note, cp, err := openCheckpointFile(cmd, f.checkpoint, vkey)
	if err != nil {
		return err
	}
	printCheckpoint(cmd, "checkpoint", cp)
	raw, err := readInput(cmd, f.leaf)
	if err != nil {
		return err
	}
	leaf, err := verify.ParseLeaf(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", f.leaf, err)
	}
	rawProof, err := readInput(cmd, f.proof)
	if err != nil {
		return err
	}
	p, err := verify.ParseProof(rawProof)
	if err != nil {
		return fmt.Errorf("%s: %w", f.proof, err)
	}
	if err := verify.Inclusion(note, vkey, leaf, f.index, p); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	lh := ledger.LeafHash(leaf)
	fmt.Fprintf(out, "entry %d: leaf of %d bytes, leaf hash %x: included in the tree of size %d (proof of %d hashes)\n",
		f.index, len(leaf), lh, cp.Size, len(p))
	if d, err := ledger.DecodeLeaf(leaf); err != nil {
		fmt.Fprintf(out, "note: the leaf does not decode as an agentledger leaf: %v\n", err)
	} else {
		fmt.Fprintf(out, "entry %d: kind %s, name %q, trace %s, %d attributes, %d content commitments\n",
			f.index, d.Entry.Kind, d.Entry.Name, orNone(d.Entry.TraceID), len(d.Entry.Attrs), len(d.Commitments))
	}
	fmt.Fprintln(out, "verified")
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func verifyConsistency(cmd *cobra.Command, f *verifyFlags, vkey string) error {
	oldNote, old, err := openCheckpointFile(cmd, f.oldCheckpoint, vkey)
	if err != nil {
		return err
	}
	newNote, cur, err := openCheckpointFile(cmd, f.checkpoint, vkey)
	if err != nil {
		return err
	}
	printCheckpoint(cmd, "old checkpoint", old)
	printCheckpoint(cmd, "new checkpoint", cur)
	var p [][]byte
	if f.proof != "" {
		raw, err := readInput(cmd, f.proof)
		if err != nil {
			return err
		}
		if p, err = verify.ParseProof(raw); err != nil {
			return fmt.Errorf("%s: %w", f.proof, err)
		}
	}
	if err := verify.Consistency(oldNote, newNote, vkey, p); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "the tree of size %d extends the tree of size %d (proof of %d hashes)\nverified\n", cur.Size, old.Size, len(p))
	return nil
}

func verifyOnline(cmd *cobra.Command, f *verifyFlags, vkey string) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	c := &verify.Client{BaseURL: f.url, Token: f.token, VerifierKey: vkey}
	if f.policy != nil {
		c.Policy = f.policy
	}
	if f.credential != "" {
		rep, err := c.VerifyCredential(ctx, f.credential, verify.CredentialOptions{Wait: f.wait, Content: f.content})
		if rep != nil && rep.Checkpoint != nil {
			printCheckpoint(cmd, "checkpoint", rep.Checkpoint)
		}
		if err != nil {
			return fmt.Errorf("credential %q: %w", f.credential, err)
		}
		fmt.Fprintf(out, "credential %q: %d entries verified (leaf, leaf hash, inclusion proof) from %d page(s) of its view: %s\n",
			f.credential, len(rep.Entries), rep.Pages, joinIndices(rep.Entries))
		fmt.Fprintf(out, "credential %q: facts of %d entry objects match their leaves; %d pieces of content match their commitments\n",
			f.credential, rep.Facts, rep.Content)
		fmt.Fprintf(out, "credential %q: the view is %s: the signed index lists %d entries for it\n",
			f.credential, rep.Complete, rep.Complete.Indexed[ledger.Ref{Key: ledger.RefCredential, Value: f.credential}.String()])
		if u := rep.Complete.Unindexed; len(u) > 0 {
			fmt.Fprintf(out, "credential %q: %d entries of the view are newer than the index, not yet covered: %s\n", f.credential, len(u), joinIndices(u))
		}
	}
	if f.all {
		last := time.Now()
		rep, err := c.VerifyAll(ctx, verify.AllOptions{Content: f.content, Progress: func(n uint64) {
			if time.Since(last) >= 2*time.Second {
				last = time.Now()
				fmt.Fprintf(cmd.ErrOrStderr(), "verify: %d entries read\n", n)
			}
		}})
		if rep != nil && rep.Checkpoint != nil {
			printCheckpoint(cmd, "checkpoint", rep.Checkpoint)
		}
		if err != nil {
			return fmt.Errorf("log: %w", err)
		}
		fmt.Fprintf(out, "log: %d entries read from entry bundles, hashed and decoded; %d tiles recomputed and compared; the root is the checkpoint's\n",
			rep.Entries, rep.Tiles)
		if f.content {
			fmt.Fprintf(out, "log: %d pieces of content match their commitments; %d erased; %d not returned to this token\n",
				rep.Content, len(rep.Erased), rep.Unread)
			for _, e := range rep.Erased {
				fmt.Fprintf(out, "entry %d: content %q erased by erasure entry %d\n", e.Entry, e.Name, e.By)
			}
		}
	}
	fmt.Fprintln(out, "verified")
	return nil
}

func joinIndices(is []uint64) string {
	const show = 20
	var b strings.Builder
	for i, x := range is {
		if i == show {
			fmt.Fprintf(&b, " … (%d more)", len(is)-show)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, x)
	}
	return b.String()
}

// Package audittest builds real Postgres ledgers for the auditor's tests and
// tampers with them as a superuser who bypasses the append-only triggers.
package audittest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/postgres"
)

// Origin is the log name of every fixture ledger.
const Origin = "example.com/audittest"

// Keys is a signer key and its verifier key.
type Keys struct {
	Signer, Verifier string
}

// NewKeys returns a fresh key pair for Origin.
func NewKeys(t testing.TB) Keys {
	t.Helper()
	s, v, err := ledger.GenerateKey(Origin)
	if err != nil {
		t.Fatal(err)
	}
	return Keys{Signer: s, Verifier: v}
}

// Ledger is a ledger in a Postgres schema of its own.
type Ledger struct {
	DSN   string
	Store *postgres.Store
	Keys  Keys
	// Checkpoints are the checkpoints signed while building, by size.
	Checkpoints []ledger.Checkpoint
	// Erased names the content erased while building.
	Erased ledger.ContentRef
}

// New builds a ledger of n entries (n ≥ 40) with content, erasing one piece
// of content (entry 5's "reasoning") after the first 40 entries, so that
// the tree has n+1 entries, and signing a checkpoint after every `every`
// entries and at the end. The schema is dropped when the test ends.
func New(t testing.TB, n, every int) *Ledger {
	t.Helper()
	dsn := pgtest.NewSchema(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	l := &Ledger{DSN: dsn, Store: s, Keys: NewKeys(t)}
	l.Append(t, 0, n, every, 40)
	return l
}

// Entry returns the i-th fixture entry of generation gen: the kinds cycle,
// and llm entries carry content. Times have nanoseconds, which Postgres
// does not keep.
func Entry(gen, i int) ledger.Entry {
	kinds := []ledger.Kind{ledger.KindLLM, ledger.KindTool, ledger.KindAPICall, ledger.KindCredential, ledger.KindSpan}
	e := ledger.Entry{
		Kind:    kinds[i%len(kinds)],
		TraceID: fmt.Sprintf("%08x%024x", gen, i/10),
		SpanID:  fmt.Sprintf("%016x", i+1),
		Name:    fmt.Sprintf("step %d", i),
		Start:   time.Unix(1_700_000_000+int64(i), 123_456_789).UTC(),
		End:     time.Unix(1_700_000_001+int64(i), 0).UTC(),
		Attrs:   []ledger.Attr{{Key: "n", Value: fmt.Sprint(i)}},
	}
	switch e.Kind {
	case ledger.KindLLM:
		e.Content = []ledger.Content{
			ledger.NewContent("input.messages", fmt.Appendf(nil, `[{"role":"user","content":"question %d"}]`, i)),
			ledger.NewContent("reasoning", fmt.Appendf(nil, "thinking about %d", i)),
		}
	case ledger.KindCredential:
		e.Attrs = append(e.Attrs, ledger.Attr{Key: ledger.AttrCredentialID, Value: fmt.Sprintf("cred-%d", i%3)})
	case ledger.KindAPICall:
		e.Attrs = append(e.Attrs, ledger.Attr{Key: ledger.AttrCredentialID, Value: fmt.Sprintf("cred-%d", i%3)},
			ledger.Attr{Key: ledger.AttrServerAddress, Value: "api.example.com"})
	}
	return e
}

// Append appends n entries of generation gen with a Log on the store,
// signing a checkpoint (and indexing it) after every `every` entries and
// when it closes the log. If eraseAt > 0 it erases entry 5's reasoning once eraseAt entries of
// this call are appended.
func (l *Ledger) Append(t testing.TB, gen, n, every, eraseAt int) {
	t.Helper()
	ctx := t.Context()
	signer, err := ledger.NewSigner(l.Keys.Signer)
	if err != nil {
		t.Fatal(err)
	}
	x := index.NewIndexer(l.Store, signer)
	lg, err := ledger.Open(l.Store, ledger.Config{Signer: signer, CheckpointInterval: time.Hour, Follower: x})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; {
		m := min(every-i%every, n-i)
		if eraseAt > 0 && i < eraseAt && i+m > eraseAt {
			m = eraseAt - i
		}
		es := make([]ledger.Entry, m)
		for j := range es {
			es[j] = Entry(gen, i+j)
		}
		if _, err := lg.Append(ctx, es); err != nil {
			t.Fatalf("append: %v", err)
		}
		i += m
		if eraseAt > 0 && i == eraseAt {
			l.Erased = ledger.ContentRef{Index: 5, Name: "reasoning"}
			if _, err := lg.Erase(ctx, []ledger.ContentRef{l.Erased}, "dpo@example.com", "test erasure"); err != nil {
				t.Fatalf("erase: %v", err)
			}
		}
		if i%every == 0 {
			if _, err := lg.Checkpoint(ctx); err != nil {
				t.Fatalf("checkpoint: %v", err)
			}
			if _, err := x.Update(ctx); err != nil {
				t.Fatalf("index: %v", err)
			}
		}
	}
	if err := lg.Close(ctx); err != nil {
		t.Fatalf("close log: %v", err)
	}
	cps, err := l.Store.Checkpoints(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	l.Checkpoints = cps
}

// Checkpoint returns the stored checkpoint of size.
func (l *Ledger) Checkpoint(t testing.TB, size uint64) ledger.Checkpoint {
	t.Helper()
	cp, err := l.Store.Checkpoint(t.Context(), size)
	if err != nil {
		t.Fatalf("checkpoint %d: %v", size, err)
	}
	return cp
}

// Tamper runs SQL statements in one transaction as the database superuser,
// with every trigger disabled (session_replication_role = replica).
func (l *Ledger) Tamper(t testing.TB, stmts ...string) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	conn, err := pgx.Connect(ctx, l.DSN)
	if err != nil {
		t.Fatalf("tamper: connect: %v", err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

// Truncate cuts the tree back to size as an attacker would: it deletes the
// entries from size on, rewrites the tiles and the tree head for the shorter
// tree, and keeps every checkpoint. The log can then grow again.
func (l *Ledger) Truncate(t testing.TB, size uint64) {
	t.Helper()
	ctx := t.Context()
	recs, err := l.Store.Records(ctx, 0, size)
	if err != nil {
		t.Fatal(err)
	}
	cr := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	tiles := make(map[ledger.TileID][]byte)
	var order []ledger.TileID
	for _, r := range recs {
		err := cr.Append(r.LeafHash[:], func(id compact.NodeID, h []byte) {
			if id.Level%ledger.TileHeight != 0 {
				return
			}
			tid := ledger.TileID{Level: uint8(id.Level / ledger.TileHeight), Index: id.Index / ledger.TileWidth}
			if _, ok := tiles[tid]; !ok {
				order = append(order, tid)
			}
			tiles[tid] = append(tiles[tid], h...)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	root, err := cr.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	var rng []byte
	for _, h := range cr.Hashes() {
		rng = append(rng, h...)
	}
	var latest uint64
	for _, cp := range l.Checkpoints {
		if cp.Size <= size {
			latest = cp.Size
		}
	}
	stmts := []string{
		fmt.Sprintf("DELETE FROM entries WHERE idx >= %d", size),
		fmt.Sprintf("DELETE FROM entry_refs WHERE idx >= %d", size),
		fmt.Sprintf("DELETE FROM content WHERE idx >= %d", size),
		"DELETE FROM tiles",
		fmt.Sprintf(`UPDATE tree_head SET size = %d, root = '\x%x', range = '\x%x', checkpoint_size = %d`, size, root, rng, latest),
	}
	for _, id := range order {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO tiles (level, idx, start, hashes) VALUES (%d, %d, 0, '\x%x')`, id.Level, id.Index, tiles[id]))
	}
	l.Tamper(t, stmts...)
}

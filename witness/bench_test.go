package witness_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/witness"
)

// BenchmarkCheckpointLatency measures, for single appends on a SQLite
// ledger with the default checkpoint interval (1 s), the time from the
// append's return until a signed checkpoint covering it is stored
// ("none"), and until it is also cosigned by two witnesses on loopback
// ("two-witnesses"). It reports p50 and p99 in milliseconds.
//
//	go test -run '^$' -bench CheckpointLatency -benchtime 20x ./witness/
func BenchmarkCheckpointLatency(b *testing.B) {
	for _, n := range []int{0, 2} {
		name := "none"
		if n == 2 {
			name = "two-witnesses"
		}
		b.Run(name, func(b *testing.B) {
			benchLatency(b, n)
		})
	}
}

func benchLatency(b *testing.B, witnesses int) {
	keys := audittest.NewKeys(b)
	store := backends["sqlite"](b)
	signer, err := ledger.NewSigner(keys.Signer)
	if err != nil {
		b.Fatal(err)
	}
	var sub *witness.Submitter
	cfg := ledger.Config{Signer: signer}
	if witnesses > 0 {
		var ws []witness.Witness
		for i := range witnesses {
			ws = append(ws, newTestWitness(b, fmt.Sprintf("example.com/w%d", i), keys.Verifier).w)
		}
		sub, err = witness.NewSubmitter(witness.SubmitterConfig{Store: store, Witnesses: ws})
		if err != nil {
			b.Fatal(err)
		}
		cfg.Published = func(ledger.Checkpoint) { sub.Notify() }
	}
	l, err := ledger.Open(store, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(context.Background())
	if sub != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); sub.Run(ctx) }()
		defer func() { cancel(); <-done }()
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx, err := l.Append(ctx, []ledger.Entry{audittest.Entry(7, i)})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		deadline := start.Add(30 * time.Second)
		for !covered(ctx, b, store, idx[0].Index, witnesses) {
			if time.Now().After(deadline) {
				b.Fatalf("entry %d not covered within 30s", idx[0].Index)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99-1)/100].Microseconds())/1000, "p99-ms")
}

// covered reports whether the latest checkpoint covers index and, with
// witnesses, carries that many cosignatures.
func covered(ctx context.Context, b *testing.B, store testStore, index uint64, witnesses int) bool {
	cp, err := store.LatestCheckpoint(ctx)
	if err != nil || cp.Size <= index {
		return false
	}
	if witnesses == 0 {
		return true
	}
	lines, err := store.Cosignatures(ctx, cp.Size)
	if err != nil {
		b.Fatal(err)
	}
	return len(lines) == witnesses
}

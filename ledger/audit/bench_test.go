package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/audit"
	"github.com/agentledger/agentledger/ledger/audit/audittest"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// benchSize is the size of the benchmarks' ledgers: 200 000 entries, or
// AGENTLEDGER_AUDIT_ENTRIES (5000000 for the audit at 5 M entries; the
// ledger is built with the Log's COPY-based appends in batches of 10 000,
// indexed as it grows, in a few minutes on a quiet machine).
func benchSize(b *testing.B) int {
	v := os.Getenv("AGENTLEDGER_AUDIT_ENTRIES")
	if v == "" {
		return 200_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 10_000 {
		b.Fatalf("AGENTLEDGER_AUDIT_ENTRIES=%q: want a number of entries, at least 10000", v)
	}
	return n
}

// BenchmarkAudit audits a ledger of benchSize entries (a fifth with two
// pieces of content) in Postgres and in SQLite, and reports entries/s
// beside its baseline: the time to just read the same rows (the records
// with their content, and the tiles the audit compares) through the same
// store, decoded into memory, with the same page size and concurrency, in
// the same run (read-entries/s, and audit/read, the ratio of the two
// times), and the CPU time this process spends per entry on each.
func BenchmarkAudit(b *testing.B) {
	b.Run("postgres", func(b *testing.B) {
		l := audittest.New(b, benchSize(b), 10_000)
		benchAudit(b, l.Store, l.Keys.Verifier)
	})
	b.Run("sqlite", func(b *testing.B) {
		s, keys := sqliteLedger(b, benchSize(b))
		benchAudit(b, s, keys.Verifier)
	})
}

func benchAudit(b *testing.B, r ledger.Reader, vkey string) {
	ctx := b.Context()
	head, err := r.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var auditTime, readTime, auditCPU, readCPU time.Duration
	for b.Loop() {
		start, cpu := time.Now(), processCPU()
		n := readAll(ctx, b, r, head.Size, audit.DefaultPageSize, audit.DefaultReaders)
		readTime += time.Since(start)
		readCPU += processCPU() - cpu
		if n != head.Size {
			b.Fatalf("read %d records, want %d", n, head.Size)
		}
		start, cpu = time.Now(), processCPU()
		rep, err := audit.Run(ctx, r, vkey, audit.Options{})
		auditTime += time.Since(start)
		auditCPU += processCPU() - cpu
		if err != nil || !rep.OK() {
			b.Fatalf("Run() = %v, %v", rep.Divergence, err)
		}
	}
	b.StopTimer()
	total := float64(head.Size) * float64(b.N)
	b.ReportMetric(total/auditTime.Seconds(), "entries/s")
	b.ReportMetric(total/readTime.Seconds(), "read-entries/s")
	b.ReportMetric(auditTime.Seconds()/readTime.Seconds(), "audit/read")
	// This process's CPU per entry (the database's own is not counted): on
	// a busy machine, where the wall times are noisy, the audit's extra
	// work shows here.
	b.ReportMetric(float64(auditCPU.Nanoseconds())/total, "audit-cpu-ns/entry")
	b.ReportMetric(float64(readCPU.Nanoseconds())/total, "read-cpu-ns/entry")
}

// sqliteLedger builds a SQLite ledger of n fixture entries with a
// checkpoint every 10 000.
func sqliteLedger(b *testing.B, n int) (*sqlite.Store, audittest.Keys) {
	ctx := b.Context()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "ledger.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	keys := audittest.NewKeys(b)
	signer, err := ledger.NewSigner(keys.Signer)
	if err != nil {
		b.Fatal(err)
	}
	lg, err := ledger.Open(s, ledger.Config{Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 2000
	for i := 0; i < n; i += chunk {
		es := make([]ledger.Entry, min(chunk, n-i))
		for j := range es {
			es[j] = audittest.Entry(0, i+j)
		}
		if _, err := lg.Append(ctx, es); err != nil {
			b.Fatal(err)
		}
		if (i+chunk)%10_000 == 0 {
			if _, err := lg.Checkpoint(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := lg.Close(ctx); err != nil {
		b.Fatal(err)
	}
	return s, keys
}

// readAll reads what the audit reads of the entries [0, size), in pages
// with readers concurrent reads: each page's records and the tiles that
// hold the hashes its leaves complete. It returns how many records it
// read.
func readAll(ctx context.Context, b testing.TB, r ledger.Reader, size uint64, page, readers int) uint64 {
	var (
		mu   sync.Mutex
		n    uint64
		wg   sync.WaitGroup
		next uint64
	)
	for range readers {
		wg.Go(func() {
			for {
				mu.Lock()
				s := next
				next += uint64(page)
				mu.Unlock()
				if s >= size {
					return
				}
				e := min(s+uint64(page), size)
				recs, err := r.Records(ctx, s, e)
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := r.Tiles(ctx, audit.PageTiles(s, e)); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				n += uint64(len(recs))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return n
}

// BenchmarkAuditRun audits a Postgres ledger of benchSize entries and does
// nothing else in its loop: for instruction counts of the audit alone, the
// difference between two runs under callgrind that differ only in
// -benchtime (the ledger is built alike in both), divided by the entries
// audited.
func BenchmarkAuditRun(b *testing.B) {
	l := audittest.New(b, benchSize(b), 10_000)
	for b.Loop() {
		rep, err := audit.Run(b.Context(), l.Store, l.Keys.Verifier, audit.Options{})
		if err != nil || !rep.OK() {
			b.Fatalf("Run() = %v, %v", rep.Divergence, err)
		}
	}
}

// BenchmarkAuditMemory audits the same ledger copied into memory: the
// audit's own cost, without the store's.
func BenchmarkAuditMemory(b *testing.B) {
	l := audittest.New(b, 200_000, 10_000)
	m := loadMem(b, l.Store)
	var n uint64
	cpu := processCPU()
	for b.Loop() {
		rep, err := audit.Run(b.Context(), m, l.Keys.Verifier, audit.Options{})
		if err != nil || !rep.OK() {
			b.Fatalf("Run() = %v, %v", rep.Divergence, err)
		}
		n += rep.Entries
	}
	cpu = processCPU() - cpu
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
	// On a busy machine, where the wall time is noisy, this process's CPU
	// per entry shows the audit's own cost.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/entry")
}

// BenchmarkAuditIndex audits a Postgres ledger of benchSize entries
// indexed every 10 000, including its verifiable index (notes, key lists,
// map nodes and entry_refs rebuilt from the leaves), and reports entries/s
// beside the same-run baseline of just reading the same records
// (read-entries/s, and audit/read, the ratio of the two times).
// "separate" runs Run and then Index, which reads the entries twice;
// "one-pass" runs Run with Options.Index; "ledger-only" runs Run without
// the index, for the index's share.
func BenchmarkAuditIndex(b *testing.B) {
	l := audittest.New(b, benchSize(b), 10_000)
	b.Run("separate", func(b *testing.B) {
		benchAuditIndex(b, l, func(ctx context.Context) error {
			rep, err := audit.Run(ctx, l.Store, l.Keys.Verifier, audit.Options{})
			if err != nil || !rep.OK() {
				return fmt.Errorf("Run() = %v, %v", rep.Divergence, err)
			}
			irep, err := audit.Index(ctx, l.Store, l.Keys.Verifier)
			if err != nil || !irep.OK() {
				return fmt.Errorf("Index() = %v, %v", irep, err)
			}
			return nil
		})
	})
	b.Run("ledger-only", func(b *testing.B) {
		benchAuditIndex(b, l, func(ctx context.Context) error {
			rep, err := audit.Run(ctx, l.Store, l.Keys.Verifier, audit.Options{})
			if err != nil || !rep.OK() {
				return fmt.Errorf("Run() = %v, %v", rep.Divergence, err)
			}
			return nil
		})
	})
	b.Run("one-pass", func(b *testing.B) {
		benchAuditIndex(b, l, func(ctx context.Context) error {
			rep, err := audit.Run(ctx, l.Store, l.Keys.Verifier, audit.Options{Index: true})
			if err != nil || !rep.OK() || rep.Index == nil || rep.Index.Keys == 0 {
				return fmt.Errorf("Run() = %+v, %v", rep, err)
			}
			return nil
		})
	})
}

func benchAuditIndex(b *testing.B, l *audittest.Ledger, run func(context.Context) error) {
	ctx := b.Context()
	head, err := l.Store.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var auditTime, readTime time.Duration
	for b.Loop() {
		start := time.Now()
		n := readAll(ctx, b, l.Store, head.Size, audit.DefaultPageSize, audit.DefaultReaders)
		readTime += time.Since(start)
		if n != head.Size {
			b.Fatalf("read %d records, want %d", n, head.Size)
		}
		start = time.Now()
		err := run(ctx)
		auditTime += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	total := float64(head.Size) * float64(b.N)
	b.ReportMetric(total/auditTime.Seconds(), "entries/s")
	b.ReportMetric(total/readTime.Seconds(), "read-entries/s")
	b.ReportMetric(auditTime.Seconds()/readTime.Seconds(), "audit/read")
}

package main

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/agentledger/agentledger/ingest"
)

// TestTuneGC checks that serve turns the proportional collector off under
// a soft memory limit sized by its in-flight limit, and leaves the
// operator's GOGC or GOMEMLIMIT alone.
func TestTuneGC(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	const max = ingest.DefaultMaxInflightBytes
	tests := []struct {
		name, gogc, gomemlimit string
		wantLimit              int64 // 0: unchanged
		wantPercent            int   // 0: unchanged
	}{
		{"default", "", "", 200 << 20, -1},
		{"operator's GOGC", "200", "", 0, 0},
		{"operator's GOMEMLIMIT", "", "1GiB", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOGC", tt.gogc)
			t.Setenv("GOMEMLIMIT", tt.gomemlimit)
			const unchangedLimit, unchangedPercent = math.MaxInt64, 100
			prevLimit := debug.SetMemoryLimit(unchangedLimit)
			prevPercent := debug.SetGCPercent(unchangedPercent)
			t.Cleanup(func() {
				debug.SetMemoryLimit(prevLimit)
				debug.SetGCPercent(prevPercent)
			})
			set := tuneGC(max, logger)
			limit, percent := debug.SetMemoryLimit(-1), debug.SetGCPercent(unchangedPercent)
			wantLimit, wantPercent := tt.wantLimit, tt.wantPercent
			if wantLimit == 0 {
				wantLimit, wantPercent = unchangedLimit, unchangedPercent
			}
			if limit != wantLimit || percent != wantPercent || set != tt.wantLimit {
				t.Errorf("tuneGC(%d) = %d, memory limit %d, GOGC %d; want %d, %d, %d", max, set, limit, percent, tt.wantLimit, wantLimit, wantPercent)
			}
		})
	}
}

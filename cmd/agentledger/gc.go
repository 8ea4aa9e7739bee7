package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// gcMinMemoryLimit is the least soft memory limit that tuneGC sets: with
// the default --max-inflight-bytes serve's resident set reached about
// 230 MiB at 4 and at 64 senders, within the 300 MiB serve is sized for.
const gcMinMemoryLimit = 200 << 20

// gcHeapPerInflightByte is how many bytes of heap a held request takes
// per byte of its protobuf (decoded spans, mapped entries, leaves).
const gcHeapPerInflightByte = 8

// gcMemoryLimit is the soft memory limit that tuneGC sets for serve with
// --max-inflight-bytes maxInflight: the heap that the requests it may hold
// take, and no less than gcMinMemoryLimit.
func gcMemoryLimit(maxInflight int64) int64 {
	return max(gcMinMemoryLimit, gcHeapPerInflightByte*maxInflight)
}

// tuneGC lets serve's heap grow to gcMemoryLimit(maxInflight) before the
// garbage collector runs (GOGC=off with that soft memory limit), unless
// the operator set GOGC or GOMEMLIMIT, which then apply as they are. The
// in-flight limit already bounds serve's heap, so collecting whenever the
// heap doubles (Go's default, GOGC=100) only spends CPU on the cores that
// Postgres needs: under load it collected several times a second, a fifth
// to a quarter of serve's CPU per span. It returns the limit it set, or 0.
func tuneGC(maxInflight int64, logger *slog.Logger) int64 {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := gcMemoryLimit(maxInflight)
	debug.SetMemoryLimit(limit)
	debug.SetGCPercent(-1)
	logger.Debug("garbage collector: GOGC=off with a soft memory limit (set GOGC or GOMEMLIMIT to override)", "memory_limit_bytes", limit)
	return limit
}

package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/internal/servetest"
)

func TestStartPprofRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:6060", ":6060", "192.0.2.1:6060", "[::]:6060", "example.com:6060"} {
		t.Run(addr, func(t *testing.T) {
			stop, err := startPprof(addr, slog.New(slog.DiscardHandler))
			if err == nil {
				stop()
				t.Fatalf("startPprof(%q) = nil error, want a refusal", addr)
			}
			if !strings.Contains(err.Error(), "loopback") {
				t.Errorf("startPprof(%q) = %v, want an error naming loopback", addr, err)
			}
		})
	}
}

func TestStartPprofServesProfiles(t *testing.T) {
	addr := servetest.FreeAddr(t)
	stop, err := startPprof(addr, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("GET /debug/pprof/goroutine = %s %.80q, want 200 and a goroutine profile", resp.Status, body)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves Go's runtime profiles (net/http/pprof, under
// /debug/pprof/) on addr, which must be a loopback address: profiles and
// goroutine dumps show request data, so they are never served beyond the
// host. It returns a function that stops the server.
func startPprof(addr string, logger *slog.Logger) (stop func(), err error) {
	if !isLoopback(addr) {
		return nil, fmt.Errorf("--pprof-addr %q: want a loopback address such as 127.0.0.1:6060 (profiles show request data)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --pprof-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof server stopped", "err", err)
		}
	}()
	logger.Info("serving Go profiles", "addr", ln.Addr().String(), "path", "/debug/pprof/")
	return func() { srv.Shutdown(context.Background()) }, nil
}

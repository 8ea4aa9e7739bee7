package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agentledger/agentledger/internal/loadgen"
)

// loadgenFlags are the flags of agentledger loadgen.
type loadgenFlags struct {
	url      string
	senders  int
	requests int
	first    int
}

func newLoadgenCmd() *cobra.Command {
	var f loadgenFlags
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Send agent-shaped OTLP/HTTP load to a server and report its rate and ack latency",
		Long: `loadgen measures ingest from outside the server's process. It sends
--requests pre-marshalled OTLP/HTTP protobuf requests of 1 000 distinct
agent-shaped spans each (about 900 bytes a span: agent runs, chat steps with
messages, tool calls, HTTP calls) from --senders concurrent senders, each
waiting for its request's acknowledgement before it sends the next. A
retryable answer (429, 502, 503, 504) is retried after its Retry-After, as
OTLP exporters do, and counted as a pushback.

Requests are numbered from --first: requests of distinct numbers hold
distinct trace and span IDs, so a second run with a new --first appends new
entries instead of duplicates.

It prints one JSON object: spans/s, ack latency p50/p99/max (per
acknowledged attempt), delivery p99 (first attempt to acknowledgement) and
the pushbacks. The benchmark BenchmarkServeLoad (cmd/agentledger) runs it
against serve on Postgres and SQLite beside raw COPY.

Send only to a test server: it writes --requests × 1 100 entries.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := loadgen.Run(cmd.Context(), loadgen.Config{URL: f.url, Senders: f.senders, First: f.first, Count: f.requests})
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(res); err != nil {
				return fmt.Errorf("print result: %w", err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "http://127.0.0.1:4318/v1/traces", "OTLP/HTTP traces URL of the server")
	fl.IntVar(&f.senders, "senders", 4, "concurrent senders (requests in flight)")
	fl.IntVar(&f.requests, "requests", 50, "requests to send, 1 000 spans each")
	fl.IntVar(&f.first, "first", 0, "number of the first request (requests of distinct numbers hold distinct spans)")
	return withEnv(cmd)
}

package main

import (
	"fmt"
	"io"
	"net/url"
	"sort"

	"github.com/agentledger/agentledger/internal/demo"
	"github.com/spf13/cobra"
)

func newDemoCmd() *cobra.Command {
	var (
		target  string
		useHTTP bool
		uiURL   string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Send realistic agent traffic to a running agentledger over OTLP",
		Long: `demo sends agent runs over real OTLP to a running agentledger: agents that
obtain short-lived credentials (an OAuth token exchange from a platform token,
a SPIFFE JWT-SVID, an AWS STS session), reason over several LLM steps with tool
calls, call APIs with the credentials, wait for a human approval, and one
credential that leaks and is used from another run. It prints the credential
IDs and the links to open in the UI. serve --demo runs it against itself once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := demo.Send(cmd.Context(), demo.Config{Target: target, HTTP: useHTTP})
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			printDemo(cmd.OutOrStdout(), res, uiURL)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "target", "localhost:4317", "OTLP endpoint (host:port) of the agentledger to send to")
	cmd.Flags().BoolVar(&useHTTP, "http", false, "send OTLP/HTTP (to port 4318) instead of OTLP/gRPC")
	cmd.Flags().StringVar(&uiURL, "ui-url", "http://127.0.0.1:8080", "base URL of the agentledger UI, for the printed links")
	return withEnv(cmd)
}

func printDemo(w io.Writer, res *demo.Result, uiURL string) {
	fmt.Fprintf(w, "\nDemo traffic sent: %d agent runs.\n\n", len(res.Runs))
	for _, r := range res.Runs {
		fmt.Fprintf(w, "  run %s  %-14s %s\n", r.TraceID, r.Agent, r.Summary)
	}
	fmt.Fprintln(w, "\nCredentials:")
	names := make([]string, 0, len(res.Credentials))
	for n := range res.Credentials {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-48s %s\n", n, res.Credentials[n])
	}
	fmt.Fprintf(w, "\nThe credential %s leaked: run %s obtained it, run %s used it.\n", res.LeakedCredential, res.LegitRun, res.ForeignRun)
	fmt.Fprintf(w, "Open it in the UI:   %s/#/credentials/%s\n", uiURL, url.PathEscape(res.LeakedCredential))
	fmt.Fprintf(w, "The foreign run:     %s/#/runs/%s\n", uiURL, res.ForeignRun)
	fmt.Fprintf(w, "Or paste the leaked raw token into the UI's search box; it is looked up by fingerprint:\n  %s\n", res.LeakedToken)
	if res.LeakedSession != "" {
		fmt.Fprintf(w, "\nCloudTrail saw the AWS session %s used from %s, and no agent run accounts for it:\n", res.LeakedSession, demo.AttackerIP)
		fmt.Fprintf(w, "  %s/#/credentials/%s\n", uiURL, url.PathEscape(res.LeakedSession))
	}
}

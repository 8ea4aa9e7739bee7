// Command agentledger is the agentledger server and its tools: serve,
// migrate, keygen, version and the auditor's commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "agentledger:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "agentledger",
		Short: "A tamper-evident audit ledger for AI agents and the credentials they use",
		Long: `agentledger receives OpenTelemetry traces from agent runtimes, links LLM steps,
credential events and API calls, appends them to a Merkle-tree ledger and
answers "which agent run used this credential, why, and what did it touch?"
with a proof for every answer.

Every flag can also be set with an environment variable: AGENTLEDGER_ and
the flag name in upper case with '-' as '_' (--data-dir: AGENTLEDGER_DATA_DIR).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newMigrateCmd(), newKeygenCmd(), newDemoCmd(),
		newTokenCmd(), newImportCmd(), newVerifyCmd(), newAuditCmd(), newMonitorCmd(), newRescanCmd(), newRotateKeyCmd(), newSignerCmd(), newDevCertsCmd(), newWitnessCmd(), newLoadgenCmd(), newVersionCmd())
	return root
}

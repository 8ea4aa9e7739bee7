package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// bindEnv makes every flag of cmd that was not set on the command line take
// its value from AGENTLEDGER_<FLAG_NAME>, if that is set.
func bindEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		if v, ok := os.LookupEnv(name); ok {
			if e := cmd.Flags().Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment %s: %w", name, e)
			}
		}
	})
	return err
}

func envName(flag string) string {
	return "AGENTLEDGER_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// withEnv annotates each flag's usage with its environment variable and
// binds them before the command runs.
func withEnv(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		f.Usage += " [$" + envName(f.Name) + "]"
	})
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if err := bindEnv(c); err != nil {
			return err
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
	return cmd
}

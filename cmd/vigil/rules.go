package main

import (
	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/internal/rulescli"
)

func init() { addCommand(newRulesCmd) }

// newRulesCmd wraps `vigil rules`, whose subcommands parse their own flags
// (package rulescli).
func newRulesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rules push|versions|rollback|diff …",
		Short: "change a running service's rules: push files, list versions, roll back, diff",
		Long: "rules changes the rules of a running vigil serve through its API (docs/rules-api.md):\n\n" +
			rulescli.Usage,
		Example: `  vigil rules push examples/rules
  vigil rules versions
  vigil rules rollback 3
  vigil rules diff examples/rules`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
				return cmd.Help()
			}
			return exitCode(rulescli.Run(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
}

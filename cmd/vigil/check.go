package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/rules"
)

func init() { addCommand(newCheckCmd) }

func newCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILES…",
		Short: "validate rules files; exit 1 with positioned errors",
		Long: `check loads rules files and directories (every *.yaml and *.yml in them,
test files *_test.yaml excepted) as one ruleset, as serve would, and reports
every error with its file, line, column, rule and setting.`,
		Example: `  vigil check examples/rules
  vigil check rules/payments.yaml rules/sequences.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("name at least one rules file or directory")
			}
			return exitCode(check(cmd.OutOrStdout(), cmd.ErrOrStderr(), args))
		},
	}
}

func check(stdout, stderr io.Writer, paths []string) int {
	rs, err := rules.LoadFiles(paths...)
	if err != nil {
		var list rules.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				fmt.Fprintln(stderr, e)
			}
			fmt.Fprintf(stderr, "%d error(s)\n", len(list))
		} else {
			fmt.Fprintf(stderr, "vigil check: %v\n", err)
		}
		return 1
	}
	seq, thr := 0, 0
	for _, r := range rs.Rules {
		if r.Sequence != nil {
			seq++
		} else {
			thr++
		}
	}
	fmt.Fprintf(stdout, "ok: %d file(s), %d rule(s) (%d sequence, %d threshold), %d list(s)\n",
		len(rs.Files), len(rs.Rules), seq, thr, len(rs.Lists))
	return 0
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/internal/ruletest"
)

func init() { addCommand(newTestCmd) }

func newTestCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test [-v] FILES…",
		Short: "run rule tests; exit 1 on any failure",
		Long: `test runs rule test files (*_test.yaml; directories are searched for them):
each case runs its events through a fresh engine, as replay does, and
compares the alerts raised with the alerts expected. A failure shows the
missing alert, the closest one raised and every unexpected one.`,
		Example: `  vigil test examples/tests
  vigil test examples/tests/payments_test.yaml -v`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("name at least one test file (*_test.yaml) or directory")
			}
			files, err := testFiles(args)
			if err != nil {
				return usageErr("%v", err)
			}
			if len(files) == 0 {
				return usageErr("no test files (*_test.yaml) in %s", strings.Join(args, ", "))
			}
			return exitCode(runTests(cmd.Context(), files, verbose, cmd.OutOrStdout()))
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing tests too")
	return cmd
}

func runTests(ctx context.Context, files []string, verbose bool, stdout io.Writer) int {
	passed, failed := 0, 0
	for _, path := range files {
		results, err := ruletest.RunFile(ctx, path)
		if err != nil {
			fmt.Fprintf(stdout, "ERROR %v\n", err)
			failed++
			continue
		}
		for _, r := range results {
			if r.Passed() {
				passed++
				if verbose || len(r.ExprErrors) > 0 {
					fmt.Fprintf(stdout, "ok   %s:%d %s (%d alerts)\n", r.File, r.Line, r.Name, r.Alerts)
				}
			} else {
				failed++
				fmt.Fprintf(stdout, "FAIL %s:%d %s\n", r.File, r.Line, r.Name)
				for _, f := range r.Failures {
					fmt.Fprintf(stdout, "  %s\n", strings.ReplaceAll(f, "\n", "\n  "))
				}
			}
			for _, x := range r.ExprErrors {
				fmt.Fprintf(stdout, "  %s\n", strings.ReplaceAll(x.String(), "\n", "\n  "))
			}
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// testFiles expands directories to the *_test.yaml files inside them.
func testFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, "_test.yaml") || strings.HasSuffix(p, "_test.yml")) {
				out = append(out, p)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

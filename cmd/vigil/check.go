package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/internal/yamlfile"
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
	// A config file, a test file or a directory without rules files is
	// not a mistake in rules: say what it is and what to run instead.
	for _, p := range paths {
		if hint := notRules(p); hint != "" {
			fmt.Fprintf(stderr, "vigil check: %s\n", hint)
			return 1
		}
	}
	files, err := rules.ExpandPaths(paths)
	if err != nil {
		fmt.Fprintf(stderr, "vigil check: %v\n", err)
		return 1
	}
	// A directory may hold the service's config beside its rules
	// (examples/ does): that file is not rules, so it is left out.
	explicit := map[string]bool{}
	for _, p := range paths {
		explicit[filepath.Clean(p)] = true
	}
	var ruleFiles []string
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil && !explicit[filepath.Clean(f)] {
			switch yamlfile.Kind(data) {
			case "config":
				fmt.Fprintf(stderr, "skipping %s: a service config file, not rules\n", f)
				continue
			case "prometheus":
				fmt.Fprintf(stderr, "skipping %s: Prometheus alerting rules, not vigil rules\n", f)
				continue
			}
		}
		ruleFiles = append(ruleFiles, f)
	}
	rs, err := rules.LoadFiles(ruleFiles...)
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

// notRules says what path is when it is not rules files: "" when it holds
// rules (or cannot be read: loading reports that).
func notRules(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	if st.IsDir() {
		files, err := rules.ExpandPaths([]string{path})
		if err != nil || len(files) > 0 {
			return ""
		}
		if tests, _ := testFiles([]string{path}); len(tests) > 0 {
			return fmt.Sprintf("%s holds rule tests but no rules files: run vigil test %s", path, path)
		}
		return fmt.Sprintf("%s holds no rules files (*.yaml, *.yml): name a file or directory of rules, e.g. vigil check examples/rules", path)
	}
	name := filepath.Base(path)
	if strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml") {
		return fmt.Sprintf("%s is a rule test file: run vigil test %s", path, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if ext := filepath.Ext(name); ext == ".ndjson" || ext == ".json" || ext == ".jsonl" {
		return fmt.Sprintf("%s looks like events, not rules: run rules over it with vigil replay -r RULES -e %s", path, path)
	}
	switch kind := yamlfile.Kind(data); kind {
	case "config":
		return fmt.Sprintf("%s is a service config file, not rules: it is checked when the service starts (vigil serve -c %s); check the rules it names instead", path, path)
	case "test":
		return fmt.Sprintf("%s is a rule test file: run vigil test %s", path, path)
	case "prometheus":
		return fmt.Sprintf("%s holds Prometheus alerting rules (groups:), not vigil rules: load it into Prometheus", path)
	}
	return ""
}

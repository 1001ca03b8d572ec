package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vigilhq/vigil/internal/ruletest"
)

func runTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "list passing tests too")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil test [-v] FILES… (test files, or directories of *_test.yaml)")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	files, err := testFiles(fs.Args())
	if err != nil || len(files) == 0 {
		if err != nil {
			fmt.Fprintf(stderr, "vigil test: %v\n", err)
		}
		fs.Usage()
		return 2
	}
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
				if *verbose {
					fmt.Fprintf(stdout, "ok   %s:%d %s (%d alerts)\n", r.File, r.Line, r.Name, r.Alerts)
				}
				continue
			}
			failed++
			fmt.Fprintf(stdout, "FAIL %s:%d %s\n", r.File, r.Line, r.Name)
			for _, f := range r.Failures {
				fmt.Fprintf(stdout, "  %s\n", strings.ReplaceAll(f, "\n", "\n  "))
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

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/vigilhq/vigil/rules"
)

func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: vigil check FILES… (files or directories of *.yaml)") }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	rs, err := rules.LoadFiles(fs.Args()...)
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

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/internal/bench"
	"github.com/vigilhq/vigil/internal/progress"
)

func init() { addCommand(newBenchCmd) }

type benchFlags struct {
	scenario, cpuProfile string
	opts                 bench.Options
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	var names []string
	for _, s := range bench.Scenarios {
		names = append(names, s.Name)
	}
	cmd := &cobra.Command{
		Use:   "bench [--scenario S] [--events N] [--keys K]",
		Short: "measure the engine against hand-written Go on a synthetic stream",
		Long: `bench runs each scenario's rules through the engine and through hand-written
Go that computes the same alerts, on the same synthetic events, and prints
throughput, latency and memory per key side by side.`,
		Example: `  vigil bench --scenario velocity --events 200000 --keys 10000
  vigil bench --workers 2 --batch 500`,
		Args: noArgs("every setting is a flag, e.g. --scenario velocity"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.scenario != "all" && !contains(names, f.scenario) {
				return usageErr("unknown scenario %q (use all, %s)", f.scenario, strings.Join(names, ", "))
			}
			if err := f.opts.Validate(); err != nil {
				return usageErr("%v", err)
			}
			return exitCode(runBench(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.scenario, "scenario", "all", "scenario: all, "+strings.Join(names, ", "))
	fs.IntVar(&f.opts.Events, "events", 1_000_000, "events per run")
	fs.IntVar(&f.opts.Keys, "keys", 100_000, "distinct keys")
	fs.Int64Var(&f.opts.Seed, "seed", 1, "random seed of the synthetic stream")
	fs.IntVar(&f.opts.Workers, "workers", 1, "engine workers (the hand-written baseline always runs on one goroutine)")
	fs.IntVar(&f.opts.Batch, "batch", 0, "push events N at a time to an input with an ack, as serve does with its input batches (0: one event per Process call)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the runs to this file (go tool pprof)")
	return cmd
}

func runBench(ctx context.Context, f benchFlags, stdout, stderr io.Writer) int {
	if f.cpuProfile != "" {
		out, err := os.Create(f.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "vigil bench: %v\n", err)
			return 1
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			fmt.Fprintf(stderr, "vigil bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	for _, sc := range bench.Scenarios {
		if f.scenario != "all" && f.scenario != sc.Name {
			continue
		}
		opts := f.opts
		bar := progress.New(stderr, "bench "+sc.Name+" (engine, then hand-written)", progress.Items, int64(2*opts.Events), progress.Options{})
		opts.Progress = func(done int) { bar.Set(int64(done)) }
		eng, base, err := bench.Run(ctx, sc, opts)
		bar.Finish()
		if err != nil {
			fmt.Fprintf(stderr, "vigil bench: %s: %v\n", sc.Name, err)
			return 1
		}
		bench.Print(stdout, sc, f.opts, eng, base)
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

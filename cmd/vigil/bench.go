package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/vigilhq/vigil/internal/bench"
	"github.com/vigilhq/vigil/internal/progress"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var names []string
	for _, s := range bench.Scenarios {
		names = append(names, s.Name)
	}
	scenario := fs.String("scenario", "all", "scenario: all, "+strings.Join(names, ", "))
	events := fs.Int("events", 1_000_000, "events per run")
	keys := fs.Int("keys", 100_000, "distinct keys")
	seed := fs.Int64("seed", 1, "random seed of the synthetic stream")
	workers := fs.Int("workers", 1, "engine workers (the hand-written baseline always runs on one goroutine)")
	batch := fs.Int("batch", 0, "push events N at a time to an input with an ack, as serve does with its input batches (0: one event per Process call)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the runs to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "vigil bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "vigil bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	opts := bench.Options{Events: *events, Keys: *keys, Seed: *seed, Workers: *workers, Batch: *batch}
	for _, sc := range bench.Scenarios {
		if *scenario != "all" && *scenario != sc.Name {
			continue
		}
		bar := progress.New(stderr, "bench "+sc.Name+" (engine, then hand-written)", progress.Items, int64(2*opts.Events), progress.Options{})
		opts.Progress = func(done int) { bar.Set(int64(done)) }
		eng, base, err := bench.Run(ctx, sc, opts)
		bar.Finish()
		if err != nil {
			fmt.Fprintf(stderr, "vigil bench: %s: %v\n", sc.Name, err)
			return 1
		}
		bench.Print(stdout, sc, opts, eng, base)
	}
	return 0
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vigilhq/vigil/internal/bench"
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
	batch := fs.Int("batch", 0, "advance the watermark every N events, as serve does with its input batches (0: one event per Process call)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opts := bench.Options{Events: *events, Keys: *keys, Seed: *seed, Workers: *workers, Batch: *batch}
	for _, sc := range bench.Scenarios {
		if *scenario != "all" && *scenario != sc.Name {
			continue
		}
		eng, base, err := bench.Run(ctx, sc, opts)
		if err != nil {
			fmt.Fprintf(stderr, "vigil bench: %s: %v\n", sc.Name, err)
			return 1
		}
		bench.Print(stdout, sc, opts, eng, base)
	}
	return 0
}

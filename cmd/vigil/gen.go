package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/gen"
	"github.com/vigilhq/vigil/internal/progress"
	"github.com/vigilhq/vigil/rules"
)

func init() { addCommand(newGenCmd) }

// newGenCmd wraps runGen, which parses its own flags (the standard
// library's): -h prints them.
func newGenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:                "gen [-n N | --duration D] [--seed S] [--rate R] [-o FILE | --http URL | --kafka BROKERS --topic T]",
		Short:              "write a synthetic payment stream with injected, labelled fraud",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitCode(runGen(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	// vigil help gen: its own flag set prints the flags.
	cmd.SetHelpFunc(func(c *cobra.Command, _ []string) {
		runGen(context.Background(), []string{"-h"}, c.OutOrStdout(), c.OutOrStdout())
	})
	return cmd
}

func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "random seed: the same seed and flags give the same bytes")
	count := fs.Int("n", 0, "number of events")
	duration := fs.String("duration", "", "event time to cover from --start (e.g. 1h, 7d), instead of or besides -n")
	start := fs.String("start", "2026-11-01T00:00:00Z", "event time of the first event (RFC 3339 or Unix ms)")
	cards := fs.Int("cards", 10000, "number of cards (activity is skewed: a few are very busy)")
	eps := fs.Float64("eps", 100, "events per second of event time")
	fraudRate := fs.Float64("fraud-rate", 0.002, "chance that an event is followed by a fraud incident")
	types := fs.String("fraud-types", "", "comma list of fraud types to inject (default all: "+strings.Join(gen.FraudTypes, ",")+")")
	out := fs.String("o", "-", "NDJSON output file; - for stdout")
	url := fs.String("http", "", "POST the events to this vigil URL (…/v1/events) instead; the API token comes from VIGIL_TOKEN")
	brokers := fs.String("kafka", "", "produce the events to these Kafka brokers (comma list) instead; needs --topic")
	topic := fs.String("topic", "", "Kafka topic for --kafka")
	rate := fs.Float64("rate", 0, "events per second of wall time (0: as fast as possible)")
	stats := fs.Bool("stats", false, "print what was injected, as JSON, on stderr at the end")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil gen [-n N | --duration D] [--seed S] [--rate R] [-o FILE | --http URL | --kafka BROKERS --topic T]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vigil gen: "+format+"\n", a...)
		return 1
	}
	if fs.NArg() > 0 || *count < 0 || *rate < 0 || (*count == 0 && *duration == "") {
		fs.Usage()
		return 2
	}
	opts := gen.Options{Seed: *seed, Cards: *cards, EventsPerSecond: *eps, FraudRate: *fraudRate}
	ms, err := event.ParseTime(*start)
	if err != nil {
		return fail("--start %q: want RFC 3339 or Unix milliseconds", *start)
	}
	opts.Start = time.UnixMilli(ms).UTC()
	if *types != "" {
		opts.Types = strings.Split(*types, ",")
	}
	lim := gen.Limits{Count: *count, Rate: *rate}
	if *duration != "" {
		d, err := rules.ParseDuration(*duration)
		if err != nil || d <= 0 {
			return fail("--duration %q: want a positive duration such as 1h or 7d", *duration)
		}
		lim.Duration = time.Duration(d) * time.Millisecond
	}
	g, err := gen.New(opts)
	if err != nil {
		return fail("%v", err)
	}
	var sink gen.Sink
	switch {
	case *url != "":
		sink = gen.HTTPSink{URL: *url, Token: os.Getenv("VIGIL_TOKEN")}
	case *brokers != "":
		if *topic == "" {
			return fail("--kafka needs --topic")
		}
		sink = gen.NewKafkaSink(strings.Split(*brokers, ","), *topic)
	case *out == "-":
		sink = gen.WriterSink{W: stdout}
	default:
		f, err := os.Create(*out)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		sink = gen.WriterSink{W: f}
	}
	bar := progress.New(stderr, "gen", progress.Items, int64(lim.Count), progress.Options{})
	err = gen.Stream(ctx, g, &progressSink{Sink: sink, bar: bar}, lim)
	bar.Finish()
	if cerr := sink.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail("%v", err)
	}
	if *stats {
		b, _ := json.Marshal(g.Stats())
		fmt.Fprintln(stderr, string(b))
	}
	return 0
}

// progressSink moves the progress bar as events are written.
type progressSink struct {
	gen.Sink
	bar  *progress.Bar
	done int64
}

func (p *progressSink) Write(ctx context.Context, lines []gen.Line) error {
	err := p.Sink.Write(ctx, lines)
	if err == nil {
		p.done += int64(len(lines))
		p.bar.Set(p.done)
	}
	return err
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/progress"
	"github.com/vigilhq/vigil/internal/replay"
	"github.com/vigilhq/vigil/rules"
)

func init() { addCommand(newReplayCmd) }

type replayFlags struct {
	rules                                                       []string
	events, until, ooo, out, dead, timeField, idField, timeUnit string
	quiet                                                       bool
}

func newReplayCmd() *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay -r RULES -e EVENTS.ndjson",
		Short: "run rules over an NDJSON file of events; alerts as NDJSON",
		Long: `replay runs rules over a file of events (one JSON object a line) with the
same engine as serve, and writes one alert a line, each with its matched
events. A malformed or late line is reported on stderr and processing goes
on. At the end the watermark moves to the end of time (every window closes,
every pending absence is confirmed) unless --until names the final one.`,
		Example: `  vigil replay -r examples/rules -e examples/events/payments.ndjson
  vigil replay -r rules/ -e - --until 2026-11-21T00:00:00Z -o alerts.ndjson < events.ndjson`,
		Args: noArgs("name rules with -r and events with -e"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(f.rules) == 0 {
				return usageErr("missing --rules (-r): the rules files or directories to run")
			}
			if f.timeUnit != event.UnitMillis && f.timeUnit != event.UnitSeconds {
				return usageErr("--time-unit: want ms or s, got %q", f.timeUnit)
			}
			if f.events == "" {
				return usageErr("missing --events (-e): the NDJSON file of events, or - for stdin")
			}
			return runReplay(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	listFlag(fs, &f.rules, "rules", "r", "rules file or directory (repeatable)")
	fs.StringVarP(&f.events, "events", "e", "", "NDJSON events file; - for stdin")
	fs.StringVar(&f.until, "until", "", "final watermark, RFC 3339 or Unix ms (default: end of time)")
	fs.StringVar(&f.ooo, "out-of-orderness", "0s", "how far the watermark trails the latest event time")
	fs.StringVarP(&f.out, "out", "o", "", "write alerts here instead of stdout")
	fs.StringVar(&f.dead, "dead-letter", "", "write rejected lines here as NDJSON, with the reason")
	fs.StringVar(&f.timeField, "time-field", event.DefaultTimeField, "event field holding the event time")
	fs.StringVar(&f.idField, "id-field", event.DefaultIDField, "event field holding the event id")
	fs.StringVar(&f.timeUnit, "time-unit", event.UnitMillis, "unit of integer event times: ms (integers before 1980 are rejected as probable seconds) or s")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no summary and no per-line error reports on stderr")
	return cmd
}

func runReplay(ctx context.Context, f replayFlags, stdout, stderr io.Writer) error {
	ruleFiles, eventsPath, until, ooo, outPath, deadPath, quiet := f.rules, &f.events, &f.until, &f.ooo, &f.out, &f.dead, &f.quiet
	timeField, idField := &f.timeField, &f.idField
	fail := failErr
	opts := replay.Options{Decoder: event.Decoder{TimeField: *timeField, IDField: *idField, TimeUnit: f.timeUnit}}
	if d, err := rules.ParseDuration(*ooo); err != nil && *ooo != "0" {
		return usageErr("--out-of-orderness: %v", err)
	} else {
		opts.OutOfOrderness = time.Duration(d) * time.Millisecond
	}
	if *until != "" {
		ms, err := event.ParseTime(*until)
		if err != nil {
			return usageErr("--until %q: want RFC 3339 or Unix milliseconds", *until)
		}
		opts.Until = time.UnixMilli(ms)
	}
	rs, err := rules.LoadFiles(ruleFiles...)
	if err != nil {
		var list rules.ErrorList
		if !errors.As(err, &list) {
			return fail("%v", err)
		}
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}

	in, name := io.Reader(os.Stdin), "stdin"
	var size int64
	if *eventsPath != "-" {
		f, err := os.Open(*eventsPath)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		in, name = f, filepath.Base(*eventsPath)
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
	}
	out := stdout
	if *outPath != "" {
		f, err := os.Create(*outPath)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		out = f
	}
	writeAlert := replay.JSONWriter(out)
	opts.OnAlert = func(a cep.Alert) error { return writeAlert(a) }

	var writeDead func(any) error
	if *deadPath != "" {
		f, err := os.Create(*deadPath)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		writeDead = replay.JSONWriter(f)
	}
	reported := 0
	opts.OnReject = func(r replay.Rejected) error {
		if !*quiet && reported < 100 {
			fmt.Fprintf(stderr, "%s:%d: %s: %s\n", r.Source, r.Line, r.Reason, r.Error)
		}
		reported++
		if writeDead != nil {
			return writeDead(r)
		}
		return nil
	}
	// On a terminal, a bar; otherwise replay's own summary below is the
	// one line.
	bar := progress.New(stderr, "replay "+name, progress.Bytes, size, progress.Options{Quiet: *quiet, NoSummary: true})
	opts.OnProgress = bar.Set

	start := time.Now()
	sum, err := replay.Run(ctx, rs, in, name, opts)
	bar.Finish()
	if err != nil {
		return fail("%v", err)
	}
	if reported > 100 && !*quiet {
		fmt.Fprintf(stderr, "… %d more rejected lines not shown\n", reported-100)
	}
	if !*quiet {
		printSummary(stderr, sum, time.Since(start), *deadPath)
	}
	return nil
}

func printSummary(w io.Writer, s replay.Summary, elapsed time.Duration, deadPath string) {
	fmt.Fprintf(w, "replay: %d lines, %d events processed, %d alerts (%d suppressed) in %s",
		s.Lines, s.Processed, s.Alerts, s.Suppressed, elapsed.Round(time.Millisecond))
	if n := s.RejectedTotal(); n > 0 {
		var parts []string
		for reason, c := range s.Rejected {
			parts = append(parts, fmt.Sprintf("%d %s", c, reason))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "; %d rejected (%s)", n, strings.Join(parts, ", "))
		if deadPath != "" {
			fmt.Fprintf(w, " → %s", deadPath)
		}
	}
	fmt.Fprintln(w)
	var names []string
	for name := range s.Rules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := s.Rules[name]
		// Events without the rule's key are normal in a mixed stream; they
		// are shown only beside errors or evictions, which need a look.
		if r.Errors > 0 || r.Evicted > 0 {
			fmt.Fprintf(w, "  rule %s: %d expression errors (false), %d partial matches evicted, %d events had no key\n",
				name, r.Errors, r.Evicted, r.KeyFailures)
		}
		for _, x := range r.ExprErrors {
			fmt.Fprintf(w, "%s\n", x)
		}
	}
}

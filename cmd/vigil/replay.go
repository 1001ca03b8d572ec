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
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/progress"
	"github.com/vigilhq/vigil/internal/replay"
	"github.com/vigilhq/vigil/rules"
)

// listFlag collects a repeated flag; each value may also be a comma list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ruleFiles listFlag
	fs.Var(&ruleFiles, "r", "rules file or directory (repeatable)")
	eventsPath := fs.String("e", "", "NDJSON events file; - for stdin")
	until := fs.String("until", "", "final watermark, RFC 3339 or Unix ms (default: end of time)")
	ooo := fs.String("out-of-orderness", "0s", "how far the watermark trails the latest event time")
	outPath := fs.String("o", "", "write alerts here instead of stdout")
	deadPath := fs.String("dead-letter", "", "write rejected lines here as NDJSON, with the reason")
	timeField := fs.String("time-field", event.DefaultTimeField, "event field holding the event time")
	idField := fs.String("id-field", event.DefaultIDField, "event field holding the event id")
	quiet := fs.Bool("q", false, "no summary and no per-line error reports on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil replay -r RULES -e EVENTS.ndjson [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(ruleFiles) == 0 || *eventsPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vigil replay: "+format+"\n", a...)
		return 1
	}
	rs, err := rules.LoadFiles(ruleFiles...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	opts := replay.Options{Decoder: event.Decoder{TimeField: *timeField, IDField: *idField}}
	if d, err := rules.ParseDuration(*ooo); err != nil && *ooo != "0" {
		return fail("--out-of-orderness: %v", err)
	} else {
		opts.OutOfOrderness = time.Duration(d) * time.Millisecond
	}
	if *until != "" {
		ms, err := event.ParseTime(*until)
		if err != nil {
			return fail("--until %q: want RFC 3339 or Unix milliseconds", *until)
		}
		opts.Until = time.UnixMilli(ms)
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
	return 0
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
	}
}

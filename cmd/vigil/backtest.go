package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/backtest"
	"github.com/vigilhq/vigil/internal/replay"
	"github.com/vigilhq/vigil/internal/serve"
	"github.com/vigilhq/vigil/rules"
	"github.com/vigilhq/vigil/store/clickhouse"
)

func init() { addCommand(newBacktestCmd) }

// newBacktestCmd wraps runBacktest, which parses its own flags (the
// standard library's): -h prints them.
func newBacktestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:                "backtest -r RULES --from T [--to T] [-c vigil.yaml] [--label-field F] [--compare RULES2|live] [--json]",
		Short:              "run rules over event history in ClickHouse; alerts, keys, precision and recall per rule",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitCode(runBacktest(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	// vigil help backtest: its own flag set prints the flags.
	cmd.SetHelpFunc(func(c *cobra.Command, _ []string) {
		runBacktest(context.Background(), []string{"-h"}, c.OutOrStdout(), c.OutOrStdout())
	})
	return cmd
}

// pathsFlag collects a repeated flag; each value may also be a comma list.
type pathsFlag []string

func (l *pathsFlag) String() string { return strings.Join(*l, ",") }
func (l *pathsFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// Exit codes of vigil backtest.
const (
	backtestOK    = 0 // the report was printed
	backtestError = 1 // bad rules, bad times, ClickHouse or the service unreachable
	backtestUsage = 2 // bad flags
)

func runBacktest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ruleFiles pathsFlag
	fs.Var(&ruleFiles, "r", "rules file or directory (repeatable)")
	from := fs.String("from", "", "start of the range (inclusive): RFC 3339, Unix ms, or a duration back from now (7d)")
	to := fs.String("to", "now", "end of the range (exclusive), as --from")
	configPath := fs.String("c", "", "vigil.yaml: its clickhouse: section and time settings")
	addr := fs.String("clickhouse", "", "ClickHouse native address host:port, overriding the config")
	database := fs.String("database", "", "ClickHouse database, overriding the config (default vigil)")
	labelField := fs.String("label-field", "is_fraud", "event field that labels fraud (true, non-zero, \"true\", \"1\", \"yes\")")
	typeField := fs.String("type-field", "fraud_type", "event field with the kind of fraud, for recall per kind")
	compare := fs.String("compare", "", "a second rules file or directory to compare with, or \"live\": the service's alerts")
	server := fs.String("server", envOr("VIGIL_URL", "http://localhost:8080"), "vigil service URL for --compare live (env VIGIL_URL; the API token comes from VIGIL_TOKEN)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	outPath := fs.String("o", "", "also write the alerts as NDJSON to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil backtest -r RULES --from T [--to T] [-c vigil.yaml] [--label-field is_fraud] [--compare RULES2|live] [--json]")
		fmt.Fprintln(stderr, "exit codes: 0 report printed, 1 error (rules, times, ClickHouse, service), 2 bad flags")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return backtestUsage
	}
	if len(ruleFiles) == 0 || *from == "" || fs.NArg() > 0 {
		fs.Usage()
		return backtestUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vigil backtest: "+format+"\n", a...)
		return backtestError
	}
	now := time.Now()
	fromT, err := parseWhen(*from, now)
	if err != nil {
		return fail("--from: %v", err)
	}
	toT, err := parseWhen(*to, now)
	if err != nil {
		return fail("--to: %v", err)
	}
	cfg, err := serve.LoadConfig(*configPath)
	if err != nil {
		return fail("config: %v", err)
	}
	chCfg := &serve.ClickHouseConfig{}
	if cfg.ClickHouse != nil {
		chCfg = cfg.ClickHouse
	} else if *addr == "" {
		return fail("no ClickHouse: give -c with a clickhouse: section, or --clickhouse host:port")
	}
	if *addr != "" {
		chCfg.Addr = strings.Split(*addr, ",")
	}
	if *database != "" {
		chCfg.Database = *database
	}
	rs, err := rules.LoadFiles(ruleFiles...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return backtestError
	}
	var other *rules.Ruleset
	if *compare != "" && *compare != "live" {
		if other, err = rules.LoadFiles(strings.Split(*compare, ",")...); err != nil {
			fmt.Fprintln(stderr, err)
			return backtestError
		}
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := clickhouse.Open(openCtx, chCfg.StoreConfig(nil))
	cancel()
	if err != nil {
		return fail("%v", err)
	}
	defer st.Close(ctx)

	opts := backtest.Options{From: fromT, To: toT, LabelField: *labelField, TypeField: *typeField,
		Decoder: event.Decoder{TimeField: cfg.Time.Field, IDField: cfg.Time.IDField, MaxSize: cfg.Limits.MaxEventSize, MaxDepth: cfg.Limits.MaxEventDepth}}
	if *outPath != "" {
		f, err := os.Create(*outPath)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		write := replay.JSONWriter(f)
		opts.OnAlert = func(a cep.Alert) { _ = write(a) }
	}
	var bar *progressbar.ProgressBar
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !*asJSON {
		opts.OnProgress = func(done, total uint64) {
			if bar == nil {
				bar = progressbar.NewOptions64(int64(total), progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("events"),
					progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
					progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
			}
			_ = bar.Set64(int64(done))
		}
	}
	var rep *backtest.Report
	if other != nil {
		rep, err = backtest.RunCompare(ctx, st, rs, other, opts)
	} else {
		rep, err = backtest.Run(ctx, st, rs, opts)
	}
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return fail("%v", err)
	}
	if *compare == "live" {
		live, err := backtest.LiveAlerts(ctx, *server, os.Getenv("VIGIL_TOKEN"), fromT, toT)
		if err != nil {
			return fail("%v", err)
		}
		rep.Compare = backtest.Compare(rep.Alerts(), live)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail("%v", err)
		}
		return backtestOK
	}
	printBacktest(stdout, rep, *compare)
	return backtestOK
}

// parseWhen reads a time: RFC 3339, Unix ms, "now", or a duration back
// from now ("7d", "24h").
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "now" {
		return now, nil
	}
	if ms, err := event.ParseTime(s); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	if d, err := rules.ParseDuration(s); err == nil {
		return now.Add(-time.Duration(d) * time.Millisecond), nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339, Unix milliseconds, now, or a duration back from now (7d)", s)
}

func printBacktest(w io.Writer, r *backtest.Report, compare string) {
	fraud := "no labels"
	if r.Labelled > 0 {
		fraud = fmt.Sprintf("%d labelled fraud", r.Fraud)
	}
	rejected := 0
	for _, n := range r.Rejected {
		rejected += n
	}
	fmt.Fprintf(w, "backtest %s .. %s: %d events (%d rejected), %s, in %s (%.0f events/s)\n\n",
		event.FormatTime(r.From.UnixMilli()), event.FormatTime(r.To.UnixMilli()), r.Events, rejected, fraud,
		r.Elapsed.Round(time.Millisecond), r.EventsPerS)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tALERTS\tSUPPRESSED\tKEYS\tHITS\tFALSE ALARMS\tCAUGHT\tPRECISION\tRECALL\tALERTS PER DAY")
	for _, rr := range r.Rules {
		var days []string
		for _, d := range sortedDays(rr.PerDay) {
			days = append(days, fmt.Sprintf("%s:%d", d, rr.PerDay[d]))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", rr.Rule, rr.Alerts, rr.Suppressed, rr.Keys, rr.Hits, rr.FalseAlarms,
			rr.Caught, backtest.FormatRatio(rr.Precision), backtest.FormatRatio(rr.Recall), strings.Join(days, " "))
	}
	tw.Flush()
	if c := r.Compare; c != nil {
		b := compare
		if b == "live" {
			b = "the live service"
		}
		fmt.Fprintf(w, "\ncompared with %s (same rule, key and time = same incident):\n", b)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RULE\tONLY HERE\tONLY THERE\tBOTH")
		for _, d := range c.Rules {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", d.Rule, d.OnlyA, d.OnlyB, d.Both)
		}
		tw.Flush()
	}
}

func sortedDays(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) }

// Command vigil is the one binary of vigil: it checks, tests and replays
// rules files and runs the service. See `vigil help`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigilhq/vigil/internal/rulescli"
)

// command is one subcommand: it parses its own flags from args.
type command struct {
	name, usage, summary string
	run                  func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands []command

func init() {
	commands = []command{
		{"serve", "vigil serve [-c vigil.yaml] [--rules DIR] [--listen ADDR]", "run the service: HTTP/Kafka in, alerts to sinks and the embedded store", runServe},
		{"rules", "vigil rules push|versions|rollback|diff … [--server URL]", "change a running service's rules: push files, list versions, roll back, diff", rulescli.Run},
		{"alerts", "vigil alerts [--rule R] [--key K] [--since D] [--json]", "query alert history from a running service", runAlerts},
		{"check", "vigil check FILES…", "validate rules files; exit 1 with positioned errors", runCheck},
		{"replay", "vigil replay -r RULES -e EVENTS.ndjson [--until T] [--out-of-orderness D] [-o FILE] [--dead-letter FILE]", "run rules over an NDJSON file of events; alerts as NDJSON", runReplay},
		{"test", "vigil test FILES…", "run rule tests; exit 1 on any failure", runTest},
		{"bench", "vigil bench [-scenario S] [-events N] [-keys K]", "measure the engine against hand-written Go on a synthetic stream", runBench},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "vigil: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "vigil — complex event processing for fraud and risk teams")
	fmt.Fprintln(w, "\nUsage:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %s\n      %s\n", c.usage, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'vigil COMMAND -h' for a command's flags.")
}

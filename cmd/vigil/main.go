// Command vigil is the one binary of vigil: it checks, tests and replays
// rules files and runs the service. See `vigil help`.
//
// The command line is built on spf13/cobra: each command is one file that
// registers a constructor with addCommand and keeps its logic in a plain
// function, so adding a command is adding a file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newCommands are the constructors of the subcommands, registered by each
// command's file.
var newCommands []func() *cobra.Command

// addCommand registers a subcommand; call it from an init function.
func addCommand(f func() *cobra.Command) { newCommands = append(newCommands, f) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError ends a command with an exit status; msg, when set, is printed
// as "vigil CMD: msg". Usage errors have code 2.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageErr is a mistake in the command line: exit 2 with the reason.
func usageErr(format string, a ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, a...)}
}

// failErr is a failure of the command itself: exit 1 with the reason.
func failErr(format string, a ...any) error {
	return &exitError{code: 1, msg: fmt.Sprintf(format, a...)}
}

// exitCode ends a command that has printed what it had to say.
func exitCode(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "vigil",
		Short: "complex event processing for fraud and risk teams",
		Long: `vigil matches temporal sequences and thresholds over keyed event streams,
written as rules in YAML files, and raises alerts.

Write a rule (docs/rules.md), check it, test it, replay it over past events,
then run it in the service.`,
		Example: `  vigil check examples/rules
  vigil test examples/tests
  vigil replay -r examples/rules -e examples/events/payments.ndjson
  vigil serve --rules examples/rules`,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Usage()
			return usageErr("name a command")
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErr("%v", err)
	})
	for _, f := range newCommands {
		root.AddCommand(f())
	}
	return root
}

// run runs the command line and returns the exit status: 0, 1 when the
// command failed, 2 for a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		// A panic is a bug, but it must not print a goroutine dump at a user.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "vigil: internal error: %v\n", r)
			code = 1
		}
	}()
	root := newRoot(stdout, stderr)
	root.SetArgs(singleDashLongFlags(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Cobra's own errors (unknown command, arguments) are usage errors.
		ee = &exitError{code: 2, msg: err.Error()}
	}
	if ee.msg != "" {
		name := cmd.CommandPath()
		fmt.Fprintf(stderr, "%s: %s\n", name, ee.msg)
		if ee.code == 2 {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", name)
		}
	}
	return ee.code
}

// singleDashLongFlags rewrites -name into --name when name is a long flag
// of the command being run, so the Go-style spelling that earlier versions
// of vigil documented (vigil bench -events 1000) keeps working.
func singleDashLongFlags(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return args
	}
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if f := cmd.Flags().Lookup(name); f != nil && len(name) > 1 {
			out[i] = "-" + a
		} else if f := cmd.InheritedFlags().Lookup(name); f != nil && len(name) > 1 {
			out[i] = "-" + a
		}
	}
	return out
}

// noArgs refuses positional arguments, saying what to write instead.
func noArgs(hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErr("takes no arguments, got %q: %s", strings.Join(args, " "), hint)
		}
		return nil
	}
}

// listFlag is a repeatable flag whose values may also be comma lists.
func listFlag(fs *pflag.FlagSet, p *[]string, name, short, usage string) {
	fs.StringSliceVarP(p, name, short, nil, usage)
}

package main

import (
	"strings"
	"testing"
)

// TestUsageErrors: every mistake in a command line names what is wrong and
// exits 2; nothing panics.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{nil, "vigil: name a command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serv"}, "Did you mean this?\n\tserve"},
		{[]string{"bench", "-events", "-5"}, "--events must be at least 1, got -5"},
		{[]string{"bench", "--events", "0"}, "--events must be at least 1, got 0"},
		{[]string{"bench", "-keys", "0"}, "--keys must be at least 1, got 0"},
		{[]string{"bench", "--workers", "0"}, "--workers must be at least 1"},
		{[]string{"bench", "--batch=-1"}, "--batch must be 0"},
		{[]string{"bench", "-scenario", "nope"}, `unknown scenario "nope" (use all, velocity, sequence3)`},
		{[]string{"bench", "--events", "many"}, `invalid argument "many" for "--events"`},
		{[]string{"bench", "--nope"}, "unknown flag: --nope"},
		{[]string{"replay"}, "missing --rules (-r)"},
		{[]string{"replay", "-r", "x.yaml"}, "missing --events (-e)"},
		{[]string{"replay", "-r", "x.yaml", "-e", "e.ndjson", "--until", "tomorrow"}, `--until "tomorrow": want RFC 3339 or Unix milliseconds`},
		{[]string{"replay", "-r", "x.yaml", "-e", "e.ndjson", "--out-of-orderness", "5"}, "--out-of-orderness: invalid duration"},
		{[]string{"replay", "-r", "x.yaml", "-e", "e.ndjson", "extra"}, `takes no arguments, got "extra"`},
		{[]string{"check"}, "name at least one rules file or directory"},
		{[]string{"test"}, "name at least one test file"},
		{[]string{"test", "no/such/dir"}, "no such file or directory"},
		{[]string{"serve", "examples/rules"}, `takes no arguments, got "examples/rules": name rules files with --rules`},
		{[]string{"serve", "--listen"}, "flag needs an argument: --listen"},
		{[]string{"alerts", "--limit", "0"}, "--limit must be at least 1"},
		{[]string{"alerts", "--shadow", "maybe"}, "--shadow must be true or false"},
		{[]string{"alerts", "show"}, "name one alert id"},
		{[]string{"alerts", "show", "a", "b"}, "name one alert id"},
		{[]string{"help", "nope"}, `Unknown help topic [` + "`nope`" + `]`},
	} {
		code, out, errs := vigil(t, tc.args...)
		wantCode := 2
		if len(tc.args) > 0 && tc.args[0] == "help" {
			wantCode = 0 // cobra's help of an unknown topic prints the usage
			errs += out
		}
		if code != wantCode || !strings.Contains(errs, tc.want) {
			t.Errorf("vigil %s = exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, errs, wantCode, tc.want)
		}
	}
}

// TestHelpExplainsEachCommand: `vigil help CMD` and `vigil CMD --help` print
// the command's flags and an example.
func TestHelpExplainsEachCommand(t *testing.T) {
	for _, tc := range []struct{ cmd, flag string }{
		{"serve", "--listen"}, {"check", "vigil check examples/rules"}, {"test", "--verbose"},
		{"replay", "--until"}, {"bench", "--scenario"}, {"alerts", "--since"}, {"completion", "bash"},
	} {
		for _, args := range [][]string{{"help", tc.cmd}, {tc.cmd, "--help"}, {tc.cmd, "-h"}} {
			code, out, _ := vigil(t, args...)
			if code != 0 || !strings.Contains(out, tc.flag) || !strings.Contains(out, "Usage:") {
				t.Errorf("vigil %s = exit %d:\n%s\nwant %q", strings.Join(args, " "), code, out, tc.flag)
			}
			if tc.cmd != "completion" && !strings.Contains(out, "Examples:") {
				t.Errorf("vigil %s shows no example:\n%s", strings.Join(args, " "), out)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := vigil(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "vigil ") || !strings.Contains(out, "commit ") || !strings.Contains(out, "go1.") {
		t.Errorf("vigil --version = exit %d, %q", code, out)
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	code, out, errs := vigil(t, "test", "../../examples/tests", "-v")
	if code != 0 || !strings.Contains(out, "ok   ") {
		t.Errorf("vigil test DIR -v = exit %d:\n%s%s", code, out, errs)
	}
}

func TestCompletion(t *testing.T) {
	code, out, _ := vigil(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("vigil completion bash = exit %d, %.200q", code, out)
	}
}

// FuzzCommandLine: no command line makes vigil panic, and every exit status
// is 0, 1 or 2. Commands that would run for long (serve, bench with valid
// sizes) are kept out by the seeds' shapes, not by the fuzzer.
func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{
		"bench -events -5", "bench -keys 0", "bench -events 0", "bench -scenario nope", "check", "check -x",
		"replay -r", "replay -e -", "test -v", "alerts --limit -1", "help help", "--version --help",
		"serve --listen", "completion zsh", "alerts show", "check /nonexistent",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		if len(args) > 0 && (args[0] == "serve" || args[0] == "bench" || args[0] == "alerts") {
			// These would run (a server, a benchmark, a network call) when
			// their flags are valid: only their flag errors are fuzzed.
			args = append(args, "--events=-1", "--limit=0", "--listen")
		}
		if len(args) > 0 && args[0] == "replay" {
			args = append(args, "--until=never")
		}
		if len(args) > 0 && args[0] == "test" {
			args = append(args, "/nonexistent")
		}
		code, _, errs := vigil(t, args...)
		if strings.Contains(errs, "internal error") {
			t.Fatalf("vigil %q panicked: %s", line, errs)
		}
		if code < 0 || code > 2 {
			t.Fatalf("vigil %q = exit %d", line, code)
		}
	})
}

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputCorpus runs broken rules files through check, replay and
// serve: each says where the fault is (line and column) and what it is,
// and none starts anything.
func TestBadInputCorpus(t *testing.T) {
	dir := t.TempDir()
	events := write(t, dir, "e.ndjson", `{"id":"e1","ts":"2026-11-20T10:00:00Z","card_id":"c1"}`+"\n")
	for _, tc := range []struct {
		name, body string
		want       string // after "FILE:"
	}{
		{"unclosed_flow.yaml", "rules:\n  - name: a\n    labels: [x, y\n    key: k\n", "4:5: invalid YAML: ',' or ']' must be specified"},
		{"bad_indent.yaml", "rules:\n  - name: a\n   key: k\n", "3:4: invalid YAML: value is not allowed in this context"},
		{"unterminated_quote.yaml", "rules:\n  - name: \"a\n    key: k\n", "2:11: invalid YAML: could not find end character of double-quoted text"},
		{"tab_indent.yaml", "rules:\n\t- name: a\n", "2:1: invalid YAML: a tab cannot start a token (YAML indents with spaces only)"},
		{"nul.yaml", "rules:\n  - name: a\x00\n", "2:12: invalid YAML: control characters"},
		{"huge_within.yaml", "rules:\n  - name: a\n    pattern:\n      - begin: x\n      - followed_by: y\n    within: 106751991167d\n",
			`6:13: rule "a": within: 106751991167d is too long: at most 36500d (100 years)`},
		{"huge_window.yaml", "rules:\n  - name: a\n    threshold: {window: 106751991167d, condition: count() > 1}\n",
			`3:25: rule "a": threshold.window: 106751991167d is too long`},
		{"median_scalar.yaml", "rules:\n  - name: a\n    threshold: {window: 1h, condition: median(amount) > 5}\n",
			`3:40: rule "a": threshold.condition: median(amount): median works on an array, and amount is a field of one event`},
	} {
		path := write(t, dir, tc.name, tc.body)
		want := path + ":" + tc.want
		for _, args := range [][]string{
			{"check", path},
			{"replay", "-r", path, "-e", events},
			{"serve", "--rules", path, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data")},
		} {
			code, _, errs := vigil(t, args...)
			if code != 1 || !strings.Contains(errs, want) {
				t.Errorf("vigil %s: exit %d, stderr:\n%s\nwant exit 1 and %q", args[0], code, errs, want)
			}
		}
	}
}

// TestCheckSaysWhatAFileIs: check on something that is not rules says what
// it is and what to run instead.
func TestCheckSaysWhatAFileIs(t *testing.T) {
	empty := t.TempDir()
	tests := t.TempDir()
	write(t, tests, "x_test.yaml", "rules: [r.yaml]\ntests: []\n")
	for _, tc := range []struct {
		arg, want string
		code      int
	}{
		{"../../examples/vigil.yaml", "is a service config file, not rules: it is checked when the service starts (vigil serve -c ../../examples/vigil.yaml)", 1},
		{"../../examples/tests/payments_test.yaml", "is a rule test file: run vigil test ../../examples/tests/payments_test.yaml", 1},
		{tests, "holds rule tests but no rules files: run vigil test " + tests, 1},
		{empty, "holds no rules files (*.yaml, *.yml)", 1},
		{"../../examples/events/payments.ndjson", "looks like events, not rules: run rules over it with vigil replay -r RULES -e", 1},
		{"../../examples", "skipping ../../examples/vigil.yaml: a service config file, not rules", 0},
	} {
		code, _, errs := vigil(t, "check", tc.arg)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("vigil check %s = exit %d, %q; want exit %d and %q", tc.arg, code, errs, tc.code, tc.want)
		}
	}
}

func TestServeRefusesNoRules(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := vigil(t, "serve", "--rules", dir, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	if code != 1 || !strings.Contains(errs, "no rules files (*.yaml, *.yml) in "+dir+": name the rules with --rules DIR") {
		t.Errorf("serve with no rules files = exit %d, %q", code, errs)
	}
	empty := write(t, dir, "empty.yaml", "rules: []\n")
	code, _, errs = vigil(t, "serve", "--rules", empty, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	if code != 1 || !strings.Contains(errs, "no rules in "+empty+" (1 rules file(s) found)") || !strings.Contains(errs, "--allow-empty") {
		t.Errorf("serve with zero rules = exit %d, %q", code, errs)
	}
	// A config file's rules are relative to the file: examples/vigil.yaml
	// names ./rules, i.e. examples/rules, wherever vigil runs from.
	cfg := write(t, dir, "vigil.yaml", "rules: [./none]\n")
	code, _, errs = vigil(t, "serve", "-c", cfg, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	if code != 1 || !strings.Contains(errs, filepath.Join(dir, "none")) {
		t.Errorf("serve -c with rules relative to the config = exit %d, %q", code, errs)
	}
}

// TestTestFileErrors: a test file's mistakes are positioned, with a "did
// you mean", and a case that asserts nothing fails.
func TestTestFileErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r.yaml", "rules:\n  - name: v\n    key: card\n    threshold: {window: 10m, condition: count() >= 2}\n")
	for _, tc := range []struct{ body, want string }{
		{"rules: [r.yaml]\ntests:\n  - name: x\n    expcet: []\n", `:4:5: tests[0]: unknown key "expcet" (did you mean "expect"?)`},
		{"rule: [r.yaml]\n", `:1:1: unknown key "rule" (did you mean "rules"?)`},
		{"rules: r.yaml\n", `:1:8: rules: want a list, got "r.yaml" (write [r.yaml])`},
		{"rules: [r.yaml]\ntests:\n  - name: x\n    silent: v\n", `:4:13: tests[0].silent: want a list, got "v" (write [v])`},
		{"rules: [r.yaml]\ntests:\n  - name: x\n    events: [{id: e1, ts: 2026-11-20T10:00:00Z}]\n", "the case asserts nothing: list the alerts it must raise under expect"},
		{"rules: [r.yaml]\ntests:\n  - name: secs\n    events: [{id: e1, ts: 1763632800, card: c1}]\n    silent: [v]\n", "looks like Unix seconds"},
		{"rules: [r.yaml]\ntests:\n  - name: x\n    events: [{id: e1, ts: 2026-11-20T10:00:00Z\n", "invalid YAML"},
	} {
		path := write(t, dir, "x_test.yaml", tc.body)
		code, out, _ := vigil(t, "test", path)
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("test file %q: exit %d, output:\n%s\nwant %q", tc.body, code, out, tc.want)
		}
	}
	// With time_unit: s, Unix seconds are read as such.
	path := write(t, dir, "x_test.yaml", "rules: [r.yaml]\ntime_unit: s\ntests:\n  - name: secs\n    events:\n      - {id: e1, ts: 1763632800, card: c1}\n      - {id: e2, ts: 1763632900, card: c1}\n    expect:\n      - {rule: v, key: c1, time: 2025-11-20T10:01:40Z, events: [e1, e2]}\n")
	if code, out, _ := vigil(t, "test", path); code != 0 {
		t.Errorf("time_unit: s: exit %d\n%s", code, out)
	}
}

// TestConfigErrorsArePositioned: a config file's mistakes name the line,
// the column and the setting, with a "did you mean".
func TestConfigErrorsArePositioned(t *testing.T) {
	dir := t.TempDir()
	cfg := write(t, dir, "vigil.yaml", "listen: \":8181\"\ntime:\n  idle_timout: 5s\n  unit: seconds\n")
	_, _, errs := vigil(t, "serve", "-c", cfg)
	for _, want := range []string{
		cfg + `:1:1: unknown key "listen" here (it belongs under http: http.listen)`,
		cfg + `:3:3: time: unknown key "idle_timout" (did you mean "idle_timeout"?)`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("serve -c: stderr %q lacks %q", errs, want)
		}
	}
	cfg = write(t, dir, "vigil.yaml", "time:\n  unit: seconds\n")
	if code, _, errs := vigil(t, "serve", "-c", cfg); code != 1 || !strings.Contains(errs, `time.unit: want ms or s, got "seconds"`) {
		t.Errorf("time.unit seconds: exit %d, %q", code, errs)
	}
}

// Package ruletest runs rule tests: YAML files that name rules
// files, give input events and list the exact alerts expected. Events run
// through the production engine (package cep), as in `vigil replay`.
package ruletest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/replay"
	"github.com/vigilhq/vigil/internal/yamlfile"
	"github.com/vigilhq/vigil/rules"
)

// File is a test file.
type File struct {
	// Rules are rules files or directories, relative to the test file.
	Rules     []string `yaml:"rules"`
	TimeField string   `yaml:"time_field"`
	IDField   string   `yaml:"id_field"`
	// TimeUnit is the unit of integer event times: ms (default) or s.
	TimeUnit string `yaml:"time_unit"`
	Tests    []Case `yaml:"tests"`
}

// Case is one test: events in, alerts expected.
type Case struct {
	Name string `yaml:"name"`
	// Events are inline events; EventsFile an NDJSON file relative to the
	// test file. Inline events come first.
	Events     []map[string]any `yaml:"events"`
	EventsFile string           `yaml:"events_file"`
	// Until is the final watermark (default: end of time);
	// OutOfOrderness the watermark's delay (default 0s).
	Until          string `yaml:"until"`
	OutOfOrderness string `yaml:"out_of_orderness"`
	// Expect lists every alert the rules it names must raise, in any order.
	// Alerts of rules named neither here nor in Silent are not checked.
	Expect []Expected `yaml:"expect"`
	// Silent names rules that must raise no alert.
	Silent []string `yaml:"silent"`

	line int
}

// Expected is an expected alert. Rule is required; every other field that
// is set must equal the alert's.
type Expected struct {
	Rule    string              `yaml:"rule"`
	Key     *string             `yaml:"key"`
	Time    string              `yaml:"time"`
	Events  []string            `yaml:"events"`  // matched event ids, in order
	Matched map[string][]string `yaml:"matched"` // per stage, sequence rules
	Fields  map[string]any      `yaml:"fields"`
	Values  map[string]any      `yaml:"values"`
	Summary *string             `yaml:"summary"`
	// Suppressed and Shadow are compared when set.
	Suppressed *bool `yaml:"suppressed"`
	Shadow     *bool `yaml:"shadow"`

	time int64 // parsed Time
}

// Result is the outcome of one case.
type Result struct {
	File, Name string
	Line       int
	Failures   []string // readable descriptions; empty when the case passed
	Alerts     int
	// ExprErrors are the runtime errors of the rules' expressions: each
	// made a condition false, which a test's author wants to know.
	ExprErrors []rules.ExprError
}

// Passed reports whether the case passed.
func (r Result) Passed() bool { return len(r.Failures) == 0 }

// RunFile runs every case of a test file.
func RunFile(ctx context.Context, path string) ([]Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// A typo in a test must not silently weaken it: unknown keys are
	// errors, positioned, with a "did you mean".
	var f File
	if err := yamlfile.Decode(path, data, &f); err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	caseLines(&doc, f.Tests)
	if len(f.Rules) == 0 {
		return nil, fmt.Errorf("%s: no rules files named (rules: [...])", path)
	}
	if f.TimeUnit != "" && f.TimeUnit != event.UnitMillis && f.TimeUnit != event.UnitSeconds {
		return nil, fmt.Errorf("%s: time_unit: want ms or s, got %q", path, f.TimeUnit)
	}
	if len(f.Tests) == 0 {
		return nil, fmt.Errorf("%s: no test cases (tests: [...])", path)
	}
	dir := filepath.Dir(path)
	var ruleFiles []string
	for _, r := range f.Rules {
		if !filepath.IsAbs(r) {
			r = filepath.Join(dir, r)
		}
		ruleFiles = append(ruleFiles, r)
	}
	var results []Result
	for _, c := range f.Tests {
		// Each case gets a fresh ruleset and engine: no state leaks between cases.
		rs, err := rules.LoadFiles(ruleFiles...)
		if err != nil {
			return nil, fmt.Errorf("%s: loading rules: %w", path, err)
		}
		res := Result{File: path, Name: c.Name, Line: c.line}
		res.Failures, res.Alerts, res.ExprErrors = runCase(ctx, rs, &f, c, dir)
		results = append(results, res)
	}
	return results, nil
}

// caseLines records where each case starts, for failure messages.
func caseLines(doc *yaml.Node, cases []Case) {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "tests" {
			for j, n := range top.Content[i+1].Content {
				if j < len(cases) {
					cases[j].line = n.Line
				}
			}
		}
	}
}

func runCase(ctx context.Context, rs *rules.Ruleset, f *File, c Case, dir string) (failures []string, alerts int, exprErrs []rules.ExprError) {
	fail := func(format string, a ...any) []string { return []string{fmt.Sprintf(format, a...)} }
	if len(c.Expect) == 0 && len(c.Silent) == 0 {
		// It would pass whatever the rules do.
		return fail("the case asserts nothing: list the alerts it must raise under expect, or the rules that must stay silent under silent"), 0, nil
	}
	for _, name := range c.Silent {
		if rs.Rule(name) == nil {
			return fail("silent names unknown rule %q", name), 0, nil
		}
	}
	for i := range c.Expect {
		x := &c.Expect[i]
		if x.Rule == "" {
			return fail("expect[%d] has no rule", i), 0, nil
		}
		if rs.Rule(x.Rule) == nil {
			return fail("expect[%d] names unknown rule %q", i, x.Rule), 0, nil
		}
		if x.Time != "" {
			t, err := event.ParseTime(x.Time)
			if err != nil {
				return fail("expect[%d].time %q: want RFC 3339 or Unix ms", i, x.Time), 0, nil
			}
			x.time = t
		}
	}
	input, err := caseInput(c, dir)
	if err != nil {
		return fail("%v", err), 0, nil
	}
	unit := f.TimeUnit
	if unit == "" {
		unit = event.UnitMillis
	}
	opts := replay.Options{Decoder: event.Decoder{TimeField: f.TimeField, IDField: f.IDField, TimeUnit: unit}}
	if c.OutOfOrderness != "" {
		d, err := rules.ParseDuration(c.OutOfOrderness)
		if err != nil {
			return fail("out_of_orderness: %v", err), 0, nil
		}
		opts.OutOfOrderness = time.Duration(d) * time.Millisecond
	}
	if c.Until != "" {
		t, err := event.ParseTime(c.Until)
		if err != nil {
			return fail("until %q: want RFC 3339 or Unix ms", c.Until), 0, nil
		}
		opts.Until = time.UnixMilli(t)
	}
	var got []cep.Alert
	var rejected, untimed []string
	opts.OnAlert = func(a cep.Alert) error { got = append(got, a); return nil }
	opts.OnReject = func(r replay.Rejected) error {
		msg := fmt.Sprintf("event %d rejected (%s): %s", r.Line, r.Reason, r.Error)
		rejected = append(rejected, msg)
		if r.Reason == event.ReasonBadTime || r.Reason == event.ReasonNoTime {
			untimed = append(untimed, msg)
		}
		return nil
	}
	sum, err := replay.Run(ctx, rs, bytes.NewReader(input), "events", opts)
	if err != nil {
		return fail("%v", err), 0, nil
	}
	for _, r := range rs.Rules {
		exprErrs = append(exprErrs, sum.Rules[r.Name].ExprErrors...)
	}
	if len(untimed) > 0 {
		// An event without a valid time never reaches the rules: a case
		// holding one tests less than it says (a late event may be meant).
		return []string{"events without a valid time:\n    " + strings.Join(untimed, "\n    ")}, len(got), exprErrs
	}
	idField := f.IDField
	if idField == "" {
		idField = event.DefaultIDField
	}
	return compare(c, got, rejected, idField), len(got), exprErrs
}

// caseInput renders the case's events as NDJSON: inline events (YAML
// values normalised as JSON would decode them), then the events file.
func caseInput(c Case, dir string) ([]byte, error) {
	var buf bytes.Buffer
	for i, ev := range c.Events {
		data, err := json.Marshal(normalize(ev))
		if err != nil {
			return nil, fmt.Errorf("events[%d]: %v", i, err)
		}
		buf.Write(data)
		buf.WriteByte('\n')
	}
	if c.EventsFile != "" {
		p := c.EventsFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		buf.Write(data)
	}
	return buf.Bytes(), nil
}

// normalize makes YAML-decoded values JSON-friendly: unquoted timestamps
// become RFC 3339 strings, nested maps get string keys.
func normalize(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = normalize(val)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[fmt.Sprint(k)] = normalize(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = normalize(val)
		}
		return out
	}
	return v
}

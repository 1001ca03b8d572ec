package cep

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/rules"
)

// Update reordering rules, removing one and adding one, at random cuts of
// a multi-input stream: the alerts of the untouched rules equal an
// uninterrupted run's.
func TestUpdateReorderWithSeveralInputs(t *testing.T) {
	ctx := context.Background()
	ooo := 3 * time.Second
	specs := []inputSpec{
		{"p0", InputOptions{OutOfOrderness: ooo, PartitionKey: "card"}},
		{"p1", InputOptions{OutOfOrderness: ooo, PartitionKey: "card"}},
		{"http", InputOptions{OutOfOrderness: ooo}},
	}
	steps := multiEvents(31, 1200, 20, []string{"p0", "p1"}, 10)
	before := mustLoad(t, throttledRules)
	// after: reversed order, "daily" removed, a new rule added
	reorder := func() *rules.Ruleset {
		rs := mustLoad(t, throttledRules+`  - name: extra
    key: merchant
    threshold: {window: 1m, condition: count() >= 2}
`)
		var out []*rules.Rule
		for i := len(rs.Rules) - 1; i >= 0; i-- {
			if rs.Rules[i].Name != "daily" {
				out = append(out, rs.Rules[i])
			}
		}
		rs.Rules = out
		return rs
	}
	keep := func(as []Alert) []string {
		var out []string
		for _, a := range as {
			if a.Rule != "daily" && a.Rule != "extra" {
				a.RuleVersion = 0
				out = append(out, fullAlert(a))
			}
		}
		return out
	}
	base := &collector{}
	eng, _ := New(before, WithAlertHandler(base.handle), WithStateTTL(20*time.Minute))
	openAll(t, eng, specs)
	runSteps(t, eng, steps)
	finish(t, eng)
	want := keep(base.got())
	slices.Sort(want)
	for _, cut := range sampleCuts(len(steps), 10, 8) {
		c := &collector{}
		e2, _ := New(mustLoad(t, throttledRules), WithAlertHandler(c.handle), WithWorkers(2), WithStateTTL(20*time.Minute))
		openAll(t, e2, specs)
		runSteps(t, e2, steps[:cut])
		if err := e2.Update(ctx, reorder()); err != nil {
			t.Fatal(err)
		}
		runSteps(t, e2, steps[cut:])
		finish(t, e2)
		got := keep(c.got())
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("update at %d: %d alerts want %d: %s", cut, len(got), len(want), firstDiff(got, want))
		}
	}
	_ = strings.TrimSpace
}

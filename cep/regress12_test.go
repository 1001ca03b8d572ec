package cep

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"
)

// Restore into an engine that already has state: the engine that took the
// snapshot goes on, then restores it (a rollback, as after a failed
// checkpoint commit) and is fed again from the cut.
func TestRestoreRollsBackALiveEngine(t *testing.T) {
	ctx := context.Background()
	ooo := 3 * time.Second
	for _, tc := range []struct {
		name  string
		specs []inputSpec
	}{
		{"one input, exchange", []inputSpec{{"src", InputOptions{OutOfOrderness: ooo}}}},
		{"co-partitioned inputs", []inputSpec{{"p0", InputOptions{OutOfOrderness: ooo, PartitionKey: "card"}}, {"p1", InputOptions{OutOfOrderness: ooo, PartitionKey: "card"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rulesFor := throttledRules
			if tc.name == "co-partitioned inputs" {
				rulesFor = cardRules
			}
			var names []string
			for _, s := range tc.specs {
				names = append(names, s.name)
			}
			steps := multiEvents(41, 1000, 20, names, 0)
			base := &collector{}
			eng, _ := New(mustLoad(t, rulesFor), WithAlertHandler(base.handle))
			openAll(t, eng, tc.specs)
			runSteps(t, eng, steps)
			finish(t, eng)
			want := map[string]bool{}
			for _, a := range fullAlerts(base.got()) {
				want[a] = true
			}
			cut, cut2 := 400, 700
			c := &collector{}
			e, _ := New(mustLoad(t, rulesFor), WithAlertHandler(c.handle))
			openAll(t, e, tc.specs)
			runSteps(t, e, steps[:cut])
			_ = e.Flush(ctx)
			var snap bytes.Buffer
			_ = e.Snapshot(ctx, &snap)
			runSteps(t, e, steps[cut:cut2])
			_ = e.Flush(ctx)
			if _, err := e.Restore(ctx, &snap); err != nil {
				t.Fatal(err)
			}
			late0 := e.Stats().Late
			runSteps(t, e, steps[cut:])
			late := e.Stats().Late - late0
			finish(t, e)
			got := map[string]bool{}
			for _, a := range fullAlerts(c.got()) {
				got[a] = true
			}
			var missing, extra int
			for a := range want {
				if !got[a] {
					missing++
				}
			}
			for a := range got {
				if !want[a] {
					extra++
				}
			}
			if missing+extra > 0 {
				t.Errorf("after restoring into the live engine and replaying from the cut: %d alerts missing, %d never raised by an uninterrupted run; %d replayed events late", missing, extra, late)
			}
			_ = slices.Equal[[]string]
		})
	}
}

package cep

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

type pushStep struct {
	input string
	ev    map[string]any
}

type inputSpec struct {
	name string
	opts InputOptions
}

// multiEvents spreads randomEvents over inputs: card-keyed inputs get the
// events of "their" cards; a share goes to "http".
func multiEvents(seed uint64, n, cards int, inputs []string, httpShare int) []pushStep {
	evs := randomEvents(seed, n, cards)
	r := rand.New(rand.NewPCG(seed, 9))
	out := make([]pushStep, len(evs))
	for i, e := range evs {
		var card int
		fmt.Sscanf(e["card"].(string), "c%d", &card)
		in := inputs[card%len(inputs)]
		if httpShare > 0 && r.IntN(100) < httpShare {
			in = "http"
		}
		out[i] = pushStep{input: in, ev: e}
	}
	return out
}

func runSteps(t *testing.T, eng *Engine, steps []pushStep) {
	t.Helper()
	ctx := context.Background()
	for _, s := range steps {
		ev, err := eng.toEvent(s.ev)
		if err != nil {
			t.Fatal(err)
		}
		in, ok := eng.Input(s.input)
		if !ok {
			t.Fatalf("no input %s", s.input)
		}
		if _, err := in.Push(ctx, []*event.Event{ev}, nil); err != nil {
			t.Fatalf("push %s: %v", s.input, err)
		}
	}
}

func openAll(t *testing.T, eng *Engine, specs []inputSpec) {
	for _, s := range specs {
		if _, err := eng.OpenInput(s.name, s.opts); err != nil {
			t.Fatal(err)
		}
	}
}

// diffCut runs steps uninterrupted, then cut at each of cuts with a
// snapshot restored in a fresh engine, and reports differences.
func diffCut(t *testing.T, rulesYAML string, specs []inputSpec, steps []pushStep, cuts []int, opts ...Option) {
	t.Helper()
	ctx := context.Background()
	base := &collector{}
	eng, err := New(mustLoad(t, rulesYAML), append(opts, WithAlertHandler(base.handle))...)
	if err != nil {
		t.Fatal(err)
	}
	openAll(t, eng, specs)
	runSteps(t, eng, steps)
	finish(t, eng)
	want := fullAlerts(base.got())
	if len(want) == 0 {
		t.Fatalf("no alerts")
	}
	fails := 0
	for _, cut := range cuts {
		c := &collector{}
		first, err := New(mustLoad(t, rulesYAML), append(opts, WithAlertHandler(c.handle))...)
		if err != nil {
			t.Fatal(err)
		}
		openAll(t, first, specs)
		runSteps(t, first, steps[:cut])
		if err := first.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		var snap bytes.Buffer
		if err := first.Snapshot(ctx, &snap); err != nil {
			t.Fatal(err)
		}
		before := c.got()
		c2 := &collector{}
		second, err := New(mustLoad(t, rulesYAML), append(opts, WithAlertHandler(c2.handle))...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := second.Restore(ctx, &snap); err != nil {
			t.Fatalf("cut %d: restore: %v", cut, err)
		}
		runSteps(t, second, steps[cut:])
		finish(t, second)
		got := fullAlerts(append(before, c2.got()...))
		if !slices.Equal(got, want) {
			fails++
			if fails <= 3 {
				t.Errorf("cut %d: %d alerts; uninterrupted %d; first difference: %s", cut, len(got), len(want), firstDiff(got, want))
			}
		}
		_ = first.Close(ctx)
	}
	if fails > 0 {
		t.Errorf("%d of %d cuts differ", fails, len(cuts))
	}
}

func firstDiff(got, want []string) string {
	for i := 0; i < min(len(got), len(want)); i++ {
		if got[i] != want[i] {
			return fmt.Sprintf("#%d\n got  %.300s\n want %.300s", i, got[i], want[i])
		}
	}
	if len(got) > len(want) {
		return fmt.Sprintf("extra %.300s", got[len(want)])
	}
	if len(want) > len(got) {
		return fmt.Sprintf("missing %.300s", want[len(got)])
	}
	return "none"
}

func sampleCuts(n, k int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 3))
	var out []int
	for i := 0; i < k; i++ {
		out = append(out, r.IntN(n+1))
	}
	return out
}

const throttledRules = mixedRules + `  - name: thr-card
    key: card
    throttle: 7m
    threshold:
      where: status == "declined"
      window: 5m
      condition: count() >= 2
    emit: every
  - name: tumble-merchant
    key: merchant
    throttle: 30m
    threshold:
      window: {size: 10m, type: tumbling}
      condition: count() >= 2
`

func TestSnapshotWithSeveralInputs(t *testing.T) {
	ooo := 3 * time.Second
	specs := []inputSpec{
		{"p0", InputOptions{OutOfOrderness: ooo, PartitionKey: "card"}},
		{"p1", InputOptions{OutOfOrderness: ooo, PartitionKey: "card"}},
		{"http", InputOptions{OutOfOrderness: ooo}},
	}
	steps := multiEvents(11, 800, 20, []string{"p0", "p1"}, 10)
	diffCut(t, throttledRules, specs, steps, sampleCuts(len(steps), 12, 1), WithOutOfOrderness(ooo))
}

func TestSnapshotWithSeveralInputsAndTTL(t *testing.T) {
	ooo := 3 * time.Second
	specs := []inputSpec{
		{"p0", InputOptions{OutOfOrderness: ooo, PartitionKey: "card"}},
		{"p1", InputOptions{OutOfOrderness: ooo, PartitionKey: "card"}},
		{"http", InputOptions{OutOfOrderness: ooo}},
	}
	steps := multiEvents(12, 800, 20, []string{"p0", "p1"}, 10)
	diffCut(t, throttledRules, specs, steps, sampleCuts(len(steps), 12, 2), WithOutOfOrderness(ooo), WithStateTTL(20*time.Minute), WithWorkers(2))
}

func TestSnapshotWithoutPartitionKey(t *testing.T) {
	ooo := 3 * time.Second
	specs := []inputSpec{
		{"p0", InputOptions{OutOfOrderness: ooo}},
		{"p1", InputOptions{OutOfOrderness: 0}},
	}
	steps := multiEvents(13, 800, 20, []string{"p0", "p1"}, 0)
	diffCut(t, throttledRules, specs, steps, sampleCuts(len(steps), 12, 3), WithStateTTL(20*time.Minute))
}

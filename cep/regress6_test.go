package cep

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

const cardRules = `rules:
  - name: velocity
    key: card
    threshold:
      where: status == "declined"
      window: 5m
      condition: count() >= 3 && sum(amount) > 10
  - name: daily
    key: card
    throttle: 90m
    threshold:
      window: {size: 1h, type: tumbling}
      condition: count() >= 4
  - name: probe
    key: card
    pattern:
      - begin: small
        where: amount < 20
        times: 2..
      - followed_by: big
        where: amount > 50
    within: 20m
    skip: no_skip
  - name: no-capture
    key: card
    pattern:
      - begin: auth
        where: status == "approved"
      - not_followed_by: capture
        where: status == "captured"
    within: 15m
`

// Moving one input partition's state (Snapshot of "input/p0") to a new
// engine gives p0's keys the alerts of an uninterrupted run.
func TestMoveAnInputPartition(t *testing.T) {
	ctx := context.Background()
	ooo := 3 * time.Second
	specs := []inputSpec{
		{"p0", InputOptions{OutOfOrderness: ooo, PartitionKey: "card"}},
		{"p1", InputOptions{OutOfOrderness: ooo, PartitionKey: "card"}},
	}
	steps := multiEvents(21, 1000, 20, []string{"p0", "p1"}, 0)
	var p0 []pushStep
	for _, s := range steps {
		if s.input == "p0" {
			p0 = append(p0, s)
		}
	}
	base := &collector{}
	eng, _ := New(mustLoad(t, cardRules), WithAlertHandler(base.handle))
	openAll(t, eng, specs)
	runSteps(t, eng, steps)
	finish(t, eng)
	var want []string
	for _, a := range base.got() {
		var card int
		_, _ = fmtSscanf(a.Key, &card)
		if card%2 == 0 {
			want = append(want, fullAlert(a))
		}
	}
	if len(want) == 0 {
		t.Fatal("no alerts")
	}
	bad := 0
	for _, cut := range sampleCuts(len(p0), 15, 5) {
		c := &collector{}
		first, _ := New(mustLoad(t, cardRules), WithAlertHandler(c.handle))
		openAll(t, first, specs[:1])
		runSteps(t, first, p0[:cut])
		_ = first.Flush(ctx)
		var snap bytes.Buffer
		if err := first.Snapshot(ctx, &snap, "input/p0"); err != nil {
			t.Fatal(err)
		}
		before := c.got()
		c2 := &collector{}
		second, _ := New(mustLoad(t, cardRules), WithAlertHandler(c2.handle))
		if _, err := second.Restore(ctx, &snap); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		runSteps(t, second, p0[cut:])
		finish(t, second)
		got := fullAlerts(append(before, c2.got()...))
		if !slices.Equal(got, want) {
			bad++
			if bad < 3 {
				t.Errorf("cut %d: %d alerts, want %d: %s", cut, len(got), len(want), firstDiff(got, want))
			}
		}
		_ = first.Close(ctx)
	}
}

func fmtSscanf(key string, card *int) (int, error) { return fmt.Sscanf(key, "c%d", card) }

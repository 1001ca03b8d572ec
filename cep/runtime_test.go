package cep

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

// mixedRules exercise every kind of state at once: sliding and tumbling
// windows, emit first and every, throttle, sequences with and without
// within, an absence, and keys of different fields (so events go to
// several key groups).
const mixedRules = `rules:
  - name: velocity
    key: card
    threshold:
      where: status == "declined"
      window: 5m
      condition: count() >= 3 && sum(amount) > 10
    alert:
      fields: {total: sum(amount), top: max(amount), spread: stddev(amount)}
  - name: merchants
    key: merchant
    throttle: 10m
    threshold:
      window: 10m
      condition: distinct(card) >= 3
    emit: every
  - name: daily
    key: card
    threshold:
      window: {size: 1h, type: tumbling}
      condition: count() >= 4
    alert:
      summary: '{{ count() }} in the hour, last {{ last(amount) }}'
  - name: probe
    key: card
    pattern:
      - begin: small
        where: amount < 2
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
  - name: forever
    key: merchant
    pattern:
      - begin: a
        where: amount > 90
      - followed_by: b
        where: amount > 95
`

// randomEvents returns n events over keys cards, mostly in time order,
// some up to 3s out of order.
func randomEvents(seed uint64, n, cards int) []map[string]any {
	r := rand.New(rand.NewPCG(seed, 1))
	statuses := []string{"declined", "approved", "captured", "declined"}
	t := at("10:00")
	out := make([]map[string]any, n)
	for i := range out {
		t += int64(r.IntN(20_000))
		ts := t
		if r.IntN(10) == 0 {
			ts -= int64(r.IntN(3000))
		}
		out[i] = map[string]any{
			"id": fmt.Sprintf("e%d", i), "ts": ts,
			"card":     fmt.Sprintf("c%d", r.IntN(cards)),
			"merchant": fmt.Sprintf("m%d", r.IntN(cards/2+1)),
			"status":   statuses[r.IntN(len(statuses))],
			"amount":   float64(r.IntN(100)) + float64(r.IntN(100))/100,
		}
	}
	return out
}

// collector records delivered alerts.
type collector struct {
	mu     sync.Mutex
	alerts []Alert
}

func (c *collector) handle(_ context.Context, a Alert) error {
	c.mu.Lock()
	c.alerts = append(c.alerts, a)
	c.mu.Unlock()
	return nil
}

func (c *collector) got() []Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Alert(nil), c.alerts...)
}

// feed processes events one at a time (batch 1) or in Push batches.
func feed(t *testing.T, eng *Engine, evs []map[string]any, batch int) {
	t.Helper()
	ctx := context.Background()
	if batch <= 1 {
		for _, ev := range evs {
			_ = eng.Process(ctx, ev)
		}
		return
	}
	in, ok := eng.Input("src")
	if !ok {
		var err error
		if in, err = eng.OpenInput("src", InputOptions{OutOfOrderness: 3 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	for len(evs) > 0 {
		n := min(batch, len(evs))
		list := make([]*event.Event, n)
		for i, m := range evs[:n] {
			ev, err := eng.toEvent(m)
			if err != nil {
				t.Fatal(err)
			}
			list[i] = ev
		}
		if _, err := in.Push(ctx, list, nil); err != nil {
			t.Fatal(err)
		}
		evs = evs[n:]
	}
}

func finish(t *testing.T, eng *Engine) {
	t.Helper()
	ctx := context.Background()
	if err := eng.AdvanceWatermark(ctx, EndOfTime); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// Regression: with several workers, alert order used to differ from run
// to run. Now the order is the same for any number of workers, run after
// run, in per-event and in batch mode.
func TestAlertOrderIsTheSameForAnyWorkers(t *testing.T) {
	evs := randomEvents(1, 3000, 40)
	for _, batch := range []int{1, 500} {
		var want []string
		for _, workers := range []int{1, 2, 4, 8, 1, 4} {
			c := &collector{}
			eng, err := New(mustLoad(t, mixedRules), WithWorkers(workers), WithOutOfOrderness(3*time.Second), WithAlertHandler(c.handle))
			if err != nil {
				t.Fatal(err)
			}
			feed(t, eng, evs, batch)
			finish(t, eng)
			got := fullAlerts(c.got())
			if want == nil {
				want = got
				if len(want) < 50 {
					t.Fatalf("only %d alerts: the stream does not exercise the rules", len(want))
				}
				continue
			}
			if !slices.Equal(got, want) {
				t.Fatalf("batch %d, %d workers: %d alerts differ from the first run's %d", batch, workers, len(got), len(want))
			}
		}
	}
}

// Long random streams cut at random places into a snapshot restored in a
// new engine give exactly the alerts of an uninterrupted run, ids
// included; restored into an engine with another number of key groups,
// the same alerts.
func TestSnapshotRandomStreams(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 3; seed++ {
		evs := randomEvents(seed, 1500, 30)
		base := &collector{}
		eng, err := New(mustLoad(t, mixedRules), WithOutOfOrderness(3*time.Second), WithAlertHandler(base.handle))
		if err != nil {
			t.Fatal(err)
		}
		feed(t, eng, evs, 1)
		finish(t, eng)
		want := fullAlerts(base.got())
		r := rand.New(rand.NewPCG(seed, 2))
		for trial := 0; trial < 6; trial++ {
			cut := r.IntN(len(evs) + 1)
			groups := DefaultKeyGroups
			if trial%3 == 2 {
				groups = 7
			}
			c := &collector{}
			first, err := New(mustLoad(t, mixedRules), WithOutOfOrderness(3*time.Second), WithAlertHandler(c.handle), WithWorkers(1+trial%3))
			if err != nil {
				t.Fatal(err)
			}
			feed(t, first, evs[:cut], 1)
			if err := first.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			var snap bytes.Buffer
			if err := first.Snapshot(ctx, &snap); err != nil {
				t.Fatal(err)
			}
			before := c.got()
			second, err := New(mustLoad(t, mixedRules), WithOutOfOrderness(3*time.Second), WithAlertHandler(c.handle),
				WithKeyGroups(groups), WithWorkers(2))
			if err != nil {
				t.Fatal(err)
			}
			size := snap.Len()
			if _, err := second.Restore(ctx, &snap); err != nil {
				t.Fatalf("seed %d cut %d: Restore: %v", seed, cut, err)
			}
			feed(t, second, evs[cut:], 1)
			finish(t, second)
			c.mu.Lock()
			got := append(before, c.alerts[len(before):]...)
			c.mu.Unlock()
			gotS := fullAlerts(got)
			if groups != DefaultKeyGroups {
				// Another layout may order alerts of one time differently.
				sort.Strings(gotS)
				w := append([]string(nil), want...)
				sort.Strings(w)
				if !slices.Equal(gotS, w) {
					t.Errorf("seed %d, cut %d into %d key groups (%d bytes): %d alerts; want %d", seed, cut, groups, size, len(got), len(want))
				}
				continue
			}
			if !slices.Equal(gotS, want) {
				t.Errorf("seed %d, cut %d (%d bytes): %d alerts differ from the uninterrupted %d", seed, cut, size, len(got), len(want))
			}
			_ = first.Close(ctx)
		}
	}
}

// State that nothing else bounds is released after the state TTL: the
// partial matches of a sequence without within, and the true result an
// emit: first rule keeps after its window empties (after which it alerts
// again).
func TestStateTTLReleasesUnboundedState(t *testing.T) {
	ctx := context.Background()
	c := &collector{}
	eng, err := New(mustLoad(t, `rules:
  - name: forever
    key: card
    pattern:
      - begin: a
        where: amount > 90
      - followed_by: b
        where: amount > 95
  - name: stays-true
    key: card
    threshold: {window: 10m, condition: count() >= 1}
`), WithStateTTL(time.Hour), WithAlertHandler(c.handle))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		ev := map[string]any{"ts": at("10:00") + int64(i), "card": fmt.Sprintf("c%d", i), "amount": 91.0}
		if err := eng.Process(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, seqKeys, thrKeys int) {
		t.Helper()
		st := eng.Stats()
		if st.Rules["forever"].Keys != seqKeys || st.Rules["stays-true"].Keys != thrKeys {
			t.Errorf("%s: forever holds %d keys, stays-true %d; want %d and %d", when, st.Rules["forever"].Keys,
				st.Rules["stays-true"].Keys, seqKeys, thrKeys)
		}
	}
	check("at first", 500, 500)
	_ = eng.AdvanceWatermark(ctx, time.UnixMilli(at("10:59")))
	check("before the TTL", 500, 500)
	_ = eng.AdvanceWatermark(ctx, time.UnixMilli(at("11:00:01")))
	check("after the sequences' TTL", 0, 500)
	_ = eng.AdvanceWatermark(ctx, time.UnixMilli(at("11:10:01")))
	check("after the flags' TTL", 0, 0)
	if st := eng.Stats(); st.Rules["forever"].Expired != 500 || st.Rules["stays-true"].Expired != 500 {
		t.Errorf("expired: %d and %d; want 500 each", st.Rules["forever"].Expired, st.Rules["stays-true"].Expired)
	}
	// Forgotten, the key alerts again.
	if err := eng.Process(ctx, map[string]any{"ts": at("12:00"), "card": "c1", "amount": 1.0}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(c.got()); n != 501 {
		t.Errorf("%d alerts; want 500, then one more for the forgotten key", n)
	}
}

// Regression: Stats used to walk every key under the engine lock (157 ms
// at 300k keys). It is O(rules × partitions) now: it is called freely
// while events flow, its counts are exact, and its cost does not grow
// with the keys (medians, so a GC pause on this shared machine does not
// decide).
func TestStatsDoesNotStallProcessing(t *testing.T) {
	ctx := context.Background()
	newEngine := func() *Engine {
		eng, err := New(mustLoad(t, "rules:\n  - name: r\n    key: card\n    threshold: {window: 1h, condition: count() >= 1000}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	fill := func(eng *Engine, keys int) {
		for i := 0; i < keys; i++ {
			ev := &event.Event{ID: fmt.Sprint(i), Time: at("10:00") + int64(i/100), Fields: map[string]any{"card": fmt.Sprint("c", i)}}
			if err := eng.ProcessEvent(ctx, ev); err != nil {
				t.Error(err)
				return
			}
		}
	}
	median := func(eng *Engine) time.Duration {
		var d []time.Duration
		for i := 0; i < 51; i++ {
			start := time.Now()
			_ = eng.Stats()
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		return d[len(d)/2]
	}
	const keys = 100_000
	big := newEngine()
	done := make(chan struct{})
	go func() { defer close(done); fill(big, keys) }()
	calls := 0
	for running := true; running; calls++ {
		select {
		case <-done:
			running = false
		default:
		}
		_ = big.Stats()
		time.Sleep(time.Millisecond)
	}
	if got := big.Stats().Rules["r"].Keys; got != keys {
		t.Errorf("Stats counts %d keys; want %d", got, keys)
	}
	small := newEngine()
	fill(small, 100)
	// The old walk cost ~1000 times more at 1000 times the keys.
	if b, s := median(big), median(small); b > 20*s+time.Millisecond {
		t.Errorf("Stats takes %s (median) at %d keys and %s at 100", b, keys, s)
	}
	_ = big.Close(ctx)
	_ = small.Close(ctx)
}

// A rule keyed by an input's partitioning key runs in that input's own
// time: a lagging input holds back only the exchange, never another
// input's partition.
func TestCoPartitionedRulesRunInTheirInputsTime(t *testing.T) {
	ctx := context.Background()
	c := &collector{}
	eng, err := New(mustLoad(t, `rules:
  - name: by-card
    key: card
    threshold: {window: {size: 1h, type: tumbling}, condition: count() >= 1}
  - name: by-merchant
    key: merchant
    threshold: {window: {size: 1h, type: tumbling}, condition: count() >= 1}
`), WithAlertHandler(c.handle))
	if err != nil {
		t.Fatal(err)
	}
	ins := map[string]*Input{}
	for _, name := range []string{"p0", "p1"} {
		in, err := eng.OpenInput(name, InputOptions{PartitionKey: "card"})
		if err != nil {
			t.Fatal(err)
		}
		ins[name] = in
	}
	push := func(name string, id string, clock string, card string) {
		ev := &event.Event{ID: id, Time: at(clock), Fields: map[string]any{"card": card, "merchant": "m1"}}
		if _, err := ins[name].Push(ctx, []*event.Event{ev}, nil); err != nil {
			t.Fatal(err)
		}
	}
	names := func() []string {
		if err := eng.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range c.got() {
			out = append(out, a.Rule+"/"+a.Key)
		}
		return out
	}
	push("p0", "a", "10:00", "c0")
	push("p1", "b", "10:10", "c1")
	push("p0", "c", "11:30", "c0") // p0's hour 10 window closes in p0's time
	if got := fmt.Sprint(names()); got != "[by-card/c0]" {
		t.Fatalf("after p0 passed 11:00: %s; want only p0's card window", got)
	}
	push("p1", "d", "11:05", "c1") // now both inputs passed 11:00
	if got := fmt.Sprint(names()); got != "[by-card/c0 by-card/c1 by-merchant/m1]" {
		t.Errorf("after both passed 11:00: %s", got)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// Regression: with an input that has told no time (a Kafka source that
// owns no partition used to count as one), other inputs' events were held
// forever. An input that is idle or was never opened holds nothing.
func TestAnInputThatOwnsNothingHoldsNothing(t *testing.T) {
	ctx := context.Background()
	c := &collector{}
	clock := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 2}")), WithAlertHandler(c.handle), WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	httpIn, _ := eng.OpenInput("http", InputOptions{IdleTimeout: 5 * time.Second})
	_, _ = eng.OpenInput("kafka:t/0", InputOptions{IdleTimeout: 5 * time.Second}) // assigned, never delivers
	for _, id := range []string{"e1", "e2"} {
		ev := &event.Event{ID: id, Time: at("10:00"), Fields: map[string]any{"card": "c1"}}
		if _, err := httpIn.Push(ctx, []*event.Event{ev}, nil); err != nil {
			t.Fatal(err)
		}
	}
	_ = eng.Flush(ctx)
	if n := len(c.got()); n != 0 {
		t.Fatalf("%d alerts while the silent input is not yet idle; want 0", n)
	}
	mu.Lock()
	clock = clock.Add(6 * time.Second)
	mu.Unlock()
	_ = eng.Tick(ctx)
	_ = eng.Flush(ctx)
	if n := len(c.got()); n != 1 {
		t.Errorf("%d alerts once the silent input is idle; want 1", n)
	}
	_ = eng.Close(ctx)
}

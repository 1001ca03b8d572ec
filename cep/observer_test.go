package cep_test

import (
	"context"
	"fmt"
	"log"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// An embedding program exports the engine's measurements its own way: the
// Observer for outcomes, alerts and durations as they happen, Stats for
// counts and levels when it exports.
func ExampleWithObserver() {
	rs, err := rules.Load([]rules.Source{{Name: "velocity.yaml", Data: []byte(`
rules:
  - name: declined-velocity
    key: card_id
    severity: high
    throttle: 1h
    emit: every
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 2
`)}})
	if err != nil {
		log.Fatal(err)
	}
	var (
		mu       sync.Mutex
		outcomes = map[string]int{}
		alerts   = map[string]int{}
		evals    atomic.Int64
	)
	obs := cep.Observer{
		Events: func(input string, accepted int, rejected []cep.Rejection) {
			mu.Lock()
			defer mu.Unlock()
			outcomes["accepted"] += accepted
			for _, r := range rejected {
				outcomes[event.ReasonOf(r.Err)]++
			}
		},
		Alert: func(_ context.Context, a *cep.Alert) {
			mu.Lock()
			defer mu.Unlock()
			alerts[fmt.Sprintf("%s/%s suppressed=%v", a.Rule, a.Severity, a.Suppressed)]++
		},
		RuleEval: func(rule string, d time.Duration) { evals.Add(1) },
	}
	eng, err := cep.New(rs, cep.WithObserver(obs), cep.WithAlertHandler(func(context.Context, cep.Alert) error { return nil }))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, ev := range []string{
		`{"id":"t1","ts":"2026-11-20T10:00:00Z","card_id":"c1","status":"declined"}`,
		`{"id":"t2","ts":"2026-11-20T10:01:00Z","card_id":"c1","status":"declined"}`,
		`{"id":"t3","ts":"2026-11-20T10:02:00Z","card_id":"c1","status":"declined"}`,
		`{"id":"t4","ts":"2026-11-20T09:00:00Z","card_id":"c1","status":"declined"}`, // late
		`not json`,
	} {
		_ = eng.Process(ctx, []byte(ev)) // rejections are counted, and told to the observer
	}
	if err := eng.Close(ctx); err != nil {
		log.Fatal(err)
	}
	mu.Lock()
	fmt.Println("events:", outcomes)
	fmt.Println("alerts:", alerts)
	mu.Unlock()
	st := eng.Stats()
	fmt.Println("processed:", st.Processed, "late:", st.Late, "rule alerts:", st.Rules["declined-velocity"].Alerts,
		"suppressed:", st.Rules["declined-velocity"].Suppressed)
	// Output:
	// events: map[accepted:3 late:1 malformed:1]
	// alerts: map[declined-velocity/high suppressed=false:1 declined-velocity/high suppressed=true:1]
	// processed: 3 late: 1 rule alerts: 2 suppressed: 1
}

// TestObserverSampling checks that one event in EvalSampleEvery has its
// evaluations timed, on every path an event takes to a rule: the exchange with one
// worker, the parallel exchange, and an input's own partition.
func TestObserverSampling(t *testing.T) {
	rs, err := rules.Load([]rules.Source{{Name: "r.yaml", Data: []byte(`
rules:
  - name: by-card
    key: card_id
    threshold: {window: 1m, condition: count() >= 1000000}
  - name: by-merchant
    key: merchant
    threshold: {window: 1m, condition: count() >= 1000000}
`)}})
	if err != nil {
		t.Fatal(err)
	}
	const events = 4096 // a multiple of every batch below
	for _, tc := range []struct {
		name         string
		workers      int
		partitionKey string
		batch        int
	}{
		{"exchange, one worker", 1, "", 1},
		{"parallel exchange", 2, "", 256},
		{"input partition", 1, "card_id", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			timed := map[string]int{}
			var negative atomic.Bool
			eng, err := cep.New(rs, cep.WithWorkers(tc.workers), cep.WithObserver(cep.Observer{RuleEval: func(rule string, d time.Duration) {
				if d < 0 {
					negative.Store(true)
				}
				mu.Lock()
				timed[rule]++
				mu.Unlock()
			}}))
			if err != nil {
				t.Fatal(err)
			}
			in, err := eng.OpenInput("in", cep.InputOptions{PartitionKey: tc.partitionKey})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixMilli()
			for i := 0; i < events; i += tc.batch {
				var evs []*event.Event
				for j := i; j < i+tc.batch; j++ {
					evs = append(evs, &event.Event{ID: fmt.Sprint(j), Time: base + int64(j),
						Fields: map[string]any{"card_id": fmt.Sprint(j % 7), "merchant": fmt.Sprint(j % 5)}})
				}
				if _, err := in.Push(ctx, evs, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := eng.Close(ctx); err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, n := range timed {
				total += n
			}
			// Events numbered 1..events: every EvalSampleEvery-th has both rules timed.
			if want := 2 * events / cep.EvalSampleEvery; total != want {
				t.Errorf("timed evaluations = %d (%v); want %d", total, timed, want)
			}
			var names []string
			for n := range timed {
				names = append(names, n)
			}
			sort.Strings(names)
			if fmt.Sprint(names) != "[by-card by-merchant]" {
				t.Errorf("rules timed = %v; want both", names)
			}
			if negative.Load() {
				t.Error("a negative duration was reported")
			}
		})
	}
}

// TestObserverDelivery checks that each delivery attempt is told, with its
// batch size and error.
func TestObserverDelivery(t *testing.T) {
	rs, err := rules.Load([]rules.Source{{Name: "r.yaml", Data: []byte(`
rules:
  - name: any
    key: card_id
    threshold: {window: 1m, condition: count() >= 1}
`)}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var attempts []string
	fail := 2
	eng, err := cep.New(rs, cep.WithDeliveryBackoff(time.Millisecond, time.Millisecond),
		cep.WithObserver(cep.Observer{Delivery: func(n int, d time.Duration, err error) {
			mu.Lock()
			attempts = append(attempts, fmt.Sprintf("%d %v", n, err))
			mu.Unlock()
		}}),
		cep.WithAlertHandler(func(context.Context, cep.Alert) error {
			if fail > 0 {
				fail--
				return fmt.Errorf("down")
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := eng.Process(ctx, map[string]any{"id": "a", "ts": 1000, "card_id": "c1"}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want := "[1 down 1 down 1 <nil>]"
	if got := fmt.Sprint(attempts); got != want {
		t.Errorf("delivery attempts = %s; want %s", got, want)
	}
}

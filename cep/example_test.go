package cep_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// A velocity rule embedded in a Go program: three declines on one card
// within ten minutes raise an alert.
func Example() {
	rs, err := rules.Load([]rules.Source{{Name: "velocity.yaml", Data: []byte(`
rules:
  - name: declined-velocity
    key: card_id
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 3
    alert:
      summary: '{{ count() }} declines on card {{ key }}'
`)}})
	if err != nil {
		log.Fatal(err)
	}
	eng, err := cep.New(rs, cep.WithAlertHandler(func(_ context.Context, a cep.Alert) error {
		fmt.Println(a.Rule, a.Key, a.Time.Format("15:04:05"), a.EventIDs, a.Summary)
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, ev := range []string{
		`{"id":"t1","ts":"2026-11-20T10:00:00Z","card_id":"c1","status":"declined"}`,
		`{"id":"t2","ts":"2026-11-20T10:03:00Z","card_id":"c1","status":"approved"}`,
		`{"id":"t3","ts":"2026-11-20T10:04:00Z","card_id":"c1","status":"declined"}`,
		`{"id":"t4","ts":"2026-11-20T10:09:00Z","card_id":"c1","status":"declined"}`,
	} {
		if err := eng.Process(ctx, []byte(ev)); err != nil {
			log.Fatal(err)
		}
	}
	if err := eng.Close(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// declined-velocity c1 10:09:00 [t1 t3 t4] 3 declines on card c1
}

// Tumbling windows close when the watermark passes their end, so a batch
// job advances the watermark to the end of time before it closes.
func ExampleEngine_AdvanceWatermark() {
	rs, err := rules.Load([]rules.Source{{Name: "daily.yaml", Data: []byte(`
rules:
  - name: daily-spend
    key: card_id
    threshold:
      window: {size: 1d, type: tumbling}
      condition: sum(amount) > 1000
`)}})
	if err != nil {
		log.Fatal(err)
	}
	eng, err := cep.New(rs, cep.WithAlertHandler(func(_ context.Context, a cep.Alert) error {
		fmt.Println(a.Rule, a.Key, a.Time.Format("2006-01-02T15:04:05.000"), a.Values["sum(amount)"])
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, ev := range []map[string]any{
		{"id": "a", "ts": "2026-11-20T09:00:00Z", "card_id": "c1", "amount": 600.0},
		{"id": "b", "ts": "2026-11-20T18:00:00Z", "card_id": "c1", "amount": 700.0},
	} {
		if err := eng.Process(ctx, ev); err != nil {
			log.Fatal(err)
		}
	}
	if err := eng.AdvanceWatermark(ctx, cep.EndOfTime); err != nil {
		log.Fatal(err)
	}
	_ = eng.Close(ctx)
	// Output:
	// daily-spend c1 2026-11-20T23:59:59.999 1300
}

// A rule update between two events: the window of a rule whose matching
// definition is unchanged survives a summary edit, and its next alert has
// the new summary.
func ExampleEngine_Update() {
	load := func(summary string) *rules.Ruleset {
		rs, err := rules.Load([]rules.Source{{Name: "velocity.yaml", Data: []byte(`
rules:
  - name: declined-velocity
    key: card_id
    threshold:
      window: 10m
      condition: count() >= 2
    alert:
      summary: '` + summary + `'
`)}})
		if err != nil {
			log.Fatal(err)
		}
		return rs
	}
	eng, err := cep.New(load("old wording"), cep.WithAlertHandler(func(_ context.Context, a cep.Alert) error {
		fmt.Println(a.RuleVersion, a.Summary, a.EventIDs)
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_ = eng.Process(ctx, map[string]any{"id": "t1", "ts": "2026-11-20T10:00:00Z", "card_id": "c1"})
	if err := eng.Update(ctx, load("{{ count() }} declines on {{ key }}")); err != nil {
		log.Fatal(err)
	}
	_ = eng.Process(ctx, map[string]any{"id": "t2", "ts": "2026-11-20T10:01:00Z", "card_id": "c1"})
	_ = eng.Close(ctx)
	// Output:
	// 2 2 declines on c1 [t1 t2]
}

// A snapshot taken in the middle of a sequence restores into a new engine,
// which completes the match as the first one would have.
func ExampleEngine_Snapshot() {
	rs := func() *rules.Ruleset {
		rs, err := rules.Load([]rules.Source{{Name: "probe.yaml", Data: []byte(`
rules:
  - name: card-testing
    key: card_id
    pattern:
      - begin: probe
        where: amount < 2
        times: 2
      - followed_by: big
        where: amount > 500
    within: 10m
`)}})
		if err != nil {
			log.Fatal(err)
		}
		return rs
	}
	ctx := context.Background()
	first, err := cep.New(rs())
	if err != nil {
		log.Fatal(err)
	}
	_ = first.Process(ctx, map[string]any{"id": "p1", "ts": "2026-11-20T10:00:00Z", "card_id": "c1", "amount": 1.0})
	_ = first.Process(ctx, map[string]any{"id": "p2", "ts": "2026-11-20T10:01:00Z", "card_id": "c1", "amount": 1.5})
	var snap bytes.Buffer
	if err := first.Snapshot(ctx, &snap); err != nil {
		log.Fatal(err)
	}
	_ = first.Close(ctx)

	second, err := cep.New(rs(), cep.WithAlertHandler(func(_ context.Context, a cep.Alert) error {
		fmt.Println(a.Rule, a.Key, a.EventIDs)
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := second.Restore(ctx, &snap); err != nil {
		log.Fatal(err)
	}
	_ = second.Process(ctx, map[string]any{"id": "b1", "ts": "2026-11-20T10:02:00Z", "card_id": "c1", "amount": 900.0})
	_ = second.Close(ctx)
	// Output:
	// card-testing c1 [p1 p2 b1]
}

// Two inputs with their own time feed the exchange: nothing is processed
// until both have told their time, and each batch's ack runs once its
// events are processed and their alerts delivered.
func ExampleInput_Push() {
	rs, err := rules.Load([]rules.Source{{Name: "r.yaml", Data: []byte(`
rules:
  - name: two-declines
    key: card_id
    threshold: {window: 10m, condition: count() >= 2}
`)}})
	if err != nil {
		log.Fatal(err)
	}
	eng, err := cep.New(rs, cep.WithAlertHandler(func(_ context.Context, a cep.Alert) error {
		fmt.Println("alert", a.EventIDs)
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	a, _ := eng.OpenInput("partition-0", cep.InputOptions{})
	b, _ := eng.OpenInput("partition-1", cep.InputOptions{})
	ev := func(id, ts string) []*event.Event {
		e, err := (&event.Decoder{}).Decode([]byte(`{"id":"`+id+`","ts":"`+ts+`","card_id":"c1"}`), "")
		if err != nil {
			log.Fatal(err)
		}
		return []*event.Event{e}
	}
	_, _ = a.Push(ctx, ev("a1", "2026-11-20T10:05:00Z"), func() { fmt.Println("ack a1") })
	_ = eng.Flush(ctx) // partition-1 has told no time yet: nothing happens
	_, _ = b.Push(ctx, ev("b1", "2026-11-20T10:06:00Z"), func() { fmt.Println("ack b1") })
	_ = eng.Flush(ctx) // the exchange is at 10:05: a1 is processed
	_, _ = a.Push(ctx, ev("a2", "2026-11-20T10:07:00Z"), func() { fmt.Println("ack a2") })
	_ = eng.Flush(ctx) // at 10:06: b1, and the alert
	// Close processes up to the oldest input's newest event (10:06): a2 is
	// left unacknowledged, for its source to deliver again.
	_ = eng.Close(ctx)
	// Output:
	// ack a1
	// alert [a1 b1]
	// ack b1
}

// Expression errors do not stop the engine: the condition is false for
// that event. WithExpressionErrors says which expression failed, where it
// is written, on which event and why (the first few per expression).
func ExampleWithExpressionErrors() {
	rs, err := rules.Load([]rules.Source{{Name: "big.yaml", Data: []byte(`
rules:
  - name: big-amount
    key: card_id
    where: amount > 100
    threshold: {window: 1h, condition: count() >= 1}
`)}})
	if err != nil {
		log.Fatal(err)
	}
	eng, err := cep.New(rs,
		cep.WithAlertHandler(func(_ context.Context, a cep.Alert) error { return nil }),
		cep.WithExpressionErrors(func(x rules.ExprError, s rules.ErrorSample) {
			fmt.Printf("%s:%d:%d %s %s: event %s: %s\n", x.File, x.Line, x.Column, x.Rule, x.Field, s.EventID, s.Msg)
		}))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_ = eng.Process(ctx, map[string]any{"id": "t1", "ts": "2026-11-20T10:00:00Z", "card_id": "c1", "amount": "lots"})
	_ = eng.Close(ctx)
	fmt.Println(eng.Stats().Rules["big-amount"].Errors, "error(s)")
	// Output:
	// big.yaml:5:12 big-amount where: event t1: invalid operation: string > int
	// 1 error(s)
}

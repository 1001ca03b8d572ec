package cep

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

// Backpressure: an in-order event waiting in Push while the alert queue
// is full is rejected as late once room appears, because the waiting input
// counts as idle meanwhile and follows the wall clock (the defaults of
// vigil serve: idle_timeout 5s, out_of_orderness 5s, advance_when_idle).
func TestBackpressureDoesNotMakeWaitingEventsLate(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	var once sync.Once
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}\nemit: every")),
		WithAlertQueue(1), WithWallClockWhenIdle(),
		WithAlertHandler(func(context.Context, Alert) error { once.Do(func() { <-release }); return nil }))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := eng.OpenInput("kafka:t/0", InputOptions{OutOfOrderness: 500 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	now := time.Now().UnixMilli()
	mk := func(id string, ms int64) []*event.Event {
		return []*event.Event{{ID: id, Time: ms, Fields: map[string]any{"card": "c1"}}}
	}
	if _, err := in.Push(ctx, append(mk("e0", now-2000), mk("e1", now)...), nil); err != nil { // e0's alert fills the queue
		t.Fatal(err)
	}
	go func() { time.Sleep(1500 * time.Millisecond); close(release) }() // the sink is slow for 1.5s
	t0 := time.Now()
	rej, err := in.Push(ctx, mk("e2", now+1), nil) // in order, pushed at once
	t.Logf("push took %v; stats %+v", time.Since(t0), eng.Stats().Inputs)
	if err != nil {
		t.Fatal(err)
	}
	st := eng.Stats()
	t.Logf("input wm %s, e2 %s, pending %d, idle %v", st.Inputs["kafka:t/0"].Watermark, time.UnixMilli(now+1).UTC(), st.Pending, st.Inputs["kafka:t/0"].Idle)
	if len(rej) > 0 {
		t.Errorf("an in-order event that waited for room is rejected: %v", rej[0].Err)
	}
	_ = eng.Close(ctx)
}

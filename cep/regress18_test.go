package cep

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

// Flush (and Close) promise that every ack whose events are done has run.
// The delivery stage removes acks from its queue, wakes Flush, and only
// then runs them.
func TestFlushWaitsForAcks(t *testing.T) {
	ctx := context.Background()
	eng, _ := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}")),
		WithAlertHandler(func(context.Context, Alert) error { return nil }))
	in, _ := eng.OpenInput("kafka:t/0", InputOptions{})
	var ran atomic.Bool
	_, err := in.Push(ctx, []*event.Event{ev("e1", "10:00", "c1", "m1")}, func() {
		time.Sleep(50 * time.Millisecond) // an ack taking a lock, or the Kafka source's Done under contention
		ran.Store(true)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !ran.Load() {
		t.Errorf("Flush returned before the ack of a processed, delivered batch ran: the final Kafka commit that follows misses it")
	}
	_ = eng.Close(ctx)
}

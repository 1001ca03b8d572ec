package cep

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

func ev(id string, clock string, card, merchant string) *event.Event {
	return &event.Event{ID: id, Time: at(clock), Fields: map[string]any{"card": card, "merchant": merchant}}
}

// E1: an Update that removes the last rule served through the exchange for
// a co-partitioned input strands the events in its exchange queue: never
// processed, never acked, counted as buffered forever, even after Close.
func TestUpdateReleasesAnInputsExchangeQueue(t *testing.T) {
	ctx := context.Background()
	two := `rules:
  - name: by-card
    key: card
    threshold: {window: 10m, condition: count() >= 100}
  - name: by-merchant
    key: merchant
    threshold: {window: 10m, condition: count() >= 100}
`
	one := `rules:
  - name: by-card
    key: card
    threshold: {window: 10m, condition: count() >= 100}
`
	c := &collector{}
	eng, err := New(mustLoad(t, two), WithAlertHandler(c.handle))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := eng.OpenInput("a", InputOptions{PartitionKey: "card"})
	_, _ = eng.OpenInput("b", InputOptions{PartitionKey: "card"}) // holds the exchange: no time yet
	var acked atomic.Int32
	if _, err := a.Push(ctx, []*event.Event{ev("e1", "10:00", "c1", "m1")}, func() { acked.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := eng.Update(ctx, mustLoad(t, one)); err != nil {
		t.Fatal(err)
	}
	_ = eng.Tick(ctx)
	_ = eng.Flush(ctx)
	t.Logf("after update+advance: buffered=%d acked=%d", eng.Stats().Buffered, acked.Load())
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := eng.Stats(); st.Buffered != 0 || acked.Load() != 1 {
		t.Errorf("after Close: %d events still buffered, ack ran %d times; want 0 and 1", st.Buffered, acked.Load())
	}
}

// E2: the default input (Process) is never idle; with out-of-orderness,
// a full buffer can never drain: every Process returns ErrBusy forever.
func TestFullBufferDrains(t *testing.T) {
	ctx := context.Background()
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 2}")),
		WithOutOfOrderness(time.Minute), WithMaxBuffered(10))
	if err != nil {
		t.Fatal(err)
	}
	var busy int
	for i := 0; i < 30; i++ {
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := eng.Process(sctx, map[string]any{"ts": at("10:00") + int64(i)*1000, "card": "c1"})
		cancel()
		if err != nil {
			busy++
		}
	}
	if busy > 0 {
		t.Errorf("%d of 30 in-order events refused with ErrBusy (buffer of 10, out-of-orderness 1m): the engine never recovers", busy)
	}
	_ = eng.Close(ctx)
}

// E3: an Input handle outlives RemoveInput: after the same name is opened
// again, the old handle feeds the new input.
func TestRemovedInputHandleIsRefused(t *testing.T) {
	ctx := context.Background()
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}")))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := eng.OpenInput("kafka:t/0", InputOptions{})
	if err := eng.RemoveInput("kafka:t/0"); err != nil {
		t.Fatal(err)
	}
	_, _ = eng.OpenInput("kafka:t/0", InputOptions{})
	if _, err := old.Push(ctx, []*event.Event{ev("stale", "10:00", "c1", "m1")}, nil); err == nil {
		t.Errorf("a handle of the removed input pushed into the input opened again under its name")
	}
	_ = eng.Close(ctx)
}

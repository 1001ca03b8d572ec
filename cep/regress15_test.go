package cep

import (
	"bytes"
	"context"
	"testing"

	"github.com/vigilhq/vigil/event"
)

// (Needs the header fix: partial snapshots are refused on main.) Moving an
// input partition to an engine whose exchange is ahead: its restored
// exchange queue is merged although it is older than the exchange's
// watermark, so a key group's window receives decreasing times.
func TestRestoredQueueBehindTheExchangeIsLate(t *testing.T) {
	ctx := context.Background()
	rs := `rules:
  - name: by-merchant
    key: merchant
    threshold: {window: 10m, condition: count() >= 2}
    emit: every
  - name: by-card
    key: card
    threshold: {window: 10m, condition: count() >= 100}
`
	a, _ := New(mustLoad(t, rs))
	p0, _ := a.OpenInput("p0", InputOptions{PartitionKey: "card"})
	_, _ = a.OpenInput("hold", InputOptions{}) // holds A's exchange: p0's events wait in its queue
	_, _ = p0.Push(ctx, []*event.Event{ev("old", "10:00", "c1", "m1")}, nil)
	var snap bytes.Buffer
	if err := a.Snapshot(ctx, &snap, "input/p0"); err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	b, _ := New(mustLoad(t, rs), WithAlertHandler(c.handle))
	p1, _ := b.OpenInput("p1", InputOptions{})
	_, _ = p1.Push(ctx, []*event.Event{ev("new", "11:00", "c9", "m1")}, nil) // B's exchange at 11:00
	if _, err := b.Restore(ctx, &snap); err != nil {
		t.Fatal(err)
	}
	_ = b.Tick(ctx)
	st := b.Stats()
	_ = b.Close(ctx)
	t.Logf("processed %d, late %d, alerts %q", st.Processed, st.Late, alertLines(c.got()))
	if st.Processed == 2 {
		t.Errorf("an event at 10:00 restored behind B's exchange (11:00) was processed into a window holding 11:00")
	}
}

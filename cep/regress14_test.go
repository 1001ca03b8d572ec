package cep

import (
	"context"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

// Backlog catch-up with serve's settings (idle timeout, out-of-orderness,
// advance when idle): once the buffer is full, no push is admitted, the
// input goes idle after its timeout, follows the wall clock, and the rest
// of the in-order backlog is late.
func TestFullBufferKeepsAnInOrderBacklog(t *testing.T) {
	ctx := context.Background()
	eng, _ := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1000000}")),
		WithMaxBuffered(100), WithWallClockWhenIdle())
	in, _ := eng.OpenInput("kafka:t/0", InputOptions{OutOfOrderness: time.Second, IdleTimeout: 200 * time.Millisecond})
	start := time.Now().Add(-time.Hour).UnixMilli() // an hour of backlog
	late, pushed := 0, 0
	for b := 0; b < 30; b++ {
		var evs []*event.Event
		for i := 0; i < 10; i++ {
			evs = append(evs, &event.Event{Time: start + int64(pushed+i)*5, Fields: map[string]any{"card": "c1"}}) // in order, 5ms apart
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		rej, err := in.Push(pctx, evs, nil)
		cancel()
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		late += len(rej)
		pushed += len(evs)
	}
	if late > 0 {
		t.Errorf("%d of %d in-order backlog events late", late, pushed)
	}
	_ = eng.Close(ctx)
}

package cep

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

// The config and docs say time follows the wall clock "when every source
// is idle". The engine moves every idle input to the wall clock on its
// own, while another input is active and holds the exchange an hour back:
// the idle input's next events are late against its own watermark.
func TestIdleInputAmongActiveOnesKeepsItsTime(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	wall := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return wall }
	eng, _ := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 100}")), WithWallClockWhenIdle(), WithClock(now))
	opts := InputOptions{OutOfOrderness: 5 * time.Second, IdleTimeout: 5 * time.Second}
	a, _ := eng.OpenInput("a", opts)
	b, _ := eng.OpenInput("b", opts)
	w0 := wall.UnixMilli()
	push := func(in *Input, ms int64) []Rejection {
		rej, _ := in.Push(ctx, []*event.Event{{Time: ms, Fields: map[string]any{"card": "c"}}}, nil)
		return rej
	}
	push(b, w0-60_000)
	for i := 0; i < 20; i++ { // a catches up an hour-old backlog, one event per wall second
		mu.Lock()
		wall = wall.Add(time.Second)
		mu.Unlock()
		push(a, w0-3600_000+int64(i)*1000)
	}
	if rej := push(b, w0-50_000); len(rej) > 0 { // b's next event, 10s after its previous one
		t.Errorf("stream not idle (a is active, exchange at %s): b's in-order event rejected: %v", eng.Watermark().Format(time.TimeOnly), rej[0].Err)
	}
	_ = eng.Close(ctx)
}

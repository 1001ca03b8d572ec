package cep

import (
	"context"
	"fmt"
	"github.com/vigilhq/vigil/event"
	"runtime"
	"testing"
	"time"
)

// emit: first keys that go quiet again and again: every quiet spell
// schedules another TTL timer; the superseded ones stay in the heap until
// their time (the state TTL, 24h by default).
func TestOneTTLTimerPerKey(t *testing.T) {
	ctx := context.Background()
	eng, _ := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}")), WithKeyGroups(1))
	const keys = 1000
	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	t0 := at("00:00")
	for round := 0; round < 100; round++ { // an event per key every 11 minutes, ~18 hours
		for k := 0; k < keys; k++ {
			_ = eng.ProcessEvent(ctx, evAt(t0+int64(round)*11*60_000+int64(k), fmt.Sprint("c", k)))
		}
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	eng.mu.Lock()
	timers, held := len(eng.shards[0].timers), eng.shards[0].rule[0].keys()
	eng.mu.Unlock()
	t.Logf("%d keys hold state; %d timers pending (%.0f per key); heap +%d KB", held, timers, float64(timers)/keys, (int64(ms.HeapAlloc)-int64(ms0.HeapAlloc))/1024)
	if timers > 3*keys {
		t.Errorf("%d timers for %d keys", timers, keys)
	}
	_ = eng.Close(ctx)
	_ = time.Second
}

func evAt(ms int64, card string) *eventT {
	return &eventT{Time: ms, Fields: map[string]any{"card": card}}
}

type eventT = event.Event

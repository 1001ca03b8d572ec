package cep

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

func TestConcurrentUpdateSnapshotRestoreStats(t *testing.T) {
	ctx := context.Background()
	c := &collector{}
	eng, err := New(mustLoad(t, throttledRules), WithWorkers(3), WithOutOfOrderness(time.Second), WithAlertHandler(c.handle), WithWallClockWhenIdle(), WithStateTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	evs := randomEvents(5, 3000, 40)
	for p := 0; p < 3; p++ {
		name := fmt.Sprintf("p%d", p)
		in, _ := eng.OpenInput(name, InputOptions{PartitionKey: "card", OutOfOrderness: time.Second, IdleTimeout: 10 * time.Millisecond})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < len(evs); i += 3 {
				e, _ := eng.toEvent(evs[i])
				_, _ = in.Push(ctx, []*event.Event{e}, func() {})
			}
		}()
	}
	bg := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				f()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	alt := strings.Replace(throttledRules, "within: 20m", "within: 21m", 1)
	n := 0
	bg(func() {
		n++
		y := throttledRules
		if n%2 == 0 {
			y = alt
		}
		_ = eng.Update(ctx, mustLoad(t, y))
	})
	bg(func() { var b bytes.Buffer; _ = eng.Snapshot(ctx, &b) })
	bg(func() { _ = eng.Stats() })
	bg(func() { _ = eng.Tick(ctx) })
	bg(func() { _ = eng.Flush(ctx) })
	bg(func() {
		var b bytes.Buffer
		_ = eng.Snapshot(ctx, &b, "input/p1")
		_, _ = eng.Restore(ctx, &b)
	})
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	finish(t, eng)
	t.Logf("%d alerts", len(c.got()))
}

package cep

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

// TestInputWithoutRuleStateMovesWithItsBuffer: an input whose rules all
// go through the exchange holds no rule state, but it buffers events for
// its watermark. A snapshot naming it carries its time and buffer, so it
// can be removed (its partition revoked) and brought back without losing
// or repeating an event.
func TestInputWithoutRuleStateMovesWithItsBuffer(t *testing.T) {
	rs := mustLoad(t, "rules:\n  - name: r\n    key: card\n    threshold: {window: 10m, condition: count() >= 3}\n")
	run := func(move bool) []string {
		var mu sync.Mutex
		var ids []string
		eng, err := New(rs, WithAlertHandler(func(_ context.Context, a Alert) error {
			mu.Lock()
			ids = append(ids, a.ID+fmt.Sprint(a.EventIDs))
			mu.Unlock()
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		opts := InputOptions{OutOfOrderness: 10 * time.Second}
		in, _ := eng.OpenInput("k/0", opts)
		push := func(in *Input, id string, ms int64) {
			if _, err := in.Push(ctx, []*event.Event{{ID: id, Time: ms, Fields: map[string]any{"card": "c1"}}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		push(in, "a", 1000)
		push(in, "b", 2000) // both buffered: out-of-orderness 10s
		if move {
			var buf bytes.Buffer
			if err := eng.Snapshot(ctx, &buf, "input/k/0"); err != nil {
				t.Fatal(err)
			}
			if err := eng.RemoveInput("k/0"); err != nil {
				t.Fatal(err)
			}
			rep, err := eng.Restore(ctx, &buf)
			if err != nil || rep.Buffered != 2 {
				t.Fatalf("restore: %+v %v", rep, err)
			}
			if in, err = eng.OpenInput("k/0", opts); err != nil {
				t.Fatalf("taking the restored input over: %v", err)
			}
		}
		push(in, "c", 3000)
		push(in, "d", 30000)
		if err := eng.Close(ctx); err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		return ids
	}
	want, got := run(false), run(true)
	if len(want) != 1 || !slices.Equal(got, want) {
		t.Errorf("moved: %v; not moved: %v", got, want)
	}
}

package cep

import (
	"context"
	"testing"

	"github.com/vigilhq/vigil/event"
)

// Equal times from two inputs are meant to be ordered by input name,
// whatever the interleaving. An event exactly at the exchange's watermark
// is accepted after the events of that time were processed, so the same
// per-input streams give different alerts depending on interleaving.
func TestTiesAtTheWatermarkDoNotDependOnInterleaving(t *testing.T) {
	rs := `rules:
  - name: xy
    key: card
    pattern:
      - begin: x
        where: kind == "x"
      - followed_by: y
        where: kind == "y"
    within: 1h
`
	mk := func(id, clock, kind string) *event.Event {
		return &event.Event{ID: id, Time: at(clock), Fields: map[string]any{"card": "c1", "kind": kind}}
	}
	run := func(order []string) int {
		ctx := context.Background()
		c := &collector{}
		eng, _ := New(mustLoad(t, rs), WithAlertHandler(c.handle))
		a, _ := eng.OpenInput("a", InputOptions{})
		b, _ := eng.OpenInput("b", InputOptions{})
		streams := map[string][]*event.Event{
			"a": {mk("w", "09:00", "w"), mk("p", "10:00", "p"), mk("x", "10:00", "x")},
			"b": {mk("v", "09:00", "v"), mk("y", "10:00", "y")},
		}
		ins := map[string]*Input{"a": a, "b": b}
		for _, name := range order {
			e := streams[name][0]
			streams[name] = streams[name][1:]
			rej, err := ins[name].Push(ctx, []*event.Event{e}, nil)
			if err != nil || len(rej) > 0 {
				t.Fatalf("push %s: %v %v", e.ID, err, rej)
			}
		}
		finish(t, eng)
		return len(c.got())
	}
	n1 := run([]string{"a", "a", "a", "b", "b"})
	n2 := run([]string{"a", "b", "b", "a", "a"})
	if n1 != n2 {
		t.Errorf("same per-input streams: %d alerts when a's events come first, %d when b's 10:00 event is processed before a's second 10:00 event arrives", n1, n2)
	}
}

package sequence

import (
	"strconv"
	"testing"

	"github.com/vigilhq/vigil/event"
)

// BenchmarkAdvance100kKeys: begin, followed_by, followed_by with within over
// 100k keys, one State per key. One op is one event.
func BenchmarkAdvance100kKeys(b *testing.B) {
	typ := func(s string) Condition {
		return func(ev *event.Event, _ Context) bool { return ev.Fields["type"] == s }
	}
	n, err := Compile(Pattern{
		Stages: []Stage{
			{Name: "a", Kind: Begin, Where: typ("a")},
			{Name: "b", Kind: FollowedBy, Where: typ("b")},
			{Name: "c", Kind: FollowedBy, Where: typ("c")},
		},
		Within: 60_000,
	})
	if err != nil {
		b.Fatal(err)
	}
	const keys = 100_000
	states := make([]*State, keys)
	for i := range states {
		states[i] = n.NewState()
	}
	// A repeating stream per key: a b x c (x matches nothing).
	types := []string{"a", "b", "x", "c"}
	evs := make([]event.Event, 4*keys)
	for i := range evs {
		evs[i] = event.Event{
			ID:     strconv.Itoa(i),
			Fields: map[string]any{"type": types[(i/keys)%len(types)]},
		}
	}
	matches := 0
	emit := func(Match) { matches++ }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(evs)
		ev := &evs[j]
		ev.Time = int64(i / keys) // all keys advance together, 1ms per round
		n.Advance(states[j%keys], ev, emit)
	}
	b.StopTimer()
	if b.N >= 4*keys && matches == 0 {
		b.Fatal("no matches")
	}
}

package cep

import (
	"math/rand"
	"sort"
	"testing"

	"github.com/vigilhq/vigil/event"
)

// TestEventQueueOrder pushes mostly in-order events with some stragglers,
// popping now and then, and checks every pop against a sorted reference.
func TestEventQueueOrder(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	var q itemQueue
	in := &input{name: "in"}
	var ref []*event.Event
	var seq uint64
	now := int64(0)
	for i := 0; i < 20000; i++ {
		if r.Intn(3) > 0 || len(ref) == 0 {
			now += int64(r.Intn(3))
			t0 := now
			if r.Intn(10) == 0 {
				t0 -= int64(r.Intn(50)) // out of order
			}
			seq++
			ev := &event.Event{Time: t0, Seq: seq}
			q.push(item{ev: ev, in: in})
			ref = append(ref, ev)
			continue
		}
		sort.SliceStable(ref, func(a, b int) bool { return ref[a].Before(ref[b]) })
		got, want := q.pop().ev, ref[0]
		ref = ref[1:]
		if got != want {
			t.Fatalf("pop %d: got (%d, %d); want (%d, %d)", i, got.Time, got.Seq, want.Time, want.Seq)
		}
		if q.len() != len(ref) {
			t.Fatalf("len = %d; want %d", q.len(), len(ref))
		}
	}
}

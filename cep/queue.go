package cep

import (
	"container/heap"

	"github.com/vigilhq/vigil/event"
)

// eventQueue holds events that wait for the watermark, ordered by time and
// then arrival (SPEC §5).
type eventQueue []*event.Event

func (q eventQueue) Len() int           { return len(q) }
func (q eventQueue) Less(i, j int) bool { return q[i].Before(q[j]) }
func (q eventQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)        { *q = append(*q, x.(*event.Event)) }
func (q *eventQueue) Pop() any {
	old := *q
	ev := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return ev
}

func (q *eventQueue) push(ev *event.Event) { heap.Push(q, ev) }
func (q *eventQueue) pop() *event.Event    { return heap.Pop(q).(*event.Event) }
func (q eventQueue) peek() *event.Event    { return q[0] }

// timer asks a rule to look at a key again when the watermark reaches At:
// a tumbling window closes, a partial match expires, an absence is
// confirmed, a sliding window empties, a throttle clock runs out.
type timer struct {
	At   int64
	seq  uint64 // creation order: timers due at the same time fire in it
	rule int    // index into the shard's runners
	key  string
}

type timerQueue []timer

func (q timerQueue) Len() int { return len(q) }
func (q timerQueue) Less(i, j int) bool {
	if q[i].At != q[j].At {
		return q[i].At < q[j].At
	}
	return q[i].seq < q[j].seq
}
func (q timerQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *timerQueue) Push(x any)   { *q = append(*q, x.(timer)) }
func (q *timerQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	*q = old[:len(old)-1]
	return t
}

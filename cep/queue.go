package cep

import (
	"container/heap"

	"github.com/vigilhq/vigil/event"
)

// eventQueue holds events that wait for the watermark, ordered by time and
// then arrival (SPEC §5). Events that arrive in order — most of them —
// go to a FIFO; only those older than the newest queued event go to a heap.
// Both are sorted, so the next event is the smaller of their heads.
type eventQueue struct {
	fifo []*event.Event // in (time, arrival) order; fifo[head:] is live
	head int
	late eventHeap // arrived out of order
}

func (q *eventQueue) len() int { return len(q.fifo) - q.head + len(q.late) }

func (q *eventQueue) push(ev *event.Event) {
	if n := len(q.fifo); n == q.head || !ev.Before(q.fifo[n-1]) {
		q.fifo = append(q.fifo, ev)
		return
	}
	heap.Push(&q.late, ev)
}

// peek returns the next event; the queue must not be empty.
func (q *eventQueue) peek() *event.Event {
	if q.head == len(q.fifo) || (len(q.late) > 0 && q.late[0].Before(q.fifo[q.head])) {
		return q.late[0]
	}
	return q.fifo[q.head]
}

func (q *eventQueue) pop() *event.Event {
	if q.head == len(q.fifo) || (len(q.late) > 0 && q.late[0].Before(q.fifo[q.head])) {
		return heap.Pop(&q.late).(*event.Event)
	}
	ev := q.fifo[q.head]
	q.fifo[q.head] = nil
	q.head++
	if q.head == len(q.fifo) {
		q.fifo, q.head = q.fifo[:0], 0
	} else if q.head > 1024 && q.head > len(q.fifo)/2 {
		n := copy(q.fifo, q.fifo[q.head:])
		clear(q.fifo[n:])
		q.fifo, q.head = q.fifo[:n], 0
	}
	return ev
}

// eventHeap is a min-heap of events by time, then arrival.
type eventHeap []*event.Event

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(*event.Event)) }
func (h *eventHeap) Pop() any {
	old := *h
	ev := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return ev
}

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

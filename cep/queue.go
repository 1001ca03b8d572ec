package cep

import (
	"container/heap"

	"github.com/vigilhq/vigil/event"
)

// item is an accepted event on its way through the engine: the input it
// came from, and the ingest batch whose ack waits for it.
type item struct {
	ev    *event.Event
	in    *input
	batch *ingestBatch // nil: nobody waits (restored from a snapshot)
}

// before orders items as the engine processes them: by event time, then
// by input name (so that equal times from different inputs do not depend
// on how the inputs interleaved), then by arrival within the input.
func (a *item) before(b *item) bool {
	if a.ev.Time != b.ev.Time {
		return a.ev.Time < b.ev.Time
	}
	if a.in != b.in {
		return a.in.name < b.in.name
	}
	return a.ev.Seq < b.ev.Seq
}

// itemQueue holds one input's events that wait for its watermark, ordered
// by time and then arrival. Events that arrive in order — most of them —
// go to a FIFO; only those older than the newest queued event go to a heap.
// Both are sorted, so the next event is the smaller of their heads.
type itemQueue struct {
	fifo itemFIFO
	late itemHeap // arrived out of order
}

func (q *itemQueue) len() int { return q.fifo.len() + len(q.late) }

func (q *itemQueue) push(it item) {
	if n := q.fifo.len(); n == 0 || !it.before(q.fifo.back()) {
		q.fifo.push(it)
		return
	}
	heap.Push(&q.late, it)
}

// peek returns the next item; the queue must not be empty.
func (q *itemQueue) peek() *item {
	if q.fifo.len() == 0 || (len(q.late) > 0 && q.late[0].before(q.fifo.front())) {
		return &q.late[0]
	}
	return q.fifo.front()
}

func (q *itemQueue) pop() item {
	if q.fifo.len() == 0 || (len(q.late) > 0 && q.late[0].before(q.fifo.front())) {
		return heap.Pop(&q.late).(item)
	}
	return q.fifo.pop()
}

// each calls f for every queued item, in no particular order.
func (q *itemQueue) each(f func(*item)) {
	q.fifo.each(f)
	for i := range q.late {
		f(&q.late[i])
	}
}

// itemFIFO is a queue of items over a slice.
type itemFIFO struct {
	a    []item // a[head:] is live
	head int
}

func (f *itemFIFO) len() int     { return len(f.a) - f.head }
func (f *itemFIFO) front() *item { return &f.a[f.head] }
func (f *itemFIFO) back() *item  { return &f.a[len(f.a)-1] }
func (f *itemFIFO) push(it item) { f.a = append(f.a, it) }
func (f *itemFIFO) each(g func(*item)) {
	for i := f.head; i < len(f.a); i++ {
		g(&f.a[i])
	}
}

func (f *itemFIFO) pop() item {
	it := f.a[f.head]
	f.a[f.head] = item{}
	f.head++
	switch {
	case f.head == len(f.a):
		// Drained: keep a small buffer, release a large one (a backlog
		// must not pin its memory for the rest of the run).
		if cap(f.a) > 4096 {
			f.a = nil
		} else {
			f.a = f.a[:0]
		}
		f.head = 0
	case f.head > 1024 && f.head > len(f.a)/2:
		n := copy(f.a, f.a[f.head:])
		clear(f.a[n:])
		f.a, f.head = f.a[:n], 0
	}
	return it
}

// itemHeap is a min-heap of items in processing order.
type itemHeap []item

func (h itemHeap) Len() int           { return len(h) }
func (h itemHeap) Less(i, j int) bool { return h[i].before(&h[j]) }
func (h itemHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)        { *h = append(*h, x.(item)) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = item{}
	*h = old[:len(old)-1]
	return it
}

// timerKind says what a timer does when it fires.
type timerKind uint8

const (
	// timerRule asks the rule to look at the key again: a tumbling window
	// closes, a partial match expires, an absence is confirmed, a sliding
	// window empties.
	timerRule timerKind = iota
	// timerThrottle clears a throttle clock that has run out.
	timerThrottle
	// timerTTL releases a key that has held state without an event for
	// the engine's state TTL (see WithStateTTL).
	timerTTL
)

// timer asks a rule to look at a key again when its partition's watermark
// reaches At. It names the rule's state itself, not a position in the
// ruleset, so reordering rules or updating others changes nothing.
type timer struct {
	At   int64
	seq  uint64 // creation order within the partition: equal times fire in it
	rs   *ruleState
	key  string
	kind timerKind
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
	old[len(old)-1] = timer{}
	*q = old[:len(old)-1]
	return t
}

package cep

import "github.com/vigilhq/vigil/event"

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
	q.late.push(it)
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
		return q.late.pop()
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

// itemHeap is a min-heap of items in processing order (hand-written: the
// container/heap interface would box every item).
type itemHeap []item

func (h *itemHeap) push(it item) {
	*h = append(*h, it)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a[i].before(&a[p]) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *itemHeap) pop() item {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = item{}
	a = a[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && a[l].before(&a[m]) {
			m = l
		}
		if l+1 < n && a[l+1].before(&a[m]) {
			m = l + 1
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
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

// timerQueue is a min-heap of timers by (At, seq), hand-written so that
// pushing a timer allocates nothing.
type timerQueue []timer

func (q timerQueue) less(i, j int) bool {
	if q[i].At != q[j].At {
		return q[i].At < q[j].At
	}
	return q[i].seq < q[j].seq
}

func (q *timerQueue) push(t timer) {
	*q = append(*q, t)
	a := *q
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (q *timerQueue) pop() timer {
	a := *q
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = timer{}
	a = a[:n]
	a.down(0)
	*q = a
	return top
}

func (q timerQueue) down(i int) {
	n := len(q)
	for {
		l, m := 2*i+1, i
		if l < n && q.less(l, m) {
			m = l
		}
		if l+1 < n && q.less(l+1, m) {
			m = l + 1
		}
		if m == i {
			return
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
}

// init restores the heap order after arbitrary changes.
func (q timerQueue) init() {
	for i := len(q)/2 - 1; i >= 0; i-- {
		q.down(i)
	}
}

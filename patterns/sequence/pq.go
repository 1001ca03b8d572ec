package sequence

import "math"

// pq is a binary heap of partial matches that reproduces java.util.PriorityQueue
// (OpenJDK 11+) exactly: offer/poll/peek use the same sift algorithms, the
// array order is the iteration order, and removeIf/removeAll compact the
// survivors and re-heapify (PriorityQueue.bulkRemove). FlinkCEP keeps its
// partial and completed matches in such queues ordered by
// NFAState.COMPUTATION_STATE_COMPARATOR, iterates them in array order and
// emits matches by polling them, so reproducing the heap layout reproduces
// FlinkCEP's processing and emission order.
type pq struct {
	a []comp
}

// cmpComp is NFAState.COMPUTATION_STATE_COMPARATOR: by the start event's
// (timestamp, id), start computation states (no start event) last.
func cmpComp(x, y *comp) int {
	xt, xs := x.startTime, x.startSeq
	if xs == 0 {
		xt, xs = math.MaxInt64, math.MaxUint64
	}
	yt, ys := y.startTime, y.startSeq
	if ys == 0 {
		yt, ys = math.MaxInt64, math.MaxUint64
	}
	switch {
	case xt < yt:
		return -1
	case xt > yt:
		return 1
	case xs < ys:
		return -1
	case xs > ys:
		return 1
	}
	return 0
}

func (q *pq) len() int { return len(q.a) }

func (q *pq) offer(x comp) {
	q.a = append(q.a, x)
	k := len(q.a) - 1
	for k > 0 {
		p := (k - 1) >> 1
		if cmpComp(&x, &q.a[p]) >= 0 {
			break
		}
		q.a[k] = q.a[p]
		k = p
	}
	q.a[k] = x
}

func (q *pq) poll() comp {
	r := q.a[0]
	n := len(q.a) - 1
	x := q.a[n]
	q.a[n] = comp{}
	q.a = q.a[:n]
	if n > 0 {
		q.siftDown(0, x)
	}
	return r
}

func (q *pq) siftDown(k int, x comp) {
	n := len(q.a)
	half := n >> 1
	for k < half {
		child := 2*k + 1
		right := child + 1
		if right < n && cmpComp(&q.a[child], &q.a[right]) > 0 {
			child = right
		}
		if cmpComp(&x, &q.a[child]) <= 0 {
			break
		}
		q.a[k] = q.a[child]
		k = child
	}
	q.a[k] = x
}

func (q *pq) heapify() {
	for i := (len(q.a) >> 1) - 1; i >= 0; i-- {
		q.siftDown(i, q.a[i])
	}
}

// prune removes the partial matches an after-match skip strategy discards:
// those with a start event before (or, inclusive, at) the pruning event.
// This is AfterMatchSkipStrategy.prune with PriorityQueue.removeAll.
func (q *pq) prune(t int64, seq uint64, inclusive bool) {
	end := len(q.a)
	doomed := func(c *comp) bool {
		if c.startSeq == 0 {
			return false
		}
		if c.startTime != t {
			return c.startTime < t
		}
		if inclusive {
			return c.startSeq <= seq
		}
		return c.startSeq < seq
	}
	i := 0
	for i < end && !doomed(&q.a[i]) {
		i++
	}
	if i >= end {
		return
	}
	w := i
	for i++; i < end; i++ {
		if !doomed(&q.a[i]) {
			q.a[w] = q.a[i]
			w++
		}
	}
	clear(q.a[w:end])
	q.a = q.a[:w]
	q.heapify()
}

func (q *pq) reset() {
	clear(q.a)
	q.a = q.a[:0]
}

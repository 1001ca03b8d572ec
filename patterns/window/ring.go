package window

// minRingCap is the smallest capacity a ring allocates; shrinkFloor the
// smallest it shrinks to. Not shrinking small rings keeps a window whose
// size hovers around a few dozen events (or a min/max deque, whose size
// jumps) from reallocating all the time.
const (
	minRingCap  = 8
	shrinkFloor = 32
)

// ring is a FIFO/deque over a slice whose length is zero or a power of two.
// It grows by doubling when full; popping from the front shrinks it when at
// most a quarter full, to two to four times its content. Its memory follows its content
// (within the window's turnover: a deque emptied from the back shrinks at
// its next popFront), and a steady state does not allocate.
type ring[T any] struct {
	buf  []T
	head int // index of the front element
	n    int // number of elements
}

func (r *ring[T]) len() int { return r.n }

// at returns the i-th element from the front.
func (r *ring[T]) at(i int) *T { return &r.buf[(r.head+i)&(len(r.buf)-1)] }

func (r *ring[T]) front() *T { return &r.buf[r.head] }

func (r *ring[T]) back() *T { return r.at(r.n - 1) }

func (r *ring[T]) pushBack(v T) {
	if r.n == len(r.buf) {
		r.resize(max(minRingCap, 2*len(r.buf)))
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = v
	r.n++
}

// popFront removes the front element; the ring must not be empty.
func (r *ring[T]) popFront() {
	var zero T
	r.buf[r.head] = zero // drop references (ids, values) held by the slot
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	r.maybeShrink()
}

// popBack removes the back element; the ring must not be empty. It never
// shrinks the ring: a monotonic deque pops bursts from the back and pushes
// again right away.
func (r *ring[T]) popBack() {
	var zero T
	*r.back() = zero
	r.n--
}

func (r *ring[T]) maybeShrink() {
	if c := len(r.buf); c > shrinkFloor && r.n <= c/4 {
		for c > shrinkFloor && r.n <= c/4 {
			c /= 2
		}
		r.resize(c)
	}
}

func (r *ring[T]) resize(c int) {
	buf := make([]T, c)
	if r.n > 0 {
		k := copy(buf, r.buf[r.head:min(r.head+r.n, len(r.buf))])
		copy(buf[k:r.n], r.buf)
	}
	r.buf, r.head = buf, 0
}

// reset empties the ring. It keeps a small buffer for reuse and releases a
// large one.
func (r *ring[T]) reset() {
	if len(r.buf) > shrinkFloor {
		r.buf = nil
	} else {
		clear(r.buf)
	}
	r.head, r.n = 0, 0
}

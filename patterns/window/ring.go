package window

// minRingCap is the smallest capacity a ring allocates or shrinks to.
const minRingCap = 8

// ring is a FIFO/deque over a slice whose length is zero or a power of two.
// It grows by doubling when full and shrinks by half when at most a quarter
// full, so its memory follows its content and a steady state does not
// allocate.
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

// popBack removes the back element; the ring must not be empty.
func (r *ring[T]) popBack() {
	var zero T
	*r.back() = zero
	r.n--
	r.maybeShrink()
}

func (r *ring[T]) maybeShrink() {
	if len(r.buf) > minRingCap && r.n <= len(r.buf)/4 {
		r.resize(len(r.buf) / 2)
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
	if len(r.buf) > 8*minRingCap {
		r.buf = nil
	} else {
		clear(r.buf)
	}
	r.head, r.n = 0, 0
}

package cep

import (
	"runtime"
	"sync/atomic"
	"time"
)

// pool runs the parallel phases of a step on the workers. The calling
// goroutine works as worker 0; the others are helpers that take indices
// of the current job as they come. A helper that finished a job spins a
// little before it parks, because a step's phases come in quick
// succession and waking a parked goroutine costs more than a phase of a
// small batch. The caller never waits for a helper that took no index,
// and spins a little before it parks waiting for the others.
type pool struct {
	workers []*worker
	cur     atomic.Pointer[job]
	gen     atomic.Uint64 // bumped per job, and by stop
	stopped atomic.Bool
	helpers []*helper
}

type helper struct {
	parked atomic.Bool
	wake   chan struct{} // buffered, 1
}

type job struct {
	n    int
	next atomic.Int64 // next index to take
	done atomic.Int64 // indices finished
	fn   func(w *worker, i int)
	fin  chan struct{} // closed when done reaches n
}

// spinFor is how long an idle helper polls for the next job before it
// parks.
const spinFor = 50 * time.Microsecond

func newPool(workers []*worker) *pool {
	p := &pool{workers: workers}
	for _, w := range workers[1:] {
		h := &helper{wake: make(chan struct{}, 1)}
		p.helpers = append(p.helpers, h)
		go p.help(w, h)
	}
	return p
}

func (p *pool) help(w *worker, h *helper) {
	var seen uint64
	for {
		g := p.await(h, seen)
		if p.stopped.Load() {
			return
		}
		seen = g
		if j := p.cur.Load(); j != nil {
			j.work(w)
		}
	}
}

// await returns the generation once it differs from seen: spinning
// first, then parked until run or stop wakes it.
func (p *pool) await(h *helper, seen uint64) uint64 {
	start := time.Now()
	for i := 0; ; i++ {
		if g := p.gen.Load(); g != seen {
			return g
		}
		if i%64 == 63 && time.Since(start) > spinFor {
			break
		}
		runtime.Gosched()
	}
	for {
		h.parked.Store(true)
		if g := p.gen.Load(); g != seen {
			h.parked.Store(false)
			return g
		}
		<-h.wake
		h.parked.Store(false)
	}
}

// run calls fn(w, i) for every i in [0, n), spread over the workers, and
// returns when all have returned.
func (p *pool) run(n int, fn func(w *worker, i int)) {
	if n <= 1 || len(p.helpers) == 0 {
		for i := 0; i < n; i++ {
			fn(p.workers[0], i)
		}
		return
	}
	j := &job{n: n, fn: fn, fin: make(chan struct{})}
	p.cur.Store(j)
	p.gen.Add(1)
	for _, h := range p.helpers[:min(len(p.helpers), n-1)] {
		if h.parked.Load() {
			h.poke()
		}
	}
	j.work(p.workers[0])
	// The helpers' last indices are usually moments from done: waiting
	// for them spinning saves parking and being woken.
	start := time.Now()
	for i := 0; j.done.Load() < int64(n); i++ {
		if i%64 == 63 && time.Since(start) > spinFor {
			<-j.fin
			break
		}
		runtime.Gosched()
	}
	p.cur.CompareAndSwap(j, nil)
}

func (h *helper) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (j *job) work(w *worker) {
	for {
		i := int(j.next.Add(1)) - 1
		if i >= j.n {
			return
		}
		j.fn(w, i)
		if j.done.Add(1) == int64(j.n) {
			close(j.fin)
		}
	}
}

// stop ends the helpers.
func (p *pool) stop() {
	p.stopped.Store(true)
	p.gen.Add(1)
	for _, h := range p.helpers {
		h.poke()
	}
	p.helpers = nil
}

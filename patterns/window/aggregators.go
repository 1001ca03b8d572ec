package window

import "math"

// aggregator is the incremental state of one aggregate. Each function has
// its own type, holding only what that function needs.
type aggregator interface {
	// add takes the argument of a new event, whose sequence number is seq.
	add(seq uint64, a any)
	// evict undoes the oldest event of the window, whose sequence number
	// is seq.
	evict(seq uint64)
	// value is the aggregate's value; n is the number of events in the
	// window.
	value(n int) any
	// reset empties the state.
	reset()
}

// counter is count(): the window's length is the answer.
type counter struct{}

func (counter) add(uint64, any) {}
func (counter) evict(uint64)    {}
func (counter) value(n int) any { return n }
func (counter) reset()          {}

// countIf is count(expr): whether each event in the window counted, and
// how many did.
type countIf struct {
	flags ring[bool]
	trues int
}

func (c *countIf) add(_ uint64, a any) {
	b, _ := a.(bool)
	c.flags.pushBack(b)
	if b {
		c.trues++
	}
}

func (c *countIf) evict(uint64) {
	if *c.flags.front() {
		c.trues--
	}
	c.flags.popFront()
}

func (c *countIf) value(int) any { return c.trues }

func (c *countIf) reset() { c.flags.reset(); c.trues = 0 }

// floats is sum(x), avg(x) or stddev(x).
type floats struct {
	fn Func
	// Each event's value, NaN when missing; the number of values present.
	vals  ring[float64]
	nvals int
	// Sum, Avg: the sum of the values.
	sum ksum
	// Stddev: Σ(x-ref) and Σ(x-ref)² over the values, where ref is one of
	// the values, near their mean (shifting keeps the variance from
	// cancelling catastrophically when the data is far from zero); ops
	// counts adds and evictions since ref was last chosen.
	ref       float64
	dsum, dsq ksum
	ops       int
}

func (f *floats) add(_ uint64, a any) {
	x, ok := finite(a)
	if !ok {
		f.vals.pushBack(math.NaN())
		if f.fn == Stddev {
			f.checkCentre()
		}
		return
	}
	f.vals.pushBack(x)
	f.nvals++
	if f.fn != Stddev {
		f.sum.add(x)
		return
	}
	if f.nvals == 1 {
		f.ref = x
	}
	d := x - f.ref
	f.dsum.add(d)
	f.dsq.add(d * d)
	f.checkCentre()
}

func (f *floats) evict(uint64) {
	x := *f.vals.front()
	f.vals.popFront()
	switch {
	case math.IsNaN(x): // missing
		if f.fn == Stddev {
			f.checkCentre()
		}
		return
	case f.nvals == 1:
		// Exactly zero again, whatever rounding the removals left.
		f.zero()
	case f.fn == Stddev:
		f.nvals--
		d := x - f.ref
		f.dsum.add(-d)
		f.dsq.add(-(d * d))
		f.checkCentre()
	default:
		f.nvals--
		f.sum.add(-x)
	}
}

// zero resets the sums when no value is left.
func (f *floats) zero() {
	f.nvals = 0
	f.sum, f.dsum, f.dsq, f.ref, f.ops = ksum{}, ksum{}, ksum{}, 0, 0
}

func (f *floats) reset() {
	f.vals.reset()
	f.zero()
}

func (f *floats) value(int) any {
	switch f.fn {
	case Sum:
		if f.nvals == 0 {
			return 0.0
		}
		return f.sum.value()
	case Avg:
		if f.nvals == 0 {
			return nil
		}
		return f.sum.value() / float64(f.nvals)
	}
	switch f.nvals {
	case 0:
		return nil
	case 1:
		return 0.0
	}
	v := f.variance()
	if v <= 0 { // rounding can leave a tiny negative variance
		return 0.0
	}
	return math.Sqrt(v)
}

// rebuild recomputes the sums from the stored values (see Window.rebuild).
func (f *floats) rebuild() {
	if f.fn == Stddev {
		f.recentre()
	} else {
		f.sum = f.exactSum()
	}
}

// exactSum is the compensated sum of the stored values.
func (f *floats) exactSum() ksum {
	var sum ksum
	for j := range f.vals.len() {
		if x := *f.vals.at(j); !math.IsNaN(x) {
			sum.add(x)
		}
	}
	return sum
}

// centreFactor bounds how ill-conditioned stddev's shifted sums may get:
// when n(mean-ref)², the part of Σ(x-ref)² that the variance formula
// cancels, exceeds centreFactor times the part it keeps (n·variance), ref
// is chosen again. The relative error of the variance stays near
// centreFactor·ε ≈ 2e-13.
const centreFactor = 1e3

// checkCentre chooses stddev's reference value again when the data has
// moved far from it (relative to its spread). Right after recentre,
// n(mean-ref)² <= n·variance (some value always lies within one standard
// deviation of the mean), so this fires again only once much of the data
// has been replaced; requiring, besides, half as many adds and evictions
// since the last recentre as there are events in the window makes the
// O(n) recentre O(1) amortized even for adversarial data. (While that
// guard holds recentring back, variance reads the values directly when
// the sums are ill-conditioned.)
func (f *floats) checkCentre() {
	f.ops++
	if f.nvals >= 2 && 2*f.ops >= f.vals.len() && f.illConditioned() {
		f.recentre()
	}
}

// illConditioned reports whether the shifted sums lose too many digits to
// give the variance; see centreFactor.
func (f *floats) illConditioned() bool {
	d := f.dsum.value()
	cancelled := d * d / float64(f.nvals)
	return cancelled > centreFactor*(f.dsq.value()-cancelled)
}

// variance returns the population variance of the values (nvals >= 2).
func (f *floats) variance() float64 {
	n := float64(f.nvals)
	if !f.illConditioned() {
		d := f.dsum.value()
		return (f.dsq.value() - d*d/n) / n
	}
	// Rare: two passes over the stored values.
	mean := f.exactSum().value() / n
	var q ksum
	for j := range f.vals.len() {
		if x := *f.vals.at(j); !math.IsNaN(x) {
			q.add((x - mean) * (x - mean))
		}
	}
	return q.value() / n
}

// recentre recomputes stddev's shifted sums with, as reference, the stored
// value closest to the mean: constant data then sums exact zeros, and the
// sums are as well-conditioned as they can be.
func (f *floats) recentre() {
	f.ops = 0
	f.dsum, f.dsq, f.ref = ksum{}, ksum{}, 0
	if f.nvals == 0 {
		return
	}
	mean := f.exactSum().value() / float64(f.nvals)
	best := math.Inf(1)
	for j := range f.vals.len() {
		if x := *f.vals.at(j); !math.IsNaN(x) && math.Abs(x-mean) < best {
			f.ref, best = x, math.Abs(x-mean)
		}
	}
	for j := range f.vals.len() {
		if x := *f.vals.at(j); !math.IsNaN(x) {
			d := x - f.ref
			f.dsum.add(d)
			f.dsq.add(d * d)
		}
	}
}

// extreme is min(x) or max(x): a monotonic deque of candidates, oldest
// first. For min the values increase strictly from front to back (for
// max they decrease), so the front is the answer; a candidate leaves when
// a newer event's value beats or equals it (it can never be the answer
// again) or when its event is evicted. Each event enters and leaves at
// most once: O(1) amortized.
type extreme struct {
	max  bool
	mono ring[seqFloat]
}

type seqFloat struct {
	seq uint64
	v   float64
}

func (e *extreme) add(seq uint64, a any) {
	x, ok := finite(a)
	if !ok {
		return
	}
	if e.max {
		for e.mono.len() > 0 && e.mono.back().v <= x {
			e.mono.popBack()
		}
	} else {
		for e.mono.len() > 0 && e.mono.back().v >= x {
			e.mono.popBack()
		}
	}
	e.mono.pushBack(seqFloat{seq, x})
}

func (e *extreme) evict(seq uint64) {
	if e.mono.len() > 0 && e.mono.front().seq == seq {
		e.mono.popFront()
	}
}

func (e *extreme) value(int) any {
	if e.mono.len() == 0 {
		return nil
	}
	return e.mono.front().v
}

func (e *extreme) reset() { e.mono.reset() }

// first is first(x): the events of the window that have a value, oldest
// first.
type first struct {
	seen ring[seqAny]
}

type seqAny struct {
	seq uint64
	v   any
}

func (f *first) add(seq uint64, a any) {
	if a != nil {
		f.seen.pushBack(seqAny{seq, a})
	}
}

func (f *first) evict(seq uint64) {
	if f.seen.len() > 0 && f.seen.front().seq == seq {
		f.seen.popFront()
	}
}

func (f *first) value(int) any {
	if f.seen.len() == 0 {
		return nil
	}
	return f.seen.front().v
}

func (f *first) reset() { f.seen.reset() }

// last is last(x): the newest value and its event. When that event leaves,
// every event with a value has left (events leave oldest first), so the
// answer becomes nil.
type last struct {
	v   any
	seq uint64
	ok  bool
}

func (l *last) add(seq uint64, a any) {
	if a != nil {
		l.v, l.seq, l.ok = a, seq, true
	}
}

func (l *last) evict(seq uint64) {
	if l.ok && l.seq == seq {
		*l = last{}
	}
}

func (l *last) value(int) any { return l.v }

func (l *last) reset() { *l = last{} }

package window

import "math"

// rebuildMin is the least number of evictions between two recomputations
// of the float sums (see Window.rebuild).
const rebuildMin = 64

// Window holds one key's events inside its window and keeps every aggregate
// incrementally.
//
// Events must be added in event-time order (non-decreasing times), as the
// engine processes them: eviction drops events from the oldest end and
// stops at the first event that is still inside the window. The zero value
// is not usable; call New.
type Window struct {
	aggs   []Aggregate
	states []state
	events ring[entry]
	// base is the sequence number of the oldest event in the window; the
	// i-th event from the oldest has base+i. Sequence numbers identify
	// events in the min/max/first/last candidate lists.
	base uint64
	// hasFloat reports whether some aggregate keeps float sums, and
	// sinceRebuild counts evictions since they were last recomputed.
	hasFloat     bool
	sinceRebuild int
}

// entry is what the window keeps of an event for itself.
type entry struct {
	id string
	t  int64
}

type seqFloat struct {
	seq uint64
	v   float64
}

type seqAny struct {
	seq uint64
	v   any
}

// state is the incremental state of one aggregate. Only the fields of its
// function are used; the rings of the other functions stay empty and own
// no memory.
type state struct {
	fn Func

	// CountIf: whether each event in the window counted, and how many did.
	flags ring[bool]
	trues int

	// Sum, Avg, Stddev: each event's value, NaN when missing; the number
	// of values present.
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

	// Min, Max: monotonic deque of candidates, oldest first. For Min the
	// values increase strictly from front to back (Max: decrease), so the
	// front is the answer; an event's candidate leaves when a newer event
	// beats it (it can never be the answer again) or when it is evicted.
	mono ring[seqFloat]

	// Distinct: the distinct keys of the events in the window.
	dist distinctSet

	// First: the events that have a value, oldest first.
	seen ring[seqAny]

	// Last: the newest value and its event.
	last    any
	lastSeq uint64
	hasLast bool
}

// New returns an empty window keeping the given aggregates. The slice is
// kept, not copied; it must not be modified afterwards.
func New(aggs []Aggregate) *Window {
	w := &Window{aggs: aggs, states: make([]state, len(aggs))}
	for i, a := range aggs {
		s := &w.states[i]
		s.fn = a.Func
		if a.Func == Sum || a.Func == Avg || a.Func == Stddev {
			w.hasFloat = true
		}
	}
	return w
}

// Add puts an event into the window. id is its id (kept for EventIDs), t
// its time in Unix milliseconds, not before the previous event's time.
// args[i] is the argument of the i-th aggregate for this event: nil, or
// args shorter than the aggregates, means missing; for count(expr) a bool,
// of which only true counts; for count() it is ignored. See the package
// documentation for what counts as missing for each function.
//
// Add keeps args[i] itself only for first(x) and last(x); the slice args
// is not retained and may be reused by the caller.
func (w *Window) Add(id string, t int64, args []any) {
	seq := w.base + uint64(w.events.len())
	w.events.pushBack(entry{id: id, t: t})
	for i := range w.states {
		var a any
		if i < len(args) {
			a = args[i]
		}
		w.states[i].add(seq, a)
	}
}

func (s *state) add(seq uint64, a any) {
	switch s.fn {
	case CountIf:
		b, _ := a.(bool)
		s.flags.pushBack(b)
		if b {
			s.trues++
		}
	case Sum, Avg, Stddev:
		x, ok := finite(a)
		if !ok {
			s.vals.pushBack(math.NaN())
			if s.fn == Stddev {
				s.checkCentre()
			}
			return
		}
		s.vals.pushBack(x)
		s.nvals++
		if s.fn == Stddev {
			if s.nvals == 1 {
				s.ref = x
			}
			d := x - s.ref
			s.dsum.add(d)
			s.dsq.add(d * d)
			s.checkCentre()
		} else {
			s.sum.add(x)
		}
	case Min:
		x, ok := finite(a)
		if !ok {
			return
		}
		for s.mono.len() > 0 && s.mono.back().v >= x {
			s.mono.popBack()
		}
		s.mono.pushBack(seqFloat{seq, x})
	case Max:
		x, ok := finite(a)
		if !ok {
			return
		}
		for s.mono.len() > 0 && s.mono.back().v <= x {
			s.mono.popBack()
		}
		s.mono.pushBack(seqFloat{seq, x})
	case Distinct:
		s.dist.add(keyOf(a))
	case First:
		if a != nil {
			s.seen.pushBack(seqAny{seq, a})
		}
	case Last:
		if a != nil {
			s.last, s.lastSeq, s.hasLast = a, seq, true
		}
	}
}

// EvictThrough drops the events with time <= t, oldest first. For a
// sliding window of size W the engine calls EvictThrough(now - W), which
// leaves the window (now-W, now]: an event exactly W before now is out.
func (w *Window) EvictThrough(t int64) {
	for w.events.len() > 0 && w.events.front().t <= t {
		w.events.popFront()
		for i := range w.states {
			w.states[i].evict(w.base)
		}
		w.base++
		w.sinceRebuild++
	}
	if w.hasFloat && w.sinceRebuild >= rebuildMin && w.sinceRebuild >= w.events.len() {
		w.rebuild()
	}
}

// evict undoes the oldest event of the window, whose sequence number is seq.
func (s *state) evict(seq uint64) {
	switch s.fn {
	case CountIf:
		if *s.flags.front() {
			s.trues--
		}
		s.flags.popFront()
	case Sum, Avg, Stddev:
		x := *s.vals.front()
		s.vals.popFront()
		if math.IsNaN(x) {
			if s.fn == Stddev {
				s.checkCentre()
			}
			return
		}
		s.nvals--
		switch {
		case s.nvals == 0:
			// Exactly zero again, whatever rounding the removals left.
			s.sum, s.dsum, s.dsq, s.ref, s.ops = ksum{}, ksum{}, ksum{}, 0, 0
		case s.fn == Stddev:
			d := x - s.ref
			s.dsum.add(-d)
			s.dsq.add(-(d * d))
			s.checkCentre()
		default:
			s.sum.add(-x)
		}
	case Min, Max:
		if s.mono.len() > 0 && s.mono.front().seq == seq {
			s.mono.popFront()
		}
	case Distinct:
		s.dist.evict()
	case First:
		if s.seen.len() > 0 && s.seen.front().seq == seq {
			s.seen.popFront()
		}
	case Last:
		if s.hasLast && s.lastSeq == seq {
			// The newest value was the last one left in the window.
			s.last, s.hasLast = nil, false
		}
	}
}

// rebuild recomputes the float sums from the stored values. It runs once
// the window has turned over (at least as many evictions since the last
// rebuild as events left), so it costs O(1) amortized per eviction, and
// it bounds the rounding error that adding and removing accumulates over
// a long-lived window.
func (w *Window) rebuild() {
	w.sinceRebuild = 0
	for i := range w.states {
		s := &w.states[i]
		switch s.fn {
		case Sum, Avg:
			s.sum = s.exactSum()
		case Stddev:
			s.recentre()
		}
	}
}

// exactSum is the compensated sum of the stored values.
func (s *state) exactSum() ksum {
	var sum ksum
	for j := range s.vals.len() {
		if x := *s.vals.at(j); !math.IsNaN(x) {
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
func (s *state) checkCentre() {
	s.ops++
	if s.nvals >= 2 && 2*s.ops >= s.vals.len() && s.illConditioned() {
		s.recentre()
	}
}

// illConditioned reports whether the shifted sums lose too many digits to
// give the variance; see centreFactor.
func (s *state) illConditioned() bool {
	d := s.dsum.value()
	cancelled := d * d / float64(s.nvals)
	return cancelled > centreFactor*(s.dsq.value()-cancelled)
}

// variance returns the population variance of the values (nvals >= 2).
func (s *state) variance() float64 {
	n := float64(s.nvals)
	if !s.illConditioned() {
		d := s.dsum.value()
		return (s.dsq.value() - d*d/n) / n
	}
	// Rare: two passes over the stored values.
	mean := s.exactSum().value() / n
	var q ksum
	for j := range s.vals.len() {
		if x := *s.vals.at(j); !math.IsNaN(x) {
			q.add((x - mean) * (x - mean))
		}
	}
	return q.value() / n
}

// recentre recomputes stddev's shifted sums with, as reference, the stored
// value closest to the mean: constant data then sums exact zeros, and the
// sums are as well-conditioned as they can be.
func (s *state) recentre() {
	s.ops = 0
	s.dsum, s.dsq, s.ref = ksum{}, ksum{}, 0
	if s.nvals == 0 {
		return
	}
	sum := s.exactSum()
	mean := sum.value() / float64(s.nvals)
	best := math.Inf(1)
	for j := range s.vals.len() {
		if x := *s.vals.at(j); !math.IsNaN(x) && math.Abs(x-mean) < best {
			s.ref, best = x, math.Abs(x-mean)
		}
	}
	for j := range s.vals.len() {
		if x := *s.vals.at(j); !math.IsNaN(x) {
			d := x - s.ref
			s.dsum.add(d)
			s.dsq.add(d * d)
		}
	}
}

// Reset empties the window, as at the end of a tumbling window. Small
// buffers are kept for the next window; large ones are released.
func (w *Window) Reset() {
	w.base += uint64(w.events.len())
	w.events.reset()
	w.sinceRebuild = 0
	for i := range w.states {
		s := &w.states[i]
		s.flags.reset()
		s.trues = 0
		s.vals.reset()
		s.nvals = 0
		s.sum, s.dsum, s.dsq, s.ref, s.ops = ksum{}, ksum{}, ksum{}, 0, 0
		s.mono.reset()
		s.dist.reset()
		s.seen.reset()
		s.last, s.lastSeq, s.hasLast = nil, 0, false
	}
}

// Len returns the number of events in the window.
func (w *Window) Len() int { return w.events.len() }

// Values appends the current value of each aggregate to dst[:0], in the
// order of the aggregates given to New, and returns the result:
//
//	count(), count(expr), distinct(x)   int
//	sum(x)                              float64 (0 when no value)
//	avg, min, max, stddev               float64, or nil when no value
//	first(x), last(x)                   the argument as given to Add, or nil
func (w *Window) Values(dst []any) []any {
	dst = dst[:0]
	for i := range w.states {
		dst = append(dst, w.states[i].value(w.events.len()))
	}
	return dst
}

func (s *state) value(n int) any {
	switch s.fn {
	case Count:
		return n
	case CountIf:
		return s.trues
	case Sum:
		if s.nvals == 0 {
			return 0.0
		}
		return s.sum.value()
	case Avg:
		if s.nvals == 0 {
			return nil
		}
		return s.sum.value() / float64(s.nvals)
	case Min, Max:
		if s.mono.len() == 0 {
			return nil
		}
		return s.mono.front().v
	case Distinct:
		return s.dist.len()
	case Stddev:
		switch s.nvals {
		case 0:
			return nil
		case 1:
			return 0.0
		}
		v := s.variance()
		if v <= 0 { // rounding can leave a tiny negative variance
			return 0.0
		}
		return math.Sqrt(v)
	case First:
		if s.seen.len() == 0 {
			return nil
		}
		return s.seen.front().v
	case Last:
		if !s.hasLast {
			return nil
		}
		return s.last
	}
	return nil
}

// EventIDs appends the ids of the events in the window to dst[:0], oldest
// first, and returns the result.
func (w *Window) EventIDs(dst []string) []string {
	dst = dst[:0]
	for i := range w.events.len() {
		dst = append(dst, w.events.at(i).id)
	}
	return dst
}

package window

import "fmt"

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
	states []aggregator
	events ring[entry]
	// base is the sequence number of the oldest event in the window; the
	// i-th event from the oldest has base+i. Sequence numbers identify
	// events in the min/max/first/last candidate lists.
	base uint64
	// floats lists the aggregates that keep float sums, and sinceRebuild
	// counts evictions since those were last recomputed.
	floats       []*floats
	sinceRebuild int
}

// entry is what the window keeps of an event for itself.
type entry struct {
	id string
	t  int64
}

// New returns an empty window keeping the given aggregates. The slice is
// kept, not copied; it must not be modified afterwards. New panics on a
// Func that is not one of the constants of this package.
func New(aggs []Aggregate) *Window {
	w := &Window{aggs: aggs, states: make([]aggregator, len(aggs))}
	for i, a := range aggs {
		var s aggregator
		switch a.Func {
		case Count:
			s = counter{}
		case CountIf:
			s = &countIf{}
		case Sum, Avg, Stddev:
			f := &floats{fn: a.Func}
			w.floats = append(w.floats, f)
			s = f
		case Min:
			s = &extreme{}
		case Max:
			s = &extreme{max: true}
		case Distinct:
			s = &distinctSet{}
		case First:
			s = &first{}
		case Last:
			s = &last{}
		default:
			panic(fmt.Sprintf("window: aggregate %q has unknown function %v", a.Text, a.Func))
		}
		w.states[i] = s
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
	for i, s := range w.states {
		var a any
		if i < len(args) {
			a = args[i]
		}
		s.add(seq, a)
	}
}

// EvictThrough drops the events with time <= t, oldest first. For a
// sliding window of size W the engine calls EvictThrough(now - W), which
// leaves the window (now-W, now]: an event exactly W before now is out.
func (w *Window) EvictThrough(t int64) {
	for w.events.len() > 0 && w.events.front().t <= t {
		w.events.popFront()
		for _, s := range w.states {
			s.evict(w.base)
		}
		w.base++
		w.sinceRebuild++
	}
	if w.sinceRebuild >= rebuildMin && w.sinceRebuild >= w.events.len() && len(w.floats) > 0 {
		w.rebuild()
	}
}

// rebuild recomputes the float sums from the stored values. It runs once
// the window has turned over (at least as many evictions since the last
// rebuild as events left), so it costs O(1) amortized per eviction, and
// it bounds the rounding error that adding and removing accumulates over
// a long-lived window.
func (w *Window) rebuild() {
	w.sinceRebuild = 0
	for _, f := range w.floats {
		f.rebuild()
	}
}

// Reset empties the window, as at the end of a tumbling window. Small
// buffers are kept for the next window; large ones are released.
func (w *Window) Reset() {
	w.base += uint64(w.events.len())
	w.events.reset()
	w.sinceRebuild = 0
	for _, s := range w.states {
		s.reset()
	}
}

// Len returns the number of events in the window.
func (w *Window) Len() int { return w.events.len() }

// Values appends the current value of each aggregate to dst[:0], in the
// order of the aggregates given to New (or Decode, or Reorder), and
// returns the result:
//
//	count(), count(expr), distinct(x)   int
//	sum(x)                              float64 (0 when no value)
//	avg, min, max, stddev               float64, or nil when no value
//	first(x), last(x)                   the argument as given to Add, or nil
func (w *Window) Values(dst []any) []any {
	dst = dst[:0]
	for _, s := range w.states {
		dst = append(dst, s.value(w.events.len()))
	}
	return dst
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

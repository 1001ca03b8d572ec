package window

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/vigilhq/vigil/internal/wire"
)

// codecVersion is the format version that starts every payload of Encode
// (see "Snapshots" in the package documentation).
const codecVersion = 1

// Encode appends the window's complete state to e: the payload described
// under "Snapshots" in the package documentation. A window read back by
// Decode behaves exactly like w from then on: after the same calls, Values
// (float bits included), EventIDs and Len are the same. Only the arguments
// kept by first(x) and last(x) may change type (see wire.Enc.Value): an
// int8, int16 or int32 comes back as int64, any unsigned integer as uint64,
// a float32 as float64, and any other type that is not nil, bool, float64,
// int, int64 or string (maps, slices, json.Number, named types) as what
// encoding/json decodes from its JSON text (numbers as float64); a value
// JSON cannot encode (a map holding a NaN, say) comes back as nil.
//
// The capacities of the window's buffers are not part of the state: the
// decoded window's buffers are sized to their content, which changes when
// they next grow or shrink, never a value.
//
// Encode relies on the events' times being non-decreasing, as Add
// requires; a window fed times out of order does not decode.
func (w *Window) Encode(e *wire.Enc) {
	e.Uvarint(codecVersion)
	e.Uvarint(uint64(len(w.aggs)))
	for _, a := range w.aggs {
		e.Uvarint(uint64(a.Func))
		e.String(a.Text)
	}
	e.Uvarint(w.base)
	e.Uvarint(uint64(w.sinceRebuild))
	n := w.events.len()
	e.Uvarint(uint64(n))
	var prev int64
	for i := range n {
		ev := w.events.at(i)
		e.String(ev.id)
		if i == 0 {
			e.Varint(ev.t)
		} else {
			e.Uvarint(uint64(ev.t) - uint64(prev))
		}
		prev = ev.t
	}
	for _, s := range w.states {
		encodeState(e, s, w.base)
	}
}

func encodeState(e *wire.Enc, s aggregator, base uint64) {
	switch s := s.(type) {
	case counter:
	case *countIf:
		e.Uvarint(uint64(s.trues))
		for i := range s.flags.len() {
			e.Bool(*s.flags.at(i))
		}
	case *floats:
		e.Uvarint(uint64(s.nvals))
		if s.fn == Stddev {
			e.Float64(s.ref)
			e.Float64(s.dsum.s)
			e.Float64(s.dsum.c)
			e.Float64(s.dsq.s)
			e.Float64(s.dsq.c)
			e.Uvarint(uint64(s.ops))
		} else {
			e.Float64(s.sum.s)
			e.Float64(s.sum.c)
		}
		for i := range s.vals.len() {
			e.Float64(*s.vals.at(i))
		}
	case *extreme:
		e.Uvarint(uint64(s.mono.len()))
		for i := range s.mono.len() {
			c := s.mono.at(i)
			e.Uvarint(c.seq - base)
			e.Float64(c.v)
		}
	case *distinctSet:
		e.Uvarint(uint64(len(s.slots)))
		for _, sl := range s.slots {
			e.Uvarint(uint64(sl.n))
			if sl.n == 0 {
				continue
			}
			e.Uvarint(uint64(sl.key.kind))
			switch sl.key.kind {
			case keyNumber:
				e.Float64(sl.key.num)
			case keyBool:
				e.Bool(sl.key.num != 0)
			default: // keyString, keyJSON
				e.String(sl.key.str)
			}
		}
		e.Uvarint(uint64(len(s.free)))
		for _, i := range s.free {
			e.Uvarint(uint64(i))
		}
		for i := range s.slotOf.len() {
			// noSlot+1 wraps to 0.
			e.Uvarint(uint64(*s.slotOf.at(i) + 1))
		}
	case *first:
		e.Uvarint(uint64(s.seen.len()))
		for i := range s.seen.len() {
			c := s.seen.at(i)
			e.Uvarint(c.seq - base)
			e.Value(c.v)
		}
	case *last:
		e.Bool(s.ok)
		if s.ok {
			e.Uvarint(s.seq - base)
			e.Value(s.v)
		}
	default:
		panic(fmt.Sprintf("window: no encoding for %T", s))
	}
}

// Decode reads a window written by Encode from d, for a rule whose
// aggregates are now aggs, and leaves d after it (the caller checks
// d.Done at the end of its record). The aggregates are matched by Func
// and Text: the snapshot must hold the same ones, in any order (a rule
// edit may reorder them), and the decoded window keeps them in the order
// of aggs, as New(aggs) would; aggs is kept, not copied.
//
// Any mismatch, any value the window could not have held and a short
// payload are errors wrapping wire.ErrCorrupt; Decode never panics, and a
// corrupt count never makes it allocate more than a small multiple of
// the payload's size.
func Decode(aggs []Aggregate, d *wire.Dec) (*Window, error) {
	if v := d.Uvarint(); d.Err() == nil && v != codecVersion {
		d.Fail("window: unknown format version %d", v)
	}
	saved := make([]Aggregate, d.Count(2))
	for i := range saved {
		f := d.Uvarint()
		if d.Err() == nil && f > uint64(Last) {
			d.Fail("window: unknown aggregate function %d", f)
		}
		saved[i] = Aggregate{Func: Func(f), Text: d.String()}
	}
	if d.Err() != nil {
		return nil, d.Err()
	}
	perm, err := matchAggs(saved, aggs, "the snapshot", "the rule")
	if err != nil {
		d.Fail("window: %v", err)
		return nil, d.Err()
	}

	w := &Window{aggs: aggs, states: make([]aggregator, len(aggs))}
	w.base = d.Uvarint()
	w.sinceRebuild = readInt(d, "evictions since rebuild")
	// Each event takes at least a byte for its id's length, one for its
	// time and, in every aggregate that keeps something per event, that
	// something: checking the count against all of it bounds what the
	// rings below allocate by the payload's size.
	minBytes := 2
	for _, a := range saved {
		switch a.Func {
		case CountIf, Distinct:
			minBytes++
		case Sum, Avg, Stddev:
			minBytes += 8
		}
	}
	n := d.Count(minBytes)
	if d.Err() == nil && w.base > math.MaxUint64-uint64(n) {
		d.Fail("window: sequence numbers overflow")
	}
	w.events = makeRing[entry](n)
	var prev int64
	for i := range n {
		ev := w.events.at(i)
		ev.id = d.String()
		if i == 0 {
			ev.t = d.Varint()
		} else {
			dt := d.Uvarint()
			if dt > uint64(math.MaxInt64)-uint64(prev) {
				d.Fail("window: event time overflows")
			}
			ev.t = int64(uint64(prev) + dt)
		}
		if d.Err() != nil {
			return nil, d.Err()
		}
		prev = ev.t
	}

	states := make([]aggregator, len(saved))
	for i, a := range saved {
		states[i] = decodeState(d, a.Func, n, w.base)
		if d.Err() != nil {
			return nil, fmt.Errorf("%w (aggregate %q)", d.Err(), a.Text)
		}
	}
	for i, j := range perm {
		w.states[i] = states[j]
	}
	w.collectFloats()
	return w, nil
}

// Reorder puts w's aggregates in the order of aggs, in place: aggs must
// hold the same aggregates (Func and Text) as w, in any order. It is for a
// rule update that only reorders its aggregates; the state is kept as it
// is. On error w is unchanged. aggs is kept, not copied.
func (w *Window) Reorder(aggs []Aggregate) error {
	perm, err := matchAggs(w.aggs, aggs, "the window", "the new list")
	if err != nil {
		return fmt.Errorf("window: %w", err)
	}
	states := make([]aggregator, len(aggs))
	for i, j := range perm {
		states[i] = w.states[j]
	}
	w.aggs, w.states = aggs, states
	w.collectFloats()
	return nil
}

// collectFloats lists the float aggregates, in the order of the states.
func (w *Window) collectFloats() {
	w.floats = w.floats[:0]
	for _, s := range w.states {
		if f, ok := s.(*floats); ok {
			w.floats = append(w.floats, f)
		}
	}
}

// matchAggs returns, for each aggregate of to, the index of the same
// aggregate (Func and Text) in from, or an error when the two lists do not
// hold the same aggregates; fromName and toName name the lists in it.
// Equal aggregates, which hold equal states, are paired in their order of
// appearance.
func matchAggs(from, to []Aggregate, fromName, toName string) ([]int, error) {
	at := make(map[Aggregate][]int, len(from))
	for i, a := range from {
		at[a] = append(at[a], i)
	}
	perm := make([]int, len(to))
	for i, a := range to {
		idx := at[a]
		if len(idx) == 0 {
			for _, b := range from {
				if b.Text == a.Text && b.Func != a.Func {
					return nil, fmt.Errorf("aggregate %q is %v in %s, %v in %s", a.Text, funcName(b.Func), fromName, funcName(a.Func), toName)
				}
			}
			if slices.Contains(from, a) {
				return nil, fmt.Errorf("aggregate %q is more times in %s than in %s", a.Text, toName, fromName)
			}
			return nil, fmt.Errorf("aggregate %q of %s is not in %s", a.Text, toName, fromName)
		}
		perm[i], at[a] = idx[0], idx[1:]
	}
	for _, a := range from {
		if len(at[a]) > 0 {
			return nil, fmt.Errorf("aggregate %q of %s is not in %s", a.Text, fromName, toName)
		}
	}
	return perm, nil
}

// funcName tells CountIf from Count, unlike Func.String.
func funcName(f Func) string {
	switch f {
	case Count:
		return "count()"
	case CountIf:
		return "count(expr)"
	}
	return f.String()
}

// makeRing returns a ring holding n zero elements (n >= 0), with room for
// at least minRingCap.
func makeRing[T any](n int) ring[T] {
	if n == 0 {
		return ring[T]{}
	}
	c := max(minRingCap, 1<<bits.Len(uint(n-1)))
	return ring[T]{buf: make([]T, c), n: n}
}

// readInt reads a uvarint that must fit an int.
func readInt(d *wire.Dec, what string) int {
	u := d.Uvarint()
	if u > math.MaxInt {
		d.Fail("window: %s %d out of range", what, u)
		return 0
	}
	return int(u)
}

// readSeq reads the offset of an event in the window (its sequence number
// minus base), which must come after the offset prev (-1: none) and before
// n, and returns the sequence number.
func readSeq(d *wire.Dec, prev *int, n int, base uint64) uint64 {
	off := d.Uvarint()
	if d.Err() == nil && (off >= uint64(n) || int(off) <= *prev) {
		d.Fail("window: event offset %d out of order or outside the window of %d events", off, n)
		return base
	}
	*prev = int(off)
	return base + off
}

// decodeState reads the state of an aggregate with function fn over a
// window of n events whose oldest has sequence number base. On error it
// returns a usable empty state, and d holds the error.
func decodeState(d *wire.Dec, fn Func, n int, base uint64) aggregator {
	switch fn {
	case Count:
		return counter{}
	case CountIf:
		c := &countIf{flags: makeRing[bool](n)}
		trues := d.Uvarint()
		for i := 0; i < n && d.Err() == nil; i++ {
			b := d.Bool()
			*c.flags.at(i) = b
			if b {
				c.trues++
			}
		}
		if d.Err() == nil && trues != uint64(c.trues) {
			d.Fail("window: count(expr) of %d, but %d events count", trues, c.trues)
		}
		return c
	case Sum, Avg, Stddev:
		f := &floats{fn: fn, vals: makeRing[float64](n)}
		nvals := d.Uvarint()
		if fn == Stddev {
			f.ref = d.Float64()
			f.dsum = ksum{d.Float64(), d.Float64()}
			f.dsq = ksum{d.Float64(), d.Float64()}
			f.ops = readInt(d, "stddev operations")
		} else {
			f.sum = ksum{d.Float64(), d.Float64()}
		}
		for i := 0; i < n && d.Err() == nil; i++ {
			x := d.Float64()
			switch {
			case math.IsNaN(x):
			case math.IsInf(x, 0):
				d.Fail("window: infinite value")
			default:
				f.nvals++
			}
			*f.vals.at(i) = x
		}
		if d.Err() == nil && nvals != uint64(f.nvals) {
			d.Fail("window: %d values, but %d events have one", nvals, f.nvals)
		}
		return f
	case Min, Max:
		e := &extreme{max: fn == Max}
		m := d.Count(9)
		e.mono = makeRing[seqFloat](m)
		prev := -1
		for i := 0; i < m && d.Err() == nil; i++ {
			c := e.mono.at(i)
			c.seq = readSeq(d, &prev, n, base)
			c.v = d.Float64()
			switch {
			case math.IsNaN(c.v) || math.IsInf(c.v, 0):
				d.Fail("window: %v candidate %v", fn, c.v)
			case i > 0 && e.max && !(c.v < e.mono.at(i-1).v):
				d.Fail("window: max candidates not decreasing")
			case i > 0 && !e.max && !(c.v > e.mono.at(i-1).v):
				d.Fail("window: min candidates not increasing")
			}
		}
		return e
	case Distinct:
		return decodeDistinct(d, n)
	case First:
		f := &first{}
		m := d.Count(2)
		f.seen = makeRing[seqAny](m)
		prev := -1
		for i := 0; i < m && d.Err() == nil; i++ {
			c := f.seen.at(i)
			c.seq = readSeq(d, &prev, n, base)
			// nil is what Enc.Value writes for a value JSON cannot
			// encode: kept, it reads as nil until its event leaves.
			c.v = d.Value()
		}
		return f
	case Last:
		l := &last{}
		if l.ok = d.Bool(); l.ok {
			prev := -1
			l.seq = readSeq(d, &prev, n, base)
			l.v = d.Value()
		}
		return l
	}
	d.Fail("window: unknown aggregate function %d", fn)
	return counter{}
}

func decodeDistinct(d *wire.Dec, n int) aggregator {
	s := &distinctSet{}
	ns := d.Count(1)
	if uint64(ns) >= uint64(noSlot) {
		d.Fail("window: %d distinct slots", ns)
		return s
	}
	s.slots = make([]dslot, ns)
	live := 0
	for i := 0; i < ns && d.Err() == nil; i++ {
		c := d.Uvarint()
		if c == 0 {
			continue
		}
		if c > uint64(n) {
			d.Fail("window: distinct slot %d counts %d events of %d", i, c, n)
			break
		}
		var k dkey
		switch kind := d.Uvarint(); kind {
		case uint64(keyNumber):
			k = dkey{kind: keyNumber, num: d.Float64()}
			if math.IsNaN(k.num) || math.IsInf(k.num, 0) {
				d.Fail("window: distinct key %v", k.num)
			}
		case uint64(keyBool):
			k = dkey{kind: keyBool}
			if d.Bool() {
				k.num = 1
			}
		case uint64(keyString), uint64(keyJSON):
			k = dkey{kind: uint8(kind), str: d.String()}
		default:
			d.Fail("window: distinct key of unknown kind %d", kind)
		}
		s.slots[i] = dslot{key: k, n: int(c)}
		live++
	}
	if d.Err() != nil {
		return &distinctSet{}
	}
	if live > 0 {
		s.index = make(map[dkey]uint32, live)
		for i, sl := range s.slots {
			if sl.n == 0 {
				continue
			}
			if _, dup := s.index[sl.key]; dup {
				d.Fail("window: distinct key in two slots")
				return &distinctSet{}
			}
			s.index[sl.key] = uint32(i)
		}
	}

	nf := d.Count(1)
	if d.Err() == nil && nf != ns-live {
		d.Fail("window: %d free distinct slots listed, %d free", nf, ns-live)
	}
	if d.Err() != nil {
		return &distinctSet{}
	}
	s.free = make([]uint32, nf)
	for j := range s.free {
		i := d.Uvarint()
		if d.Err() != nil {
			return &distinctSet{}
		}
		if i >= uint64(ns) || s.slots[i].n != 0 {
			d.Fail("window: free distinct slot %d is not a free slot", i)
			return &distinctSet{}
		}
		s.slots[i].n = -1 // listed; no slot is listed twice
		s.free[j] = uint32(i)
	}
	for _, i := range s.free {
		s.slots[i].n = 0
	}

	// Each event's slot; every live slot must count its events exactly.
	refs := make([]int, ns)
	s.slotOf = makeRing[uint32](n)
	for j := 0; j < n && d.Err() == nil; j++ {
		u := d.Uvarint()
		i := uint32(u - 1) // 0 (missing) wraps to noSlot
		if u != 0 && (u > uint64(ns) || s.slots[i].n == 0) {
			d.Fail("window: event in distinct slot %d, which is not live", u-1)
			break
		}
		if u != 0 {
			refs[i]++
		}
		*s.slotOf.at(j) = i
	}
	if d.Err() != nil {
		return &distinctSet{}
	}
	for i, sl := range s.slots {
		if sl.n != refs[i] {
			d.Fail("window: distinct slot %d counts %d events, %d have it", i, sl.n, refs[i])
			return &distinctSet{}
		}
	}
	return s
}

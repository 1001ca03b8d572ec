package window

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
)

// TestRandomAgainstNaive feeds thousands of random events through sliding
// windows of random sizes (with an occasional tumbling-style Reset) and
// compares every aggregate, after every event, with a recomputation from
// scratch over the events in the window.
func TestRandomAgainstNaive(t *testing.T) {
	fns := []Func{Count, CountIf, Sum, Avg, Min, Max, Distinct, Stddev, First, Last}
	for run := range 8 {
		rng := rand.New(rand.NewPCG(42, uint64(run)))
		// Some runs put the data far from zero, to exercise the shifted
		// stddev and the compensated sums.
		offset := []float64{0, 0, 1e6, -1e9, 1e12, 0, 0.5, 0}[run]
		// Small windows often empty out completely; large ones turn over
		// without emptying.
		width := []int64{8, 30, 200, 60, 150, 20, 90, 300}[run]
		// The share of events whose argument is nil.
		sparse := []int{1, 10, 2, 1, 3, 15, 1, 5}[run]
		t.Run(fmt.Sprintf("run%d/W=%d/sparse=%d/offset=%g", run, width, sparse, offset), func(t *testing.T) {
			w := New(aggs(fns...))
			var window []ev // the naive window
			var ts int64
			var got []any
			var gotIDs []string
			for i := range 1500 {
				ts += int64(rng.IntN(12)) // equal times happen
				args := make([]any, len(fns))
				for j, f := range fns {
					if rng.IntN(20) < sparse {
						continue // missing
					}
					args[j] = randomArg(rng, f, offset)
				}
				e := ev{id: strconv.Itoa(i), t: ts, args: args}
				if rng.IntN(1500) == 0 {
					w.Reset()
					window = window[:0]
				}
				w.Add(e.id, e.t, e.args)
				window = append(window, e)
				w.EvictThrough(ts - width)
				for len(window) > 0 && window[0].t <= ts-width {
					window = window[1:]
				}

				got = w.Values(got)
				for j, f := range fns {
					want := naive(f, window, j)
					if !closeEnough(f, got[j], want, window, j) {
						t.Fatalf("event %d (window of %d): %v = %#v, want %#v", i, len(window), f, got[j], want)
					}
				}
				gotIDs = w.EventIDs(gotIDs)
				if len(gotIDs) != len(window) || w.Len() != len(window) {
					t.Fatalf("event %d: %d ids, Len %d, want %d", i, len(gotIDs), w.Len(), len(window))
				}
				for k := range window {
					if gotIDs[k] != window[k].id {
						t.Fatalf("event %d: ids %v", i, gotIDs)
					}
				}
			}
		})
	}
}

var strs = []any{"a", "b", "c", "1", "2.5"}

// Buffers reused by naive (the tests using it are not parallel).
var (
	scratch    []float64
	scratchSet = map[any]bool{}
)

func randomArg(rng *rand.Rand, f Func, offset float64) any {
	r := rng.IntN(20)
	switch f {
	case Count:
		return nil
	case CountIf:
		switch r {
		case 0:
			return nil
		case 1:
			return "true"
		}
		return r%2 == 0
	case Distinct:
		switch {
		case r == 0:
			return nil
		case r < 6:
			return float64(rng.IntN(8))
		case r < 9:
			return rng.IntN(8) // same numbers as ints
		case r < 11:
			return int64(rng.IntN(8))
		case r < 15:
			return strs[rng.IntN(len(strs))]
		case r < 17:
			return rng.IntN(2) == 0
		case r < 18:
			return []any{float64(rng.IntN(2)), "x"}
		default:
			return map[string]any{"k": float64(rng.IntN(2))}
		}
	}
	// Numeric aggregates, first and last.
	switch {
	case r == 0:
		return nil
	case r == 1:
		return strs[rng.IntN(len(strs))]
	case r == 2:
		return true
	case r == 3 && f != First && f != Last:
		return math.NaN()
	case r < 7:
		return offset + float64(rng.IntN(2000)-1000) // integral values, exact ties for min/max
	case r < 9 && offset == math.Trunc(offset):
		return int64(offset) + int64(rng.IntN(100))
	case r < 10 && offset == 0:
		return float32(rng.IntN(100)) / 4
	}
	return offset + (rng.Float64()-0.5)*math.Pow(10, float64(rng.IntN(7)-2))
}

// naive computes aggregate j of fn over the events of the window from
// scratch, independently of the incremental code.
func naive(fn Func, window []ev, j int) any {
	xs := scratch[:0]
	defer func() { scratch = xs[:0] }()
	for _, e := range window {
		if f, ok := naiveNumber(e.args[j]); ok {
			xs = append(xs, f)
		}
	}
	switch fn {
	case Count:
		return len(window)
	case CountIf:
		n := 0
		for _, e := range window {
			if e.args[j] == true {
				n++
			}
		}
		return n
	case Sum:
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s
	case Avg:
		if len(xs) == 0 {
			return nil
		}
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	case Min:
		if len(xs) == 0 {
			return nil
		}
		return slices.Min(xs)
	case Max:
		if len(xs) == 0 {
			return nil
		}
		return slices.Max(xs)
	case Stddev:
		if len(xs) == 0 {
			return nil
		}
		_, sd := exactSumStddev(xs)
		return sd
	case Distinct:
		type jsonText string
		seen := scratchSet
		clear(seen)
		for _, e := range window {
			switch v := e.args[j].(type) {
			case nil:
			case string, bool:
				seen[v] = true
			case float64, int, int64:
				f, _ := naiveNumber(v)
				seen[f] = true
			default:
				b, _ := json.Marshal(v)
				seen[jsonText(b)] = true
			}
		}
		return len(seen)
	case First:
		for _, e := range window {
			if e.args[j] != nil {
				return e.args[j]
			}
		}
		return nil
	case Last:
		for k := len(window) - 1; k >= 0; k-- {
			if e := window[k]; e.args[j] != nil {
				return e.args[j]
			}
		}
		return nil
	}
	panic("unknown function")
}

func naiveNumber(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// closeEnough compares exactly, except for sums, means and standard
// deviations, which may differ from the naive recomputation by rounding:
// the bound is relative to the magnitude of the values involved.
func closeEnough(fn Func, got, want any, window []ev, j int) bool {
	switch fn {
	case Sum, Avg, Stddev:
	default:
		return reflect.DeepEqual(got, want) || sameValue(got, want)
	}
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	g, ok := got.(float64)
	if !ok {
		return false
	}
	w := want.(float64)
	if fn == Stddev {
		// Relative to the deviation itself, however far the data lies
		// from zero.
		return math.Abs(g-w) <= 1e-9*w
	}
	scale := 0.0
	for _, e := range window {
		if f, ok := naiveNumber(e.args[j]); ok {
			scale = max(scale, math.Abs(f))
		}
	}
	return math.Abs(g-w) <= 1e-13*scale*float64(len(window))
}

// TestDistinctCompaction alternates phases of all-new values (hundreds of
// distinct keys in the window) with phases of a few repeated values, so
// that the distinct set repeatedly grows, empties out and compacts; the
// count is checked after every event against a naive map, and the slots
// against the window.
func TestDistinctCompaction(t *testing.T) {
	const width = 700
	w := New(aggs(Distinct))
	d := w.states[0].(*distinctSet)
	var window []ev
	count := map[any]int{} // the naive distinct set of the window
	compactions, lastSlots := 0, 0
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 12000 {
		var v any
		switch phase := i / 1500 % 2; {
		case rng.IntN(10) == 0:
			v = nil
		case phase == 0:
			v = "u" + strconv.Itoa(i) // new every time
		default:
			v = float64(rng.IntN(5))
		}
		ts := int64(i)
		w.Add("", ts, []any{v})
		window = append(window, ev{t: ts, args: []any{v}})
		if v != nil {
			count[v]++
		}
		w.EvictThrough(ts - width)
		for len(window) > 0 && window[0].t <= ts-width {
			if v := window[0].args[0]; v != nil {
				if count[v]--; count[v] == 0 {
					delete(count, v)
				}
			}
			window = window[1:]
		}
		if len(d.slots) < lastSlots {
			compactions++
		}
		lastSlots = len(d.slots)
		if got, want := w.Values(nil)[0], len(count); got != want {
			t.Fatalf("event %d: distinct %v, want %v", i, got, want)
		}
		if i%500 == 0 {
			// Every event's slot holds its key, and counts add up.
			n := make([]int, len(d.slots))
			for j, e := range window {
				s := *d.slotOf.at(j)
				if e.args[0] == nil {
					if s != noSlot {
						t.Fatalf("event %d: missing value has slot %d", i, s)
					}
					continue
				}
				if d.slots[s].key != keyOf(e.args[0]) {
					t.Fatalf("event %d: slot %d holds %v, event has %v", i, s, d.slots[s].key, e.args[0])
				}
				n[s]++
			}
			for s := range d.slots {
				if d.slots[s].n != n[s] {
					t.Fatalf("event %d: slot %d counts %d, want %d", i, s, d.slots[s].n, n[s])
				}
			}
			if live := len(d.slots) - len(d.free); live != len(d.index) {
				t.Fatalf("event %d: %d slots, %d free, %d keys", i, len(d.slots), len(d.free), len(d.index))
			}
		}
	}
	if compactions < 3 {
		t.Errorf("only %d compactions", compactions)
	}
}

package window

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// A script drives a window: each step adds an event, evicts, resets or
// checks the window's values and ids.
type step struct {
	add     *ev
	evict   *int64
	reset   bool
	want    []any    // checked when non-nil
	wantIDs []string // checked when non-nil
}

type ev struct {
	id   string
	t    int64
	args []any
}

func add(id string, t int64, args ...any) step { return step{add: &ev{id, t, args}} }
func evict(t int64) step                       { return step{evict: &t} }
func reset() step                              { return step{reset: true} }
func want(v ...any) step {
	if v == nil {
		v = []any{}
	}
	return step{want: v}
}
func ids(v ...string) step {
	if v == nil {
		v = []string{}
	}
	return step{wantIDs: v}
}

func aggs(fs ...Func) []Aggregate {
	a := make([]Aggregate, len(fs))
	for i, f := range fs {
		a[i] = Aggregate{Func: f, Text: f.String() + "(x)"}
	}
	return a
}

// sameValue is exact equality that also tells 0 from -0 and int from
// float64.
func sameValue(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && (fa == fb && math.Signbit(fa) == math.Signbit(fb) || math.IsNaN(fa) && math.IsNaN(fb))
	}
	return reflect.DeepEqual(a, b)
}

func runScript(t *testing.T, w *Window, steps []step) {
	t.Helper()
	var vals []any
	var idbuf []string
	for i, s := range steps {
		switch {
		case s.add != nil:
			w.Add(s.add.id, s.add.t, s.add.args)
		case s.evict != nil:
			w.EvictThrough(*s.evict)
		case s.reset:
			w.Reset()
		}
		if s.want != nil {
			vals = w.Values(vals)
			if len(vals) != len(s.want) {
				t.Fatalf("step %d: got %d values %v, want %d", i, len(vals), vals, len(s.want))
			}
			for j := range vals {
				if !sameValue(vals[j], s.want[j]) {
					t.Errorf("step %d: value %d (%s) = %#v (%T), want %#v (%T)",
						i, j, w.aggs[j].Text, vals[j], vals[j], s.want[j], s.want[j])
				}
			}
		}
		if s.wantIDs != nil {
			idbuf = w.EventIDs(idbuf)
			if len(idbuf) != len(s.wantIDs) || len(idbuf) > 0 && !reflect.DeepEqual(idbuf, s.wantIDs) {
				t.Errorf("step %d: ids %q, want %q", i, idbuf, s.wantIDs)
			}
			if w.Len() != len(s.wantIDs) {
				t.Errorf("step %d: Len %d, want %d", i, w.Len(), len(s.wantIDs))
			}
		}
	}
}

type myInt int32
type myFloat float64
type myString string

func TestAggregates(t *testing.T) {
	all := aggs(Count, CountIf, Sum, Avg, Min, Max, Distinct, Stddev, First, Last)
	tests := []struct {
		name  string
		aggs  []Aggregate
		steps []step
	}{
		{"empty window", all, []step{
			want(0, 0, 0.0, nil, nil, nil, 0, nil, nil, nil), ids(),
		}},
		{"no aggregates", nil, []step{
			add("a", 1), add("b", 2), want(), ids("a", "b"),
		}},
		{"one event of each", all, []step{
			add("a", 10, nil, true, 5.0, 5.0, 5.0, 5.0, "x", 5.0, "f", "l"),
			want(1, 1, 5.0, 5.0, 5.0, 5.0, 1, 0.0, "f", "l"), ids("a"),
		}},
		{"count ignores its argument", aggs(Count), []step{
			add("a", 1, nil), add("b", 1, false), add("c", 2), add("d", 3, "x"),
			want(4),
		}},
		{"count(expr) counts bool true only", aggs(CountIf), []step{
			add("a", 1, true), add("b", 1, false), add("c", 2, nil), add("d", 2),
			add("e", 3, "true"), add("f", 3, 1), add("g", 3, 1.0), add("h", 4, true),
			want(2),
			evict(1), want(1),
			evict(3), want(1),
			evict(4), want(0),
		}},
		{"sum of mixed numeric types", aggs(Sum), []step{
			add("a", 1, 1.5), add("b", 1, 2), add("c", 1, int64(3)), add("d", 1, uint8(4)),
			add("e", 1, float32(0.25)), add("f", 1, int8(-1)), add("g", 1, uint64(10)),
			add("h", 1, json.Number("100")), add("i", 1, myInt(1000)), add("j", 1, myFloat(0.125)),
			add("k", 1, int16(2)), add("l", 1, int32(3)), add("m", 1, uint(4)),
			add("n", 1, uint16(5)), add("o", 1, uint32(6)), add("p", 1, uintptr(7)),
			want(1146.875),
		}},
		{"sum: missing values", aggs(Count, Sum), []step{
			add("a", 1, nil, nil), add("b", 1, nil, "12"), add("c", 1, nil, true),
			add("d", 1, nil, math.NaN()), add("e", 1, nil, math.Inf(1)),
			add("f", 1, nil, []any{1.0}), add("g", 1, nil, map[string]any{"a": 1.0}),
			add("h", 1, nil, json.Number("x")), add("i", 1),
			want(9, 0.0),
			add("j", 2, nil, 7), want(10, 7.0),
		}},
		{"sum with negatives", aggs(Sum), []step{
			add("a", 1, -2.5), add("b", 2, 2.5), add("c", 3, -1),
			want(-1.0), evict(2), want(-1.0), evict(3), want(0.0),
		}},
		{"avg", aggs(Avg, Count), []step{
			add("a", 1, 1), add("b", 2, 2.0), add("c", 3, nil), add("d", 4, int64(3)), add("e", 5, 4.0),
			want(2.5, 5),
			evict(1), want(3.0, 4),
			evict(2), want(3.5, 3),
			evict(4), want(4.0, 1),
			evict(5), want(nil, 0),
		}},
		{"avg of missing only is nil", aggs(Avg), []step{
			add("a", 1, "3"), add("b", 2, nil), want(nil),
		}},
		{"min and max", aggs(Min, Max), []step{
			add("a", 1, 3, 3), add("b", 2, -1.5, -1.5), add("c", 3, nil, nil), add("d", 4, 7, 7), add("e", 5, "100", "100"),
			want(-1.5, 7.0),
		}},
		{"min/max after evicting the current min/max", aggs(Min, Max), []step{
			add("a", 1, 1, 1), add("b", 2, 9, 9), add("c", 3, 5, 5), add("d", 4, 2, 2), add("e", 5, 8, 8), add("f", 6, 3, 3),
			want(1.0, 9.0),
			evict(1), want(2.0, 9.0), // min 1 left
			evict(2), want(2.0, 8.0), // max 9 left
			evict(4), want(3.0, 8.0), // 5 and min 2 left
			evict(5), want(3.0, 3.0), // max 8 left
			evict(6), want(nil, nil),
		}},
		{"min/max with repeated extremes", aggs(Min, Max), []step{
			add("a", 1, 2, 2), add("b", 2, 2, 2.0), add("c", 3, 5, 5), add("d", 4, 5, int64(5)), add("e", 5, 2, 2),
			want(2.0, 5.0),
			evict(1), want(2.0, 5.0),
			evict(3), want(2.0, 5.0),
			evict(4), want(2.0, 2.0),
		}},
		{"min/max ignore missing values", aggs(Min, Max), []step{
			add("a", 1, nil, nil), add("b", 2, true, "9"), add("c", 3, math.Inf(-1), math.Inf(1)), add("d", 4, math.NaN(), math.NaN()),
			want(nil, nil),
			add("e", 5, 4, 4), want(4.0, 4.0),
		}},
		{"distinct: numbers compare numerically, kinds never collide", aggs(Distinct), []step{
			add("a", 1, 1), add("b", 1, 1.0), add("c", 1, int64(1)), add("d", 1, uint8(1)),
			add("e", 1, json.Number("1.0")), add("f", 1, myInt(1)), want(1),
			add("g", 1, "1"), add("h", 1, true), add("i", 1, false), add("j", 1, nil),
			add("k", 1, 0.0), add("l", 1, math.Copysign(0, -1)), want(5),
			add("m", 1, math.NaN()), add("n", 1, math.Inf(1)), want(5),
			add("o", 1, myString("1")), want(5),
		}},
		{"distinct: maps and slices by canonical JSON", aggs(Distinct), []step{
			add("a", 1, map[string]any{"a": 1.0, "b": "x"}),
			add("b", 1, map[string]any{"b": "x", "a": 1}),
			add("c", 1, []any{1.0, 2.0}), add("d", 1, []any{1, 2}), add("e", 1, []any{2, 1}),
			add("f", 1, []any{}), add("g", 1, map[string]any{}),
			want(5),
			add("h", 1, `{"a":1,"b":"x"}`), want(6), // a string, not a map
		}},
		{"distinct with repeated and evicted values", aggs(Distinct, Count), []step{
			add("a", 1, "x"), add("b", 2, "y"), add("c", 3, "x"), add("d", 4, "z"), add("e", 5, nil),
			want(3, 5),
			evict(1), want(3, 4), // x still there (c)
			evict(2), want(2, 3), // y gone
			evict(3), want(1, 2), // x gone
			add("f", 6, "x"), want(2, 3),
			evict(6), want(0, 0),
		}},
		{"stddev of known data sets", aggs(Stddev), []step{
			add("a", 1, 2), add("b", 1, 4), add("c", 1, 4), add("d", 1, 4),
			add("e", 1, 5), add("f", 1, 5), add("g", 1, 7), add("h", 1, 9),
			want(2.0), // the textbook population example
			reset(),
			add("a", 1, 1e9+4), add("b", 1, 1e9+7), add("c", 1, 1e9+13), add("d", 1, 1e9+16),
			want(math.Sqrt(22.5)),
			reset(),
			add("a", 1, 5), add("b", 1, 5.0), add("c", 1, int64(5)), want(0.0),
			reset(),
			add("a", 1, -1), add("b", 1, 1), want(1.0),
		}},
		{"stddev of one value is 0, of none nil", aggs(Stddev), []step{
			want(nil), add("a", 1, 42), want(0.0), add("b", 1, nil), want(0.0),
			evict(1), want(nil),
		}},
		{"stddev while sliding", aggs(Stddev, Count), []step{
			add("a", 1, 100), add("b", 2, 2), add("c", 3, 4), add("d", 4, 4), add("e", 5, 4),
			add("f", 6, 5), add("g", 7, 5), add("h", 8, 7), add("i", 9, 9),
			evict(1), want(2.0, 8),
			evict(5), want(math.Sqrt(2.75), 4), // 5 5 7 9: mean 6.5, var (2.25+2.25+.25+6.25)/4
		}},
		{"first and last", aggs(First, Last), []step{
			add("a", 1, nil, nil), want(nil, nil),
			add("b", 2, "x", 1), add("c", 3, nil, nil), add("d", 4, 3.5, "y"), add("e", 5, nil, nil),
			want("x", "y"),
			evict(2), want(3.5, "y"),
			evict(4), want(nil, nil),
			add("f", 6, map[string]any{"k": 1.0}, false), want(map[string]any{"k": 1.0}, false),
		}},
		{"first and last keep raw values", aggs(First, Last), []step{
			add("a", 1, int64(7), float32(1.5)), want(int64(7), float32(1.5)),
			add("b", 2, false, math.NaN()), want(int64(7), math.NaN()),
		}},
		{"eviction border: time <= t is evicted", aggs(Count, Sum), []step{
			add("a", 0, nil, 1), add("b", 1000, nil, 2), add("c", 1000, nil, 4), add("d", 2000, nil, 8),
			evict(-1), want(4, 15.0), ids("a", "b", "c", "d"),
			evict(0), want(3, 14.0), ids("b", "c", "d"),
			evict(999), want(3, 14.0), ids("b", "c", "d"),
			evict(1000), want(1, 8.0), ids("d"), // both events at exactly 1000 go
			evict(1999), want(1, 8.0),
			evict(2000), want(0, 0.0), ids(),
			evict(5000), want(0, 0.0), ids(),
		}},
		{"sliding (t-W, t] as the engine drives it", aggs(Count, Sum), []step{
			// W = 10: at each event, add then evict through t-10.
			add("a", 0, nil, 1), evict(-10), want(1, 1.0),
			add("b", 5, nil, 2), evict(-5), want(2, 3.0),
			add("c", 10, nil, 4), evict(0), want(2, 6.0), ids("b", "c"), // a at exactly t-W is out
			add("d", 14, nil, 8), evict(4), want(3, 14.0),
			add("e", 15, nil, 16), evict(5), want(3, 28.0), ids("c", "d", "e"),
		}},
		{"reset empties every aggregate", all, []step{
			add("a", 1, nil, true, 1, 1, 1, 1, "x", 1, "f", "l"),
			add("b", 2, nil, true, 2, 2, 2, 2, "y", 3, "g", "m"),
			reset(), want(0, 0, 0.0, nil, nil, nil, 0, nil, nil, nil), ids(),
			add("c", 3, nil, false, 4, 4, 4, 4, "x", 4, "h", "n"),
			want(1, 0, 4.0, 4.0, 4.0, 4.0, 1, 0.0, "h", "n"), ids("c"),
			evict(3), want(0, 0, 0.0, nil, nil, nil, 0, nil, nil, nil), ids(),
		}},
		{"args shorter than the aggregates are missing", aggs(Count, Sum, Last), []step{
			add("a", 1, nil, 3), add("b", 2), add("c", 3, nil),
			want(3, 3.0, nil),
		}},
		{"EventIDs oldest first", aggs(Count), []step{
			add("e1", 1), add("e2", 1), add("e3", 2), add("e4", 3), ids("e1", "e2", "e3", "e4"),
			evict(1), ids("e3", "e4"),
			add("e5", 4), ids("e3", "e4", "e5"),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runScript(t, New(tc.aggs), tc.steps)
		})
	}
}

func TestFloatDrift(t *testing.T) {
	t.Run("0.1 ten times then evicted is exactly 0", func(t *testing.T) {
		w := New(aggs(Sum, Avg, Stddev))
		for i := range 10 {
			w.Add("x", int64(i), []any{0.1, 0.1, 0.1})
		}
		v := w.Values(nil)
		if v[0] != 1.0 { // compensated: the correctly rounded sum, not 0.9999999999999999
			t.Errorf("sum of ten 0.1 = %v", v[0])
		}
		for i := range 9 {
			w.EvictThrough(int64(i))
		}
		runScript(t, w, []step{want(0.1, 0.1, 0.0)})
		w.EvictThrough(9)
		v = w.Values(v)
		if v[0] != 0.0 || math.Signbit(v[0].(float64)) || v[1] != nil || v[2] != nil {
			t.Errorf("after evicting all: %#v, want [0 nil nil]", v)
		}
	})
	t.Run("sums restart from exact zero", func(t *testing.T) {
		// Values of very different magnitudes leave rounding residue in a
		// running sum that subtracts them again; once the window is empty,
		// none of it may survive into the next values.
		w := New(aggs(Sum, Avg, Stddev))
		for i, x := range []float64{1e16, 0.1, -3.3, 1e-7, 12345.678, 2.5e15, 0.3} {
			w.Add("", int64(i), []any{x, x, x})
		}
		w.EvictThrough(100)
		tiny := math.Ldexp(1, -300)
		w.Add("", 101, []any{tiny, tiny, tiny})
		runScript(t, w, []step{want(tiny, tiny, 0.0)})
		w.Add("", 102, []any{3 * tiny, 3 * tiny, 3 * tiny})
		runScript(t, w, []step{want(4*tiny, 2*tiny, tiny)})
	})
	t.Run("sum of 0.1 0.2 0.3 after evicting 0.1", func(t *testing.T) {
		w := New(aggs(Sum, Avg))
		for i, x := range []float64{0.1, 0.2, 0.3} {
			w.Add("x", int64(i), []any{x, x})
		}
		runScript(t, w, []step{want(0.6, 0.19999999999999998)})
		w.EvictThrough(0)
		runScript(t, w, []step{want(0.5, 0.25)})
	})
	t.Run("no drift over a long sliding window", func(t *testing.T) {
		// Values of wildly different magnitudes slide through a window of
		// 50 events; the running sum must stay as exact as a fresh
		// compensated sum of the window.
		w := New(aggs(Sum, Stddev))
		const W = 50
		vals := make([]float64, 0, 20000)
		x := uint64(12345)
		for i := range 20000 {
			x = x*6364136223846793005 + 1442695040888963407
			v := float64(x>>11) / (1 << 53) // [0,1)
			switch i % 4 {
			case 0:
				v *= 1e8
			case 1:
				v *= 1e-3
			case 2:
				v = -v * 1e4
			}
			vals = append(vals, v)
			w.Add("", int64(i), []any{v, v})
			w.EvictThrough(int64(i - W))
			if i%997 == 0 || i == 19999 {
				lo := max(0, i-W+1)
				want, wantSD := exactSumStddev(vals[lo : i+1])
				got := w.Values(nil)
				if d := math.Abs(got[0].(float64) - want); d > 1e-15*math.Abs(want) {
					t.Fatalf("event %d: sum %v, want %v (off by %g)", i, got[0], want, d)
				}
				if d := math.Abs(got[1].(float64) - wantSD); d > 1e-12*wantSD {
					t.Fatalf("event %d: stddev %v, want %v (off by %g)", i, got[1], wantSD, d)
				}
			}
		}
	})
	t.Run("stddev far from zero", func(t *testing.T) {
		// A drifting level with a small spread: the naive Σx² - (Σx)²/n
		// would lose every digit.
		w := New(aggs(Stddev))
		var window []float64
		for i := range 5000 {
			v := 1e12 + float64(i)*1e6 + float64(i%7) // level moves by 5e9 over the run
			window = append(window, v)
			w.Add("", int64(i), []any{v})
			w.EvictThrough(int64(i - 100))
			if len(window) > 100 {
				window = window[1:]
			}
		}
		_, want := exactSumStddev(window)
		got := w.Values(nil)[0].(float64)
		if math.Abs(got-want) > 1e-9*want {
			t.Fatalf("stddev %v, want %v", got, want)
		}
	})
}

// exactSumStddev computes the sum (compensated) and the population stddev
// (two-pass) of xs.
func exactSumStddev(xs []float64) (sum, sd float64) {
	var k ksum
	for _, x := range xs {
		k.add(x)
	}
	sum = k.value()
	mean := sum / float64(len(xs))
	var q ksum
	for _, x := range xs {
		q.add((x - mean) * (x - mean))
	}
	return sum, math.Sqrt(q.value() / float64(len(xs)))
}

func TestParseFunc(t *testing.T) {
	tests := []struct {
		name string
		f    Func
		ok   bool
	}{
		{"count", Count, true}, {"sum", Sum, true}, {"avg", Avg, true}, {"min", Min, true},
		{"max", Max, true}, {"distinct", Distinct, true}, {"stddev", Stddev, true},
		{"first", First, true}, {"last", Last, true},
		{"Count", 0, false}, {"countif", 0, false}, {"mean", 0, false}, {"", 0, false}, {"sum ", 0, false},
	}
	for _, tc := range tests {
		f, ok := ParseFunc(tc.name)
		if f != tc.f || ok != tc.ok {
			t.Errorf("ParseFunc(%q) = %v, %v; want %v, %v", tc.name, f, ok, tc.f, tc.ok)
		}
		if ok && f.String() != tc.name {
			t.Errorf("%v.String() = %q, want %q", f, f.String(), tc.name)
		}
	}
	if CountIf.String() != "count" {
		t.Errorf("CountIf.String() = %q", CountIf.String())
	}
	if s := Func(99).String(); s != "Func(99)" {
		t.Errorf("Func(99).String() = %q", s)
	}
}

// TestMemoryFollowsWindow checks that the buffers shrink back when the
// window does, and that a distinct map is reallocated after a burst.
func TestMemoryFollowsWindow(t *testing.T) {
	w := New(aggs(Count, CountIf, Sum, Min, Distinct, First))
	for i := range 20000 {
		w.Add("id", int64(i), []any{nil, true, float64(i), float64(-i), i, i})
	}
	if c := len(w.events.buf); c < 20000 {
		t.Fatalf("event buffer cap %d", c)
	}
	w.EvictThrough(20000 - 11)
	if w.Len() != 10 {
		t.Fatalf("Len %d", w.Len())
	}
	if c := len(w.events.buf); c > 64 {
		t.Errorf("event buffer still has capacity %d for 10 events", c)
	}
	for i, s := range w.states {
		c := 0
		switch s := s.(type) {
		case *countIf:
			c = len(s.flags.buf)
		case *floats:
			c = len(s.vals.buf)
		case *extreme:
			c = len(s.mono.buf)
		case *distinctSet:
			c = len(s.slotOf.buf)
		case *first:
			c = len(s.seen.buf)
		}
		if c > 64 {
			t.Errorf("aggregate %d (%T): buffer still has capacity %d for 10 events", i, s, c)
		}
	}
	if d := w.states[4].(*distinctSet); len(d.index) != 10 || len(d.slots) > distinctShrinkMin || len(d.free) > distinctShrinkMin {
		t.Errorf("distinct: %d keys, %d slots, %d free", len(d.index), len(d.slots), len(d.free))
	}
	runScript(t, w, []step{want(10, 10, float64(19990+19999)*5, -19999.0, 10, 19990)})
}

// TestRing exercises the ring's wrap-around, growth and shrinking against
// a slice.
func TestRing(t *testing.T) {
	var r ring[int]
	var model []int
	x := uint32(1)
	next := 0
	for i := range 200000 {
		x = x*1664525 + 1013904223
		op := x >> 29
		// Phases alternate between growing and shrinking.
		growing := (i/5000)%2 == 0
		popped := false
		switch {
		case op < 4 && growing, op < 2:
			r.pushBack(next)
			model = append(model, next)
			next++
		case op < 6 && len(model) > 0:
			r.popFront()
			model = model[1:]
			popped = true
		case len(model) > 0:
			r.popBack()
			model = model[:len(model)-1]
		}
		if r.len() != len(model) {
			t.Fatalf("op %d: len %d, want %d", i, r.len(), len(model))
		}
		if len(model) > 0 && (*r.front() != model[0] || *r.back() != model[len(model)-1]) {
			t.Fatalf("op %d: front/back %d/%d, want %d/%d", i, *r.front(), *r.back(), model[0], model[len(model)-1])
		}
		if c := len(r.buf); popped && c > shrinkFloor && len(model) <= c/4 {
			t.Fatalf("op %d: capacity %d for %d elements", i, c, len(model))
		}
		if i%1000 == 0 {
			for j, v := range model {
				if *r.at(j) != v {
					t.Fatalf("op %d: at(%d) = %d, want %d", i, j, *r.at(j), v)
				}
			}
		}
	}
}

// TestAddEvictDoesNotAllocate checks the steady state of a sliding window.
func TestAddEvictDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	w := New(aggs(Count, CountIf, Sum, Avg, Min, Max, Distinct, Stddev, First, Last))
	merchants := []any{"m1", "m2", "m3", "m4", "m5", "m6", "m7"}
	args := make([][]any, 64)
	for i := range args {
		a := any(float64(i%13) * 1.25)
		args[i] = []any{nil, i%3 == 0, a, a, a, a, merchants[i%len(merchants)], a, a, a}
	}
	var ts int64
	step := func() {
		ts += 100
		w.Add("evt", ts, args[ts/100%64])
		w.EvictThrough(ts - 60_000)
	}
	for range 5000 {
		step()
	}
	if n := testing.AllocsPerRun(10000, step); n != 0 {
		t.Errorf("%v allocations per Add+EvictThrough", n)
	}
}

// TestStddevIllConditioned forces stale shifted sums (as if recentring had
// been held back) and checks that the variance is still read accurately,
// and that recentre restores well-conditioned sums.
func TestStddevIllConditioned(t *testing.T) {
	w := New(aggs(Stddev))
	data := []float64{1e9 + 0.001, 1e9 + 0.002, 1e9 + 0.004, 1e9 + 0.001}
	for i, x := range data {
		w.Add("", int64(i), []any{x})
	}
	_, want := exactSumStddev(data)
	s := w.states[0].(*floats)
	// Shift the sums to a reference far from the data.
	s.ref, s.dsum, s.dsq, s.ops = 0, ksum{}, ksum{}, 0
	for _, x := range data {
		s.dsum.add(x)
		s.dsq.add(x * x)
	}
	if !s.illConditioned() {
		t.Fatal("sums shifted by 0 should be ill-conditioned")
	}
	if got := w.Values(nil)[0].(float64); math.Abs(got-want) > 1e-9*want {
		t.Errorf("stddev from ill-conditioned sums: %v, want %v", got, want)
	}
	s.recentre()
	if s.illConditioned() || s.ref != 1e9+0.002 {
		t.Errorf("after recentre: ref %v, ill-conditioned %v", s.ref, s.illConditioned())
	}
	if got := w.Values(nil)[0].(float64); math.Abs(got-want) > 1e-9*want {
		t.Errorf("stddev after recentre: %v, want %v", got, want)
	}
}

func TestNewPanicsOnUnknownFunc(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("New accepted Func(42)")
		}
	}()
	New([]Aggregate{{Func: Func(42), Text: "bogus(x)"}})
}

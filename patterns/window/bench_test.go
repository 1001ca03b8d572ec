package window

import (
	"strconv"
	"testing"
)

// benchSliding measures Add+EvictThrough on a 10-minute sliding window fed
// one event every 100 ms (6000 events in the window), with realistic
// arguments: amounts as float64, merchants from a pool of 500 strings.
// Argument slices are prepared up front, as the engine would reuse one.
func benchSliding(b *testing.B, fns []Func, readValues bool) {
	const (
		window = 10 * 60 * 1000
		every  = 100
		pool   = 1 << 14
	)
	merchants := make([]any, 500)
	for i := range merchants {
		merchants[i] = "merchant-" + strconv.Itoa(i)
	}
	ids := make([]string, pool)
	args := make([][]any, pool)
	x := uint64(7)
	for i := range args {
		x = x*6364136223846793005 + 1442695040888963407
		amount := any(float64(x>>40%100000) / 100)
		ids[i] = "evt-" + strconv.Itoa(i)
		a := make([]any, len(fns))
		for j, f := range fns {
			switch f {
			case CountIf:
				a[j] = x>>20%4 == 0
			case Distinct:
				a[j] = merchants[x>>30%500]
			case Count:
			default:
				a[j] = amount
			}
		}
		args[i] = a
	}
	w := New(aggs(fns...))
	var ts int64
	var vals []any
	// Fill the window first: the benchmark measures the steady state.
	for i := range 2 * window / every {
		ts += every
		w.Add(ids[i%pool], ts, args[i%pool])
		w.EvictThrough(ts - window)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ts += every
		w.Add(ids[i%pool], ts, args[i%pool])
		w.EvictThrough(ts - window)
		if readValues {
			vals = w.Values(vals)
		}
	}
	if w.Len() != window/every {
		b.Fatalf("window holds %d events", w.Len())
	}
}

// BenchmarkSliding10m is the brief's benchmark: count(), sum(amount),
// distinct(merchant), min(amount).
func BenchmarkSliding10m(b *testing.B) {
	benchSliding(b, []Func{Count, Sum, Distinct, Min}, false)
}

// BenchmarkSliding10mValues also reads the values after each event, as a
// sliding rule's evaluation does (boxing float64 results allocates).
func BenchmarkSliding10mValues(b *testing.B) {
	benchSliding(b, []Func{Count, Sum, Distinct, Min}, true)
}

// BenchmarkSliding10mAll keeps all ten aggregate functions.
func BenchmarkSliding10mAll(b *testing.B) {
	benchSliding(b, []Func{Count, CountIf, Sum, Avg, Min, Max, Distinct, Stddev, First, Last}, false)
}

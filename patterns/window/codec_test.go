package window

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/internal/wire"
)

// codecAggs has every aggregate function, some twice over different
// arguments, with distinct texts as a rule has them.
func codecAggs() []Aggregate {
	return []Aggregate{
		{Count, "count()"},
		{CountIf, "count(x > 1)"},
		{Sum, "sum(x)"},
		{Avg, "avg(x)"},
		{Min, "min(x)"},
		{Max, "max(x)"},
		{Distinct, "distinct(x)"},
		{Stddev, "stddev(x)"},
		{First, "first(x)"},
		{Last, "last(x)"},
		{Min, "min(y)"},
		{Distinct, "distinct(y)"},
		{Last, "last(y)"},
	}
}

func encode(w *Window) []byte {
	var e wire.Enc
	w.Encode(&e)
	return e.Bytes()
}

// decode reads a whole payload: the window must be all of it.
func decode(aggs []Aggregate, p []byte) (*Window, error) {
	d := wire.NewDec(p)
	w, err := Decode(aggs, d)
	if err == nil {
		err = d.Done()
	}
	return w, err
}

// identical is exact equality: floats by their bits (NaN payloads and -0
// included), anything else by reflect.DeepEqual.
func identical(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && math.Float64bits(fa) == math.Float64bits(fb)
	}
	return reflect.DeepEqual(a, b)
}

// sameState reports the first difference between what two windows show:
// Len, EventIDs and Values, value i of w against value perm[i] of ref
// (perm nil: the identity).
func sameState(ref, w *Window, perm []int) error {
	var c checker
	return c.same(ref, w, perm)
}

// checker is sameState with buffers, for tests that compare windows after
// every event.
type checker struct {
	ids1, ids2 []string
	v1, v2     []any
}

func (c *checker) same(ref, w *Window, perm []int) error {
	if ref.Len() != w.Len() {
		return fmt.Errorf("Len %d, want %d", w.Len(), ref.Len())
	}
	c.ids1, c.ids2 = ref.EventIDs(c.ids1), w.EventIDs(c.ids2)
	if !slices.Equal(c.ids1, c.ids2) {
		return fmt.Errorf("EventIDs %q, want %q", c.ids2, c.ids1)
	}
	c.v1, c.v2 = ref.Values(c.v1), w.Values(c.v2)
	rv, wv := c.v1, c.v2
	if len(rv) != len(wv) {
		return fmt.Errorf("%d values, want %d", len(wv), len(rv))
	}
	for i := range wv {
		j := i
		if perm != nil {
			j = perm[i]
		}
		if !identical(wv[i], rv[j]) {
			return fmt.Errorf("value %d (%s) = %#v (%T), want %#v (%T)", i, w.aggs[i].Text, wv[i], wv[i], rv[j], rv[j])
		}
	}
	return nil
}

// regime is a phase of the randomized differential test: how events come
// and what their arguments look like.
type regime struct {
	name    string
	dtMax   int64   // times advance by [0, dtMax] per event
	width   int64   // sliding window size
	offset  float64 // numbers are offset + drift·i + noise
	drift   float64
	expLo   int // noise magnitude: 10^[expLo, expHi]
	expHi   int
	missing int // percent of missing arguments
	unique  int // percent of distinct arguments never seen before
	resetP  int // a Reset every resetP events on average (0: never)
	// pure: numbers are only offset + drift·i + noise; opening, when not
	// 0, is what the number of the first event after a Reset is instead,
	// relative to offset (an outlier for stddev's reference value).
	pure    bool
	opening float64
	length  int // events in the regime: length to 2·length (0: 300 to 1500)
}

var regimes = []regime{
	{name: "steady", dtMax: 10, width: 500, expLo: -3, expHi: 12, missing: 10},
	{name: "wide-unique", dtMax: 2, width: 1500, expLo: -3, expHi: 6, missing: 5, unique: 90},
	{name: "narrow", dtMax: 5, width: 60, expLo: -3, expHi: 3, missing: 20},
	{name: "far-1e9", dtMax: 4, width: 400, offset: 1e9, expLo: -3, expHi: 0, missing: 10},
	{name: "far-minus-1e6", dtMax: 4, width: 400, offset: -1e6, expLo: -3, expHi: 1, missing: 10},
	{name: "far-1e12", dtMax: 4, width: 300, offset: 1e12, expLo: -3, expHi: 2, missing: 10},
	{name: "drift", dtMax: 3, width: 200, drift: 1e4, expLo: -3, expHi: 0, missing: 5},
	{name: "sparse", dtMax: 8, width: 300, expLo: -3, expHi: 12, missing: 75},
	{name: "tumbling", dtMax: 6, width: 1 << 40, expLo: -3, expHi: 9, missing: 15, unique: 30, resetP: 150},
	{name: "tumbling-cluster", dtMax: 2, width: 1 << 40, offset: 5e8, expLo: -3, expHi: -1, resetP: 4000,
		pure: true, opening: 1e6, length: 2000},
}

// randomValue returns an argument of any kind a rule's expression can
// produce that survives the codec with its type (see Window.Encode): nil,
// finite floats of very different magnitudes, ints, int64s, strings,
// bools, NaN and ±Inf, small maps and arrays.
func randomValue(rng *rand.Rand, g *regime, i int) any {
	if rng.IntN(100) < g.missing {
		return nil
	}
	if rng.IntN(100) < g.unique {
		if rng.IntN(2) == 0 {
			return "u" + strconv.Itoa(i)
		}
		return float64(i) + 0.5
	}
	noise := math.Pow(10, float64(g.expLo+rng.IntN(g.expHi-g.expLo+1))) * (rng.Float64()*2 - 1)
	switch r := rng.IntN(40); {
	case r < 20, g.pure && (r < 27 || r == 34 || r >= 39):
		return g.offset + g.drift*float64(i) + noise
	case r < 22:
		return g.offset + float64(rng.IntN(5)) // ties for min, max, distinct
	case r < 25:
		return int(g.offset) + rng.IntN(2000) - 1000
	case r < 27:
		return int64(g.offset) + int64(rng.IntN(1<<20)) - 1<<19
	case r < 30:
		return []string{"a", "b", "ü", "", "1"}[rng.IntN(5)]
	case r < 32:
		return rng.IntN(2) == 0
	case r < 33:
		return math.NaN()
	case r < 34:
		return math.Inf(1 - 2*rng.IntN(2))
	case r < 35:
		return -0.0 * float64(rng.IntN(2))
	case r < 37:
		return map[string]any{"k": float64(rng.IntN(3)), "s": []string{"x", "y"}[rng.IntN(2)]}
	case r < 39:
		return []any{float64(rng.IntN(3)), "z", rng.IntN(2) == 0}
	}
	return 1e-3 * float64(rng.IntN(1000))
}

// probes counts how often a step took the rarely taken paths, so that the
// test can check it exercised them.
type probes struct {
	rebuilds, addRecentres, evictRecentres, compactions, shrinks int
	richEncodes                                                  int // of windows with free distinct slots, pending evictions and stddev ops
}

type snapshot struct {
	since, ops, nvals, slots, events int
}

func peek(w *Window) snapshot {
	sd := w.states[7].(*floats)
	ds := w.states[6].(*distinctSet)
	return snapshot{since: w.sinceRebuild, ops: sd.ops, nvals: sd.nvals, slots: len(ds.slots), events: len(w.events.buf)}
}

// observe compares the window before and after adding adds events (0 or
// 1) or evicting evicted events.
func (p *probes) observe(before, after snapshot, adds, evicted int) {
	// Each Add and each eviction bumps stddev's ops once, unless it
	// recentres (ops = 0), or the values run out (no recentring then).
	switch {
	case after.ops == before.ops+adds+evicted:
	case adds > 0:
		p.addRecentres++
	case after.nvals > 0 && after.since > 0: // not (only) the rebuild's
		p.evictRecentres++
	}
	if evicted > 0 && after.since == 0 {
		p.rebuilds++
	}
	if after.slots < before.slots {
		p.compactions++
	}
	if after.events < before.events {
		p.shrinks++
	}
}

// TestCodecDifferential feeds long random sequences of Add, EvictThrough
// and Reset to a window and, identically, to a copy that is replaced at
// random points by Decode(Encode(...)) of itself or of the original, and
// to a third window that holds the aggregates in another order (by
// Decode with a permuted list, or Reorder). After every step the copy
// must show exactly what the original shows (Len, EventIDs, Values with
// float bits), and the permuted window the same values permuted; after
// every round trip the encodings must be equal byte for byte. The regimes
// drive the windows through the float-sum rebuild, stddev recentring,
// distinct compaction and ring shrinking, and the test checks that they
// happened.
func TestCodecDifferential(t *testing.T) {
	list := codecAggs()
	var total probes
	runs, steps := 6, 12000
	switch {
	case testing.Short():
		runs, steps = 2, 4000
	case raceDetector:
		runs = 3
	}
	for run := range runs {
		rng := rand.New(rand.NewPCG(uint64(run), 0xc0dec))
		orig := New(list)
		cp := New(list)
		perm := rng.Perm(len(list))
		plist := permuted(list, perm)
		pw := New(plist)
		var p probes

		// Every regime in turn, in a random order.
		order := rng.Perm(len(regimes))
		var g *regime
		left := 0 // events left in the regime
		var ts int64 = int64(rng.Uint64() >> 2)
		if run%2 == 1 {
			ts = -ts // negative times too
		}
		args := make([]any, len(list))
		pargs := make([]any, len(list))
		// The last steps, formatted only when the test fails.
		var history [5]func() string
		var chk checker
		for i := range steps {
			if left == 0 {
				g = &regimes[order[0]]
				order = append(order[1:], order[0])
				left = 300 + rng.IntN(1200)
				if g.length > 0 {
					left = g.length + rng.IntN(g.length)
				}
				if g.opening != 0 {
					// A new tumbling window, opening with the outlier.
					orig.Reset()
					cp.Reset()
					pw.Reset()
				}
			}
			left--
			var desc func() string
			evict := func(th int64) {
				before, n0 := peek(orig), orig.Len()
				orig.EvictThrough(th)
				p.observe(before, peek(orig), 0, n0-orig.Len())
				cp.EvictThrough(th)
				pw.EvictThrough(th)
			}
			switch r := rng.IntN(1000); {
			case g.resetP > 0 && rng.IntN(g.resetP) == 0 || g.resetP == 0 && r == 0:
				desc = func() string { return "Reset" }
				orig.Reset()
				cp.Reset()
				pw.Reset()
			case r < 30 && g.opening == 0: // (keep the outlier in)
				// Evict up to a random time: usually a little more than
				// the sliding eviction does, sometimes nothing or
				// everything.
				w := min(g.width, 5000)
				th := ts - w + rng.Int64N(w/4+1)
				switch rng.IntN(10) {
				case 0:
					th = ts // empty the window
				case 1:
					th = ts - 3*w // nothing to evict
				}
				desc = func() string { return fmt.Sprintf("EvictThrough(%d)", th) }
				evict(th)
			default:
				ts += rng.Int64N(g.dtMax + 1)
				if rng.IntN(300) == 0 {
					ts += rng.Int64N(2 * min(g.width, 5000)) // a gap
				}
				for j, a := range list {
					args[j] = randomValue(rng, g, i)
					if a.Func == CountIf && rng.IntN(4) != 0 {
						args[j] = rng.IntN(3) == 0
					}
					if g.opening != 0 && orig.Len() == 0 {
						args[j] = g.offset + g.opening
					}
				}
				// Sometimes fewer arguments than aggregates: the rest are
				// missing.
				n := len(args)
				if rng.IntN(50) == 0 {
					n = rng.IntN(len(args))
				}
				for j := range pargs {
					pargs[j] = nil
					if perm[j] < n {
						pargs[j] = args[perm[j]]
					}
				}
				id := "e" + strconv.Itoa(i)
				if rng.IntN(30) == 0 {
					id = []string{"", "é\x00", strings.Repeat("x", 200)}[rng.IntN(3)]
				}
				a, ts := slices.Clone(args[:n]), ts
				desc = func() string { return fmt.Sprintf("Add(%q, %d, %v)", id, ts, a) }
				before := peek(orig)
				orig.Add(id, ts, args[:n])
				p.observe(before, peek(orig), 1, 0)
				cp.Add(id, ts, args[:n])
				pw.Add(id, ts, pargs)
				if rng.IntN(4) != 0 {
					th := ts - g.width
					evict(th)
					add := desc
					desc = func() string { return add() + fmt.Sprintf("; EvictThrough(%d)", th) }
				}
			}
			copy(history[:], history[1:])
			history[len(history)-1] = desc

			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("run %d, step %d (regime %s, window of %d), after\n\t%s:\n%s",
					run, i, g.name, orig.Len(), formatHistory(history[:]), fmt.Sprintf(format, args...))
			}
			if err := chk.same(orig, cp, nil); err != nil {
				fail("decoded copy: %v", err)
			}
			if err := chk.same(orig, pw, perm); err != nil {
				fail("permuted window (order %v): %v", perm, err)
			}

			// Round trips at random points.
			if rng.IntN(40) == 0 {
				src := cp
				if rng.IntN(3) == 0 {
					src = orig
				}
				want := encode(orig)
				if ds, sd := orig.states[6].(*distinctSet), orig.states[7].(*floats); len(ds.free) > 0 && orig.sinceRebuild > 0 && sd.ops > 0 {
					p.richEncodes++
				}
				w, err := decode(list, encode(src))
				if err != nil {
					fail("Decode: %v", err)
				}
				if got := encode(w); !bytes.Equal(got, want) {
					fail("the decoded window encodes differently (%d bytes, want %d)", len(got), len(want))
				}
				cp = w
			}
			if rng.IntN(60) == 0 {
				next := rng.Perm(len(list))
				nlist := permuted(list, next)
				if rng.IntN(2) == 0 {
					w, err := decode(nlist, encode(orig))
					if err != nil {
						fail("Decode with order %v: %v", next, err)
					}
					pw = w
				} else if err := pw.Reorder(nlist); err != nil {
					fail("Reorder from %v to %v: %v", perm, next, err)
				}
				perm = next
				// Back in the original order, it is the original.
				w, err := decode(list, encode(pw))
				if err != nil {
					fail("Decode of the permuted window: %v", err)
				}
				if !bytes.Equal(encode(w), encode(orig)) {
					fail("the permuted window, back in order, encodes differently")
				}
				if err := sameState(orig, pw, perm); err != nil {
					fail("permuted window right after the change to order %v: %v", perm, err)
				}
			}
		}
		t.Logf("run %d: %+v", run, p)
		total.rebuilds += p.rebuilds
		total.addRecentres += p.addRecentres
		total.evictRecentres += p.evictRecentres
		total.compactions += p.compactions
		total.shrinks += p.shrinks
		total.richEncodes += p.richEncodes
	}
	t.Logf("all runs: %+v", total)
	if testing.Short() {
		return
	}
	for name, n := range map[string]int{
		"float-sum rebuilds": total.rebuilds, "stddev recentres in Add": total.addRecentres,
		"stddev recentres in EvictThrough": total.evictRecentres, "distinct compactions": total.compactions,
		"ring shrinks": total.shrinks, "round trips of rich states": total.richEncodes,
	} {
		if n < 3 {
			t.Errorf("only %d %s", n, name)
		}
	}
}

func formatHistory(h []func() string) string {
	var s []string
	for _, f := range h {
		if f != nil {
			s = append(s, f())
		}
	}
	return strings.Join(s, "\n\t")
}

// permuted returns the aggregates in the order perm: list[perm[i]] first.
func permuted(list []Aggregate, perm []int) []Aggregate {
	p := make([]Aggregate, len(perm))
	for i, j := range perm {
		p[i] = list[j]
	}
	return p
}

func reversed(list []Aggregate) []Aggregate {
	r := slices.Clone(list)
	slices.Reverse(r)
	return r
}

// richWindow returns a window in a state that uses every part of the
// encoding: events, free distinct slots, candidates, pending evictions.
func richWindow(tb testing.TB, seed uint64, events int) *Window {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	w := New(codecAggs())
	args := make([]any, len(w.aggs))
	g := &regimes[0]
	var ts int64
	for i := range events {
		ts += rng.Int64N(4)
		for j := range args {
			args[j] = randomValue(rng, g, i)
		}
		args[1] = i%3 != 0
		if i%5 == 0 {
			args[6] = "u" + strconv.Itoa(i) // keys that leave: free slots
		}
		w.Add("e"+strconv.Itoa(i), ts, args)
		w.EvictThrough(ts - int64(events))
	}
	return w
}

// TestDecodeCorrupt checks that Decode rejects, with an error wrapping
// wire.ErrCorrupt and without panicking, every truncation of real
// payloads, and payloads of windows whose state was tampered with so that
// no sequence of calls could have produced it.
func TestDecodeCorrupt(t *testing.T) {
	list := codecAggs()
	empty := New(list)
	payloads := map[string][]byte{
		"empty":  encode(empty),
		"small":  encode(richWindow(t, 1, 12)),
		"medium": encode(richWindow(t, 2, 120)),
	}
	for name, p := range payloads {
		for n := range len(p) {
			_, err := decode(list, p[:n])
			if !errors.Is(err, wire.ErrCorrupt) {
				t.Fatalf("%s payload cut to %d of %d bytes: %v", name, n, len(p), err)
			}
		}
		if _, err := decode(list, append(slices.Clip(p), 0)); !errors.Is(err, wire.ErrCorrupt) {
			t.Errorf("%s payload with a byte more: %v", name, err)
		}
	}

	for _, tc := range []struct {
		name   string
		tamper func(w *Window)
	}{
		{"unknown function", func(w *Window) { w.aggs = slices.Clone(w.aggs); w.aggs[3].Func = 42 }},
		{"count(expr) count", func(w *Window) { w.states[1].(*countIf).trues++ }},
		{"sum values count", func(w *Window) { w.states[2].(*floats).nvals++ }},
		{"stddev values count", func(w *Window) { w.states[7].(*floats).nvals-- }},
		{"infinite value", func(w *Window) { *w.states[3].(*floats).vals.at(2) = math.Inf(-1) }},
		{"min candidates not increasing", func(w *Window) {
			m := &w.states[4].(*extreme).mono
			m.at(1).v = m.at(0).v
		}},
		{"max candidate NaN", func(w *Window) { w.states[5].(*extreme).mono.at(0).v = math.NaN() }},
		{"candidate after the window", func(w *Window) {
			m := &w.states[4].(*extreme).mono
			m.back().seq = w.base + uint64(w.Len())
		}},
		{"candidate before the window", func(w *Window) { w.states[5].(*extreme).mono.front().seq = w.base - 1 }},
		{"candidates out of order", func(w *Window) {
			m := &w.states[4].(*extreme).mono
			m.at(0).seq, m.at(1).seq = m.at(1).seq, m.at(0).seq
		}},
		{"first entries out of order", func(w *Window) {
			s := &w.states[8].(*first).seen
			s.at(1).seq = s.at(0).seq
		}},
		{"last outside the window", func(w *Window) { w.states[9].(*last).seq = w.base + uint64(w.Len()) }},
		{"distinct slot count", func(w *Window) { w.states[6].(*distinctSet).slots[0].n++ }},
		{"distinct slot count of free slot", func(w *Window) {
			d := w.states[6].(*distinctSet)
			d.slots[d.free[0]].n = 1
		}},
		{"distinct event in free slot", func(w *Window) {
			d := w.states[6].(*distinctSet)
			*d.slotOf.at(0) = d.free[0]
		}},
		{"distinct event in no slot", func(w *Window) {
			d := w.states[6].(*distinctSet)
			*d.slotOf.at(0) = uint32(len(d.slots))
		}},
		{"distinct free list too long", func(w *Window) {
			d := w.states[6].(*distinctSet)
			d.free = append(d.free, 0)
		}},
		{"distinct free list too short", func(w *Window) {
			d := w.states[6].(*distinctSet)
			d.free = d.free[1:]
		}},
		{"distinct slot freed twice", func(w *Window) {
			d := w.states[6].(*distinctSet)
			d.free[1] = d.free[0]
		}},
		{"distinct key twice", func(w *Window) {
			d := w.states[11].(*distinctSet)
			var live []int
			for i, s := range d.slots {
				if s.n > 0 {
					live = append(live, i)
				}
			}
			d.slots[live[1]].key = d.slots[live[0]].key
		}},
		{"distinct key NaN", func(w *Window) {
			d := w.states[6].(*distinctSet)
			for i := range d.slots {
				if d.slots[i].n > 0 {
					d.slots[i].key = dkey{kind: keyNumber, num: math.NaN()}
					return
				}
			}
		}},
		{"distinct key of no kind", func(w *Window) {
			d := w.states[6].(*distinctSet)
			for i := range d.slots {
				if d.slots[i].n > 0 {
					d.slots[i].key = dkey{}
					return
				}
			}
		}},
		{"times decreasing", func(w *Window) { w.events.at(2).t = w.events.at(1).t - 1 }},
		{"sequence numbers overflow", func(w *Window) { w.base = math.MaxUint64 - 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := richWindow(t, 2, 300)
			if d := w.states[6].(*distinctSet); len(d.free) < 2 {
				t.Fatalf("the window has %d free distinct slots", len(d.free))
			}
			tc.tamper(w)
			_, err := decode(list, encode(w))
			if !errors.Is(err, wire.ErrCorrupt) {
				t.Fatalf("Decode: %v; want ErrCorrupt", err)
			}
			t.Log(err)
		})
	}

	t.Run("version", func(t *testing.T) {
		p := slices.Clone(payloads["small"])
		p[0] = 2
		_, err := decode(list, p)
		if !errors.Is(err, wire.ErrCorrupt) || !strings.Contains(err.Error(), "version 2") {
			t.Fatalf("Decode: %v; want an unknown version", err)
		}
	})
}

// TestDecodeFlippedBytes flips every byte of real payloads in a few ways:
// Decode must not panic, and a window it accepts must work — Add,
// EvictThrough, Values, Reset — and encode to a payload that decodes to
// the same window.
func TestDecodeFlippedBytes(t *testing.T) {
	list := codecAggs()
	rejected, accepted := 0, 0
	for _, p := range [][]byte{encode(New(list)), encode(richWindow(t, 3, 25))} {
		for i := range p {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				q := slices.Clone(p)
				q[i] ^= mask
				if checkDecoded(t, list, q) {
					accepted++
				} else {
					rejected++
				}
			}
		}
	}
	t.Logf("%d flipped payloads rejected, %d accepted", rejected, accepted)
	if rejected == 0 || accepted == 0 {
		t.Errorf("%d flipped payloads rejected, %d accepted", rejected, accepted)
	}
}

// checkDecoded decodes p; when that succeeds, it checks that the window
// works and round-trips. It reports whether p was accepted.
func checkDecoded(t *testing.T, list []Aggregate, p []byte) bool {
	t.Helper()
	w, err := decode(list, p)
	if err != nil {
		if !errors.Is(err, wire.ErrCorrupt) {
			t.Fatalf("Decode: %v, not ErrCorrupt", err)
		}
		return false
	}
	e1 := encode(w)
	w2, err := decode(list, e1)
	if err != nil {
		t.Fatalf("Decode of a re-encoded window: %v", err)
	}
	if e2 := encode(w2); !bytes.Equal(e1, e2) {
		t.Fatalf("a re-encoded window encodes differently")
	}
	var ts int64
	if w.Len() > 0 {
		ts = w.events.back().t
	}
	args := make([]any, len(list))
	for i := range 12 {
		for j := range args {
			args[j] = []any{nil, float64(i), "s", i%2 == 0, math.NaN(), int64(i % 3)}[(i+j)%6]
		}
		if ts < math.MaxInt64-10 {
			ts += int64(i % 3)
		}
		for _, x := range []*Window{w, w2} {
			x.Add("f", ts, args)
			if i%3 == 2 {
				x.EvictThrough(ts - 4)
			}
			if i == 9 {
				x.EvictThrough(math.MinInt64 + 1)
			}
			if i == 10 {
				x.Reset()
			}
		}
		if err := sameState(w, w2, nil); err != nil {
			t.Fatalf("after %d events: %v", i, err)
		}
	}
	return true
}

// TestDecodeAggregates checks the matching of the snapshot's aggregates
// with the rule's: any order is fine, any other difference an error.
func TestDecodeAggregates(t *testing.T) {
	list := codecAggs()
	w := richWindow(t, 4, 200)
	p := encode(w)
	without := func(i int) []Aggregate { return slices.Delete(slices.Clone(list), i, i+1) }
	with := func(i int, a Aggregate) []Aggregate { l := slices.Clone(list); l[i] = a; return l }
	for _, tc := range []struct {
		name string
		aggs []Aggregate
		err  string // "": no error
	}{
		{"same", list, ""},
		{"reversed", reversed(list), ""},
		{"one missing", without(3), `"avg(x)" of the snapshot is not in the rule`},
		{"one more", append(slices.Clone(list), Aggregate{Sum, "sum(z)"}), `"sum(z)" of the rule is not in the snapshot`},
		{"renamed", with(2, Aggregate{Sum, "sum(x2)"}), `"sum(x2)" of the rule is not in the snapshot`},
		{"other function", with(1, Aggregate{Count, "count(x > 1)"}), `"count(x > 1)" is count(expr) in the snapshot, count() in the rule`},
		{"twice", with(2, list[3]), `"avg(x)" is more times in the rule than in the snapshot`},
		{"none", nil, "is not in the rule"},
		{"unknown function", with(4, Aggregate{Func(99), "min(x)"}), `"min(x)" is min in the snapshot, Func(99) in the rule`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decode(tc.aggs, p)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				perm := make([]int, len(tc.aggs))
				for i, a := range tc.aggs {
					perm[i] = slices.Index(list, a)
				}
				if err := sameState(w, got, perm); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, wire.ErrCorrupt) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Decode: %v; want ErrCorrupt with %q", err, tc.err)
			}
			// Reorder rejects the same lists (without ErrCorrupt: nothing
			// is corrupt) and leaves the window as it was.
			c, _ := decode(list, p)
			err = c.Reorder(tc.aggs)
			if err == nil || errors.Is(err, wire.ErrCorrupt) {
				t.Fatalf("Reorder: %v", err)
			}
			if !bytes.Equal(encode(c), p) {
				t.Fatalf("a failed Reorder changed the window")
			}
		})
	}

	// Equal aggregates are paired in order; a snapshot of a window whose
	// texts repeat under different functions (as the aggs helper of the
	// other tests makes them) still decodes.
	dup := aggs(Count, CountIf, Count, Sum)
	w = New(dup)
	w.Add("a", 1, []any{nil, true, nil, 1.5})
	w.Add("b", 2, []any{nil, false, nil, 2.0})
	got, err := decode(reversed(dup), encode(w))
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Values(nil); !reflect.DeepEqual(v, []any{3.5, 2, 1, 2}) {
		t.Errorf("values %v", v)
	}
}

// TestReorder reorders a live window in place and keeps feeding it along
// with the original.
func TestReorder(t *testing.T) {
	list := codecAggs()
	rng := rand.New(rand.NewPCG(5, 5))
	w := richWindow(t, 5, 500)
	r, err := decode(list, encode(w))
	if err != nil {
		t.Fatal(err)
	}
	perm := rng.Perm(len(list))
	if err := r.Reorder(permuted(list, perm)); err != nil {
		t.Fatal(err)
	}
	if len(r.floats) != 3 {
		t.Fatalf("%d float aggregates", len(r.floats))
	}
	g := &regimes[1]
	args, pargs := make([]any, len(list)), make([]any, len(list))
	ts := w.events.back().t
	for i := range 3000 {
		ts += rng.Int64N(3)
		for j := range args {
			args[j] = randomValue(rng, g, i)
		}
		for j := range pargs {
			pargs[j] = args[perm[j]]
		}
		w.Add("x", ts, args)
		r.Add("x", ts, pargs)
		w.EvictThrough(ts - 700)
		r.EvictThrough(ts - 700)
		if err := sameState(w, r, perm); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

// TestDecodeLeavesFollowingFields checks that Decode reads its window and
// nothing more, so that a record can hold more after it.
func TestDecodeLeavesFollowingFields(t *testing.T) {
	list := codecAggs()
	var e wire.Enc
	e.String("key-1")
	richWindow(t, 6, 50).Encode(&e)
	e.Bool(true)
	New(list).Encode(&e)
	e.Varint(-7)
	d := wire.NewDec(e.Bytes())
	if d.String() != "key-1" {
		t.Fatal("key")
	}
	if _, err := Decode(list, d); err != nil {
		t.Fatal(err)
	}
	if !d.Bool() {
		t.Fatal("bool")
	}
	w, err := Decode(list, d)
	if err != nil || w.Len() != 0 {
		t.Fatal(err)
	}
	if d.Varint() != -7 || d.Done() != nil {
		t.Fatal(d.Done())
	}
	// A decoder that failed already fails Decode.
	d = wire.NewDec(nil)
	d.Bool()
	if _, err := Decode(list, d); !errors.Is(err, wire.ErrCorrupt) {
		t.Fatal(err)
	}
}

// TestCodecValueTypes pins what the codec does to the arguments first(x)
// and last(x) keep, which go through wire.Enc.Value: nil, bool, float64,
// int, int64 and string keep their type; other integers come back as
// int64 or uint64, float32 as float64, and anything else as encoding/json
// decodes its JSON text (numbers as float64; nil when JSON cannot encode
// it). The other aggregates keep numbers and distinct keys, which the
// codec keeps exactly, so their values do not change.
func TestCodecValueTypes(t *testing.T) {
	list := []Aggregate{{First, "first(x)"}, {Last, "last(x)"}, {Sum, "sum(x)"}, {Distinct, "distinct(x)"}, {Min, "min(x)"}}
	for _, tc := range []struct {
		in, out any
	}{
		{nil, nil},
		{true, true},
		{2.5, 2.5},
		{-7, -7},
		{int64(-1 << 62), int64(-1 << 62)},
		{"s", "s"},
		{int8(-3), int64(-3)},
		{int16(300), int64(300)},
		{int32(-70000), int64(-70000)},
		{uint(7), uint64(7)},
		{uint8(200), uint64(200)},
		{uint32(1 << 31), uint64(1 << 31)},
		{uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{float32(1.25), 1.25},
		{json.Number("12.5"), 12.5},
		{myInt(4), 4.0},
		{myFloat(-0.5), -0.5},
		{myString("named"), "named"},
		{map[string]any{"a": 1, "b": []any{"c"}}, map[string]any{"a": 1.0, "b": []any{"c"}}},
		{map[string]int{"z": 2}, map[string]any{"z": 2.0}},
		{[]int{1, 2}, []any{1.0, 2.0}},
		{[]any{}, []any{}},
		{map[string]any{"nan": math.NaN()}, nil},
		{math.NaN(), math.NaN()},
		{math.Inf(-1), math.Inf(-1)},
	} {
		t.Run(fmt.Sprintf("%T(%v)", tc.in, tc.in), func(t *testing.T) {
			w := New(list)
			w.Add("a", 1, []any{tc.in, tc.in, tc.in, tc.in, tc.in})
			d, err := decode(list, encode(w))
			if err != nil {
				t.Fatal(err)
			}
			got, want := d.Values(nil), w.Values(nil)
			for i := range 2 {
				if !identical(got[i], tc.out) {
					t.Errorf("%s: %#v (%T), want %#v (%T)", list[i].Text, got[i], got[i], tc.out, tc.out)
				}
			}
			for i := 2; i < len(list); i++ {
				if !identical(got[i], want[i]) {
					t.Errorf("%s: %#v, want %#v", list[i].Text, got[i], want[i])
				}
			}
		})
	}
}

// FuzzDecodeWindow decodes arbitrary payloads, seeded with real ones,
// for two aggregate lists: Decode must not panic, and a window it accepts
// must work and round-trip (see checkDecoded).
func FuzzDecodeWindow(f *testing.F) {
	list := codecAggs()
	small := []Aggregate{{Distinct, "distinct(x)"}, {Min, "min(x)"}, {Stddev, "stddev(x)"}}
	f.Add(encode(New(list)))
	f.Add(encode(New(small)))
	for seed, n := range []int{3, 20, 90} {
		f.Add(encode(richWindow(f, uint64(seed), n)))
	}
	w := New(small)
	for i := range 40 {
		w.Add("", int64(i/3), []any{i % 7, 1e9 + float64(i%5), float64(i) * 1e-3})
		w.EvictThrough(int64(i/3) - 6)
	}
	f.Add(encode(w))
	f.Fuzz(func(t *testing.T, p []byte) {
		checkDecoded(t, list, p)
		checkDecoded(t, small, p)
	})
}

// BenchmarkCodec measures Encode and Decode of a window of 6000 events
// with every aggregate (13 of them, see codecAggs), as a snapshot of one
// busy key would take them.
func BenchmarkCodec(b *testing.B) {
	w := richWindow(b, 9, 9000)
	list := codecAggs()
	var e wire.Enc
	w.Encode(&e)
	p := slices.Clone(e.Bytes())
	b.Logf("%d events, %d bytes", w.Len(), len(p))
	b.Run("Encode", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		b.ReportAllocs()
		for b.Loop() {
			e.Reset()
			w.Encode(&e)
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(list, wire.NewDec(p)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

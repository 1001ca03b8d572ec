package sources

import (
	"math/rand/v2"
	"testing"
)

func TestOffsetTracker(t *testing.T) {
	// Each step is f<n> (fetched) or d<n> (done); after the steps, the
	// committable offset (-1: none) and the number pending.
	type step struct {
		fetch bool
		off   int64
		news  bool // the call's result
	}
	f := func(o int64, news bool) step { return step{true, o, news} }
	d := func(o int64, news bool) step { return step{false, o, news} }
	tests := []struct {
		name       string
		steps      []step
		commit     int64
		pending    int
		lowestOpen int64 // -1: none
	}{
		{"empty", nil, -1, 0, -1},
		{"fetched, none done", []step{f(0, true), f(1, true)}, -1, 2, 0},
		{"in order", []step{f(0, true), f(1, true), f(2, true), d(0, true), d(1, true)}, 1, 1, 2},
		{"all done", []step{f(0, true), f(1, true), d(1, true), d(0, true)}, 1, 0, -1},
		{"out of order: gap holds the frontier", []step{
			f(0, true), f(1, true), f(2, true), f(3, true), d(3, true), d(2, true), d(0, true),
		}, 0, 1, 1},
		{"gap filled last moves over everything", []step{
			f(0, true), f(1, true), f(2, true), f(3, true), d(3, true), d(2, true), d(0, true), d(1, true),
		}, 3, 0, -1},
		{"first undone blocks all", []step{f(5, true), f(6, true), f(7, true), d(6, true), d(7, true)}, -1, 1, 5},
		{"offset gaps (compaction) do not block", []step{
			f(10, true), f(14, true), f(20, true), d(10, true), d(14, true),
		}, 14, 1, 20},
		{"duplicate done", []step{f(0, true), f(1, true), d(1, true), d(1, false), d(0, true), d(0, false)}, 1, 0, -1},
		{"done never fetched", []step{f(0, true), d(1, false), d(-1, false), f(2, true), d(1, false)}, -1, 2, 0},
		{"done in a fetch gap", []step{f(0, true), f(5, true), d(3, false), d(0, true)}, 0, 1, 5},
		{"re-fetch is refused", []step{f(0, true), f(1, true), f(1, false), f(0, false), d(0, true)}, 0, 1, 1},
		{"re-fetch after done is refused", []step{f(0, true), d(0, true), f(0, false)}, 0, 0, -1},
		{"negative offset refused", []step{f(-1, false), f(-2, false)}, -1, 0, -1},
		{"fetch after all done", []step{f(0, true), d(0, true), f(1, true), f(2, true), d(2, true)}, 0, 1, 1},
		{"starts mid-partition", []step{f(1000, true), f(1001, true), d(1000, true)}, 1000, 1, 1001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newOffsetTracker()
			for i, s := range tc.steps {
				var got bool
				if s.fetch {
					got = tr.fetched(s.off)
				} else {
					got = tr.done(s.off)
				}
				if got != s.news {
					kind := "done"
					if s.fetch {
						kind = "fetched"
					}
					t.Errorf("step %d: %s(%d) = %v; want %v", i, kind, s.off, got, s.news)
				}
			}
			got, ok := tr.committable()
			if !ok {
				got = -1
			}
			if got != tc.commit || ok != (tc.commit >= 0) {
				t.Errorf("committable() = %d, %v; want %d", got, ok, tc.commit)
			}
			if n := tr.pending(); n != tc.pending {
				t.Errorf("pending() = %d; want %d", n, tc.pending)
			}
			low, ok := tr.lowestUnfinished()
			if !ok {
				low = -1
			}
			if low != tc.lowestOpen {
				t.Errorf("lowestUnfinished() = %d; want %d", low, tc.lowestOpen)
			}
		})
	}
}

// TestOffsetTrackerRandom checks the tracker against a plain set on random
// fetch/done orders, including compaction of its window.
func TestOffsetTrackerRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		tr := newOffsetTracker()
		var fetched []int64
		done := map[int64]bool{}
		next := int64(rng.IntN(3))
		for range 2000 {
			if len(fetched) == 0 || rng.IntN(3) == 0 {
				if !tr.fetched(next) {
					t.Fatalf("round %d: fetched(%d) refused", round, next)
				}
				fetched = append(fetched, next)
				next += 1 + int64(rng.IntN(3)) // gaps
				continue
			}
			// Done a random fetched offset, more often a recent one, so
			// that gaps stay open for a while.
			i := len(fetched) - 1 - rng.IntN(min(len(fetched), 50))
			if rng.IntN(10) == 0 {
				i = rng.IntN(len(fetched))
			}
			o := fetched[i]
			if got := tr.done(o); got == done[o] {
				t.Fatalf("round %d: done(%d) = %v with done before = %v", round, o, got, done[o])
			}
			done[o] = true

			want := int64(-1)
			for _, f := range fetched {
				if !done[f] {
					break
				}
				want = f
			}
			got, ok := tr.committable()
			if !ok {
				got = -1
			}
			if got != want {
				t.Fatalf("round %d: committable() = %d; want %d", round, got, want)
			}
			if p := len(fetched) - len(done); tr.pending() != p {
				t.Fatalf("round %d: pending() = %d; want %d", round, tr.pending(), p)
			}
		}
		if w := len(tr.window) - tr.head; w > len(fetched)-int(countPrefix(fetched, done)) {
			t.Fatalf("round %d: window holds %d entries", round, w)
		}
	}
}

func countPrefix(fetched []int64, done map[int64]bool) int {
	n := 0
	for _, f := range fetched {
		if !done[f] {
			break
		}
		n++
	}
	return n
}

func TestOffsetTrackerDoneThrough(t *testing.T) {
	tr := newOffsetTracker()
	for _, o := range []int64{3, 4, 6, 7, 9} {
		tr.fetched(o)
	}
	tr.done(9) // above the gap: waits
	if n := tr.doneThrough(6); n != 3 || tr.frontier != 6 || tr.pending() != 1 {
		t.Errorf("through 6: %d news, frontier %d, pending %d; want 3, 6, 1", n, tr.frontier, tr.pending())
	}
	if n := tr.doneThrough(5); n != 0 || tr.frontier != 6 {
		t.Errorf("through 5 again: %d, frontier %d", n, tr.frontier)
	}
	// 7 done through a checkpoint, 9 was already: the frontier passes both.
	if n := tr.doneThrough(7); n != 1 || tr.frontier != 9 || tr.pending() != 0 {
		t.Errorf("through 7: %d news, frontier %d, pending %d; want 1, 9, 0", n, tr.frontier, tr.pending())
	}
	if f, ok := tr.committable(); !ok || f != 9 {
		t.Errorf("committable %d %v", f, ok)
	}
}

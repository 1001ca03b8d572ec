package sequence

import "testing"

// The examples of the FlinkCEP documentation (docs/content/docs/libs/cep.md)
// and the AfterMatchSkipITCase tests that mirror them.

func TestDocsContiguity(t *testing.T) {
	a, b := is("a"), is("b")
	runCases(t, []tcase{
		// "a pattern "a b", given the event sequence "a", "c", "b1", "b2""
		{"a next b", pat(NoSkip, begin("a", a), next("b", b)), "a c b1 b2", nil},
		{"a followedBy b", pat(NoSkip, begin("a", a), fby("b", b)), "a c b1 b2",
			[]string{"a:a b:b1"}},
		{"a followedByAny b", pat(NoSkip, begin("a", a), fbyAny("b", b)), "a c b1 b2",
			[]string{"a:a b:b1", "a:a b:b2"}},
	})
}

// "a b+ c" with input "a", "b1", "d1", "b2", "d2", "b3" "c": a is followed
// by any sequence of b's (followedByAny), c follows the b's (followedBy).
// The documentation's text for the strict case ({a b3 c} only) does not
// match FlinkCEP's automaton for this pattern: with consecutive() a d after
// b1 ends the loop, but the partial match that already left the loop after
// b1 still waits for c, so {a b1 c} and {a b2 c} match too.
func TestDocsContiguityInsideLoop(t *testing.T) {
	a, b, c := is("a"), is("b"), is("c")
	events := "a b1 d1 b2 d2 b3 c"
	mk := func(inner func(Stage) Stage) Pattern {
		return pat(NoSkip, begin("a", a), inner(oneOrMore(fbyAny("b", b))), fby("c", c))
	}
	id := func(s Stage) Stage { return s }
	runCases(t, []tcase{
		// All matches share their start event (a), so FlinkCEP emits them in
		// the order its priority queue yields equal elements.
		{"strict", mk(consecutive), events, []string{
			"a:a b:b1 c:c", "a:a b:b3 c:c", "a:a b:b2 c:c",
		}},
		{"relaxed", mk(id), events, []string{
			"a:a b:b1,b2,b3 c:c", "a:a b:b3 c:c", "a:a b:b2 c:c",
			"a:a b:b2,b3 c:c", "a:a b:b1 c:c", "a:a b:b1,b2 c:c",
		}},
		{"non-deterministic", mk(combinations), events, []string{
			"a:a b:b1,b2,b3 c:c", "a:a b:b3 c:c", "a:a b:b2 c:c", "a:a b:b2,b3 c:c",
			"a:a b:b1 c:c", "a:a b:b1,b3 c:c", "a:a b:b1,b2 c:c",
		}},
		// With c strictly after the b's the strict case is the documented {a b3 c}.
		{"strict, c next", pat(NoSkip, begin("a", a), consecutive(oneOrMore(fbyAny("b", b))), next("c", c)),
			events, []string{"a:a b:b3 c:c"}},
	})
}

// consecutive() / allowCombinations(): C D A1 A2 A3 D A4 B.
func TestDocsConsecutiveAndCombinations(t *testing.T) {
	mk := func(mod func(Stage) Stage) Pattern {
		return pat(NoSkip, begin("start", is("c")), mod(oneOrMore(fby("middle", is("a")))), fby("end1", is("b")))
	}
	events := "c d a1 a2 a3 d a4 b"
	runCases(t, []tcase{
		{"consecutive", mk(consecutive), events, []string{
			"start:c middle:a1,a2,a3 end1:b", "start:c middle:a1 end1:b", "start:c middle:a1,a2 end1:b",
		}},
		{"relaxed", mk(func(s Stage) Stage { return s }), events, []string{
			"start:c middle:a1,a2,a3,a4 end1:b", "start:c middle:a1 end1:b", "start:c middle:a1,a2 end1:b",
			"start:c middle:a1,a2,a3 end1:b",
		}},
		// With followedBy("middle") the first a after c must be taken, so
		// only the combinations starting at A1 match (the documentation
		// lists all 15 combinations, which needs followedByAny, below).
		{"allow combinations", mk(combinations), events, []string{
			"start:c middle:a1,a2,a3,a4 end1:b", "start:c middle:a1 end1:b", "start:c middle:a1,a4 end1:b",
			"start:c middle:a1,a3 end1:b", "start:c middle:a1,a3,a4 end1:b", "start:c middle:a1,a2 end1:b",
			"start:c middle:a1,a2,a4 end1:b", "start:c middle:a1,a2,a3 end1:b",
		}},
		{"allow combinations, followedByAny", pat(NoSkip, begin("start", is("c")),
			combinations(oneOrMore(fbyAny("middle", is("a")))), fby("end1", is("b"))), events, []string{
			"start:c middle:a1,a2,a3,a4 end1:b", "start:c middle:a4 end1:b", "start:c middle:a3 end1:b",
			"start:c middle:a3,a4 end1:b", "start:c middle:a2 end1:b", "start:c middle:a2,a4 end1:b",
			"start:c middle:a2,a3 end1:b", "start:c middle:a2,a3,a4 end1:b", "start:c middle:a1 end1:b",
			"start:c middle:a1,a4 end1:b", "start:c middle:a1,a3 end1:b", "start:c middle:a1,a3,a4 end1:b",
			"start:c middle:a1,a2 end1:b", "start:c middle:a1,a2,a4 end1:b", "start:c middle:a1,a2,a3 end1:b",
		}},
	})
}

// "(a+ until b)" on "a1" "c" "a2" "b" "a3" gives {a1 a2} {a1} {a2} {a3}.
func TestDocsUntil(t *testing.T) {
	runCases(t, []tcase{
		{"a+ until b", pat(NoSkip, until(oneOrMore(begin("a", is("a"))), is("b"))), "a1 c a2 b a3",
			[]string{"a:a1", "a:a1,a2", "a:a2", "a:a3"}},
	})
}

// The skip strategy table: pattern "b+ c", stream "b1 b2 b3 c".
func TestDocsSkipTable(t *testing.T) {
	stages := []Stage{oneOrMore(begin("b", is("b"))), next("c", is("c"))}
	events := "b1 b2 b3 c"
	all := []string{"b:b1,b2,b3 c:c", "b:b2,b3 c:c", "b:b3 c:c"}
	runCases(t, []tcase{
		{"no skip", pat(NoSkip, stages...), events, all},
		{"skip to next", pat(SkipToNext, stages...), events, all},
		{"skip past last event", pat(SkipPastLastEvent, stages...), events, all[:1]},
		// b2 b3 c and b3 c complete together with b1 b2 b3 c but wait while
		// the partial match started at b1 is alive (it still waits in the
		// loop); they are released when the window closes it.
		{"skip to first b", skipTo(SkipToFirst, "b", stages...), events, all[:1]},
		{"skip to first b, window", Pattern{Stages: stages, Skip: Skip{Kind: SkipToFirst, Stage: "b"}, Within: 100},
			events + " !1000", all},
		{"skip to last b", skipTo(SkipToLast, "b", stages...), events, []string{"b:b1,b2,b3 c:c", "b:b3 c:c"}},
	})
}

// "(a | b | c) (b | c) c+.greedy d" on "a b c1 c2 c3 d"
// (AfterMatchSkipITCase.testSkipToFirstDiscarding).
func TestDocsSkipToFirstDiscarding(t *testing.T) {
	stages := []Stage{
		begin("a or c", has("a", "c")),
		fby("b or c", has("b", "c")),
		greedy(oneOrMore(fby("c*", has("c")))),
		fby("d", has("d")),
	}
	events := "a b c1 c2 c3 d"
	runCases(t, []tcase{
		{"no skip, (a | b | c) first", pat(NoSkip, append([]Stage{begin("a or c", has("a", "b", "c"))}, stages[1:]...)...), events, []string{
			"a or c:a b or c:b c*:c1,c2,c3 d:d",
			"a or c:b b or c:c1 c*:c2,c3 d:d",
			"a or c:c1 b or c:c2 c*:c3 d:d",
		}},
		{"skip to first c*", skipTo(SkipToFirst, "c*", stages...), events, []string{
			"a or c:a b or c:b c*:c1,c2,c3 d:d",
			"a or c:c1 b or c:c2 c*:c3 d:d",
		}},
	})
}

// "a b+" on "a b1 b2 b3": NO_SKIP vs SKIP_TO_NEXT.
func TestDocsSkipToNext(t *testing.T) {
	stages := []Stage{begin("a", is("a")), oneOrMore(fby("b", is("b")))}
	runCases(t, []tcase{
		{"no skip", pat(NoSkip, stages...), "a b1 b2 b3", []string{"a:a b:b1", "a:a b:b1,b2", "a:a b:b1,b2,b3"}},
		{"skip to next", pat(SkipToNext, stages...), "a b1 b2 b3", []string{"a:a b:b1"}},
	})
}

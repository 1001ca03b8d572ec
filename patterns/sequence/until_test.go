package sequence

import (
	"testing"

	"github.com/vigilhq/vigil/event"
)

// Ports of FlinkCEP's UntilConditionITCase: until = price == 5.
func TestUntilConditionITCase(t *testing.T) {
	c, a := is("c"), is("a")
	five := func(ev *event.Event, _ Context) bool { return price(ev) == 5 }
	mk := func(mod func(Stage) Stage) Pattern {
		return pat(NoSkip, begin("start", c), mod(until(oneOrMore(fby("middle", a)), five)), fby("end", five))
	}
	id := func(s Stage) Stage { return s }
	opt := func(mods ...func(Stage) Stage) func(Stage) Stage {
		return func(s Stage) Stage {
			s = optional(s)
			for _, m := range mods {
				s = m(s)
			}
			return s
		}
	}
	const five4 = "c1#1@1 a1#2@3 a2#3@4 a3#5@6 a4#6@7"
	const six5 = "c1#1@1 a1#2@3 a2#3@4 a3#4@5 a4#5@6 a5#6@7"
	runCases(t, []tcase{
		{"testUntilConditionFollowedByOneOrMore", mk(id), five4, []string{
			"start:c1 middle:a1,a2 end:a3", "start:c1 middle:a1 end:a3"}},
		{"testUntilConditionFollowedByOneOrMoreCombinations", mk(combinations), six5, []string{
			"start:c1 middle:a1,a2,a3 end:a4", "start:c1 middle:a1 end:a4",
			"start:c1 middle:a1,a3 end:a4", "start:c1 middle:a1,a2 end:a4"}},
		{"testUntilConditionFollowedByOneOrMoreConsecutive", mk(consecutive), "c1#1@1 a1#2@3 a2#3@4 a3#5@7 a4#6@8", []string{
			"start:c1 middle:a1,a2 end:a3", "start:c1 middle:a1 end:a3"}},
		{"testUntilConditionFollowedByZeroOrMore", mk(opt()), five4, []string{
			"start:c1 middle:a1,a2 end:a3", "start:c1 end:a3", "start:c1 middle:a1 end:a3"}},
		{"testUntilConditionFollowedByZeroOrMoreCombinations", mk(opt(combinations)), six5, []string{
			"start:c1 middle:a1,a2,a3 end:a4", "start:c1 end:a4",
			"start:c1 middle:a1 end:a4", "start:c1 middle:a1,a3 end:a4", "start:c1 middle:a1,a2 end:a4"}},
		{"testUntilConditionFollowedByZeroOrMoreConsecutive", mk(opt(consecutive)), "c1#1@1 a1#2@3 a2#3@4 a3#5@7 a4#6@8", []string{
			"start:c1 middle:a1,a2 end:a3", "start:c1 end:a3", "start:c1 middle:a1 end:a3"}},
		{"testUntilConditionFollowedByAnyOneOrMore",
			pat(NoSkip, begin("start", c), until(oneOrMore(fbyAny("middle", a)), five)),
			"c1#1@1 a1#2@3 a2#3@4 a3#5@6 a4#6@7", []string{
				"start:c1 middle:a1", "start:c1 middle:a1,a2", "start:c1 middle:a2", "start:c1 middle:a4"}},
	})
}

// Time-range quantifiers: times N..M with the three inner contiguities.
func TestTimesRange(t *testing.T) {
	c, a, d := is("c"), is("a"), is("d")
	mk := func(mod func(Stage) Stage) Pattern {
		return pat(NoSkip, begin("start", c), mod(times(fby("middle", a), 1, 3)), fby("end", d))
	}
	const events = "c1 a1 a2 x1 a3 a4 d1"
	runCases(t, []tcase{
		// TimesRangeITCase.testTimesRange: c a{1,3} d (relaxed inside).
		{"times 1..3 relaxed", mk(func(s Stage) Stage { return s }), "c1 a1 a2 a3 d1", []string{
			"start:c1 middle:a1,a2,a3 end:d1", "start:c1 middle:a1 end:d1", "start:c1 middle:a1,a2 end:d1"}},
		{"times 1..3 consecutive", mk(consecutive), events, []string{
			"start:c1 middle:a1,a2 end:d1", "start:c1 middle:a1 end:d1"}},
		{"times 1..3 combinations", mk(combinations), events, []string{
			"start:c1 middle:a1,a2,a3 end:d1", "start:c1 middle:a1 end:d1", "start:c1 middle:a1,a4 end:d1",
			"start:c1 middle:a1,a3 end:d1", "start:c1 middle:a1,a3,a4 end:d1", "start:c1 middle:a1,a2 end:d1",
			"start:c1 middle:a1,a2,a4 end:d1"}},
		{"times 0..2 (optional)", pat(NoSkip, begin("start", c), times(fby("middle", a), 0, 2), fby("end", d)), "c1 a1 a2 a3 d1", []string{
			"start:c1 middle:a1,a2 end:d1", "start:c1 end:d1", "start:c1 middle:a1 end:d1"}},
		{"times 2..3 greedy", pat(NoSkip, begin("start", c), greedy(times(fby("middle", a), 2, 3)), fby("end", d)), "c1 a1 a2 a3 d1", []string{
			"start:c1 middle:a1,a2,a3 end:d1"}},
		{"times 2.. (timesOrMore)", pat(NoSkip, begin("start", c), times(fby("middle", a), 2, Unbounded), fby("end", d)), "c1 a1 a2 a3 d1", []string{
			"start:c1 middle:a1,a2,a3 end:d1", "start:c1 middle:a1,a2 end:d1"}},
	})
}

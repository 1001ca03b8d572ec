package sequence

import (
	"testing"

	"github.com/vigilhq/vigil/event"
)

// Ports of FlinkCEP's GreedyITCase ("c a* d" with greedy quantifiers).
func TestGreedyITCase(t *testing.T) {
	c, a, d, e := is("c"), is("a"), is("d"), is("e")
	above3 := func(ev *event.Event, _ Context) bool { return price(ev) > 3 }
	zeroOrMore := func(s Stage) Stage { return greedy(optional(oneOrMore(s))) }
	cad := pat(NoSkip, begin("start", c), zeroOrMore(fby("middle", a)), fby("end", d))
	runCases(t, []tcase{
		{"testGreedyZeroOrMore", cad, "c1 a1 a2 a3 d1",
			[]string{"start:c1 middle:a1,a2,a3 end:d1"}},
		{"testGreedyZeroOrMoreInBetween", cad, "c1 dummy1 a1 dummy2 a2 dummy3 a3 d1",
			[]string{"start:c1 middle:a1,a2,a3 end:d1"}},
		{"testGreedyZeroOrMoreWithDummyEventsAfterQuantifier", cad, "c1 a1 a2 dummy1 d1",
			[]string{"start:c1 middle:a1,a2 end:d1"}},
		{"testGreedyZeroOrMoreWithDummyEventsBeforeQuantifier", cad, "c1 dummy1 d1@5",
			[]string{"start:c1 end:d1"}},
		{"testGreedyUtilZeroOrMoreWithDummyEventsAfterQuantifier",
			pat(NoSkip, begin("start", c), until(zeroOrMore(fby("middle", a)), above3), fby("end", d)),
			"c1#1 a1#2 a2#3 a3#3 a4#4 d1#3", []string{"start:c1 middle:a1,a2,a3 end:d1"}},
	})

	// testGreedyZeroOrMoreConsecutiveEndWithOptional, testGreedyZeroOrMoreBeforeOptional
	// and testGreedyZeroOrMoreBeforeOptional2 were written before FlinkCEP's
	// Pattern.optional() started to reject an optional pattern preceded by a
	// greedy one ("Optional pattern cannot be preceded by greedy pattern");
	// current FlinkCEP, and vigil, reject these patterns.
	for name, p := range map[string]Pattern{
		"testGreedyZeroOrMoreConsecutiveEndWithOptional": pat(NoSkip, begin("start", c), consecutive(zeroOrMore(fby("middle", a))), optional(fby("end", d))),
		"testGreedyZeroOrMoreBeforeOptional":             pat(NoSkip, begin("start", c), zeroOrMore(fby("middle1", a)), optional(fby("middle2", d)), fby("end", e)),
	} {
		if _, err := Compile(p); err == nil {
			t.Errorf("%s: Compile accepted an optional stage after a greedy one", name)
		}
	}
}

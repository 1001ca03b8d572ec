package sequence

import "testing"

// Ports of FlinkCEP's GroupITCase: "c (a b)<quantifier> d".
func TestGroupITCase(t *testing.T) {
	c, d := is("c"), is("d")
	ab := func(k Kind) Stage {
		return group("ab", k, begin("middle1", is("a")), fby("middle2", is("b")))
	}
	mk := func(g Stage) Pattern { return pat(NoSkip, begin("start", c), g, fby("end", d)) }
	const six = "c1@1 a1@2 b1@3 a2@4 b2@5 d1@6"
	const eight = "c1@1 a1@2 b1@3 a2@4 b2@5 a3@6 b3@7 d1@8"
	runCases(t, []tcase{
		{"testGroupFollowedByTimes", mk(times(ab(FollowedBy), 2, 2)), six,
			[]string{"start:c1 middle1:a1,a2 middle2:b1,b2 end:d1"}},
		{"testGroupFollowedByOptional", mk(optional(ab(FollowedBy))), "c1@1 a1@2 a2@3 b1@4 d1@5",
			[]string{"start:c1 middle1:a1 middle2:b1 end:d1", "start:c1 end:d1"}},
		{"testFollowedByGroupTimesOptional", mk(optional(times(ab(FollowedBy), 2, 2))), "c1@1 a1@2 d1@3",
			[]string{"start:c1 end:d1"}},
		{"testGroupFollowedByOneOrMore", mk(oneOrMore(ab(FollowedBy))), six, []string{
			"start:c1 middle1:a1,a2 middle2:b1,b2 end:d1", "start:c1 middle1:a1 middle2:b1 end:d1"}},
		{"testGroupFollowedByZeroOrMore", mk(optional(oneOrMore(ab(FollowedBy)))), six, []string{
			"start:c1 middle1:a1,a2 middle2:b1,b2 end:d1", "start:c1 end:d1", "start:c1 middle1:a1 middle2:b1 end:d1"}},
		{"testGroupFollowedByAnyTimesCombinations", mk(combinations(times(ab(FollowedByAny), 2, 2))), eight, []string{
			"start:c1 middle1:a1,a2 middle2:b1,b2 end:d1",
			"start:c1 middle1:a2,a3 middle2:b2,b3 end:d1",
			"start:c1 middle1:a1,a3 middle2:b1,b3 end:d1"}},
		{"testGroupFollowedByAnyTimesOptional", mk(optional(times(ab(FollowedByAny), 2, 2))), eight, []string{
			"start:c1 middle1:a1,a2 middle2:b1,b2 end:d1",
			"start:c1 end:d1",
			"start:c1 middle1:a2,a3 middle2:b2,b3 end:d1"}},
		// (a b){2,}: a group with a quantifier N.. as a whole.
		{"group times 2..", mk(times(ab(FollowedBy), 2, Unbounded)), eight, []string{
			"start:c1 middle1:a1,a2,a3 middle2:b1,b2,b3 end:d1",
			"start:c1 middle1:a1,a2 middle2:b1,b2 end:d1"}},
		// next(group): the group's first event must directly follow c.
		{"next group", mk(ab(Next)), "c1 x1 a1 b1 d1 c2 a2 x2 b2 d2",
			[]string{"start:c2 middle1:a2 middle2:b2 end:d2"}},
	})
}

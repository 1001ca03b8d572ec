package sequence

import (
	"strings"
	"testing"
)

// Patterns FlinkCEP's Pattern API / NFACompiler reject (MalformedPatternException,
// UnsupportedOperationException), plus vigil's own checks.
func TestCompileErrors(t *testing.T) {
	a, b := is("a"), is("b")
	grp := group("g", FollowedBy, begin("x", a), next("y", b))
	cases := []struct {
		name string
		p    Pattern
		want string
	}{
		{"no stages", Pattern{}, "no stages"},
		{"first stage not begin", pat(NoSkip, fby("a", a)), "first stage must be begin"},
		{"negative stage first", pat(NoSkip, notNext("a", a), fby("b", b)), "first stage must be begin"},
		{"begin not first", pat(NoSkip, begin("a", a), begin("b", b)), "begin is only allowed for the first stage"},
		{"not_followed_by at the end without within", pat(NoSkip, begin("a", a), notFby("b", b)), "without within"},
		{"until on a non-looping stage", pat(NoSkip, begin("a", a), until(fby("b", b), a)), "until applies only to a looping stage"},
		{"until on times N..M", pat(NoSkip, begin("a", a), until(times(fby("b", b), 1, 3), a)), "until applies only to a looping stage"},
		{"skip target naming no stage", skipTo(SkipToFirst, "zz", begin("a", a), fby("b", b)), `no stage named "zz"`},
		{"skip target missing", skipTo(SkipToLast, "", begin("a", a), fby("b", b)), "needs a stage"},
		{"skip target naming a group", skipTo(SkipToLast, "g", begin("a", a), grp), "is a group"},
		{"greedy on a group", pat(NoSkip, begin("a", a), greedy(oneOrMore(grp))), "greedy is not applicable to a group"},
		{"greedy on a single stage", pat(NoSkip, begin("a", a), greedy(fby("b", b))), "greedy applies only to a stage with times"},
		{"greedy with allow_combinations", pat(NoSkip, begin("a", a), greedy(combinations(oneOrMore(fby("b", b))))), "greedy is not applicable together with allow_combinations"},
		{"negative stage with times", pat(NoSkip, begin("a", a), times(notNext("b", b), 2, 2), fby("c", a)), "option not applicable"},
		{"negative stage optional", pat(NoSkip, begin("a", a), optional(notFby("b", b)), fby("c", a)), "cannot be optional"},
		{"negative stage after an optional one", pat(NoSkip, begin("a", a), optional(fby("b", b)), notNext("c", a), fby("d", a)), "cannot follow the optional stage"},
		{"negated group", pat(NoSkip, begin("a", a), group("g", NotNext, begin("x", a)), fby("c", a)), "cannot be negated"},
		{"duplicate stage names", pat(NoSkip, begin("a", a), fby("a", b)), "duplicate stage name"},
		{"duplicate name inside a group", pat(NoSkip, begin("x", a), grp), "duplicate stage name"},
		{"min > max", pat(NoSkip, begin("a", a), times(fby("b", b), 3, 2)), "minimum is larger than the maximum"},
		{"negative times", pat(NoSkip, begin("a", a), times(fby("b", b), -1, 2)), "must not be negative"},
		{"consecutive on a single stage", pat(NoSkip, begin("a", a), consecutive(fby("b", b))), "consecutive applies only"},
		{"allow_combinations on a single stage", pat(NoSkip, begin("a", a), combinations(fby("b", b))), "allow_combinations applies only"},
		{"where on a group", pat(NoSkip, begin("a", a), Stage{Name: "g", Kind: FollowedBy, Where: a, Group: []Stage{begin("x", a)}}), "a group cannot have where"},
		{"group not starting with begin", pat(NoSkip, begin("a", a), group("g", FollowedBy, fby("x", a))), "must be begin"},
		{"optional after greedy", pat(NoSkip, begin("a", a), greedy(oneOrMore(fby("b", b))), optional(fby("c", a))), "cannot follow the greedy stage"},
		{"stage within larger than pattern within", patW(NoSkip, 10, begin("a", a), within(fby("b", b), 20)), "larger than the pattern's within"},
		{"within on the first stage", pat(NoSkip, within(begin("a", a), 5), fby("b", b)), "first stage"},
		{"not_followed_by last in a group", pat(NoSkip, begin("a", a), group("g", FollowedBy, begin("x", a), notFby("y", b)), fby("c", a)), "last stage of a group"},
		{"unnamed stage", pat(NoSkip, begin("", a)), "has no name"},
		{"too many repetitions", pat(NoSkip, begin("a", a), times(fby("b", b), 1, 5000)), "at most"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.p)
			if err == nil {
				t.Fatalf("Compile accepted the pattern, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	a, b := is("a"), is("b")
	for name, p := range map[string]Pattern{
		"not_followed_by at the end with within":       patW(NoSkip, 10, begin("a", a), notFby("b", b)),
		"not_followed_by at the end with stage within": pat(NoSkip, begin("a", a), within(notFby("b", b), 10)),
		"optional begin":                 pat(NoSkip, optional(begin("a", a)), fby("b", b)),
		"times 0..3":                     pat(NoSkip, begin("a", a), times(fby("b", b), 0, 3), fby("c", a)),
		"times 0..":                      pat(NoSkip, begin("a", a), times(fby("b", b), 0, Unbounded), fby("c", a)),
		"nested groups":                  pat(NoSkip, begin("a", a), oneOrMore(group("g", FollowedBy, begin("x", a), times(group("h", Next, begin("y", b)), 2, 2)))),
		"skip to a stage inside a group": skipTo(SkipToFirst, "x", begin("a", a), group("g", FollowedBy, begin("x", a))),
		"greedy until":                   pat(NoSkip, begin("a", a), greedy(until(oneOrMore(fby("b", b)), a)), fby("c", a)),
	} {
		n, err := Compile(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !strings.Contains(n.dump(), "$endState$") {
			t.Errorf("%s: automaton without final state:\n%s", name, n.dump())
		}
	}
}

package sequence

import (
	"testing"

	"github.com/vigilhq/vigil/event"
)

// Ports of FlinkCEP's AfterMatchSkipITCase. Event names are the ids; the
// FlinkCEP conditions value.getName().contains(x) are has(x).
func TestAfterMatchSkipITCase(t *testing.T) {
	a3 := []Stage{times(begin("start", has("a")), 3, 3)}
	twoVarAny := []Stage{begin("start", has("a")), fbyAny("end", has("b"))}
	quantAtEnd := []Stage{begin("start", has("a")), oneOrMore(next("end", has("b")))}
	ab22 := []Stage{times(begin("start", has("a")), 2, 2), times(next("end", has("b")), 2, 2)}
	abcd := []Stage{begin("a", has("a")), fbyAny("b", has("b")), fbyAny("c", has("c")), fby("d", has("d"))}
	oneOrMoreB := []Stage{begin("a", has("a")), consecutive(oneOrMore(next("b", has("b"))))}
	missed := []Stage{begin("a", has("a")), consecutive(optional(oneOrMore(next("b", has("b"))))), next("c", has("c"))}
	greedyA := []Stage{greedy(consecutive(oneOrMore(begin("a", has("a"))))), next("b", has("b"))}
	samePrice := func(ev *event.Event, ctx Context) bool {
		return has("b")(ev, ctx) && price(ctx.Matched("a")[0]) == price(ev)
	}

	runCases(t, []tcase{
		{"testNoSkip", pat(NoSkip, a3...), "a1 a2 a3 a4 a5 a6", []string{
			"start:a1,a2,a3", "start:a2,a3,a4", "start:a3,a4,a5", "start:a4,a5,a6"}},
		{"testNoSkipWithFollowedByAny", pat(NoSkip, twoVarAny...), "a1 b1 a2 b2", []string{
			"start:a1 end:b1", "start:a1 end:b2", "start:a2 end:b2"}},
		{"testSkipToNextWithFollowedByAny", pat(SkipToNext, twoVarAny...), "a1 b1 a2 b2", []string{
			"start:a1 end:b1", "start:a2 end:b2"}},
		{"testNoSkipWithQuantifierAtTheEnd", pat(NoSkip, quantAtEnd...), "a1 b1 b2 b3", []string{
			"start:a1 end:b1", "start:a1 end:b1,b2", "start:a1 end:b1,b2,b3"}},
		{"testSkipToNextWithQuantifierAtTheEnd", pat(SkipToNext, quantAtEnd...), "a1 b1 b2 b3", []string{
			"start:a1 end:b1"}},
		{"testSkipPastLast", pat(SkipPastLastEvent, a3...), "a1 a2 a3 a4 a5 a6", []string{
			"start:a1,a2,a3", "start:a4,a5,a6"}},
		{"testSkipToFirst", skipTo(SkipToFirst, "end", ab22...), "ab1 ab2 ab3 ab4 ab5 ab6", []string{
			"start:ab1,ab2 end:ab3,ab4", "start:ab3,ab4 end:ab5,ab6"}},
		{"testSkipToLast", skipTo(SkipToLast, "end", ab22...), "ab1 ab2 ab3 ab4 ab5 ab6 ab7", []string{
			"start:ab1,ab2 end:ab3,ab4", "start:ab4,ab5 end:ab6,ab7"}},
		{"testSkipPastLast2", pat(SkipPastLastEvent, abcd...), "a1 a2 b1 b2 c1 c2 d1@7 d2@7", []string{
			"a:a1 b:b1 c:c1 d:d1"}},
		{"testSkipPastLast3", pat(SkipPastLastEvent, begin("a", has("a")), next("b", has("b"))), "a1 c a2 b2", []string{
			"a:a2 b:b2"}},
		{"testSkipToFirstWithOptionalMatch", skipTo(SkipToFirst, "b",
			optional(oneOrMore(begin("x", has("x")))), next("b", has("b")), next("c", has("c"))),
			"ab1 c1 ab2 c2", []string{"b:ab1 c:c1", "b:ab2 c:c2"}},
		{"testSkipToFirstAtStartPosition", skipTo(SkipToFirst, "b", begin("b", has("b")), next("c", has("c"))),
			"ab1 c1 ab2 c2", []string{"b:ab1 c:c1", "b:ab2 c:c2"}},
		{"testSkipToFirstWithOneOrMore", skipTo(SkipToFirst, "b", oneOrMoreB...), "a1 b1 a2 b2 b3 a3 b4", []string{
			"a:a1 b:b1", "a:a2 b:b2", "a:a3 b:b4"}},
		{"testSkipToFirstNonExistentPositionWithoutException", skipTo(SkipToFirst, "b", missed...), "a c", []string{
			"a:a c:c"}},
		{"testSkipToLastNonExistentPositionWithoutException", skipTo(SkipToLast, "b", missed...), "a c", []string{
			"a:a c:c"}},
		{"testSkipToLastWithOneOrMore", skipTo(SkipToLast, "b", oneOrMoreB...), "a1 b1 a2 b2 b3 a3 b4", []string{
			"a:a1 b:b1", "a:a2 b:b2", "a:a3 b:b4"}},
		{"testSkipPastLastWithOneOrMoreAtBeginning", pat(SkipPastLastEvent, greedyA...), "a1 a2 a3 b1", []string{
			"a:a1,a2,a3 b:b1"}},
		{"testSkipToLastWithOneOrMoreAtBeginning", skipTo(SkipToLast, "a", greedyA...), "a1 a2 a3 b1", []string{
			"a:a1,a2,a3 b:b1", "a:a3 b:b1"}},
		{"testSkipToFirstWithOneOrMoreAtBeginning", skipTo(SkipToFirst, "a", greedyA...), "a1 a2 a3 b1", []string{
			"a:a1,a2,a3 b:b1", "a:a2,a3 b:b1", "a:a3 b:b1"}},
		{"testNoSkipWithOneOrMoreAtBeginning", pat(NoSkip, greedyA...), "a1 a2 a3 b1", []string{
			"a:a1,a2,a3 b:b1", "a:a2,a3 b:b1", "a:a3 b:b1"}},
		// a2 c2 b1 completes first but waits for the earlier partial match
		// of a1, which completes at b2 and is emitted first.
		{"testSkipBeforeOtherAlreadyCompleted", skipTo(SkipToFirst, "c",
			begin("a", has("a")), fby("c", has("c")), fby("b", samePrice)),
			"a1#0 c1#0 a2#1 c2#0 b1#1 b2#0", []string{"a:a1 c:c1 b:b2", "a:a2 c:c2 b:b1"}},
	})
}

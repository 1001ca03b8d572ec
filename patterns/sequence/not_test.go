package sequence

import "testing"

// Ports of FlinkCEP's NotPatternITCase (event times as in the Java tests).
func TestNotPatternITCase(t *testing.T) {
	a, b, c, d := is("a"), is("b"), is("c"), is("d")

	notNextAfterOneOrMore := func(any bool) Pattern {
		k := FollowedBy
		if any {
			k = FollowedByAny
		}
		return pat(NoSkip, begin("a", a), oneOrMore(st("b*", k, b)), notNext("not c", c), fby("d", d))
	}
	const nfbData1 = "a1@0 b1@1 c1@2 b2@3 d1@4"
	notFbyAfterOneOrMore := func(eager, any bool) Pattern {
		k := FollowedBy
		if any {
			k = FollowedByAny
		}
		bs := oneOrMore(st("b*", k, b))
		if !eager {
			bs = combinations(bs)
		}
		return pat(NoSkip, begin("a", a), bs, notFby("not c", c), fby("d", d))
	}
	const nfbData2 = "a1@0 b1@1 b2@2 b3@3 c1@4 b4@5 b5@6 b6@7 d1@8"
	notFbyBeforeOneOrMore := func(eager, any, opt bool) Pattern {
		k := FollowedBy
		if any {
			k = FollowedByAny
		}
		bs := oneOrMore(st("b*", k, b))
		if opt {
			bs = optional(bs)
		}
		if !eager {
			bs = combinations(bs)
		}
		return pat(NoSkip, begin("a", a), notFby("not c", c), bs, fby("d", d))
	}
	const nfbData3 = "a1@0 b1@1 c1@2 b4@3 b5@4 b6@5 d1@6"

	runCases(t, []tcase{
		{"testNotNext", pat(NoSkip, begin("start", a), notNext("notPattern", b), fbyAny("middle", c), fby("end", d)),
			"a1@1 c1@2 b1@3 c2@4 d1@5", []string{"start:a1 middle:c1 end:d1", "start:a1 middle:c2 end:d1"}},
		{"testNotNextNoMatches", pat(NoSkip, begin("start", a), notNext("notPattern", b), fby("middle", c), fby("end", d)),
			"a1@1 b1@2 c1@3 c2@4 d1@5", nil},
		{"testNotNextNoMatchesAtTheEnd", pat(NoSkip, begin("start", a), fbyAny("middle", c), fbyAny("end", d), notNext("notPattern", b)),
			"a1@1 c1@2 c2@3 d1@4 b1@5", nil},
		{"testNotFollowedBy", pat(NoSkip, begin("start", a), notFby("notPattern", b), fbyAny("middle", c), fby("end", d)),
			"a1@1 c1@2 b1@3 c2@4 d1@5", []string{"start:a1 middle:c1 end:d1"}},
		{"testNotFollowedByBeforeOptional", pat(NoSkip, begin("start", a), notFby("notPattern", b), optional(fbyAny("middle", c)), fby("end", d)),
			"a1@1 c1@2 b1@3 c2@4 d1@5", []string{"start:a1 middle:c1 end:d1"}},
		{"testTimesWithNotFollowedBy", pat(NoSkip, begin("start", a), times(fbyAny("middle", b), 2, 2), notFby("notPattern", c), fby("end", d)),
			"a1@1 b1@2 c1@3 b2@4 d1@5", nil},
		{"testIgnoreStateOfTimesWithNotFollowedBy", pat(NoSkip, begin("start", a), notFby("notPattern", b), optional(times(fbyAny("middle", c), 2, 2)), fby("end", d)),
			"a1@1 d1@2 e1@1 b1@3 c1@2 c2@4 d2@5", []string{"start:a1 end:d1"}},
		{"testTimesWithNotFollowedByAfter", pat(NoSkip, begin("start", a), times(fbyAny("middle", b), 2, 2), notFby("notPattern", c), fby("end", d)),
			"a1@1 d1@2 e1@1 b1@3 b2@3 c1@2 d2@5", nil},
		{"testNotFollowedByBeforeOptionalAtTheEnd", pat(NoSkip, begin("start", a), notFby("notPattern", b), optional(fbyAny("end", c))),
			"a1@1 c1@2 b1@3 c2@4", []string{"start:a1", "start:a1 end:c1"}},
		{"testNotFollowedByBeforeOptionalTimes", pat(NoSkip, begin("start", a), notFby("notPattern", b), optional(times(fbyAny("middle", c), 2, 2)), fby("end", d)),
			"a1@1 c1@2 b1@3 c2@4 d1@5", []string{"start:a1 middle:c1,c2 end:d1"}},
		{"testNotFollowedByWithBranchingAtStart", pat(NoSkip, begin("start", a), notFby("notPattern", b), fby("middle", c), fby("end", d)),
			"a1@1 b1@2 c1@3 a2@4 c2@5 d1@6", []string{"start:a2 middle:c2 end:d1"}},
		{"testNotNextAfterOneOrMoreSkipTillNext", notNextAfterOneOrMore(false), nfbData1, nil},
		{"testNotNextAfterOneOrMoreSkipTillAny", notNextAfterOneOrMore(true), nfbData1, []string{"a:a1 b*:b2 d:d1"}},
		{"testNotFollowedByNextAfterOneOrMoreEager", notFbyAfterOneOrMore(true, false), nfbData2, nil},
		{"testNotFollowedByAnyAfterOneOrMoreEager", notFbyAfterOneOrMore(true, true), nfbData2, []string{
			"a:a1 b*:b4,b5,b6 d:d1", "a:a1 b*:b6 d:d1", "a:a1 b*:b5 d:d1",
			"a:a1 b*:b5,b6 d:d1", "a:a1 b*:b4 d:d1", "a:a1 b*:b4,b5 d:d1",
		}},
		{"testNotFollowedByNextAfterOneOrMoreCombinations", notFbyAfterOneOrMore(false, false), nfbData2, nil},
		{"testNotFollowedByAnyAfterOneOrMoreCombinations", notFbyAfterOneOrMore(false, true), nfbData2, []string{
			"a:a1 b*:b4,b5,b6 d:d1", "a:a1 b*:b6 d:d1", "a:a1 b*:b5 d:d1",
			"a:a1 b*:b5,b6 d:d1", "a:a1 b*:b4 d:d1", "a:a1 b*:b4,b6 d:d1",
			"a:a1 b*:b4,b5 d:d1",
		}},
		{"testNotFollowedByAnyBeforeOneOrMoreEager", notFbyBeforeOneOrMore(true, true, false), nfbData3, []string{
			"a:a1 b*:b1,b4,b5,b6 d:d1", "a:a1 b*:b1 d:d1", "a:a1 b*:b1,b4 d:d1",
			"a:a1 b*:b1,b4,b5 d:d1",
		}},
		{"testNotFollowedByAnyBeforeOneOrMoreCombinations", notFbyBeforeOneOrMore(false, true, false), nfbData3, []string{
			"a:a1 b*:b1,b4,b5,b6 d:d1", "a:a1 b*:b1 d:d1", "a:a1 b*:b1,b6 d:d1",
			"a:a1 b*:b1,b5 d:d1", "a:a1 b*:b1,b5,b6 d:d1", "a:a1 b*:b1,b4 d:d1",
			"a:a1 b*:b1,b4,b6 d:d1", "a:a1 b*:b1,b4,b5 d:d1",
		}},
		{"testNotFollowedByBeforeOneOrMoreEager", notFbyBeforeOneOrMore(true, false, false), nfbData3, []string{
			"a:a1 b*:b1,b4,b5,b6 d:d1", "a:a1 b*:b1 d:d1", "a:a1 b*:b1,b4 d:d1",
			"a:a1 b*:b1,b4,b5 d:d1",
		}},
		{"testNotFollowedByBeforeOneOrMoreCombinations", notFbyBeforeOneOrMore(false, false, false), nfbData3, []string{
			"a:a1 b*:b1,b4,b5,b6 d:d1", "a:a1 b*:b1 d:d1", "a:a1 b*:b1,b6 d:d1",
			"a:a1 b*:b1,b5 d:d1", "a:a1 b*:b1,b5,b6 d:d1", "a:a1 b*:b1,b4 d:d1",
			"a:a1 b*:b1,b4,b6 d:d1", "a:a1 b*:b1,b4,b5 d:d1",
		}},
		{"testNotFollowedByBeforeZeroOrMoreEagerSkipTillNext", notFbyBeforeOneOrMore(true, false, true), nfbData3, []string{
			"a:a1 b*:b1,b4,b5,b6 d:d1", "a:a1 b*:b1 d:d1", "a:a1 b*:b1,b4 d:d1",
			"a:a1 b*:b1,b4,b5 d:d1",
		}},
		{"testNotFollowedByBeforeZeroOrMoreCombinationsSkipTillNext", notFbyBeforeOneOrMore(false, false, true), nfbData3, []string{
			"a:a1 b*:b1,b4,b5,b6 d:d1", "a:a1 b*:b1 d:d1", "a:a1 b*:b1,b6 d:d1",
			"a:a1 b*:b1,b5 d:d1", "a:a1 b*:b1,b5,b6 d:d1", "a:a1 b*:b1,b4 d:d1",
			"a:a1 b*:b1,b4,b6 d:d1", "a:a1 b*:b1,b4,b5 d:d1",
		}},
		{"testNotFollowedByBeforeZeroOrMoreEagerSkipTillAny", notFbyBeforeOneOrMore(true, true, true), nfbData3, []string{
			"a:a1 b*:b1,b4,b5,b6 d:d1", "a:a1 b*:b1 d:d1", "a:a1 b*:b1,b4 d:d1",
			"a:a1 b*:b1,b4,b5 d:d1",
		}},
		{"testNotFollowedByBeforeZeroOrMoreCombinationsSkipTillAny", notFbyBeforeOneOrMore(false, true, true), nfbData3, []string{
			"a:a1 b*:b1,b4,b5,b6 d:d1", "a:a1 b*:b1 d:d1", "a:a1 b*:b1,b6 d:d1",
			"a:a1 b*:b1,b5 d:d1", "a:a1 b*:b1,b5,b6 d:d1", "a:a1 b*:b1,b4 d:d1",
			"a:a1 b*:b1,b4,b6 d:d1", "a:a1 b*:b1,b4,b5 d:d1",
		}},
		// Absence at the end: a2 (t=4) sees no b before 4+3=7; the match is
		// released by the next event (b2 at 10) with the deadline as its time.
		{"testNotFollowedByWithinFirstAndLastAtEnd", patW(NoSkip, 3, begin("a", a), notFby("b", b)),
			"a1@1 b1@2 a2@4 c1@5 b2@10 a3@11 b3@13", []string{"a:a2 @7"}},
		{"testNotFollowedByWithinPreviousAndCurrentAtEnd", pat(NoSkip, begin("a", a), within(notFby("b", b), 3)),
			"a1@1 b1@2 a2@4 c1@5 b2@10 a3@11 b3@13", []string{"a:a2 @7"}},
		{"testNotFollowByBeforeTimesWithin", patW(NoSkip, 3, begin("a", a), notFby("b", b), times(fby("c", c), 0, 2)),
			"a1@1 b1@2 a2@10 c1@11 c2@12 a3@20 c3@21 c4@24", []string{
				"a:a1", "a:a2", "a:a2 c:c1", "a:a2 c:c1,c2", "a:a3", "a:a3 c:c3"}},
		{"testNotFollowedByWithinAtEndAfterMatch", patW(SkipPastLastEvent, 5,
			combinations(oneOrMore(begin("a", a))), fby("c", c), notFby("b", b)),
			"a1@1 a2@2 a3@3 c1@4 c2@10", []string{"a:a1,a2,a3 c:c1"}},
	})
}

// Negation in every position, with vigil's release rules for absence at the end.
func TestNegationPositions(t *testing.T) {
	a, b, c := is("a"), is("b"), is("c")
	runCases(t, []tcase{
		{"not_next in the middle", pat(NoSkip, begin("a", a), notNext("x", b), fby("c", c)),
			"a1 b1 c1 a2 d1 c2", []string{"a:a2 c:c2"}},
		{"not_followed_by in the middle", pat(NoSkip, begin("a", a), notFby("x", b), fby("c", c)),
			"a1 d1 b1 c1 a2 d2 c2", []string{"a:a2 c:c2"}},
		{"not_next at the end", pat(NoSkip, begin("a", a), notNext("x", b)),
			"a1 b1 a2 c1 a3", []string{"a:a2"}},
		// a1 at 10: no b before 20; released by the watermark at 20, not 19.
		{"not_followed_by at the end, watermark", patW(NoSkip, 10, begin("a", a), notFby("x", b)),
			"a1@10 !19 !20", []string{"a:a1 @20"}},
		{"not_followed_by at the end, b inside the window", patW(NoSkip, 10, begin("a", a), notFby("x", b)),
			"a1@10 b1@19 !100", nil},
		// A b exactly at the deadline comes too late to cancel: the match is
		// released before the event is processed.
		{"not_followed_by at the end, b at the deadline", patW(NoSkip, 10, begin("a", a), notFby("x", b)),
			"a1@10 b1@20", []string{"a:a1 @20"}},
		{"not_followed_by at the end, several starts", patW(NoSkip, 10, begin("a", a), notFby("x", b)),
			"a1@1 a2@5 b1@8 a3@9 !30", []string{"a:a3 @19"}},
		// As in FlinkCEP only partial matches that reached the Pending state
		// (by a later event) are released: a1 c1 c2 still sits in the loop
		// when the window ends and is dropped.
		{"not_followed_by at the end after a loop", patW(NoSkip, 10, begin("a", a), oneOrMore(fby("c", c)), notFby("x", b)),
			"a1@1 c1@2 c2@3 !11", []string{"a:a1 c:c1 @11"}},
		{"not_followed_by at the end after a loop, later event", patW(NoSkip, 10, begin("a", a), oneOrMore(fby("c", c)), notFby("x", b)),
			"a1@1 c1@2 c2@3 d1@4 !11", []string{"a:a1 c:c1,c2 @11", "a:a1 c:c1 @11"}},
		{"not_followed_by at the end, skip past last", patW(SkipPastLastEvent, 10, begin("a", a), notFby("x", b)),
			"a1@1 a2@2 !50", []string{"a:a1 @11", "a:a2 @12"}},
		// Stage within only: the deadline is the previous event + the stage's within.
		{"not_followed_by at the end with stage within", pat(NoSkip, begin("a", a), fby("c", c), within(notFby("x", b), 5)),
			"a1@1 c1@10 !14 !15", []string{"a:a1 c:c1 @15"}},
		{"not_followed_by at the end with stage within, b inside the gap", pat(NoSkip, begin("a", a), within(notFby("x", b), 5)),
			"a1@1 b1@5 !100", nil},
		{"not_followed_by at the end with stage within, b at the deadline", pat(NoSkip, begin("a", a), within(notFby("x", b), 5)),
			"a1@1 b1@6", []string{"a:a1 @6"}},
		{"not_followed_by at the end with stage within, several starts", pat(NoSkip, begin("a", a), within(notFby("x", b), 5)),
			"a1@1 a2@4 b1@5 a3@7 !20", []string{"a:a3 @12"}},
		{"not_followed_by at the end with stage within, skip past last", pat(SkipPastLastEvent, begin("a", a), within(notFby("x", b), 5)),
			"a1@1 a2@2 !50", []string{"a:a1 @6", "a:a2 @7"}},
		// Both windows: the earliest deadline confirms the absence.
		{"not_followed_by at the end with both windows, rule's first", patW(NoSkip, 8, begin("a", a), fby("c", c), within(notFby("x", b), 5)),
			"a1@1 c1@6 !9 !100", []string{"a:a1 c:c1 @9"}},
		{"not_followed_by at the end with both windows, stage's first", patW(NoSkip, 8, begin("a", a), fby("c", c), within(notFby("x", b), 5)),
			"a1@1 c1@2 !7 !100", []string{"a:a1 c:c1 @7"}},
	})
}

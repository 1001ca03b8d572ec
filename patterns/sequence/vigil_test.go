package sequence

import (
	"strings"
	"testing"

	"github.com/vigilhq/vigil/event"
)

func TestWindows(t *testing.T) {
	a, b := is("a"), is("b")
	start, middle, end := is("start"), is("middle"), is("end")
	runCases(t, []tcase{
		// NFAITCase.testSimplePatternWithTimeWindowNFA: start1 (t=1) expires
		// at 11 = 1 + 10, exactly when end1 arrives.
		{"testSimplePatternWithTimeWindowNFA", patW(NoSkip, 10, begin("start", start), fby("middle", middle), fby("end", end)),
			"start1@1 start2@2 middle1@3 foobar1@4 end1@11 end2@13", []string{"start:start2 middle:middle1 end:end1"}},
		{"window: last - first < within holds", patW(NoSkip, 10, begin("a", a), fby("b", b)),
			"a1@0 b1@9", []string{"a:a1 b:b1 @9"}},
		{"window: exactly first + within is outside", patW(NoSkip, 10, begin("a", a), fby("b", b)),
			"a1@0 b1@10", nil},
		{"window: the watermark expires partial matches", patW(NoSkip, 10, begin("a", a), fby("b", b)),
			"a1@0 !10 b1@10", nil},
		{"stage within: gap to the previous event", pat(NoSkip, begin("a", a), fby("c", is("c")), within(fby("b", b), 5)),
			"a1@0 c1@10 b1@14", []string{"a:a1 c:c1 b:b1"}},
		{"stage within: gap of exactly within is outside", pat(NoSkip, begin("a", a), within(fby("b", b), 5)),
			"a1@0 b1@5", nil},
		{"stage within on a loop: only the gap to the stage's first event", pat(NoSkip, begin("a", a), within(oneOrMore(fby("b", b)), 5)),
			"a1@0 b1@4 b2@50 a2@60 b3@70", []string{"a:a1 b:b1", "a:a1 b:b1,b2", "a:a1 b:b1,b2,b3"}},
		{"stage within and pattern within", patW(NoSkip, 20, begin("a", a), fby("c", is("c")), within(fby("b", b), 5)),
			"a1@0 c1@10 b1@14 a2@30 c2@31 b2@60", []string{"a:a1 c:c1 b:b1"}},
	})
}

func TestEqualTimestamps(t *testing.T) {
	a, b := is("a"), is("b")
	runCases(t, []tcase{
		{"processed in the given order", pat(NoSkip, begin("a", a), fby("b", b)),
			"a1@5 a2@5 b1@5 b2@5", []string{"a:a1 b:b1", "a:a2 b:b1"}},
		{"skip past last with equal times", pat(SkipPastLastEvent, begin("a", a), fby("b", b)),
			"a1@5 a2@5 b1@5 a3@5 b2@5", []string{"a:a1 b:b1", "a:a3 b:b2"}},
		{"window with equal times", patW(NoSkip, 1, begin("a", a), fby("b", b)),
			"a1@5 b1@5 a2@5 b2@6", []string{"a:a1 b:b1"}},
	})
}

// Context: Matched and Prev are FlinkCEP's ctx.getEventsForPattern.
func TestContext(t *testing.T) {
	// The documentation's iterative condition: the sum of the prices taken
	// by "middle" plus the current one stays below 5.
	sumBelow5 := func(ev *event.Event, ctx Context) bool {
		if !strings.HasPrefix(ev.ID, "foo") {
			return false
		}
		sum := price(ev)
		for _, e := range ctx.Matched("middle") {
			sum += price(e)
		}
		return sum < 5
	}
	rising := func(ev *event.Event, ctx Context) bool {
		p := ctx.Prev()
		return p != nil && is("b")(ev, ctx) && price(ev) > price(p)
	}
	var sawNilPrev bool
	firstPrev := func(ev *event.Event, ctx Context) bool {
		if ctx.Prev() == nil && ctx.Matched("a") == nil {
			sawNilPrev = true
		}
		return is("a")(ev, ctx)
	}
	runCases(t, []tcase{
		{"sum of matched prices", pat(NoSkip, begin("start", is("s")), oneOrMore(fby("middle", sumBelow5)), fby("end", is("e"))),
			"s1 foo1#1 foo2#2 foo3#3 e1", []string{
				"start:s1 middle:foo1,foo2 end:e1", "start:s1 middle:foo1 end:e1"}},
		{"prev: strictly rising prices", pat(NoSkip, begin("a", is("a")), oneOrMore(next("b", rising))),
			"a1#1 b1#2 b2#3 b3#1", []string{"a:a1 b:b1", "a:a1 b:b1,b2"}},
		{"matched of another stage", pat(NoSkip, begin("a", is("a")), fby("b", func(ev *event.Event, ctx Context) bool {
			m := ctx.Matched("a")
			return is("b")(ev, ctx) && len(m) == 1 && price(m[0]) == price(ev)
		})), "a1#1 b1#2 b2#1", []string{"a:a1 b:b2"}},
		{"unknown stage", pat(NoSkip, begin("a", is("a")), fby("b", func(ev *event.Event, ctx Context) bool {
			return is("b")(ev, ctx) && ctx.Matched("nope") == nil
		})), "a1 b1", []string{"a:a1 b:b1"}},
	})
	run(t, pat(NoSkip, begin("a", firstPrev)), "a1", false)
	if !sawNilPrev {
		t.Error("the start state's context must have no Prev and no Matched events")
	}
}

func TestManyKeys(t *testing.T) {
	n, err := Compile(patW(SkipPastLastEvent, 100, begin("a", is("a")), fby("b", is("b"))))
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]*State{"k1": n.NewState(), "k2": n.NewState(), "k3": n.NewState()}
	var got []string
	feed := func(key, id string, ts int64) {
		n.Advance(states[key], &event.Event{ID: id, Time: ts}, func(m Match) { got = append(got, key+" "+fmtMatch(m, false)) })
	}
	feed("k1", "a1", 1)
	feed("k2", "a2", 2)
	feed("k2", "b1", 3)
	feed("k3", "b2", 4)
	feed("k1", "b3", 5)
	want := []string{"k2 a:a2 b:b1", "k1 a:a1 b:b3"}
	if !equalStrings(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
	for k, s := range states {
		if s.PartialMatches() != 0 {
			t.Errorf("%s holds %d partial matches", k, s.PartialMatches())
		}
	}
}

func TestMaxPartialMatches(t *testing.T) {
	p := pat(NoSkip, begin("a", is("a")), fbyAny("b", is("b")))
	p.MaxPartialMatches = 2
	n, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := n.NewState()
	var got []string
	emit := func(m Match) { got = append(got, fmtMatch(m, false)) }
	for _, in := range parseEvents(t, "a1 a2 a3") {
		n.Advance(s, in.ev, emit)
	}
	if s.PartialMatches() != 2 || s.Evicted() != 1 {
		t.Fatalf("partial %d evicted %d, want 2 and 1", s.PartialMatches(), s.Evicted())
	}
	n.Advance(s, &event.Event{ID: "b1", Time: 10}, emit)
	if want := []string{"a:a2 b:b1", "a:a3 b:b1"}; !equalStrings(got, want) {
		t.Errorf("got %v want %v", got, want)
	}

	// A completed match waiting for an older partial match (skip strategy)
	// counts against the bound; evicting the old partial match releases it.
	p = pat(SkipToNext, begin("a", is("a")), fby("b", func(ev *event.Event, ctx Context) bool {
		return is("b")(ev, ctx) && price(ev) == price(ctx.Matched("a")[0])
	}))
	p.MaxPartialMatches = 1
	got = run(t, p, "a1#1 a2#2 b1#2", false)
	if want := []string{"a:a2 b:b1"}; !equalStrings(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

// Memory stays bounded: with a window everything expires, and the shared
// prefix of branches is not copied.
func TestStateIsReleased(t *testing.T) {
	n, err := Compile(patW(NoSkip, 10, begin("a", is("a")), combinations(oneOrMore(fbyAny("b", is("b"))))))
	if err != nil {
		t.Fatal(err)
	}
	s := n.NewState()
	emit := func(Match) {}
	for _, in := range parseEvents(t, "a1@0 b1@1 b2@2 b3@3 b4@4") {
		n.Advance(s, in.ev, emit)
	}
	if s.PartialMatches() == 0 {
		t.Fatal("expected partial matches")
	}
	if d, ok := n.NextDeadline(s); !ok || d != 10 {
		t.Fatalf("NextDeadline = %d, %v; want 10, true", d, ok)
	}
	n.AdvanceTime(s, 10, emit)
	if s.PartialMatches() != 0 {
		t.Fatalf("%d partial matches left after the window", s.PartialMatches())
	}
	if _, ok := n.NextDeadline(s); ok {
		t.Fatal("no deadline expected")
	}
}

func TestAbsenceDeadline(t *testing.T) {
	n, err := Compile(patW(SkipPastLastEvent, 10, begin("a", is("a")), notFby("b", is("b"))))
	if err != nil {
		t.Fatal(err)
	}
	s := n.NewState()
	var got []string
	emit := func(m Match) { got = append(got, fmtMatch(m, true)) }
	n.Advance(s, &event.Event{ID: "a1", Time: 3}, emit)
	d, ok := n.NextDeadline(s)
	if !ok || d != 13 {
		t.Fatalf("NextDeadline = %d, %v; want 13", d, ok)
	}
	n.AdvanceTime(s, 12, emit)
	if len(got) != 0 {
		t.Fatalf("released early: %v", got)
	}
	n.AdvanceTime(s, 13, emit)
	if want := []string{"a:a1 @13"}; !equalStrings(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	if s.PartialMatches() != 0 {
		t.Fatal("state not released")
	}
}

package sequence

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/event"
)

// Test vocabulary.
//
// Events are written as space separated tokens "id[@time][#price]": the id is
// also the event's name, conditions look at it ("a1" has name "a1" and type
// "a"). Without @time an event comes 1ms after the previous one (the first
// at 1). A token "!t" advances the watermark to t (NFA.AdvanceTime).
//
// A match is written "stage:id,id stage:id", stages in pattern order; a
// trailing "@t" also checks Match.Time.

type tcase struct {
	name    string
	pattern Pattern
	events  string
	want    []string
}

type tinput struct {
	ev        *event.Event // nil: watermark
	watermark int64
}

func parseEvents(t testing.TB, s string) []tinput {
	t.Helper()
	var out []tinput
	var now int64
	for i, tok := range strings.Fields(s) {
		if strings.HasPrefix(tok, "!") {
			w, err := strconv.ParseInt(tok[1:], 10, 64)
			if err != nil {
				t.Fatalf("bad watermark %q", tok)
			}
			out = append(out, tinput{watermark: w})
			continue
		}
		// id, then "@time" and "#price" in any order
		id, price := tok, 0.0
		now++
		for {
			j := strings.LastIndexAny(id, "@#")
			if j < 0 {
				break
			}
			v := id[j+1:]
			switch id[j] {
			case '@':
				ts, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("bad time in %q", tok)
				}
				now = ts
			case '#':
				p, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("bad price in %q", tok)
				}
				price = p
			}
			id = id[:j]
		}
		out = append(out, tinput{ev: &event.Event{
			ID:     id,
			Time:   now,
			Seq:    uint64(i),
			Fields: map[string]any{"type": typeOf(id), "price": price},
		}})
	}
	return out
}

// typeOf is the id without its trailing digits: "ab12" -> "ab".
func typeOf(id string) string {
	return strings.TrimRight(id, "0123456789")
}

func fmtMatch(m Match, withTime bool) string {
	parts := make([]string, 0, len(m.Stages)+1)
	for _, se := range m.Stages {
		ids := make([]string, len(se.Events))
		for i, e := range se.Events {
			ids[i] = e.ID
		}
		parts = append(parts, se.Stage+":"+strings.Join(ids, ","))
	}
	if withTime {
		parts = append(parts, fmt.Sprintf("@%d", m.Time))
	}
	return strings.Join(parts, " ")
}

// run feeds the events to a fresh State and returns the matches.
func run(t testing.TB, p Pattern, events string, withTime bool) []string {
	t.Helper()
	n, err := Compile(p)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	st := n.NewState()
	var got []string
	emit := func(m Match) { got = append(got, fmtMatch(m, withTime)) }
	for _, in := range parseEvents(t, events) {
		if in.ev == nil {
			n.AdvanceTime(st, in.watermark, emit)
		} else {
			n.Advance(st, in.ev, emit)
		}
	}
	return got
}

func runCases(t *testing.T, cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			withTime := false
			for _, w := range tc.want {
				if strings.Contains(w, "@") {
					withTime = true
				}
			}
			got := run(t, tc.pattern, tc.events, withTime)
			if !equalStrings(got, tc.want) {
				t.Errorf("events %q\n got  %s\n want %s", tc.events, fmtList(got), fmtList(tc.want))
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func fmtList(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	return "[" + strings.Join(l, " | ") + "]"
}

// Conditions.

// has accepts events whose name contains any of the substrings, like the
// FlinkCEP tests' value.getName().contains(...).
func has(subs ...string) Condition {
	return func(ev *event.Event, _ Context) bool {
		for _, s := range subs {
			if strings.Contains(ev.ID, s) {
				return true
			}
		}
		return false
	}
}

// is accepts events of the given type (name without trailing digits), like
// value.getName().equals(...).
func is(types ...string) Condition {
	return func(ev *event.Event, _ Context) bool {
		ty := typeOf(ev.ID)
		for _, s := range types {
			if ty == s {
				return true
			}
		}
		return false
	}
}

func and(a, b Condition) Condition {
	return func(ev *event.Event, ctx Context) bool { return a(ev, ctx) && b(ev, ctx) }
}

func price(ev *event.Event) float64 { return ev.Fields["price"].(float64) }

// Stage constructors.

func st(name string, k Kind, where Condition) Stage { return Stage{Name: name, Kind: k, Where: where} }

func begin(name string, where Condition) Stage { return st(name, Begin, where) }
func next(name string, where Condition) Stage  { return st(name, Next, where) }
func fby(name string, where Condition) Stage   { return st(name, FollowedBy, where) }
func fbyAny(name string, where Condition) Stage {
	return st(name, FollowedByAny, where)
}
func notNext(name string, where Condition) Stage { return st(name, NotNext, where) }
func notFby(name string, where Condition) Stage  { return st(name, NotFollowedBy, where) }

func group(name string, k Kind, stages ...Stage) Stage {
	return Stage{Name: name, Kind: k, Group: stages}
}

// Stage modifiers.

func times(s Stage, min, max int) Stage { s.Min, s.Max = min, max; return s }
func oneOrMore(s Stage) Stage           { s.Min, s.Max = 1, Unbounded; return s }
func optional(s Stage) Stage            { s.Optional = true; return s }
func greedy(s Stage) Stage              { s.Greedy = true; return s }
func consecutive(s Stage) Stage         { s.Inner = Strict; return s }
func combinations(s Stage) Stage        { s.Inner = NonDeterministic; return s }
func until(s Stage, c Condition) Stage  { s.Until = c; return s }
func within(s Stage, ms int64) Stage    { s.Within = ms; return s }

func pat(skip SkipKind, stages ...Stage) Pattern {
	return Pattern{Stages: stages, Skip: Skip{Kind: skip}}
}

func patW(skip SkipKind, w int64, stages ...Stage) Pattern {
	return Pattern{Stages: stages, Skip: Skip{Kind: skip}, Within: w}
}

func skipTo(k SkipKind, stage string, stages ...Stage) Pattern {
	return Pattern{Stages: stages, Skip: Skip{Kind: k, Stage: stage}}
}

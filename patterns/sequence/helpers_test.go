package sequence

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/wire"
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

// run feeds the events to a fresh State and returns the matches. Besides
// the plain run it checks Match.Last, and runs the input differentially
// (roundTrips): cut at every position, the State is encoded, decoded into a
// second NFA compiled from the same pattern and continued there, and the
// matches must be exactly those of the uninterrupted run.
func run(t testing.TB, p Pattern, events string, withTime bool) []string {
	t.Helper()
	n, err := Compile(p)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	inputs := parseEvents(t, events)
	st := n.NewState()
	var got, exact []string
	emit := func(m Match) {
		checkLast(t, m)
		got = append(got, fmtMatch(m, withTime))
		exact = append(exact, fmtExact(m))
	}
	feed(n, st, inputs, emit)
	roundTrips(t, p, inputs, exact, st)
	return got
}

// feed gives the inputs to st.
func feed(n *NFA, st *State, inputs []tinput, emit func(Match)) {
	for _, in := range inputs {
		if in.ev == nil {
			n.AdvanceTime(st, in.watermark, emit)
		} else {
			n.Advance(st, in.ev, emit)
		}
	}
}

// fmtExact formats everything a Match says: stages, events (id and input
// position), time and last event.
func fmtExact(m Match) string {
	var b strings.Builder
	for _, se := range m.Stages {
		b.WriteString(se.Stage + ":")
		for i, e := range se.Events {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s#%d", e.ID, e.Seq)
		}
		b.WriteByte(' ')
	}
	last := "<nil>"
	if m.Last != nil {
		last = fmt.Sprintf("%s#%d", m.Last.ID, m.Last.Seq)
	}
	fmt.Fprintf(&b, "@%d last=%s", m.Time, last)
	return b.String()
}

// checkLast checks Match.Last: the match's event that came last (inputs
// number their events in arrival order in Seq).
func checkLast(t testing.TB, m Match) {
	t.Helper()
	var want *event.Event
	for _, se := range m.Stages {
		for _, e := range se.Events {
			if want == nil || e.Seq > want.Seq {
				want = e
			}
		}
	}
	if m.Last != want {
		t.Errorf("match %s: Last is %v, want %s", fmtMatch(m, true), m.Last, want.ID)
	}
}

// refs numbers the events of inputs for EncodeState and resolves the
// numbers for DecodeState.
type refs struct {
	num map[*event.Event]uint64
	evs []*event.Event // evs[num-1]
}

func newRefs(inputs []tinput) *refs {
	r := &refs{num: map[*event.Event]uint64{}}
	for _, in := range inputs {
		if in.ev != nil {
			r.evs = append(r.evs, in.ev)
			r.num[in.ev] = uint64(len(r.evs))
		}
	}
	return r
}

func (r *refs) ref(ev *event.Event) uint64 {
	n, ok := r.num[ev]
	if !ok {
		panic("EncodeState: an event that was never given to the NFA")
	}
	return n
}

func (r *refs) event(n uint64) (*event.Event, bool) {
	if n == 0 || n > uint64(len(r.evs)) {
		return nil, false
	}
	return r.evs[n-1], true
}

func encode(n *NFA, st *State, r *refs) []byte {
	var e wire.Enc
	n.EncodeState(&e, st, r.ref)
	return e.Bytes()
}

// roundTrip encodes st with n and decodes it with n2; the decoded State
// must encode to the same bytes.
func roundTrip(t testing.TB, n, n2 *NFA, st *State, r *refs) *State {
	t.Helper()
	b := encode(n, st, r)
	st2, err := n2.DecodeState(wire.NewDec(b), r.event)
	if err != nil {
		t.Fatalf("DecodeState: %v", err)
	}
	if b2 := encode(n2, st2, r); !bytes.Equal(b, b2) {
		t.Fatalf("decoded State encodes differently:\n %x\n %x", b, b2)
	}
	if st2.PartialMatches() != st.PartialMatches() || st2.Evicted() != st.Evicted() {
		t.Fatalf("decoded State: %d partial, %d evicted; want %d, %d", st2.PartialMatches(), st2.Evicted(), st.PartialMatches(), st.Evicted())
	}
	d1, ok1 := n.NextDeadline(st)
	d2, ok2 := n2.NextDeadline(st2)
	if d1 != d2 || ok1 != ok2 {
		t.Fatalf("decoded State: NextDeadline %d %v, want %d %v", d2, ok2, d1, ok1)
	}
	return st2
}

// roundTrips runs inputs cut at every position k: the first k inputs on a
// State of one NFA, a round trip through EncodeState/DecodeState into a
// second NFA compiled from p, the rest there. The matches (fmtExact) must
// be want, the matches of the uninterrupted run whose final State is final.
func roundTrips(t testing.TB, p Pattern, inputs []tinput, want []string, final *State) {
	t.Helper()
	n1, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if n1.Fingerprint() != n2.Fingerprint() {
		t.Fatalf("two compilations, two fingerprints: %s %s", n1.Fingerprint(), n2.Fingerprint())
	}
	r := newRefs(inputs)
	wantFinal := encode(n1, final, r)
	for k := 0; k <= len(inputs); k++ {
		var got []string
		emit := func(m Match) { got = append(got, fmtExact(m)) }
		st := n1.NewState()
		feed(n1, st, inputs[:k], emit)
		st2 := roundTrip(t, n1, n2, st, r)
		feed(n2, st2, inputs[k:], emit)
		if !equalStrings(got, want) {
			t.Fatalf("cut after %d inputs:\n got  %s\n want %s", k, fmtList(got), fmtList(want))
		}
		if b := encode(n2, st2, r); !bytes.Equal(b, wantFinal) {
			t.Fatalf("cut after %d inputs: the final State differs:\n %x\n %x", k, b, wantFinal)
		}
	}
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

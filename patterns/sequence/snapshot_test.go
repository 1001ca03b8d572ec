package sequence

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/wire"
)

// The snapshot tests: every table case already round-trips its State at
// every cut position (helpers_test.go run); these add long random streams,
// corrupt payloads, a fuzz target and the fingerprint.

// samePriceAs accepts an event of type typ whose price equals that of the
// first event taken by stage (a condition that looks at the partial match).
func samePriceAs(typ, stage string) Condition {
	return func(ev *event.Event, ctx Context) bool {
		if typeOf(ev.ID) != typ {
			return false
		}
		m := ctx.Matched(stage)
		return len(m) > 0 && price(m[0]) == price(ev)
	}
}

// randomPatterns are patterns with followed_by_any, times, optional stages,
// groups, absence, windows, every skip strategy and MaxPartialMatches.
func randomPatterns() map[string]Pattern {
	a, b, c, d := is("a"), is("b"), is("c"), is("d")
	withMax := func(p Pattern, max int) Pattern { p.MaxPartialMatches = max; return p }
	return map[string]Pattern{
		"any times combinations": withMax(patW(NoSkip, 40,
			begin("a", a), combinations(times(fbyAny("b", b), 1, 3)), fby("c", c)), 20),
		"optional times, skip to next": withMax(pat(SkipToNext,
			begin("a", a), optional(times(fby("b", b), 2, 3)), fbyAny("c", c)), 12),
		"loop then absence": withMax(patW(SkipPastLastEvent, 20,
			begin("a", a), oneOrMore(fbyAny("b", b)), notFby("d", d)), 15),
		"skip to last, context": withMax(Pattern{Stages: []Stage{
			begin("a", a), times(fbyAny("b", b), 1, 4), fby("c", samePriceAs("c", "a"))},
			Skip: Skip{Kind: SkipToLast, Stage: "b"}}, 30),
		"group, skip to first": withMax(Pattern{Stages: []Stage{
			begin("a", a), oneOrMore(group("g", FollowedByAny, begin("x", b), fby("y", c))), fby("d", d)},
			Skip: Skip{Kind: SkipToFirst, Stage: "x"}, Within: 60}, 25),
		"greedy, not next": withMax(pat(NoSkip,
			begin("a", a), greedy(oneOrMore(fby("b", b))), notNext("c", c), fby("d", d)), 40),
	}
}

// randomInputs is a stream of events of types a..d and x (ids numbered per
// type, prices 0..2, times increasing by 0..2ms) with watermarks.
func randomInputs(r *rand.Rand, n int) []tinput {
	types := []string{"a", "b", "c", "d", "x"}
	counts := map[string]int{}
	var out []tinput
	var now int64
	for i := 0; i < n; i++ {
		if r.IntN(20) == 0 {
			w := now + int64(r.IntN(4))
			out = append(out, tinput{watermark: w})
			now = w
			continue
		}
		now += int64(r.IntN(3))
		typ := types[r.IntN(len(types))]
		counts[typ]++
		out = append(out, tinput{ev: &event.Event{
			ID:     fmt.Sprintf("%s%d", typ, counts[typ]),
			Time:   now,
			Seq:    uint64(i),
			Fields: map[string]any{"type": typ, "price": float64(r.IntN(3))},
		}})
	}
	return out
}

// copyRefs resolves refs to copies of the events, one per ref, as a restore
// from a snapshot that stores the events would.
type copyRefs struct {
	*refs
	copies map[uint64]*event.Event
}

func (r *copyRefs) event(n uint64) (*event.Event, bool) {
	if c, ok := r.copies[n]; ok {
		return c, true
	}
	ev, ok := r.refs.event(n)
	if !ok {
		return nil, false
	}
	c := &event.Event{ID: ev.ID, Time: ev.Time, Seq: ev.Seq, Fields: ev.Fields}
	r.copies[n] = c
	r.num[c] = n
	return c, true
}

func TestSnapshotRandomStreams(t *testing.T) {
	const streams, length, trials = 4, 400, 8
	for name, p := range randomPatterns() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n1, err := Compile(p)
			if err != nil {
				t.Fatal(err)
			}
			n2, err := Compile(p)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(len(name)), 7))
			var matches int
			var evicted uint64
			for s := 0; s < streams; s++ {
				inputs := randomInputs(rng, length)
				var want []string
				st := n1.NewState()
				feed(n1, st, inputs, func(m Match) {
					checkLast(t, m)
					want = append(want, fmtExact(m))
				})
				matches += len(want)
				evicted += st.Evicted()
				r := newRefs(inputs)
				wantFinal := encode(n1, st, r)
				for trial := 0; trial < trials; trial++ {
					// Round trips at a few random positions, alternating the
					// NFAs; half of the trials resolve refs to copies.
					cuts := map[int]bool{}
					for i := rng.IntN(6); i >= 0; i-- {
						cuts[rng.IntN(len(inputs)+1)] = true
					}
					var got []string
					emit := func(m Match) { got = append(got, fmtExact(m)) }
					tr := newRefs(inputs)
					cr := &copyRefs{refs: tr, copies: map[uint64]*event.Event{}}
					nfas := [2]*NFA{n1, n2}
					cur := 0
					st := n1.NewState()
					for k := 0; k <= len(inputs); k++ {
						if cuts[k] {
							b := encode(nfas[cur], st, tr)
							cur = 1 - cur
							resolve := tr.event
							if trial%2 == 1 {
								resolve = cr.event
							}
							st2, err := nfas[cur].DecodeState(wire.NewDec(b), resolve)
							if err != nil {
								t.Fatalf("stream %d, cut %d: %v", s, k, err)
							}
							if b2 := encode(nfas[cur], st2, tr); !bytes.Equal(b, b2) {
								t.Fatalf("stream %d, cut %d: the decoded State encodes differently", s, k)
							}
							st = st2
						}
						if k < len(inputs) {
							feed(nfas[cur], st, inputs[k:k+1], emit)
						}
					}
					if !equalStrings(got, want) {
						t.Fatalf("stream %d, cuts %v: %d matches, want %d\n got  %s\n want %s", s, cuts, len(got), len(want), fmtList(got), fmtList(want))
					}
					if trial%2 == 0 {
						if b := encode(n1, st, tr); !bytes.Equal(b, wantFinal) {
							t.Fatalf("stream %d, cuts %v: the final State differs", s, cuts)
						}
					}
				}
			}
			if matches == 0 {
				t.Error("the streams produce no match")
			}
			if evicted == 0 {
				t.Error("the streams evict no partial match")
			}
			t.Logf("%d matches, %d evictions", matches, evicted)
		})
	}
}

// snapshotSamples returns encodings of real States of p over random
// streams, with the refs that resolve them.
func snapshotSamples(n *NFA, seed uint64, count int) ([][]byte, *refs) {
	rng := rand.New(rand.NewPCG(seed, 1))
	inputs := randomInputs(rng, 200)
	r := newRefs(inputs)
	var out [][]byte
	st := n.NewState()
	for i := range inputs {
		feed(n, st, inputs[i:i+1], func(Match) {})
		if i%(len(inputs)/count) == 0 {
			out = append(out, bytes.Clone(encode(n, st, r)))
		}
	}
	return out, r
}

func fuzzPattern() Pattern {
	p := patW(SkipToNext, 25, begin("a", is("a")), times(fbyAny("b", is("b")), 1, 3), fby("c", is("c")), notFby("d", is("d")))
	p.MaxPartialMatches = 10
	return p
}

// drive feeds a few events and watermarks to st: a decoded State must never
// make the NFA panic.
func drive(n *NFA, st *State, r *refs) {
	emit := func(Match) {}
	for i, ev := range r.evs[:min(len(r.evs), 8)] {
		n.Advance(st, &event.Event{ID: ev.ID, Time: ev.Time + 1000, Seq: ev.Seq, Fields: ev.Fields}, emit)
		if i%3 == 0 {
			n.AdvanceTime(st, ev.Time+1000, emit)
		}
		n.NextDeadline(st)
		st.PartialMatches()
	}
	n.AdvanceTime(st, 1<<40, emit)
}

func TestDecodeStateTruncatedAndFlipped(t *testing.T) {
	n, err := Compile(fuzzPattern())
	if err != nil {
		t.Fatal(err)
	}
	samples, r := snapshotSamples(n, 3, 10)
	var longest []byte
	for _, b := range samples {
		if len(b) > len(longest) {
			longest = b
		}
	}
	if len(longest) < 100 {
		t.Fatalf("the samples are too small (%d bytes)", len(longest))
	}
	for _, b := range samples {
		for l := 0; l < len(b); l++ {
			st, err := n.DecodeState(wire.NewDec(b[:l]), r.event)
			if err == nil || st != nil || !errors.Is(err, wire.ErrCorrupt) {
				t.Fatalf("payload truncated to %d of %d bytes: %v, %v", l, len(b), st, err)
			}
		}
		// A byte more at the end.
		if _, err := n.DecodeState(wire.NewDec(append(bytes.Clone(b), 0)), r.event); !errors.Is(err, wire.ErrCorrupt) {
			t.Fatalf("a trailing byte: %v", err)
		}
	}
	// Flipped bytes: an error, or (where the byte is a free value, such as a
	// time) a State that encodes stably and that the NFA can drive. Never a panic. The frame checksum of package wire is
	// what detects the latter kind.
	detected, total := 0, 0
	for i := range longest {
		for _, mask := range []byte{0x01, 0x02, 0x10, 0x80, 0xff} {
			b := bytes.Clone(longest)
			b[i] ^= mask
			total++
			st, err := n.DecodeState(wire.NewDec(b), r.event)
			if err != nil {
				if !errors.Is(err, wire.ErrCorrupt) {
					t.Fatalf("byte %d ^ %#x: error %v does not wrap ErrCorrupt", i, mask, err)
				}
				detected++
				continue
			}
			// Accepted (an overlong varint may also encode back shorter):
			// the canonical encoding must be stable.
			b2 := encode(n, st, r)
			st2, err := n.DecodeState(wire.NewDec(b2), r.event)
			if err != nil {
				t.Fatalf("byte %d ^ %#x: accepted, but its encoding is not: %v", i, mask, err)
			}
			if b3 := encode(n, st2, r); !bytes.Equal(b2, b3) {
				t.Fatalf("byte %d ^ %#x: unstable re-encoding", i, mask)
			}
			drive(n, st, r)
		}
	}
	if _, err := n.DecodeState(wire.NewDec(append([]byte{2}, longest[1:]...)), r.event); err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("version 2: %v", err)
	}
	t.Logf("%d of %d flipped bytes detected by DecodeState", detected, total)
}

// Hand-made payloads, one problem each.
func TestDecodeStateErrors(t *testing.T) {
	n, err := Compile(pat(NoSkip, begin("a", is("a")), oneOrMore(fby("b", is("b")))))
	if err != nil {
		t.Fatal(err)
	}
	evs := []*event.Event{{ID: "a1", Time: 1}, {ID: "b1", Time: 2}}
	resolve := func(ref uint64) (*event.Event, bool) {
		if ref == 0 || ref > uint64(len(evs)) {
			return nil, false
		}
		return evs[ref-1], true
	}
	// A valid State of 2 events: a1 (node 1) and b1 (node 2).
	type nd struct{ stage, seq, ref, prev uint64 }
	type cp struct {
		state, node, startSeq        uint64
		startTime, prevTime, matchTm int64
	}
	start := uint64(n.start)
	loop := uint64(0)
	for i, s := range n.states {
		if s.typ == stNormal && strings.HasPrefix(s.name, "b") {
			loop = uint64(i)
			break
		}
	}
	okNodes := []nd{{0, 1, 1, 0}, {1, 2, 2, 1}}
	okPartial := []cp{{loop, 2, 1, 1, 2, 0}, {start, 0, 0, 0, 0, 0}}
	build := func(version, seq uint64, nodes []nd, partial, completed []cp, extra ...byte) []byte {
		var e wire.Enc
		e.Uvarint(version)
		e.Uvarint(seq)
		e.Uvarint(0)
		e.Uvarint(uint64(len(nodes)))
		for _, x := range nodes {
			e.Uvarint(x.stage)
			e.Uvarint(x.seq)
			e.Uvarint(x.ref)
			e.Uvarint(x.prev)
		}
		for _, q := range [][]cp{partial, completed} {
			e.Uvarint(uint64(len(q)))
			for _, c := range q {
				e.Uvarint(c.state)
				e.Uvarint(c.node)
				e.Uvarint(c.startSeq)
				e.Varint(c.startTime)
				e.Varint(c.prevTime)
				e.Varint(c.matchTm)
			}
		}
		return append(e.Bytes(), extra...)
	}
	if _, err := n.DecodeState(wire.NewDec(build(1, 2, okNodes, okPartial, nil)), resolve); err != nil {
		t.Fatalf("the valid payload: %v", err)
	}
	with := func(q []cp, i int, f func(*cp)) []cp {
		q = append([]cp(nil), q...)
		f(&q[i])
		return q
	}
	withNode := func(i int, f func(*nd)) []nd {
		q := append([]nd(nil), okNodes...)
		f(&q[i])
		return q
	}
	cases := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"empty", nil, "bad unsigned integer"},
		{"version 0", build(0, 2, okNodes, okPartial, nil), "unsupported version"},
		{"trailing bytes", build(1, 2, okNodes, okPartial, nil, 0), "unexpected bytes"},
		{"node count beyond the payload", append(build(1, 2, nil, nil, nil)[:3], 5), "count 5 exceeds"},
		{"huge node count", append(build(1, 2, nil, nil, nil)[:3], 0xff, 0xff, 0xff, 0xff, 0x0f), "count"},
		{"stage out of range", build(1, 2, withNode(1, func(x *nd) { x.stage = 2 }), okPartial, nil), "stage 2 out of range"},
		{"node seq 0", build(1, 2, withNode(0, func(x *nd) { x.seq = 0 }), okPartial, nil), "seq 0 outside"},
		{"node seq after the State's", build(1, 1, okNodes, okPartial, nil), "seq 2 outside 1..1"},
		{"prev not earlier", build(1, 2, withNode(0, func(x *nd) { x.prev = 1 }), okPartial, nil), "not an earlier node"},
		{"prev forward", build(1, 2, withNode(0, func(x *nd) { x.prev = 2 }), okPartial, nil), "not an earlier node"},
		{"seq not after prev", build(1, 2, withNode(1, func(x *nd) { x.seq = 1 }), okPartial, nil), "not after its prev"},
		{"unknown event ref", build(1, 2, withNode(1, func(x *nd) { x.ref = 9 }), okPartial, nil), "unknown event ref 9"},
		{"event ref 0", build(1, 2, withNode(0, func(x *nd) { x.ref = 0 }), okPartial, nil), "unknown event ref 0"},
		{"state out of range", build(1, 2, okNodes, with(okPartial, 0, func(c *cp) { c.state = 99 }), nil), "state 99 out of range"},
		{"node out of range", build(1, 2, okNodes, with(okPartial, 0, func(c *cp) { c.node = 3 }), nil), "node 3 out of range"},
		{"start seq mismatch", build(1, 2, okNodes, with(okPartial, 0, func(c *cp) { c.startSeq = 2 }), nil), "start seq 2"},
		{"no start match", build(1, 2, okNodes, okPartial[:1], nil), "0 start matches"},
		{"empty partial queue", build(1, 0, nil, nil, nil), "no start match"},
		{"two start matches", build(1, 2, okNodes, append(okPartial, okPartial[1]), nil), "2 start matches"},
		{"start match elsewhere", build(1, 2, okNodes, with(okPartial, 1, func(c *cp) { c.state = loop }), nil), "not the start match"},
		{"start match with a time", build(1, 2, okNodes, with(okPartial, 1, func(c *cp) { c.startTime = 5 }), nil), "not the start match"},
		{"start match among the completed", build(1, 2, okNodes, okPartial, okPartial[1:]), "not the start match"},
		{"heap order", build(1, 2, okNodes, []cp{okPartial[1], okPartial[0]}, nil), "heap order"},
		{"unused node", build(1, 2, okNodes, []cp{{loop, 1, 1, 1, 1, 0}, okPartial[1]}, nil), "node 1 is not used"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := n.DecodeState(wire.NewDec(tc.payload), resolve)
			if err == nil || st != nil {
				t.Fatalf("accepted: %v", st)
			}
			if !errors.Is(err, wire.ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want ErrCorrupt and %q", err, tc.want)
			}
		})
	}
}

func FuzzDecodeState(f *testing.F) {
	n, err := Compile(fuzzPattern())
	if err != nil {
		f.Fatal(err)
	}
	samples, r := snapshotSamples(n, 11, 20)
	for _, b := range samples {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := n.DecodeState(wire.NewDec(b), r.event)
		if err != nil {
			if st != nil || !errors.Is(err, wire.ErrCorrupt) {
				t.Fatalf("error %v with State %v", err, st)
			}
			return
		}
		// Accepted: canonical re-encoding decodes to the same, and the NFA
		// can drive the State.
		b2 := encode(n, st, r)
		st2, err := n.DecodeState(wire.NewDec(b2), r.event)
		if err != nil {
			t.Fatalf("re-encoded State: %v", err)
		}
		if b3 := encode(n, st2, r); !bytes.Equal(b2, b3) {
			t.Fatal("re-encoding is not stable")
		}
		drive(n, st, r)
	})
}

func TestFingerprint(t *testing.T) {
	a, b, c := is("a"), is("b"), is("c")
	base := func() Pattern {
		p := patW(SkipToNext, 100, begin("a", a), times(fbyAny("b", b), 1, 3), within(fby("c", c), 10))
		p.MaxPartialMatches = 50
		return p
	}
	fp := func(p Pattern) string {
		t.Helper()
		n, err := Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		return n.Fingerprint()
	}
	want := fp(base())
	if len(want) != 32 || strings.Trim(want, "0123456789abcdef") != "" {
		t.Fatalf("fingerprint %q is not 32 hex digits", want)
	}
	if got := fp(base()); got != want {
		t.Fatalf("same pattern, fingerprints %s and %s", got, want)
	}
	// Conditions are not part of it.
	p := base()
	p.Stages[1].Where = has("zz")
	p.Stages[2].Where = nil
	if got := fp(p); got != want {
		t.Errorf("other conditions: fingerprint changed")
	}
	changes := map[string]func(p *Pattern){
		"quantifier max":      func(p *Pattern) { p.Stages[1].Max = 4 },
		"quantifier min":      func(p *Pattern) { p.Stages[1].Min = 2 },
		"unbounded":           func(p *Pattern) { p.Stages[1].Max = Unbounded },
		"optional":            func(p *Pattern) { p.Stages[1].Optional = true },
		"greedy":              func(p *Pattern) { p.Stages[1].Greedy = true },
		"inner contiguity":    func(p *Pattern) { p.Stages[1].Inner = Strict },
		"stage kind":          func(p *Pattern) { p.Stages[1].Kind = FollowedBy },
		"pattern within":      func(p *Pattern) { p.Within = 101 },
		"no pattern within":   func(p *Pattern) { p.Within = 0 },
		"stage within":        func(p *Pattern) { p.Stages[2].Within = 11 },
		"skip kind":           func(p *Pattern) { p.Skip.Kind = NoSkip },
		"skip to first":       func(p *Pattern) { p.Skip = Skip{Kind: SkipToFirst, Stage: "b"} },
		"max partial matches": func(p *Pattern) { p.MaxPartialMatches = 51 },
		"stage name":          func(p *Pattern) { p.Stages[2].Name = "d" },
		"until":               func(p *Pattern) { p.Stages[1].Max = Unbounded; p.Stages[1].Until = c },
		"one more stage":      func(p *Pattern) { p.Stages = append(p.Stages, fby("d", c)) },
	}
	seen := map[string]string{want: "base"}
	for name, change := range changes {
		p := base()
		change(&p)
		got := fp(p)
		if other, dup := seen[got]; dup {
			t.Errorf("%s: same fingerprint as %s", name, other)
		}
		seen[got] = name
	}
	// Skip to first and to last of the same stage differ.
	p1, p2 := base(), base()
	p1.Skip = Skip{Kind: SkipToFirst, Stage: "b"}
	p2.Skip = Skip{Kind: SkipToLast, Stage: "b"}
	if fp(p1) == fp(p2) {
		t.Error("skip to first and skip to last: same fingerprint")
	}
	p2.Skip = Skip{Kind: SkipToFirst, Stage: "c"}
	if fp(p1) == fp(p2) {
		t.Error("skip to first b and c: same fingerprint")
	}
}

// Compilation is deterministic: the same pattern gives the same automaton,
// state for state (the compiler's maps are only looked up, never ranged
// over), so a State's indexes mean the same in every worker.
func TestCompileDeterministic(t *testing.T) {
	var patterns []Pattern
	for _, p := range randomPatterns() {
		patterns = append(patterns, p)
	}
	a, b := is("a"), is("b")
	patterns = append(patterns,
		pat(NoSkip, begin("a", a), oneOrMore(group("g", FollowedBy, begin("x", a), times(group("h", Next, begin("y", b)), 2, 2))), fby("c", b)),
		pat(NoSkip, begin("a", a), greedy(until(oneOrMore(fby("b", b)), a)), fby("c", a)),
		pat(NoSkip, begin("start", a), notFby("notPattern", b), optional(times(fbyAny("middle", a), 2, 2)), fby("end", b)),
	)
	for i, p := range patterns {
		n0, err := Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 20; j++ {
			n, _ := Compile(p)
			if n.dump() != n0.dump() || n.Fingerprint() != n0.Fingerprint() || n.start != n0.start {
				t.Fatalf("pattern %d: compilation %d differs:\n%s\nvs\n%s", i, j, n.dump(), n0.dump())
			}
		}
	}
}

func BenchmarkEncodeDecodeState(b *testing.B) {
	n, err := Compile(fuzzPattern())
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	inputs := randomInputs(rng, 60)
	r := newRefs(inputs)
	st := n.NewState()
	feed(n, st, inputs, func(Match) {})
	var e wire.Enc
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		n.EncodeState(&e, st, r.ref)
		if _, err := n.DecodeState(wire.NewDec(e.Bytes()), r.event); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.Len()), "bytes")
	b.ReportMetric(float64(st.PartialMatches()), "partial")
}

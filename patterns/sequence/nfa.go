package sequence

import (
	"fmt"
	"math"

	"github.com/vigilhq/vigil/event"
)

// NFA is a compiled pattern, shared by every key; all per-key data lives in
// State. Its automaton is immutable, but it keeps the working space of one
// call, so one goroutine uses it at a time: compile one per worker (its
// conditions are usually bound to that worker's expression evaluator anyway).
type NFA struct {
	stages     []string // leaf stage names, in pattern order; index = stage id
	states     []rstate
	start      int32
	window     int64 // Pattern.Within
	skip       SkipKind
	skipStage  int
	maxPartial int
	fp         string   // Fingerprint, computed by Compile
	sc         scratch  // working space: an NFA is used by one goroutine at a time
	snap       struct { // EncodeState's working space
		index       map[*node]uint64
		order, path []*node
	}
}

type rstate struct {
	name   string
	typ    stype
	window int64
	trans  []rtrans
}

type rtrans struct {
	act   action
	dst   int32
	stage int32 // stage of the source state (the stage a TAKE records)
	cond  *cexpr
}

func (n *NFA) build(last *pnode) (err error) {
	c := &compiler{
		used:        map[string]bool{},
		stopStates:  map[string]*cstate{},
		firstOfLoop: map[*pnode]bool{},
		original:    map[string]*cstate{},
		windowTime:  n.window,
	}
	defer func() {
		if r := recover(); r != nil {
			if r == errCycle {
				err = errCycle
				return
			}
			panic(r)
		}
	}()
	start := c.compile(last)
	idx := make(map[*cstate]int32, len(c.states))
	for i, s := range c.states {
		idx[s] = int32(i)
	}
	n.states = make([]rstate, len(c.states))
	for i, s := range c.states {
		rs := rstate{name: s.name, typ: s.typ, window: s.window, trans: make([]rtrans, len(s.trans))}
		for j, t := range s.trans {
			rs.trans[j] = rtrans{act: t.act, dst: idx[t.dst], stage: int32(t.src.stage), cond: t.cond}
		}
		n.states[i] = rs
	}
	n.start = idx[start]
	return nil
}

// Stages returns the leaf stage names in pattern order.
func (n *NFA) Stages() []string { return append([]string(nil), n.stages...) }

// dump describes the automaton, one state per line (for debugging).
func (n *NFA) dump() string {
	s := ""
	for i, st := range n.states {
		s += fmt.Sprintf("%d %s type=%d window=%d:", i, st.name, st.typ, st.window)
		for _, t := range st.trans {
			s += fmt.Sprintf(" %s->%s", [...]string{"take", "ignore", "proceed"}[t.act], n.states[t.dst].name)
		}
		s += "\n"
	}
	return s
}

// node is one event taken by a stage. Nodes are immutable and point to the
// previous taken event of the same partial match, so partial matches that
// branched from a common prefix share it (FlinkCEP's SharedBuffer), and the
// garbage collector frees the nodes no partial match references any more.
type node struct {
	stage int32
	seq   uint64 // order of the event within the key (FlinkCEP's EventId)
	ev    *event.Event
	prev  *node
}

// comp is a computation state (FlinkCEP ComputationState): a partial match
// waiting in an automaton state.
type comp struct {
	state     int32
	node      *node  // last taken event, nil for the start computation state
	startSeq  uint64 // 0: the start computation state (no start event)
	startTime int64
	prevTime  int64 // time of the last taken event
	matchTime int64 // completed matches: the match time
}

// State is the matching state of one key. It is plain data: partial matches
// and the events they reference, with automaton states as indexes. It does
// not point to its NFA: any NFA compiled from the same pattern (the same
// Fingerprint) can drive it, so a State outlives a ruleset update and can be
// saved and restored (EncodeState, DecodeState). The zero value is not
// usable; use NFA.NewState. A State must not be used concurrently.
type State struct {
	partial   pq // FlinkCEP NFAState.partialMatches (start state included)
	completed pq // NFAState.completedMatches (waiting for earlier partial matches)
	seq       uint64
	evicted   uint64
}

// scratch is the NFA's working space for one call, reused between calls
// and keys, so that a State holds only its logical content: with many keys,
// per-key buffers would dominate memory.
type scratch struct {
	next      pq
	potential pq
	out       []comp
	edges     []*rtrans
	stack     []int32
	ctx       condCtx
}

// NewState returns the initial state of a key.
func (n *NFA) NewState() *State {
	st := &State{}
	st.partial.offer(comp{state: n.start})
	return st
}

// PartialMatches returns the number of partial matches held, including
// complete matches waiting for an earlier partial match (skip strategies).
// 0 means the State holds nothing and can be dropped.
func (st *State) PartialMatches() int {
	c := len(st.completed.a)
	for i := range st.partial.a {
		if st.partial.a[i].startSeq != 0 {
			c++
		}
	}
	return c
}

// Evicted returns the number of partial matches evicted so far because of
// Pattern.MaxPartialMatches.
func (st *State) Evicted() uint64 { return st.evicted }

// NextDeadline returns the earliest time at which AdvanceTime would expire a
// partial match or release an absence match; false if there is none.
func (n *NFA) NextDeadline(st *State) (int64, bool) {
	best, ok := int64(math.MaxInt64), false
	for i := range st.partial.a {
		c := &st.partial.a[i]
		s := &n.states[c.state]
		if s.typ == stStart {
			continue
		}
		if s.window > 0 && c.prevTime+s.window < best {
			best, ok = c.prevTime+s.window, true
		}
		if n.window > 0 && c.startTime+n.window < best {
			best, ok = c.startTime+n.window, true
		}
	}
	return best, ok
}

// Advance feeds one event of the key. Events must come in (Time, arrival)
// order. Partial matches that the event's time expires are removed first
// (and absence matches whose deadline passed are emitted), then the event is
// processed. emit is called for every complete match, in FlinkCEP's order;
// it must not call back into the NFA with the same State.
func (n *NFA) Advance(st *State, ev *event.Event, emit func(Match)) {
	n.advanceTime(st, ev.Time, emit)
	n.process(st, ev, emit)
	n.enforceBound(st, emit)
}

// AdvanceTime tells the key that no event with a time below t will come:
// partial matches whose window ended by t are dropped, and absence matches
// (a pattern ending in NotFollowedBy) whose deadline is <= t are emitted.
func (n *NFA) AdvanceTime(st *State, t int64, emit func(Match)) {
	n.advanceTime(st, t, emit)
}

// advanceTime is FlinkCEP NFA.advanceTime.
func (n *NFA) advanceTime(st *State, t int64, emit func(Match)) {
	// Fast path: nothing times out. Rebuilding the queue would then keep its
	// layout unchanged (re-adding a heap in array order does not move
	// anything) and no completed match could be released.
	expired := false
	for i := range st.partial.a {
		if n.timedOut(&st.partial.a[i], t) {
			expired = true
			break
		}
	}
	if !expired {
		return
	}
	n.sc.next.reset()
	n.sc.potential.reset()
	for i := range st.partial.a {
		c := st.partial.a[i]
		if n.timedOut(&c, t) {
			s := &n.states[c.state]
			if s.typ == stPending {
				c.matchTime = n.deadline(&c, t)
				n.sc.potential.offer(c)
			}
			continue
		}
		n.sc.next.offer(c)
	}
	n.processMatches(st, &n.sc.next, emit)
	st.partial, n.sc.next = n.sc.next, st.partial
	n.sc.next.reset()
	n.sc.potential.reset()
}

func (n *NFA) timedOut(c *comp, t int64) bool {
	s := &n.states[c.state]
	if s.typ == stStart {
		return false
	}
	if s.window > 0 && t-c.prevTime >= s.window {
		return true
	}
	return n.window > 0 && t-c.startTime >= n.window
}

// deadline is the time at which an absence became certain: the earliest
// window end that has passed.
func (n *NFA) deadline(c *comp, t int64) int64 {
	d := int64(math.MaxInt64)
	if s := &n.states[c.state]; s.window > 0 && t-c.prevTime >= s.window {
		d = c.prevTime + s.window
	}
	if n.window > 0 && t-c.startTime >= n.window && c.startTime+n.window < d {
		d = c.startTime + n.window
	}
	return d
}

// process is FlinkCEP NFA.doProcess.
func (n *NFA) process(st *State, ev *event.Event, emit func(Match)) {
	st.seq++
	seq := st.seq
	n.sc.next.reset()
	n.sc.potential.reset()
	for i := range st.partial.a {
		cs := st.partial.a[i]
		out := n.computeNextStates(st, &cs, ev, seq)
		discard := false
		for j := range out {
			switch n.states[out[j].state].typ {
			case stFinal:
				out[j].matchTime = out[j].node.ev.Time
				n.sc.potential.offer(out[j])
			case stStop:
				discard = true
			}
		}
		if !discard {
			for j := range out {
				switch n.states[out[j].state].typ {
				case stFinal, stStop:
				default:
					n.sc.next.offer(out[j])
				}
			}
		}
	}
	n.processMatches(st, &n.sc.next, emit)
	st.partial, n.sc.next = n.sc.next, st.partial
	n.sc.next.reset()
	n.sc.potential.reset()
	clear(n.sc.out)
}

// processMatches is FlinkCEP NFA.processMatchesAccordingToSkipStrategy:
// completed matches are emitted in start order; with a skip strategy a
// match waits while a partial match that started earlier is alive, and
// each emitted match prunes partial and completed matches.
func (n *NFA) processMatches(st *State, partial *pq, emit func(Match)) {
	for i := range n.sc.potential.a {
		st.completed.offer(n.sc.potential.a[i])
	}
	for len(st.completed.a) > 0 {
		earliest := &st.completed.a[0]
		if n.skip != NoSkip && len(partial.a) > 0 && cmpComp(earliest, &partial.a[0]) > 0 {
			break
		}
		m := st.completed.poll()
		if n.skip != NoSkip {
			if t, seq, inclusive, ok := n.pruningID(m.node); ok {
				partial.prune(t, seq, inclusive)
				st.completed.prune(t, seq, inclusive)
			}
		}
		emit(n.materialize(m.node, m.matchTime))
	}
}

// pruningID is AfterMatchSkipStrategy.getPruningId for the match ending in
// last, with shouldPrune's inclusiveness.
func (n *NFA) pruningID(last *node) (t int64, seq uint64, inclusive, ok bool) {
	switch n.skip {
	case SkipPastLastEvent: // last event of the match; prune starts <= it
		return last.ev.Time, last.seq, true, true
	case SkipToNext: // first event of the match; prune starts <= it
		f := last
		for f.prev != nil {
			f = f.prev
		}
		return f.ev.Time, f.seq, true, true
	case SkipToFirst, SkipToLast: // prune starts < the stage's first/last event
		var hit *node
		for x := last; x != nil; x = x.prev {
			if int(x.stage) == n.skipStage {
				hit = x
				if n.skip == SkipToLast {
					break
				}
			}
		}
		if hit == nil {
			return 0, 0, false, false
		}
		return hit.ev.Time, hit.seq, false, true
	}
	return 0, 0, false, false
}

// materialize builds the Match of the partial match ending in last.
func (n *NFA) materialize(last *node, t int64) Match {
	var small [16]int32
	counts := small[:0]
	if len(n.stages) <= len(small) {
		counts = small[:len(n.stages)]
	} else {
		counts = make([]int32, len(n.stages))
	}
	total, used := 0, 0
	for x := last; x != nil; x = x.prev {
		if counts[x.stage] == 0 {
			used++
		}
		counts[x.stage]++
		total++
	}
	evs := make([]*event.Event, total)
	out := make([]StageEvents, 0, used)
	off := 0
	for i, c := range counts {
		if c == 0 {
			continue
		}
		out = append(out, StageEvents{Stage: n.stages[i], Events: evs[off : off+int(c) : off+int(c)]})
		counts[i] = int32(off + int(c)) // end offset, filled backwards below
		off += int(c)
	}
	for x := last; x != nil; x = x.prev {
		counts[x.stage]--
		evs[counts[x.stage]] = x.ev
	}
	return Match{Stages: out, Time: t, Last: last.ev}
}

// computeNextStates is FlinkCEP NFA.computeNextStates (without the Dewey
// versions: a computation state points to its own immutable path).
func (n *NFA) computeNextStates(st *State, cs *comp, ev *event.Event, seq uint64) []comp {
	ctx := &n.sc.ctx
	ctx.n = n
	ctx.reset(cs.node)
	edges := n.decisionGraph(st, cs.state, ev, ctx)
	isStart := n.states[cs.state].typ == stStart
	out := n.sc.out[:0]
	for _, e := range edges {
		switch e.act {
		case actIgnore:
			if !isStart {
				out = append(out, comp{state: e.dst, node: cs.node, startSeq: cs.startSeq, startTime: cs.startTime, prevTime: cs.prevTime})
			}
		case actTake:
			nd := &node{stage: e.stage, seq: seq, ev: ev, prev: cs.node}
			startSeq, startTime := cs.startSeq, cs.startTime
			if isStart {
				startSeq, startTime = seq, ev.Time
			}
			out = append(out, comp{state: e.dst, node: nd, startSeq: startSeq, startTime: startTime, prevTime: ev.Time})
			if f := n.finalAfterProceed(st, e.dst, ev, ctx); f >= 0 {
				out = append(out, comp{state: f, node: nd, startSeq: startSeq, startTime: startTime, prevTime: ev.Time})
			}
		}
	}
	if isStart {
		out = append(out, comp{state: cs.state})
	}
	n.sc.out = out
	clear(n.sc.edges)
	return out
}

// decisionGraph is FlinkCEP NFA.createDecisionGraph: the TAKE and IGNORE
// edges reachable from the state through PROCEED edges whose condition
// holds, in FlinkCEP's (depth-first, stack) order.
func (n *NFA) decisionGraph(st *State, from int32, ev *event.Event, ctx *condCtx) []*rtrans {
	edges := n.sc.edges[:0]
	stack := append(n.sc.stack[:0], from)
	for len(stack) > 0 {
		s := &n.states[stack[len(stack)-1]]
		stack = stack[:len(stack)-1]
		for i := range s.trans {
			t := &s.trans[i]
			if !t.cond.eval(ev, ctx) {
				continue
			}
			if t.act == actProceed {
				stack = append(stack, t.dst)
			} else {
				edges = append(edges, t)
			}
		}
		if len(stack) > 4*len(n.states)+64 {
			panic("sequence: cyclic proceed edges in the automaton")
		}
	}
	n.sc.stack = stack
	n.sc.edges = edges
	return edges
}

// finalAfterProceed is FlinkCEP NFA.findFinalStateAfterProceed.
func (n *NFA) finalAfterProceed(st *State, from int32, ev *event.Event, ctx *condCtx) int32 {
	stack := append(n.sc.stack[:0], from)
	defer func() { n.sc.stack = stack[:0] }()
	for len(stack) > 0 {
		s := &n.states[stack[len(stack)-1]]
		stack = stack[:len(stack)-1]
		for i := range s.trans {
			t := &s.trans[i]
			if t.act == actProceed && t.cond.eval(ev, ctx) {
				if n.states[t.dst].typ == stFinal {
					return t.dst
				}
				stack = append(stack, t.dst)
			}
		}
		if len(stack) > 4*len(n.states)+64 {
			panic("sequence: cyclic proceed edges in the automaton")
		}
	}
	return -1
}

// enforceBound evicts the oldest partial matches while the State holds more
// than Pattern.MaxPartialMatches; completed matches that only waited for an
// evicted partial match are then released.
func (n *NFA) enforceBound(st *State, emit func(Match)) {
	if n.maxPartial <= 0 || len(st.partial.a)-1+len(st.completed.a) <= n.maxPartial {
		return
	}
	evicted := false
	for st.PartialMatches() > n.maxPartial {
		if len(st.partial.a) == 0 || st.partial.a[0].startSeq == 0 {
			break
		}
		st.partial.poll()
		st.evicted++
		evicted = true
	}
	if evicted && len(st.completed.a) > 0 {
		n.sc.potential.reset()
		n.processMatches(st, &st.partial, emit)
	}
}

// condCtx is the Context given to conditions: FlinkCEP's ConditionContext.
// The matched events are materialized lazily, once per partial match and
// event, only when a condition asks for them.
type condCtx struct {
	n       *NFA
	node    *node
	built   bool
	matched [][]*event.Event
}

func (c *condCtx) reset(nd *node) {
	c.node = nd
	c.built = false
	c.matched = nil
}

func (c *condCtx) Prev() *event.Event {
	if c.node == nil {
		return nil
	}
	return c.node.ev
}

func (c *condCtx) Matched(stage string) []*event.Event {
	if c.node == nil {
		return nil
	}
	idx := -1
	for i, s := range c.n.stages {
		if s == stage {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil
	}
	if !c.built {
		m := c.n.materialize(c.node, 0)
		c.matched = make([][]*event.Event, len(c.n.stages))
		for _, se := range m.Stages {
			for i, s := range c.n.stages {
				if s == se.Stage {
					c.matched[i] = se.Events
				}
			}
		}
		c.built = true
	}
	return c.matched[idx]
}

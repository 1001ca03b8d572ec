package sequence

import (
	"errors"
	"fmt"
	"strings"
)

// This file validates a Pattern and builds its automaton. The automaton is a
// port of FlinkCEP's NFACompiler (flink-cep .../nfa/compiler/NFACompiler.java):
// the pattern is walked from the last stage to the first, and every stage
// becomes one or more states with TAKE, IGNORE and PROCEED edges, plus Stop
// states for negations and a Pending state for a trailing NotFollowedBy.
// The structure, edge order and edge conditions follow the Java code closely
// because the order of the edges decides the order of partial matches and
// therefore the order in which matches are emitted.

// maxTimes bounds a finite quantifier: times N..M builds M states.
const maxTimes = 1000

// consuming is FlinkCEP's Quantifier.ConsumingStrategy.
type consuming uint8

const (
	cStrict consuming = iota
	cSkipTillNext
	cSkipTillAny
	cNotFollow
	cNotNext
)

// pnode mirrors org.apache.flink.cep.pattern.Pattern / GroupPattern: a chain
// linked through prev, the last stage first.
type pnode struct {
	name    string
	stage   int // leaf stage index in NFA.stages; -1 for a group
	prev    *pnode
	raw     *pnode // group: the last pattern of the group's own chain
	isGroup bool

	cond  Condition
	until Condition

	consuming consuming
	inner     consuming
	looping   bool // LOOPING quantifier (N..)
	times     bool // TIMES quantifier (N..M)
	optional  bool
	greedy    bool
	from, to  int
	window    int64 // WithinType.PREVIOUS_AND_CURRENT
}

func (p *pnode) quantified() bool { return p.looping || p.times }

// ---------------------------------------------------------------------------
// Validation

type validator struct {
	names  map[string]bool
	groups map[string]bool
	leaves []string
	within int64
}

// Compile validates p and builds its automaton. The errors name the stage at
// fault; callers add the file position.
func Compile(p Pattern) (*NFA, error) {
	v := &validator{names: map[string]bool{}, groups: map[string]bool{}, within: p.Within}
	if p.Within < 0 {
		return nil, errors.New("pattern within must not be negative")
	}
	if p.MaxPartialMatches < 0 {
		return nil, errors.New("max_partial_matches must not be negative")
	}
	if len(p.Stages) == 0 {
		return nil, errors.New("pattern has no stages")
	}
	last, err := v.chain(p.Stages, nil, true)
	if err != nil {
		return nil, err
	}

	// FlinkCEP NFACompiler.compileFactory: a trailing notFollowedBy needs a window.
	ls := &p.Stages[len(p.Stages)-1]
	if ls.Kind == NotFollowedBy && p.Within == 0 && ls.Within == 0 {
		return nil, fmt.Errorf("stage %q: not_followed_by cannot be the last stage of a pattern without within", ls.Name)
	}

	switch p.Skip.Kind {
	case SkipPastLastEvent, NoSkip, SkipToNext:
		if p.Skip.Stage != "" {
			return nil, fmt.Errorf("skip strategy %s takes no stage", skipName(p.Skip.Kind))
		}
	case SkipToFirst, SkipToLast:
		if p.Skip.Stage == "" {
			return nil, fmt.Errorf("skip strategy %s needs a stage", skipName(p.Skip.Kind))
		}
		if v.groups[p.Skip.Stage] {
			return nil, fmt.Errorf("skip strategy %s: %q is a group; name one of its stages", skipName(p.Skip.Kind), p.Skip.Stage)
		}
		if !v.names[p.Skip.Stage] {
			return nil, fmt.Errorf("skip strategy %s: no stage named %q in the pattern", skipName(p.Skip.Kind), p.Skip.Stage)
		}
	default:
		return nil, fmt.Errorf("unknown skip strategy %d", p.Skip.Kind)
	}

	n := &NFA{
		stages:     v.leaves,
		window:     p.Within,
		skip:       p.Skip.Kind,
		maxPartial: p.MaxPartialMatches,
		skipStage:  -1,
	}
	if p.Skip.Kind == SkipToFirst || p.Skip.Kind == SkipToLast {
		for i, s := range v.leaves {
			if s == p.Skip.Stage {
				n.skipStage = i
			}
		}
	}
	if err := n.build(last); err != nil {
		return nil, err
	}
	n.fp = n.fingerprint()
	return n, nil
}

func skipName(k SkipKind) string {
	switch k {
	case SkipPastLastEvent:
		return "skip_past_last_event"
	case NoSkip:
		return "no_skip"
	case SkipToNext:
		return "skip_to_next"
	case SkipToFirst:
		return "skip_to_first"
	case SkipToLast:
		return "skip_to_last"
	}
	return fmt.Sprintf("skip(%d)", k)
}

func kindName(k Kind) string {
	switch k {
	case Begin:
		return "begin"
	case Next:
		return "next"
	case FollowedBy:
		return "followed_by"
	case FollowedByAny:
		return "followed_by_any"
	case NotNext:
		return "not_next"
	case NotFollowedBy:
		return "not_followed_by"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// chain validates one list of stages (the pattern or a group's body) and
// returns the pnode chain (its last element). parent is the group holding the
// list, nil at the top level.
func (v *validator) chain(stages []Stage, parent *Stage, top bool) (*pnode, error) {
	if len(stages) == 0 {
		return nil, fmt.Errorf("group %q has no stages", parent.Name)
	}
	var prev *pnode
	for i := range stages {
		s := &stages[i]
		where := func(format string, a ...any) error {
			return fmt.Errorf("stage %q: "+format, append([]any{s.Name}, a...)...)
		}
		if s.Name == "" {
			if parent != nil {
				return nil, fmt.Errorf("group %q: stage %d has no name", parent.Name, i+1)
			}
			return nil, fmt.Errorf("stage %d has no name", i+1)
		}
		if v.names[s.Name] || v.groups[s.Name] {
			return nil, where("duplicate stage name")
		}
		if s.Kind > NotFollowedBy {
			return nil, where("unknown stage kind %d", s.Kind)
		}
		if i == 0 && s.Kind != Begin {
			if parent != nil {
				return nil, fmt.Errorf("group %q: its first stage %q must be begin, not %s", parent.Name, s.Name, kindName(s.Kind))
			}
			return nil, where("the first stage must be begin, not %s", kindName(s.Kind))
		}
		if i > 0 && s.Kind == Begin {
			return nil, where("begin is only allowed for the first stage")
		}
		negative := s.Kind == NotNext || s.Kind == NotFollowedBy
		isGroup := len(s.Group) > 0

		p := &pnode{name: s.Name, stage: -1, prev: prev, isGroup: isGroup, until: s.Until, window: s.Within}
		switch s.Kind {
		case Begin, Next:
			p.consuming = cStrict
		case FollowedBy:
			p.consuming = cSkipTillNext
		case FollowedByAny:
			p.consuming = cSkipTillAny
		case NotNext:
			p.consuming = cNotNext
		case NotFollowedBy:
			p.consuming = cNotFollow
		}

		// Quantifier.
		min, max := s.Min, s.Max
		if min < 0 || (max < 0 && max != Unbounded) {
			return nil, where("times must not be negative")
		}
		switch {
		case min == 0 && max == 0: // zero value: exactly once
			min, max = 1, 1
		case min == 0: // times 0..M or 0..: optional, as FlinkCEP times(0, M)
			p.optional = true
			min = 1
		}
		if max != Unbounded && min > max {
			return nil, where("times %d..%d: the minimum is larger than the maximum", s.Min, s.Max)
		}
		if max != Unbounded && max > maxTimes {
			return nil, where("times: at most %d repetitions are supported", maxTimes)
		}
		if max == Unbounded && min > maxTimes {
			return nil, where("times: at most %d repetitions are supported", maxTimes)
		}
		p.from, p.to = min, max
		switch {
		case max == Unbounded:
			p.looping = true
			p.to = min // Times.of(n) for timesOrMore(n)
		case min != 1 || max != 1:
			p.times = true
		}
		if s.Optional {
			p.optional = true
		}
		p.greedy = s.Greedy
		switch s.Inner {
		case Relaxed:
			p.inner = cSkipTillNext
		case Strict:
			p.inner = cStrict
		case NonDeterministic:
			p.inner = cSkipTillAny
		default:
			return nil, where("unknown inner contiguity %d", s.Inner)
		}

		// Pattern API checks (Pattern.java, Quantifier.java).
		if negative {
			if isGroup {
				return nil, where("a group cannot be negated (%s)", kindName(s.Kind))
			}
			if p.quantified() || s.Greedy || s.Until != nil || s.Inner != Relaxed {
				return nil, where("option not applicable to a %s stage (no times, greedy, until, consecutive or allow_combinations)", kindName(s.Kind))
			}
			if p.optional {
				return nil, where("a %s stage cannot be optional", kindName(s.Kind))
			}
			if prev != nil && prev.optional {
				return nil, where("%s cannot follow the optional stage %q (FlinkCEP does not support an optional path to a NOT condition)", kindName(s.Kind), prev.name)
			}
		}
		if isGroup && s.Where != nil {
			return nil, where("a group cannot have where")
		}
		if s.Inner != Relaxed && !p.quantified() {
			if s.Inner == Strict {
				return nil, where("consecutive applies only to a stage with times")
			}
			return nil, where("allow_combinations applies only to a stage with times")
		}
		if s.Greedy {
			if isGroup {
				return nil, where("greedy is not applicable to a group")
			}
			if s.Inner == NonDeterministic {
				return nil, where("greedy is not applicable together with allow_combinations")
			}
			if !p.quantified() {
				return nil, where("greedy applies only to a stage with times")
			}
		}
		if s.Until != nil && !p.looping {
			return nil, where("until applies only to a looping stage (times N..)")
		}
		if p.optional && prev != nil && prev.greedy {
			return nil, where("an optional stage cannot follow the greedy stage %q", prev.name)
		}
		if s.Within < 0 {
			return nil, where("within must not be negative")
		}
		if s.Within > 0 {
			switch {
			case top && i == 0:
				return nil, where("within on the first stage has no previous event to measure from")
			case isGroup:
				return nil, where("within is not supported on a group; put it on the group's first stage")
			case s.Kind == NotFollowedBy && !(top && i == len(stages)-1):
				return nil, where("within on not_followed_by is only supported on the last stage of the pattern")
			case v.within > 0 && s.Within > v.within:
				return nil, where("within %dms is larger than the pattern's within %dms", s.Within, v.within)
			}
		}
		if !top && i == len(stages)-1 && s.Kind == NotFollowedBy {
			return nil, where("not_followed_by cannot be the last stage of a group")
		}

		if isGroup {
			v.groups[s.Name] = true
			raw, err := v.chain(s.Group, s, false)
			if err != nil {
				return nil, err
			}
			p.raw = raw
		} else {
			v.names[s.Name] = true
			p.stage = len(v.leaves)
			v.leaves = append(v.leaves, s.Name)
			p.cond = s.Where
		}
		prev = p
	}
	return prev, nil
}

// ---------------------------------------------------------------------------
// NFACompiler port

type action uint8

const (
	actTake action = iota
	actIgnore
	actProceed
)

type stype uint8

const (
	stNormal stype = iota
	stStart
	stFinal
	stStop
	stPending
)

type cstate struct {
	name   string // unique internal name (NFAStateNameHandler)
	base   string // original name
	stage  int    // leaf stage whose events this state takes; -1 if none
	typ    stype
	trans  []*ctrans
	window int64 // PREVIOUS_AND_CURRENT window of this state, 0: none
}

type ctrans struct {
	act      action
	src, dst *cstate
	cond     *cexpr
}

func (s *cstate) add(a action, dst *cstate, c *cexpr) {
	s.trans = append(s.trans, &ctrans{act: a, src: s, dst: dst, cond: c})
}

type notCond struct {
	cond *cexpr
	name string
}

type compiler struct {
	used        map[string]bool
	stopStates  map[string]*cstate
	states      []*cstate
	windowTime  int64
	curGroup    *pnode
	firstOfLoop map[*pnode]bool
	cur         *pnode
	following   *pnode
	original    map[string]*cstate // originalStateMap (greedy + until)
	entryOf     *pnode             // vigil: the entry state of a quantified stage carries its within
	depth       int
}

const endStateName = "$endState$"

func (c *compiler) uniqueName(base string) string {
	cand := base
	for i := 0; c.used[cand]; i++ {
		cand = fmt.Sprintf("%s:%d", base, i)
	}
	c.used[cand] = true
	return cand
}

func (c *compiler) newState(name string, typ stype, stage int) *cstate {
	base := name
	if i := strings.IndexByte(name, ':'); i >= 0 {
		base = name[:i]
	}
	s := &cstate{name: c.uniqueName(name), base: base, stage: stage, typ: typ}
	c.states = append(c.states, s)
	return s
}

// createState is NFACompiler.createState(StateType, boolean isTake).
func (c *compiler) createState(typ stype, isTake bool) *cstate {
	s := c.newState(c.cur.name, typ, c.cur.stage)
	if isTake && c.cur.window > 0 {
		// FlinkCEP records the PREVIOUS_AND_CURRENT window for take states
		// of patterns without a quantifier (times == null). vigil also
		// applies a quantified stage's within to its entry state, the state
		// taking the stage's first event.
		if !c.cur.quantified() || c.entryOf == c.cur {
			s.window = c.cur.window
		}
	}
	return s
}

func (c *compiler) createStopState(cond *cexpr, name string) *cstate {
	if s, ok := c.stopStates[name]; ok {
		return s
	}
	s := c.newState(name, stStop, -1)
	s.add(actTake, s, cond)
	c.stopStates[name] = s
	return s
}

func (c *compiler) compile(last *pnode) (start *cstate) {
	c.cur = last
	sink := c.newState(endStateName, stFinal, -1)
	sink = c.createMiddleStates(sink)
	start = c.convertPattern(sink)
	start.typ = stStart
	return start
}

func (c *compiler) getCurrentNotCondition() []notCond {
	var out []notCond
	p := c.cur
	for p.prev != nil && (p.prev.optional || p.prev.consuming == cNotFollow) {
		p = p.prev
		if p.consuming == cNotFollow {
			out = append(out, notCond{c.getTakeCondition(p), p.name})
		}
	}
	return out
}

func (c *compiler) createMiddleStates(sink *cstate) *cstate {
	lastSink := sink
	for c.cur.prev != nil {
		switch c.cur.consuming {
		case cNotFollow:
			// Converted into edge conditions of the following states, except
			// at the end of a windowed pattern: a Pending state.
			if (c.cur.window > 0 || c.windowTime > 0) && lastSink.typ == stFinal {
				notFollow := c.createState(stPending, true)
				cond := c.getTakeCondition(c.cur)
				stop := c.createStopState(cond, c.cur.name)
				notFollow.add(actProceed, stop, cond)
				notFollow.add(actIgnore, notFollow, notExpr(cond))
				lastSink = notFollow
			}
		case cNotNext:
			notNext := c.createState(stNormal, true)
			cond := c.getTakeCondition(c.cur)
			stop := c.createStopState(cond, c.cur.name)
			if lastSink.typ == stFinal {
				// so that the proceed to final is not fired
				notNext.add(actIgnore, lastSink, notExpr(cond))
			} else {
				notNext.add(actProceed, lastSink, notExpr(cond))
			}
			notNext.add(actProceed, stop, cond)
			lastSink = notNext
		default:
			lastSink = c.convertPattern(lastSink)
		}
		c.following = c.cur
		c.cur = c.cur.prev
	}
	return lastSink
}

func (c *compiler) convertPattern(sink *cstate) *cstate {
	var lastSink *cstate
	switch {
	case c.cur.looping:
		c.setFirstOfLoop(false)
		s := c.copyWithoutTransitiveNots(sink)
		looping := c.createLooping(s)
		c.setFirstOfLoop(true)
		lastSink = c.createTimesState(looping, sink, c.cur.from, c.cur.to)
	case c.cur.times:
		lastSink = c.createTimesState(sink, sink, c.cur.from, c.cur.to)
	default:
		lastSink = c.createSingletonState(sink, sink, c.getTakeCondition(c.cur), c.getIgnoreCondition(c.cur), c.cur.optional)
	}
	c.addStopStates(lastSink)
	return lastSink
}

// copyWithoutTransitiveNots creates, for a TAKE from an optional state, a
// copy of the sink without the stop edges of the NOTs before the optional
// state: accepting the optional event discards those NOTs.
func (c *compiler) copyWithoutTransitiveNots(sink *cstate) *cstate {
	nots := c.getCurrentNotCondition()
	if len(nots) == 0 || !c.cur.optional {
		return sink
	}
	c.depth++
	if c.depth > 10000 {
		panic(errCycle)
	}
	defer func() { c.depth-- }()
	cp := c.newState(sink.name, sink.typ, sink.stage)
	for _, t := range sink.trans {
		if t.act == actProceed {
			target := t.dst
			remove := false
			if target.typ == stStop {
				for _, nc := range nots {
					if target.name == nc.name {
						remove = true
					}
				}
			} else {
				target = c.copyWithoutTransitiveNots(t.dst)
			}
			if !remove {
				cp.add(t.act, target, t.cond)
			}
		} else {
			dst := t.dst
			if dst == t.src {
				dst = cp
			}
			cp.add(t.act, dst, t.cond)
		}
	}
	return cp
}

var errCycle = errors.New("internal error: cyclic proceed edges")

// copyState is NFACompiler.copy.
func (c *compiler) copyState(s *cstate) *cstate {
	cp := c.newState(s.base, s.typ, s.stage)
	for _, t := range s.trans {
		dst := t.dst
		if dst == t.src {
			dst = cp
		}
		cp.add(t.act, dst, t.cond)
	}
	return cp
}

func (c *compiler) addStopStates(s *cstate) {
	for _, nc := range c.getCurrentNotCondition() {
		stop := c.createStopState(nc.cond, nc.name)
		s.add(actProceed, stop, nc.cond)
	}
}

func (c *compiler) addStopStateToLooping(s *cstate) {
	if c.following != nil && c.following.consuming == cNotFollow {
		cond := c.getTakeCondition(c.following)
		stop := c.createStopState(cond, c.following.name)
		s.add(actProceed, stop, cond)
	}
}

func (c *compiler) createTimesState(sink, proceed *cstate, from, to int) *cstate {
	lastSink := sink
	c.setFirstOfLoop(false)
	until := c.cur.until
	innerIgnore := c.extendWithUntil(c.getInnerIgnoreCondition(c.cur), until, false)
	take := c.extendWithUntil(c.getTakeCondition(c.cur), until, true)
	if c.cur.greedy && from != to {
		if until != nil {
			c.original[sink.name] = c.copyState(sink)
		}
		c.updateWithGreedyCondition(sink, take)
	}
	for i := from; i < to; i++ {
		lastSink = c.createSingletonState(lastSink, proceed, take, innerIgnore, true)
		c.addStopStateToLooping(lastSink)
	}
	for i := 0; i < from-1; i++ {
		lastSink = c.createSingletonState(lastSink, nil, take, innerIgnore, false)
		c.addStopStateToLooping(lastSink)
	}
	c.setFirstOfLoop(true)
	c.entryOf = c.cur
	s := c.createSingletonState(lastSink, proceed, take, c.getIgnoreCondition(c.cur), c.cur.optional)
	c.entryOf = nil
	return s
}

func (c *compiler) setFirstOfLoop(b bool) {
	if c.cur.isGroup {
		c.firstOfLoop[c.cur] = b
	}
}

func (c *compiler) isCurrentGroupFirstOfLoop() bool {
	if b, ok := c.firstOfLoop[c.curGroup]; ok {
		return b
	}
	return true
}

func (c *compiler) headOfGroup(p *pnode) bool { return c.curGroup != nil && p.prev == nil }

func (c *compiler) isHeadOfOptionalGroup(p *pnode) bool {
	return c.headOfGroup(p) && c.isCurrentGroupFirstOfLoop() && c.curGroup.optional
}

func (c *compiler) createSingletonState(sink, proceed *cstate, take, ignore *cexpr, optional bool) *cstate {
	if c.cur.isGroup {
		return c.createGroupPatternState(c.cur, sink, proceed, optional)
	}
	single := c.createState(stNormal, true)
	s := c.copyWithoutTransitiveNots(sink)
	single.add(actTake, s, take)
	proceedCond := c.getTrueFunction()
	if optional {
		if c.cur.greedy {
			until := leafOrNil(c.cur.until)
			if until != nil {
				if orig := c.original[proceed.name]; orig != nil {
					single.add(actProceed, orig, andExpr(proceedCond, until))
				}
				single.add(actProceed, proceed, andExpr(proceedCond, notExpr(until)))
			} else {
				single.add(actProceed, proceed, proceedCond)
			}
		} else {
			single.add(actProceed, proceed, proceedCond)
		}
	}
	if ignore != nil {
		var ignoreState *cstate
		if optional || c.isHeadOfOptionalGroup(c.cur) {
			ignoreState = c.createState(stNormal, false)
			ignoreState.add(actTake, s, take)
			ignoreState.add(actIgnore, ignoreState, ignore)
			c.addStopStates(ignoreState)
		} else {
			ignoreState = single
		}
		single.add(actIgnore, ignoreState, ignore)
	}
	return single
}

func leafOrNil(c Condition) *cexpr {
	if c == nil {
		return nil
	}
	return &cexpr{op: opLeaf, leaf: c}
}

func (c *compiler) createGroupPatternState(g *pnode, sink, proceed *cstate, optional bool) *cstate {
	proceedCond := c.getTrueFunction()
	oldCur, oldFollowing, oldGroup := c.cur, c.following, c.curGroup
	c.curGroup = g
	c.cur = g.raw
	lastSink := c.createMiddleStates(sink)
	lastSink = c.convertPattern(lastSink)
	if optional {
		lastSink.add(actProceed, proceed, proceedCond)
	}
	c.cur, c.following, c.curGroup = oldCur, oldFollowing, oldGroup
	return lastSink
}

func (c *compiler) createLoopingGroupPatternState(g *pnode, sink *cstate) *cstate {
	proceedCond := c.getTrueFunction()
	oldCur, oldFollowing, oldGroup := c.cur, c.following, c.curGroup
	dummy := c.createState(stNormal, true)
	c.curGroup = g
	c.cur = g.raw
	lastSink := c.createMiddleStates(dummy)
	lastSink = c.convertPattern(lastSink)
	lastSink.add(actProceed, sink, proceedCond)
	dummy.add(actProceed, lastSink, proceedCond)
	c.cur, c.following, c.curGroup = oldCur, oldFollowing, oldGroup
	return lastSink
}

func (c *compiler) createLooping(sink *cstate) *cstate {
	if c.cur.isGroup {
		return c.createLoopingGroupPatternState(c.cur, sink)
	}
	until := leafOrNil(c.cur.until)
	ignore := c.extendWithUntil(c.getInnerIgnoreCondition(c.cur), c.cur.until, false)
	take := c.extendWithUntil(c.getTakeCondition(c.cur), c.cur.until, true)
	proceedCond := c.getTrueFunction()
	looping := c.createState(stNormal, true)
	if c.cur.greedy {
		if until != nil {
			cp := c.copyState(sink)
			looping.add(actProceed, cp, andExpr(proceedCond, until))
			c.original[sink.name] = cp
			looping.add(actProceed, sink, andExpr(proceedCond, notExpr(until)))
		} else {
			looping.add(actProceed, sink, proceedCond)
		}
		c.updateWithGreedyCondition(sink, c.getTakeCondition(c.cur))
	} else {
		looping.add(actProceed, sink, proceedCond)
	}
	looping.add(actTake, looping, take)
	c.addStopStateToLooping(looping)
	if ignore != nil {
		ignoreState := c.createState(stNormal, false)
		ignoreState.add(actTake, looping, take)
		ignoreState.add(actIgnore, ignoreState, ignore)
		looping.add(actIgnore, ignoreState, ignore)
		c.addStopStateToLooping(ignoreState)
	}
	return looping
}

func (c *compiler) extendWithUntil(cond *cexpr, until Condition, isTake bool) *cexpr {
	if until != nil && cond != nil {
		return andExpr(notExpr(leafExpr(until)), cond)
	}
	if until != nil && isTake {
		return notExpr(leafExpr(until))
	}
	return cond
}

func (c *compiler) strategyCondition(cs consuming, p *pnode) *cexpr {
	switch cs {
	case cSkipTillNext:
		return notExpr(leafExpr(p.cond))
	case cSkipTillAny:
		return trueExpr
	}
	return nil // STRICT
}

func (c *compiler) getInnerIgnoreCondition(p *pnode) *cexpr {
	cs := p.inner
	if c.headOfGroup(p) {
		cs = c.curGroup.inner
	}
	ignore := c.strategyCondition(cs, p)
	if c.curGroup != nil && c.curGroup.until != nil {
		ignore = c.extendWithUntil(ignore, c.curGroup.until, false)
	}
	return ignore
}

func (c *compiler) getIgnoreCondition(p *pnode) *cexpr {
	cs := p.consuming
	if c.headOfGroup(p) {
		if c.isCurrentGroupFirstOfLoop() {
			cs = c.curGroup.consuming
		} else {
			cs = c.curGroup.inner
		}
	}
	ignore := c.strategyCondition(cs, p)
	if c.curGroup != nil && c.curGroup.until != nil {
		ignore = c.extendWithUntil(ignore, c.curGroup.until, false)
	}
	return ignore
}

func (c *compiler) getTakeCondition(p *pnode) *cexpr {
	take := leafExpr(p.cond)
	if c.curGroup != nil && c.curGroup.until != nil {
		take = c.extendWithUntil(take, c.curGroup.until, true)
	}
	return take
}

func (c *compiler) getTrueFunction() *cexpr {
	t := trueExpr
	if c.curGroup != nil && c.curGroup.until != nil {
		t = c.extendWithUntil(t, c.curGroup.until, true)
	}
	return t
}

func (c *compiler) updateWithGreedyCondition(s *cstate, take *cexpr) {
	for _, t := range s.trans {
		t.cond = andExpr(t.cond, notExpr(take))
	}
}

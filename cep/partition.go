package cep

import (
	"maps"
	"math"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/patterns/sequence"
	"github.com/vigilhq/vigil/rules"
)

// partition holds state, ordering and event time: a shard of the
// exchange's key groups, or the partition of an input whose rules are
// keyed by the input's own partitioning key (a Kafka topic-partition).
// Everything in it — every rule's per-key state, its timers, its
// watermark, the alerts it raised and has not handed over — belongs to it
// alone, so it is processed by one goroutine at a time. A shard holds the
// key groups of one worker slot; each key's state is its key group's, so a
// key group can be saved, dropped and restored by picking out its keys.
type partition struct {
	e    *Engine
	id   string // "shard/1", or "input/<name>"
	kg   int    // shard number; -1 for an input partition
	in   *input // the input of an input partition
	rule []*ruleState
	// slab holds, side by side with the other key groups', the storage of
	// the rule states this partition has not started yet (see state): a
	// step touches a random key group, and its states stay in cache.
	slab []ruleState
	// timers of the partition's keys, and the creation counter that
	// orders equal times.
	timers   timerQueue
	timerSeq uint64
	// nextAt is the time of the earliest timer (math.MaxInt64: none), kept
	// beside the partition's other hot fields: most events find no timer
	// due, and need not touch the heap to see it.
	nextAt int64
	wm     int64
	out    []pendingAlert // raised since the last collection
	// last is the last event the key group handled in the current step:
	// its timers due by that time have fired.
	last *event.Event
	// wakeAt is the time under which the partition is registered in the
	// engine's wake heap; math.MaxInt64 when it is not.
	wakeAt  int64
	touched bool // in the current step's list
}

// ruleState is one rule's state in one partition.
type ruleState struct {
	rule *rules.Rule
	ix   int // the rule's index in the engine's ruleset
	thr  map[string]*thresholdKey
	seq  map[string]*sequenceKey
	// spare is an empty sequence State kept for the next key that needs
	// one: most events of a key without state start nothing.
	spare    *sequence.State
	throttle map[string]int64 // key → time of the last unsuppressed alert
	dead     bool             // removed by an update: its timers are void
	counters ruleCounters
}

// ruleCounters are one rule's counters in one partition. Partial is a
// gauge kept up to date as matches come and go, so Stats never walks the
// keys.
type ruleCounters struct {
	Alerts, Suppressed, Evicted, Expired uint64
	Partial                              int
}

func newPartition(e *Engine, id string, kg int) *partition {
	return &partition{e: e, id: id, kg: kg, wm: math.MinInt64, wakeAt: math.MaxInt64, nextAt: math.MaxInt64,
		rule: make([]*ruleState, len(e.rs.Rules))}
}

// state returns the partition's state of rule ix, creating it.
func (p *partition) state(ix int) *ruleState {
	if rs := p.rule[ix]; rs != nil {
		return rs
	}
	r := p.e.rs.Rules[ix]
	var rs *ruleState
	if ix < len(p.slab) {
		rs = &p.slab[ix]
	} else {
		rs = &ruleState{}
	}
	*rs = ruleState{rule: r, ix: ix, throttle: map[string]int64{}}
	if r.Sequence != nil {
		rs.seq = map[string]*sequenceKey{}
	} else {
		rs.thr = map[string]*thresholdKey{}
	}
	p.rule[ix] = rs
	return rs
}

// keys returns the number of keys holding state for the rule.
func (rs *ruleState) keys() int { return len(rs.thr) + len(rs.seq) }

// release drops all of the partition's state.
func (p *partition) release() {
	for _, rs := range p.rule {
		if rs != nil {
			rs.dead = true
		}
	}
	clear(p.rule)
	p.slab = nil // a state released must not be reused: timers may name it
	p.timers, p.nextAt = nil, math.MaxInt64
	p.out = nil
}

// finish ends a key group's step: the timers due by wm fire (those due by
// an event's time fired before it).
func (p *partition) finish(w *worker, wm int64) {
	p.last = nil
	p.fireTimers(w, wm)
	p.wm = max(p.wm, wm)
}

// dropKeyGroups drops the state of a shard's keys whose key group is
// marked: a restore replaces those key groups.
func (p *partition) dropKeyGroups(drop []bool) {
	n := len(drop)
	gone := func(key string) bool { return drop[keyGroup(key, n)] }
	for _, rs := range p.rule {
		if rs == nil {
			continue
		}
		for key := range rs.thr {
			if gone(key) {
				delete(rs.thr, key)
			}
		}
		for key, k := range rs.seq {
			if gone(key) {
				rs.counters.Partial -= k.partial
				delete(rs.seq, key)
			}
		}
		for key := range rs.throttle {
			if gone(key) {
				delete(rs.throttle, key)
			}
		}
	}
	kept := p.timers[:0]
	for _, t := range p.timers {
		if !gone(t.key) {
			kept = append(kept, t)
		}
	}
	clear(p.timers[len(kept):])
	p.timers = kept
	p.timers.init()
	p.resetNext()
	kept2 := p.out[:0]
	for _, a := range p.out {
		if a.kg < 0 || !drop[a.kg] {
			kept2 = append(kept2, a)
		}
	}
	p.out = kept2
}

// runInput processes an input partition's events, in order, for every
// rule co-partitioned with the input, then fires the timers due by wm.
func (p *partition) runInput(w *worker, items []item, wm int64) {
	rules := p.in.corules
	for i := range items {
		ev := items[i].ev
		p.fireTimers(w, ev.Time)
		sampled := w.sampleEvent(ev)
		for _, ix := range rules {
			t := startEval(sampled)
			if key, ok := w.route(ix, ev); ok {
				w.handle(p, p.state(ix), ev, key)
			}
			t.pause()
			w.report(&t, ix)
		}
	}
	p.fireTimers(w, wm)
	p.wm = max(p.wm, wm)
}

func (p *partition) schedule(rs *ruleState, kind timerKind, key string, at int64) {
	p.timerSeq++
	p.timers.push(timer{At: at, seq: p.timerSeq, rs: rs, key: key, kind: kind})
	p.nextAt = p.timers[0].At
}

// nextTimer returns the time of the earliest timer, or math.MaxInt64.
func (p *partition) nextTimer() int64 { return p.nextAt }

func (p *partition) resetNext() {
	p.nextAt = math.MaxInt64
	if len(p.timers) > 0 {
		p.nextAt = p.timers[0].At
	}
}

// fireTimers fires, in time order, every timer due at or before t.
func (p *partition) fireTimers(w *worker, t int64) {
	if p.nextAt > t {
		return
	}
	defer p.resetNext()
	for len(p.timers) > 0 && p.timers[0].At <= t {
		tm := p.timers.pop()
		rs := tm.rs
		if rs.dead {
			continue
		}
		switch tm.kind {
		case timerThrottle:
			if last, ok := rs.throttle[tm.key]; ok && last+rs.rule.Throttle <= tm.At {
				delete(rs.throttle, tm.key)
			}
		case timerTTL:
			w.ttl(p, rs, tm.key, tm.At)
		default:
			w.timer(p, rs, tm.key, tm.At)
		}
	}
}

// purgeTimers drops the timers of dead rule states (after an update).
func (p *partition) purgeTimers() {
	kept := p.timers[:0]
	for _, t := range p.timers {
		if !t.rs.dead {
			kept = append(kept, t)
		}
	}
	clear(p.timers[len(kept):])
	p.timers = kept
	p.timers.init()
	p.resetNext()
}

// raise completes an alert — id, rule identity, throttle — and queues it
// for delivery.
func (p *partition) raise(rs *ruleState, a Alert, stages []stageIDs) {
	r := rs.rule
	a.ID = alertID(r.Name, r.MatchHash, a.Key, stages)
	a.Rule, a.RuleHash, a.MatchHash, a.RuleVersion = r.Name, r.Hash, r.MatchHash, p.e.rs.Version
	// Each alert has its own labels: sinks and handlers may keep them.
	a.Severity, a.Labels, a.Shadow = r.Severity, maps.Clone(r.Labels), r.Shadow
	a.DetectedAt = p.e.cfg.now().UTC()
	if r.Throttle > 0 {
		t := a.Time.UnixMilli()
		if last, ok := rs.throttle[a.Key]; ok && t < last+r.Throttle {
			a.Suppressed = true
			rs.counters.Suppressed++
		} else {
			// Suppressed alerts do not restart the clock.
			rs.throttle[a.Key] = t
			p.schedule(rs, timerThrottle, a.Key, t+r.Throttle)
		}
	}
	rs.counters.Alerts++
	pa := pendingAlert{Alert: a, part: p.id, kg: -1}
	if p.in == nil { // a shard: the alert is its key group's
		pa.kg = keyGroup(a.Key, p.e.nkg)
		pa.part = keyGroupID(pa.kg)
	}
	p.out = append(p.out, pa)
}

package cep

import (
	"container/heap"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// shard runs every rule over the keys it owns, with its own expression
// evaluator, keyed state and timers. Events reach it in time order.
type shard struct {
	eng      *Engine
	rs       *rules.Ruleset
	id       int          // this shard's number
	count    int          // shards in the engine
	seed     maphash.Seed // shared by all shards: ownership must agree
	eval     *rules.Evaluator
	runners  []runner
	timers   timerQueue
	timerSeq uint64
	out      []Alert // alerts raised since the last delivery
}

// runner holds one rule's state on a shard.
type runner interface {
	base() *ruleBase
	// event handles an event that passed the rule's where, under its key.
	event(s *shard, ev *event.Event, key string)
	// timer handles a timer the runner set for key, due at at.
	timer(s *shard, key string, at int64)
	// state adds the runner's held state to st.
	state(st *RuleStats)
}

// ruleBase is what every runner shares: the rule, its throttle clocks and
// counters.
type ruleBase struct {
	rule     *rules.Rule
	index    int
	throttle map[string]int64 // key → time of the last unsuppressed alert
	stats    RuleStats
}

func (b *ruleBase) base() *ruleBase { return b }

func newShard(e *Engine, rs *rules.Ruleset) (*shard, error) {
	s := &shard{eng: e, rs: rs, count: 1, eval: rules.NewEvaluator(rs)}
	for i, r := range rs.Rules {
		b := ruleBase{rule: r, index: i, throttle: map[string]int64{}}
		switch {
		case r.Sequence != nil:
			run, err := newSequenceRunner(b, s.eval, e.cfg.maxPartial)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: rule %q: %w", r.File, r.Line, r.Name, err)
			}
			s.runners = append(s.runners, run)
		case r.Threshold != nil:
			s.runners = append(s.runners, newThresholdRunner(b))
		}
	}
	return s, nil
}

// run processes a batch of events in time order, then fires the timers due
// by wm. For each event and rule it evaluates the rule's where and key and
// handles the pair only if this shard owns it. Every shard computes the
// same where and key results, so only shard 0 counts their failures.
func (s *shard) run(batch []*event.Event, wm int64) {
	for _, ev := range batch {
		s.fireTimers(ev.Time)
		for ri, r := range s.runners {
			b := r.base()
			s.eval.CountErrors = s.id == 0
			ok := s.eval.Bool(b.rule.Where, ev, "")
			var key string
			if ok {
				if key, ok = s.eval.KeyOf(b.rule, ev); !ok && s.id == 0 {
					b.stats.KeyFailures++
				}
			}
			s.eval.CountErrors = true
			if ok && s.owns(ri, key) {
				r.event(s, ev, key)
			}
		}
	}
	s.fireTimers(wm)
}

// owns reports whether this shard holds the state of rule ri for key.
func (s *shard) owns(ri int, key string) bool {
	if s.count == 1 {
		return true
	}
	h := maphash.String(s.seed, key) ^ uint64(ri)*0x9e3779b97f4a7c15
	return int(h%uint64(s.count)) == s.id
}

// throttleTimer marks a timer that clears a throttle clock: such a timer's
// rule is throttleTimer plus the rule index, so it never collides with a
// runner's.
const throttleTimer = 1 << 30

func (s *shard) schedule(rule int, key string, at int64) {
	s.timerSeq++
	heap.Push(&s.timers, timer{At: at, seq: s.timerSeq, rule: rule, key: key})
}

// fireTimers fires, in time order, every timer due at or before t.
func (s *shard) fireTimers(t int64) {
	for len(s.timers) > 0 && s.timers[0].At <= t {
		tm := heap.Pop(&s.timers).(timer)
		if tm.rule >= throttleTimer {
			b := s.runners[tm.rule-throttleTimer].base()
			if last, ok := b.throttle[tm.key]; ok && last+b.rule.Throttle <= tm.At {
				delete(b.throttle, tm.key)
			}
			continue
		}
		s.runners[tm.rule].timer(s, tm.key, tm.At)
	}
}

// raise completes an alert — id, rule identity, throttle — and queues it
// for delivery.
func (s *shard) raise(b *ruleBase, a Alert) {
	r := b.rule
	a.ID = alertID(r.Name, r.Hash, a.Key, a.EventIDs)
	a.Rule, a.RuleHash, a.RuleVersion = r.Name, r.Hash, s.eng.rs.Version
	a.Severity, a.Labels, a.Shadow = r.Severity, r.Labels, r.Shadow
	a.DetectedAt = s.eng.cfg.now().UTC()
	if r.Throttle > 0 {
		t := a.Time.UnixMilli()
		if last, ok := b.throttle[a.Key]; ok && t < last+r.Throttle {
			a.Suppressed = true
			b.stats.Suppressed++
		} else {
			// Suppressed alerts do not restart the clock (SPEC §6).
			b.throttle[a.Key] = t
			s.schedule(throttleTimer+b.index, a.Key, t+r.Throttle)
		}
	}
	b.stats.Alerts++
	s.out = append(s.out, a)
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

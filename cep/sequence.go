package cep

import (
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/patterns/sequence"
	"github.com/vigilhq/vigil/rules"
)

// sequenceKey is one key's matching state of a sequence rule.
type sequenceKey struct {
	st        *sequence.State
	scheduled int64 // time of the pending deadline timer; 0: none
	lastEvent int64 // time of the key's last event
	ttlAt     int64 // time of the pending TTL timer; 0: none
	partial   int   // st.PartialMatches() when last counted
}

func (w *worker) sequenceEvent(p *partition, rs *ruleState, ev *event.Event, key string) {
	nfa := w.nfas[rs.ix]
	w.emitP, w.emitRS, w.emitKey, w.eval.Key = p, rs, key, key
	k := rs.seq[key]
	if k == nil {
		st := rs.spare
		if st == nil {
			st = nfa.NewState()
		}
		rs.spare = nil
		before := st.Evicted()
		nfa.Advance(st, ev, w.emit)
		rs.counters.Evicted += st.Evicted() - before
		if _, pending := nfa.NextDeadline(st); !pending && st.PartialMatches() == 0 {
			rs.spare = st // nothing started: the key needs no state
			return
		}
		k = &sequenceKey{st: st}
		rs.seq[key] = k
	} else {
		before := k.st.Evicted()
		nfa.Advance(k.st, ev, w.emit)
		rs.counters.Evicted += k.st.Evicted() - before
	}
	k.lastEvent = ev.Time
	w.settle(p, rs, nfa, key, k)
}

func (w *worker) sequenceTimer(p *partition, rs *ruleState, key string, at int64) {
	k := rs.seq[key]
	if k == nil {
		return
	}
	if k.scheduled <= at {
		k.scheduled = 0
	}
	nfa := w.nfas[rs.ix]
	w.emitP, w.emitRS, w.emitKey, w.eval.Key = p, rs, key, key
	nfa.AdvanceTime(k.st, at, w.emit)
	w.settle(p, rs, nfa, key, k)
}

// sequenceTTL releases a key whose partial matches no deadline bounds
// once it has had no event for the state TTL.
func (w *worker) sequenceTTL(p *partition, rs *ruleState, key string, at int64) {
	k := rs.seq[key]
	if k == nil || k.ttlAt != at {
		return
	}
	k.ttlAt = 0
	ttl := p.e.cfg.stateTTL
	if next := k.lastEvent + ttl; next > at {
		k.ttlAt = next
		p.schedule(rs, timerTTL, key, next)
		return
	}
	if _, ok := w.nfas[rs.ix].NextDeadline(k.st); ok {
		return // a deadline releases it
	}
	rs.counters.Expired++
	rs.counters.Partial -= k.partial
	delete(rs.seq, key)
}

// settle keeps the partial-match gauge, drops a key that holds nothing,
// and makes sure a timer is set for its next deadline, or, when none
// bounds its state, for its TTL.
func (w *worker) settle(p *partition, rs *ruleState, nfa *sequence.NFA, key string, k *sequenceKey) {
	n := k.st.PartialMatches()
	rs.counters.Partial += n - k.partial
	k.partial = n
	d, ok := nfa.NextDeadline(k.st)
	if !ok && n == 0 {
		delete(rs.seq, key)
		if rs.spare == nil {
			rs.spare = k.st
		}
		return
	}
	if ok {
		if k.scheduled == 0 || d < k.scheduled {
			k.scheduled = d
			p.schedule(rs, timerRule, key, d)
		}
		return
	}
	if ttl := p.e.cfg.stateTTL; ttl > 0 && k.ttlAt == 0 {
		k.ttlAt = k.lastEvent + ttl
		p.schedule(rs, timerTTL, key, k.ttlAt)
	}
}

func (w *worker) onMatch(m sequence.Match) {
	p, rs, key := w.emitP, w.emitRS, w.emitKey
	a := Alert{Key: key, Time: msTime(m.Time), Matched: make(map[string][]map[string]any, len(m.Stages))}
	byStage := make(map[string][]*event.Event, len(m.Stages))
	stages := make([]stageIDs, len(m.Stages))
	for i, se := range m.Stages {
		list := make([]map[string]any, len(se.Events))
		start := len(a.EventIDs)
		for j, ev := range se.Events {
			list[j] = ev.Fields
			a.EventIDs = append(a.EventIDs, ev.ID)
		}
		stages[i] = stageIDs{stage: se.Stage, ids: a.EventIDs[start:len(a.EventIDs):len(a.EventIDs)]}
		a.Matched[se.Stage] = list
		byStage[se.Stage] = se.Events
	}
	a.Summary, a.Fields = w.eval.Render(rs.rule, rules.AlertInput{Key: key, Last: m.Last, Time: m.Time, Matched: byStage})
	p.raise(rs, a, stages)
}

package cep

import (
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/patterns/sequence"
	"github.com/vigilhq/vigil/rules"
)

// sequenceRunner runs a sequence rule (SPEC §3) over its keys.
type sequenceRunner struct {
	ruleBase
	nfa     *sequence.NFA
	keys    map[string]*sequenceKey
	eval    *rules.Evaluator
	shard   *shard
	current string               // the key being advanced, for onMatch
	emit    func(sequence.Match) // r.onMatch, bound once
	evicted uint64
	// spare is an empty State kept for the next key that has none: most
	// events of a key without state start nothing, and keys come and go,
	// so reusing it saves an allocation per such event.
	spare *sequence.State
}

type sequenceKey struct {
	st        *sequence.State
	scheduled int64 // time of the pending timer; 0: none
}

func newSequenceRunner(b ruleBase, eval *rules.Evaluator, maxPartial int) (*sequenceRunner, error) {
	nfa, err := sequence.Compile(eval.Pattern(b.rule.Sequence, maxPartial))
	if err != nil {
		return nil, err
	}
	r := &sequenceRunner{ruleBase: b, nfa: nfa, keys: map[string]*sequenceKey{}, eval: eval}
	r.emit = r.onMatch
	return r, nil
}

func (r *sequenceRunner) event(s *shard, ev *event.Event, key string) {
	r.shard, r.current, s.eval.Key = s, key, key
	k := r.keys[key]
	if k == nil {
		st := r.spare
		if st == nil {
			st = r.nfa.NewState()
		}
		r.spare = nil
		before := st.Evicted()
		r.nfa.Advance(st, ev, r.emit)
		r.evicted += st.Evicted() - before
		if _, pending := st.NextDeadline(); !pending && st.PartialMatches() == 0 {
			r.spare = st // nothing started: the key needs no state
			return
		}
		k = &sequenceKey{st: st}
		r.keys[key] = k
		r.settle(s, key, k)
		return
	}
	before := k.st.Evicted()
	r.nfa.Advance(k.st, ev, r.emit)
	r.evicted += k.st.Evicted() - before
	r.settle(s, key, k)
}

func (r *sequenceRunner) timer(s *shard, key string, at int64) {
	k := r.keys[key]
	if k == nil {
		return
	}
	if k.scheduled <= at {
		k.scheduled = 0
	}
	r.shard, r.current, s.eval.Key = s, key, key
	r.nfa.AdvanceTime(k.st, at, r.emit)
	r.settle(s, key, k)
}

// settle drops a key that holds nothing and makes sure a timer is set for
// its next deadline.
func (r *sequenceRunner) settle(s *shard, key string, k *sequenceKey) {
	d, ok := k.st.NextDeadline()
	if !ok && k.st.PartialMatches() == 0 {
		delete(r.keys, key)
		if r.spare == nil {
			r.spare = k.st
		}
		return
	}
	if ok && (k.scheduled == 0 || d < k.scheduled) {
		k.scheduled = d
		s.schedule(r.index, key, d)
	}
}

func (r *sequenceRunner) onMatch(m sequence.Match) {
	a := Alert{Key: r.current, Time: msTime(m.Time), Matched: make(map[string][]map[string]any, len(m.Stages))}
	byStage := make(map[string][]*event.Event, len(m.Stages))
	var last *event.Event
	for _, se := range m.Stages {
		list := make([]map[string]any, len(se.Events))
		for i, ev := range se.Events {
			list[i] = ev.Fields
			a.EventIDs = append(a.EventIDs, ev.ID)
			if last == nil || last.Before(ev) {
				last = ev
			}
		}
		a.Matched[se.Stage] = list
		byStage[se.Stage] = se.Events
	}
	a.Summary, a.Fields = r.eval.Render(r.rule, rules.AlertInput{Key: r.current, Last: last, Time: m.Time, Matched: byStage})
	r.shard.raise(&r.ruleBase, a)
}

func (r *sequenceRunner) state(st *RuleStats) {
	st.Keys += len(r.keys)
	st.Evicted += r.evicted
	for _, k := range r.keys {
		st.Partial += k.st.PartialMatches()
	}
}

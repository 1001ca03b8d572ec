package cep

import (
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/patterns/window"
	"github.com/vigilhq/vigil/rules"
)

// thresholdRunner runs a threshold rule (SPEC §4) over its keys.
type thresholdRunner struct {
	ruleBase
	t    *rules.Threshold
	keys map[string]*thresholdKey
	args []any // scratch: one event's aggregate arguments
	vals []any // scratch: the aggregate values
}

// thresholdKey is one key's window. Once the window is empty only the last
// result is kept, and only when it was true under emit: first, which
// re-arms after a false evaluation; any other key then needs no state.
type thresholdKey struct {
	win       *window.Window
	lastTrue  bool
	last      *event.Event // newest event in the window
	end       int64        // tumbling: end of the open window
	scheduled int64        // time of the pending timer; 0: none
}

func newThresholdRunner(b ruleBase) *thresholdRunner {
	t := b.rule.Threshold
	return &thresholdRunner{ruleBase: b, t: t, keys: map[string]*thresholdKey{},
		args: make([]any, len(t.Aggregates))}
}

func (r *thresholdRunner) event(s *shard, ev *event.Event, key string) {
	if !s.eval.Bool(r.t.Where, ev, key) {
		return
	}
	k := r.keys[key]
	if k == nil {
		k = &thresholdKey{}
		r.keys[key] = k
	}
	if k.win == nil {
		k.win = window.New(r.t.Aggregates)
	}
	for i, x := range r.t.Args {
		r.args[i] = nil
		if x != nil {
			if v, err := s.eval.Value(x, ev, key); err == nil {
				r.args[i] = v
			}
		}
	}
	k.last = ev
	if r.t.Tumbling {
		end := floorDiv(ev.Time, r.t.Window)*r.t.Window + r.t.Window
		if k.end != end {
			// The previous window closed at its end, before this event.
			k.win.Reset()
			k.end = end
			s.schedule(r.index, key, end)
		}
		k.win.Add(ev.ID, ev.Time, r.args)
		return
	}
	k.win.EvictThrough(ev.Time - r.t.Window)
	k.win.Add(ev.ID, ev.Time, r.args)
	r.evaluate(s, k, key, ev.Time)
	if k.scheduled == 0 {
		k.scheduled = ev.Time + r.t.Window
		s.schedule(r.index, key, k.scheduled)
	}
}

// evaluate checks the condition over the window and raises an alert at t
// when it holds and emit allows.
func (r *thresholdRunner) evaluate(s *shard, k *thresholdKey, key string, t int64) {
	r.vals = k.win.Values(r.vals)
	s.eval.SetAggregates(r.vals)
	ok := s.eval.Bool(r.t.Condition, k.last, key)
	if ok && (r.t.EmitEvery || !k.lastTrue) {
		values := make(map[string]any, len(r.vals))
		for i, a := range r.t.Aggregates {
			values[a.Text] = r.vals[i]
		}
		summary, fields := s.eval.Render(r.rule, rules.AlertInput{Key: key, Last: k.last, Time: t, Values: r.vals})
		s.raise(&r.ruleBase, Alert{Key: key, Time: msTime(t), Values: values,
			EventIDs: k.win.EventIDs(nil), Summary: summary, Fields: fields})
	}
	k.lastTrue = ok
}

func (r *thresholdRunner) timer(s *shard, key string, at int64) {
	k := r.keys[key]
	if k == nil {
		return
	}
	if r.t.Tumbling {
		if at != k.end || k.win == nil || k.win.Len() == 0 {
			return
		}
		r.evaluate(s, k, key, at-1)
		k.win, k.last, k.end = nil, nil, 0
	} else {
		k.scheduled = 0
		if k.last.Time+r.t.Window > at {
			// Newer events arrived since: look again when they leave.
			k.scheduled = k.last.Time + r.t.Window
			s.schedule(r.index, key, k.scheduled)
			return
		}
		k.win, k.last = nil, nil
	}
	// Only emit: first reads the last result; with emit: every an idle key
	// needs nothing.
	if !k.lastTrue || r.t.EmitEvery {
		delete(r.keys, key)
	}
}

func (r *thresholdRunner) state(st *RuleStats) { st.Keys += len(r.keys) }

// floorDiv divides rounding toward minus infinity, so windows before the
// epoch align too.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

package cep

import (
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/patterns/window"
	"github.com/vigilhq/vigil/rules"
)

// thresholdKey is one key's window of a threshold rule. Once the window is
// empty only the last result is kept, and only when it was true under
// emit: first, which re-arms after a false evaluation; any other key then
// needs no state. A kept true result is released after the state TTL.
type thresholdKey struct {
	win       *window.Window
	lastTrue  bool
	last      *event.Event // newest event in the window
	end       int64        // tumbling: end of the open window
	scheduled int64        // time of the pending rule timer; 0: none
	ttlAt     int64        // time of the pending TTL timer; 0: none
	expiry    int64        // when a kept true result is released (emptied + TTL)
}

func (w *worker) thresholdEvent(p *partition, rs *ruleState, ev *event.Event, key string) {
	t := rs.rule.Threshold
	if !w.eval.Bool(t.Where, ev, key) {
		return
	}
	k := rs.thr[key]
	if k == nil {
		k = &thresholdKey{}
		rs.thr[key] = k
	}
	if k.win == nil {
		k.win = window.New(t.Aggregates)
	}
	if cap(w.args) < len(t.Args) {
		w.args = make([]any, len(t.Args))
	}
	args := w.args[:len(t.Args)]
	for i, x := range t.Args {
		args[i] = nil
		if x != nil {
			if v, err := w.eval.Value(x, ev, key); err == nil {
				args[i] = v
			}
		}
	}
	k.last = ev
	if t.Tumbling {
		end := floorDiv(ev.Time, t.Window)*t.Window + t.Window
		if k.end != end {
			// The previous window closed at its end, before this event.
			k.win.Reset()
			k.end = end
			p.schedule(rs, timerRule, key, end)
		}
		k.win.Add(ev.ID, ev.Time, args)
		clear(args)
		return
	}
	k.win.EvictThrough(ev.Time - t.Window)
	k.win.Add(ev.ID, ev.Time, args)
	clear(args)
	w.evaluate(p, rs, k, key, ev.Time)
	if k.scheduled == 0 {
		k.scheduled = ev.Time + t.Window
		p.schedule(rs, timerRule, key, k.scheduled)
	}
}

// evaluate checks the condition over the window and raises an alert at t
// when it holds and emit allows.
func (w *worker) evaluate(p *partition, rs *ruleState, k *thresholdKey, key string, t int64) {
	thr := rs.rule.Threshold
	w.vals = k.win.Values(w.vals)
	w.eval.SetAggregates(w.vals)
	ok := w.eval.Bool(thr.Condition, k.last, key)
	if ok && (thr.EmitEvery || !k.lastTrue) {
		values := make(map[string]any, len(w.vals))
		for i, a := range thr.Aggregates {
			values[a.Text] = w.vals[i]
		}
		summary, fields := w.eval.Render(rs.rule, rules.AlertInput{Key: key, Last: k.last, Time: t, Values: w.vals})
		ids := k.win.EventIDs(nil)
		p.raise(rs, Alert{Key: key, Time: msTime(t), Values: values,
			EventIDs: ids, Summary: summary, Fields: fields}, []stageIDs{{ids: ids}})
	}
	k.lastTrue = ok
}

func (w *worker) thresholdTimer(p *partition, rs *ruleState, key string, at int64) {
	k := rs.thr[key]
	if k == nil {
		return
	}
	t := rs.rule.Threshold
	if t.Tumbling {
		if at != k.end || k.win == nil || k.win.Len() == 0 {
			return
		}
		w.evaluate(p, rs, k, key, at-1)
		k.win, k.last, k.end = nil, nil, 0
	} else {
		k.scheduled = 0
		if k.last != nil && k.last.Time+t.Window > at {
			// Newer events arrived since: look again when they leave.
			k.scheduled = k.last.Time + t.Window
			p.schedule(rs, timerRule, key, k.scheduled)
			return
		}
		k.win, k.last = nil, nil
	}
	// Only emit: first reads the last result; with emit: every an idle key
	// needs nothing.
	if !k.lastTrue || t.EmitEvery {
		delete(rs.thr, key)
		return
	}
	ttl := p.e.cfg.stateTTL
	if ttl <= 0 {
		return // kept until a false evaluation
	}
	// One TTL timer per key at a time: a pending one, earlier, looks
	// again when it fires.
	k.expiry = at + ttl
	if k.ttlAt == 0 {
		k.ttlAt = k.expiry
		p.schedule(rs, timerTTL, key, k.ttlAt)
	}
}

// thresholdTTL forgets an emit: first key whose window has stayed empty
// for the state TTL: the rule alerts again the next time its condition
// holds.
func (w *worker) thresholdTTL(p *partition, rs *ruleState, key string, at int64) {
	k := rs.thr[key]
	if k == nil || k.ttlAt != at {
		return
	}
	k.ttlAt = 0
	switch {
	case k.win != nil: // active again; its next emptying sets a timer
	case at >= k.expiry:
		delete(rs.thr, key)
		rs.counters.Expired++
	default:
		k.ttlAt = k.expiry
		p.schedule(rs, timerTTL, key, k.ttlAt)
	}
}

// floorDiv divides rounding toward minus infinity, so windows before the
// epoch align too.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

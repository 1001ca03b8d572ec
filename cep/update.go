package cep

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vigilhq/vigil/patterns/sequence"
	"github.com/vigilhq/vigil/rules"
)

// Update replaces the ruleset between two events. Rules are identified by
// name, so reordering them changes nothing. A rule whose matching
// definition (rules.Rule.MatchHash: key, where, pattern or threshold,
// within, skip, emit, max_partial_matches, throttle and every aggregate
// it computes) is unchanged keeps its state — partial matches, windows,
// emit: first results, throttle clocks, timers — and its alert ids; edits
// to its presentation (summary, severity, labels, description, fields
// that add no aggregate, mode) apply to its next alerts. A rule whose
// matching definition changed starts afresh; a removed rule's state and
// timers are released. Events buffered for the watermark are matched by
// the new rules when they become due. Alerts already raised keep the old
// version. The ruleset's version becomes the old one plus one unless it
// is set higher.
//
// Everything is compiled before anything changes: on error the engine
// keeps running the old ruleset untouched.
func (e *Engine) Update(ctx context.Context, rs *rules.Ruleset) error {
	compiled := make([]*worker, len(e.workers))
	for i := range compiled {
		w, err := newWorker(e, rs)
		if err != nil {
			return err
		}
		compiled[i] = w
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	old := e.rs
	if rs.Version <= old.Version {
		rs.Version = old.Version + 1
	}
	keep := e.kept(old, rs, compiled[0].nfas)

	var err error
	e.eachPartition(func(p *partition) {
		next := make([]*ruleState, len(rs.Rules))
		dead := false
		for ix, st := range p.rule {
			if st == nil {
				continue
			}
			j := keep[ix]
			if j < 0 {
				c := e.retired[st.rule.Name]
				c.Alerts += st.counters.Alerts
				c.Suppressed += st.counters.Suppressed
				c.Evicted += st.counters.Evicted
				c.Expired += st.counters.Expired
				e.retired[st.rule.Name] = c
				st.dead, dead = true, true
				continue
			}
			if rerr := st.adopt(rs.Rules[j], j); rerr != nil && err == nil {
				err = rerr
			}
			next[j] = st
		}
		p.rule = next
		if dead {
			p.purgeTimers()
		}
	})
	// Counters move with kept rules; those of the others are retired,
	// so a rule's totals survive its changes.
	for i, w := range e.workers {
		c := compiled[i]
		for ix, r := range old.Rules {
			errs, kf := w.eval.Errors()[r.Name], w.keyFailures[ix]
			if j := keep[ix]; j >= 0 {
				c.keyFailures[j] = kf
				c.eval.AddErrors(r.Name, errs)
			} else if errs > 0 || kf > 0 {
				st := e.retired[r.Name]
				st.Errors += errs
				st.KeyFailures += kf
				e.retired[r.Name] = st
			}
		}
		w.eval, w.nfas, w.keyFailures = c.eval, c.nfas, c.keyFailures
	}
	e.rs = rs
	e.keyText = keyTexts(rs)
	// The key groups' states of the new rules get fresh storage; kept
	// states stay where they are (timers name them).
	e.layOut(len(rs.Rules))
	for _, in := range e.inputList {
		e.place(in)
		// An input whose events the exchange no longer needs: those still
		// queued for it are done.
		for !in.feedsExchange() && in.xq.len() > 0 {
			it := in.xq.pop()
			e.complete(&it)
		}
	}
	e.step()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStateDropped, err)
	}
	return nil
}

// ErrStateDropped is an Update that was applied but could not carry some
// kept key's state over (the key starts afresh): the new ruleset runs.
var ErrStateDropped = errors.New("cep: update applied, some state dropped")

// kept maps each old rule's index to the new index of the rule that keeps
// its state, or -1: same name, same kind, same match hash, and for a
// sequence the same automaton.
func (e *Engine) kept(old, rs *rules.Ruleset, nfas []*sequence.NFA) []int {
	byName := make(map[string]int, len(rs.Rules))
	for j, r := range rs.Rules {
		byName[r.Name] = j
	}
	keep := make([]int, len(old.Rules))
	for ix, r := range old.Rules {
		keep[ix] = -1
		j, ok := byName[r.Name]
		if !ok {
			continue
		}
		n := rs.Rules[j]
		if n.MatchHash != r.MatchHash || (n.Sequence == nil) != (r.Sequence == nil) {
			continue
		}
		if n.Sequence != nil && e.workers[0].nfas[ix].Fingerprint() != nfas[j].Fingerprint() {
			continue
		}
		keep[ix] = j
	}
	return keep
}

// adopt moves a kept state to the rule's new definition: its
// presentation, its place in the ruleset, and — for a threshold rule
// whose aggregates were reordered — its windows' layout.
func (st *ruleState) adopt(r *rules.Rule, ix int) error {
	prev := st.rule
	st.rule, st.ix = r, ix
	if r.Threshold == nil || slices.Equal(prev.Threshold.Aggregates, r.Threshold.Aggregates) {
		return nil
	}
	for key, k := range st.thr {
		if k.win == nil {
			continue
		}
		if err := k.win.Reorder(r.Threshold.Aggregates); err != nil {
			delete(st.thr, key) // cannot happen for equal sets; start the key afresh
			return fmt.Errorf("rule %q key %q: %w", r.Name, key, err)
		}
	}
	return nil
}

// SetLists replaces the named lists the rules' expressions see, between
// two events, keeping every rule's state: a list's content is not part of
// any rule's matching definition. lists must hold every list the running
// rules name; the engine keeps the map (do not change it afterwards).
func (e *Engine) SetLists(lists map[string]map[any]struct{}) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	rs := *e.rs // the caller's ruleset stays as it was
	rs.Lists = lists
	e.rs = &rs
	for _, w := range e.workers {
		w.eval.SetLists(lists)
	}
	return nil
}

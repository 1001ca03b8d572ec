package cep

import (
	"fmt"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/patterns/sequence"
	"github.com/vigilhq/vigil/rules"
)

// worker is what one goroutine needs to process partitions: its own
// expression evaluator and its own compiled automata (both keep working
// space), and scratch buffers. Partitions hold no worker data, so any
// worker may process any partition.
type worker struct {
	e    *Engine
	eval *rules.Evaluator
	nfas []*sequence.NFA // by rule index; nil for threshold rules
	// keyFailures counts, by rule index, events whose key could not be
	// computed.
	keyFailures []uint64
	args, vals  []any // threshold scratch
	// emit state for sequence matches (bound once: no closure per event)
	emitP   *partition
	emitRS  *ruleState
	emitKey string
	emit    func(sequence.Match)
	// sampled timing of rule evaluations (Observer.RuleEval)
	ruleEval func(rule string, d time.Duration)
}

func newWorker(e *Engine, rs *rules.Ruleset) (*worker, error) {
	w := &worker{e: e, eval: rules.NewEvaluator(rs), nfas: make([]*sequence.NFA, len(rs.Rules)),
		keyFailures: make([]uint64, len(rs.Rules))}
	w.eval.OnError = e.cfg.onExprErr
	for i, r := range rs.Rules {
		if r.Sequence == nil {
			continue
		}
		nfa, err := sequence.Compile(w.eval.Pattern(r.Sequence, e.cfg.maxPartial))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: rule %q: %w", r.File, r.Line, r.Name, err)
		}
		w.nfas[i] = nfa
	}
	w.emit = w.onMatch
	w.ruleEval = e.cfg.obs.RuleEval
	return w, nil
}

// route evaluates rule ix's where and key for ev.
func (w *worker) route(ix int, ev *event.Event) (string, bool) {
	r := w.e.rs.Rules[ix]
	if !w.eval.Bool(r.Where, ev, "") {
		return "", false
	}
	key, ok := w.eval.KeyOf(r, ev)
	if !ok {
		w.keyFailures[ix]++
	}
	return key, ok
}

// handle gives an event that passed rule rs's where to its key.
func (w *worker) handle(p *partition, rs *ruleState, ev *event.Event, key string) {
	if rs.rule.Sequence != nil {
		w.sequenceEvent(p, rs, ev, key)
	} else {
		w.thresholdEvent(p, rs, ev, key)
	}
}

func (w *worker) timer(p *partition, rs *ruleState, key string, at int64) {
	if rs.rule.Sequence != nil {
		w.sequenceTimer(p, rs, key, at)
	} else {
		w.thresholdTimer(p, rs, key, at)
	}
}

func (w *worker) ttl(p *partition, rs *ruleState, key string, at int64) {
	if rs.rule.Sequence != nil {
		w.sequenceTTL(p, rs, key, at)
	} else {
		w.thresholdTTL(p, rs, key, at)
	}
}

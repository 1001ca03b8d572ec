package cep

import (
	"time"

	"github.com/vigilhq/vigil/rules"
)

// Stats is a snapshot of the engine's counters. Computing it costs a few
// operations per rule and partition, never per key: it does not hold back
// processing.
type Stats struct {
	Processed uint64            // events matched against the rules
	Late      uint64            // events rejected as late
	Rejected  map[string]uint64 // other rejected events, by reason
	Buffered  int               // accepted events waiting for a watermark
	Pending   int               // alerts raised but not yet delivered
	// DeliveryError is the last delivery failure, while deliveries fail.
	DeliveryError error
	Watermark     time.Time // the exchange's
	Rules         map[string]RuleStats
	Inputs        map[string]InputStats
}

// RuleStats are one rule's counters.
type RuleStats struct {
	Alerts      uint64 // alerts raised, suppressed ones included
	Suppressed  uint64 // alerts inside the throttle
	Errors      uint64 // expression runtime errors
	Keys        int    // keys holding state now
	Partial     int    // partial matches held now (sequence rules)
	Evicted     uint64 // partial matches evicted by max_partial_matches
	Expired     uint64 // keys released by the state TTL
	KeyFailures uint64 // events whose key could not be computed
	// ExprErrors explains Errors: each failing expression with a count
	// and its first failing events (since the rules were last updated).
	ExprErrors []rules.ExprError
}

// InputStats describe one input.
type InputStats struct {
	Watermark time.Time // valid when HasWatermark
	// HasWatermark is false until the input has delivered an event or the
	// watermark was advanced.
	HasWatermark bool
	Buffered     int // events waiting for the input's watermark
	Idle         bool
}

func (s *RuleStats) add(o RuleStats) {
	s.Alerts += o.Alerts
	s.Suppressed += o.Suppressed
	s.Errors += o.Errors
	s.Keys += o.Keys
	s.Partial += o.Partial
	s.Evicted += o.Evicted
	s.Expired += o.Expired
	s.KeyFailures += o.KeyFailures
}

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Stats{
		Processed: e.processed, Late: e.late, Rejected: map[string]uint64{},
		Buffered: e.buffered, Pending: e.out.queued(), DeliveryError: e.out.lastError(),
		Watermark: time.UnixMilli(e.wmX).UTC(), Rules: map[string]RuleStats{}, Inputs: map[string]InputStats{},
	}
	for k, v := range e.rejected {
		s.Rejected[k] = v
	}
	for name, st := range e.retired {
		s.Rules[name] = st
	}
	for ix, r := range e.rs.Rules {
		st := s.Rules[r.Name]
		for _, w := range e.workers {
			st.KeyFailures += w.keyFailures[ix]
			st.Errors += w.eval.Errors()[r.Name]
			st.ExprErrors = rules.MergeExprErrors(st.ExprErrors, w.eval.ExprErrors(r.Name))
		}
		e.eachPartition(func(p *partition) {
			if rs := p.rule[ix]; rs != nil {
				st.add(rs.stats())
			}
		})
		s.Rules[r.Name] = st
	}
	now, full := e.cfg.now(), e.buffered >= e.cfg.maxBuffered
	for _, in := range e.inputList {
		s.Inputs[in.name] = InputStats{Watermark: time.UnixMilli(in.wm).UTC(), HasWatermark: in.wm != minTime,
			Buffered: in.buf.len(), Idle: in.idle(now, full)}
	}
	return s
}

// stats returns the state's counters and gauges.
func (rs *ruleState) stats() RuleStats {
	c := rs.counters
	return RuleStats{Alerts: c.Alerts, Suppressed: c.Suppressed, Evicted: c.Evicted, Expired: c.Expired,
		Partial: c.Partial, Keys: rs.keys()}
}

// eachPartition calls f for every partition: the shards of the key
// groups, then the input partitions by input name.
func (e *Engine) eachPartition(f func(*partition)) {
	for _, p := range e.shards {
		f(p)
	}
	for _, in := range e.inputList {
		if in.part != nil {
			f(in.part)
		}
	}
}

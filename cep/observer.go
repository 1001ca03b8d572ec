package cep

import (
	"context"
	"time"

	"github.com/vigilhq/vigil/event"
)

// Observer is told what the engine measures as it happens, so that an
// embedding program can export it its own way (vigil serve exports it as
// OpenTelemetry metrics). Every field may be nil.
//
// What is a count or a level is not here but in Stats, which costs nothing
// on the hot path: events processed and late, rejections by reason, per
// rule alerts, suppressed alerts, expression errors, keys, partial
// matches, evictions and expiries, each input's watermark (the lag is
// now minus it) and buffered events, and the alerts waiting for delivery.
// Read Stats when exporting; use the Observer for what Stats cannot hold:
// outcomes per input, alert attributes, and durations.
type Observer struct {
	// Events is told, after each batch an input takes (one event for
	// Process), how many events it accepted and which it rejected — late,
	// or malformed; event.ReasonOf gives each rejection's reason. It runs
	// with the engine's lock held: it must be quick, must not call the
	// engine, and must not keep rejected.
	Events func(input string, accepted int, rejected []Rejection)
	// Alert is told of each alert raised, suppressed and shadow ones
	// included, in delivery order, when it enters the delivery queue. ctx
	// is that of the Push or Process whose batch let it fire (with
	// out-of-orderness, the batch that moved the watermark past its
	// events); context.Background() for alerts that time raised (Tick,
	// AdvanceWatermark, Close). It may set a.TraceID from ctx. It runs with
	// the engine's lock held: it must be quick, must not call the engine,
	// and must not keep a.
	Alert func(ctx context.Context, a *Alert)
	// RuleEval is told how long one rule took on one event: its where and
	// key, and its matcher (sequence stages or threshold aggregates). Only
	// one event in EvalSampleEvery, by its arrival number, is timed (in every rule it
	// reaches): reading the clock costs more than many evaluations do. It
	// is called from the worker goroutines, concurrently.
	RuleEval func(rule string, d time.Duration)
	// Delivery is told of each attempt to hand a batch to the sink (or
	// the alert handler): the alerts in the batch, how long the attempt
	// took, and its error (nil: delivered). It runs on the delivery
	// goroutine.
	Delivery func(alerts int, d time.Duration, err error)
}

// EvalSampleEvery is how many events an input takes per one whose
// evaluations are timed for Observer.RuleEval.
const EvalSampleEvery = 64

// WithObserver sets the observer the engine reports to.
func WithObserver(o Observer) Option { return func(c *config) { c.obs = o } }

// evalTimer times one sampled evaluation, leaving out the work between
// its parts (timers the partition fires are not the rule's cost).
type evalTimer struct {
	on   bool
	t0   time.Time
	took time.Duration
}

// sampleEvent reports whether the evaluations of ev (in every rule) are
// timed: one event in EvalSampleEvery by its arrival number, so that every
// path an event takes agrees, and no rule goes untimed because the number
// of rules divides the period.
func (w *worker) sampleEvent(ev *event.Event) bool {
	return w.ruleEval != nil && ev.Seq%EvalSampleEvery == 0
}

// startEval starts timing an evaluation of a sampled event.
func startEval(sampled bool) evalTimer {
	if !sampled {
		return evalTimer{}
	}
	return evalTimer{on: true, t0: time.Now()}
}

func (t *evalTimer) pause() {
	if t.on {
		t.took += time.Since(t.t0)
	}
}

func (t *evalTimer) resume() {
	if t.on {
		t.t0 = time.Now()
	}
}

// report tells the observer a timed evaluation of rule ix.
func (w *worker) report(t *evalTimer, ix int) {
	if t.on {
		w.ruleEval(w.e.rs.Rules[ix].Name, t.took)
	}
}

// observeEvents tells the observer of an input's batch.
func (e *Engine) observeEvents(in string, accepted int, rejected []Rejection) {
	if f := e.cfg.obs.Events; f != nil && (accepted > 0 || len(rejected) > 0) {
		f(in, accepted, rejected)
	}
}

// routeNS is the routing time to carry to the shard that handles a timed
// evaluation (at least 1), or 0 when it is not timed.
func (t *evalTimer) routeNS() int64 {
	if !t.on {
		return 0
	}
	return max(int64(t.took), 1)
}

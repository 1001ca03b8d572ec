// Package cep is vigil's engine: event time, watermarks, keyed state and
// the run loop that feeds the matchers of patterns/ and raises alerts. It
// is also the public embedding API (SPEC §15). It imports no Kafka,
// ClickHouse or HTTP code: sources and sinks wrap it.
package cep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// EndOfTime is the watermark that closes every window and confirms every
// pending absence: replay and test advance to it after the last event.
var EndOfTime = time.UnixMilli(endOfTime).UTC()

const endOfTime = 253402300799999 // 9999-12-31T23:59:59.999Z

// DefaultMaxPartialMatches bounds the partial matches of one key and rule
// when neither the rule nor WithMaxPartialMatches says otherwise.
const DefaultMaxPartialMatches = 10000

// AlertHandler receives every alert, in order. It runs while the engine
// holds its lock: it must not call back into the engine. An error is
// returned by the Process, AdvanceWatermark or Close call that raised it.
type AlertHandler func(ctx context.Context, a Alert) error

type config struct {
	onAlert        AlertHandler
	onDone         func(ctx context.Context, evs []*event.Event)
	outOfOrderness int64
	externalWM     bool
	workers        int
	decoder        *event.Decoder
	maxPartial     int
	now            func() time.Time
}

// Option configures an Engine.
type Option func(*config)

// WithAlertHandler sets the function that receives alerts.
func WithAlertHandler(h AlertHandler) Option { return func(c *config) { c.onAlert = h } }

// WithOutOfOrderness sets how far behind the latest event time the
// watermark stays (SPEC §5). The default is 0: every event is processed at
// once, and an event older than one already seen is late.
func WithOutOfOrderness(d time.Duration) Option {
	return func(c *config) { c.outOfOrderness = d.Milliseconds() }
}

// WithDecoder sets how JSON events are decoded (time field, id field,
// limits).
func WithDecoder(d *event.Decoder) Option { return func(c *config) { c.decoder = d } }

// WithMaxPartialMatches sets the default bound on partial matches per key
// and sequence rule.
func WithMaxPartialMatches(n int) Option { return func(c *config) { c.maxPartial = n } }

// WithWorkers shards keys across n goroutines so one engine uses n cores
// (SPEC §16). Each (rule, key) belongs to one worker, so a key's events keep
// their order; alerts of different keys may then be delivered in a
// different order than with one worker. The default is 1.
func WithWorkers(n int) Option { return func(c *config) { c.workers = max(n, 1) } }

// WithExternalWatermark makes AdvanceWatermark the only thing that moves
// the watermark: for sources with several partitions, whose watermark is
// the minimum over them (SPEC §5), computed by the caller. Events then wait
// in the buffer until the caller's watermark reaches them.
func WithExternalWatermark() Option { return func(c *config) { c.externalWM = true } }

// WithDoneHandler sets a function called with the events just processed,
// once every alert they raised has been handed to the alert handler
// without error: the point where a source may commit them. The slice is
// valid only during the call.
func WithDoneHandler(f func(ctx context.Context, evs []*event.Event)) Option {
	return func(c *config) { c.onDone = f }
}

// WithClock sets the wall clock used for alerts' detected_at.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// ErrClosed is returned by calls on a closed engine.
var ErrClosed = errors.New("cep: engine is closed")

// Engine matches a ruleset against a stream of events. It is safe for
// concurrent use; events are processed in event-time order (ties in
// arrival order), so results are deterministic for a given input order.
type Engine struct {
	mu     sync.Mutex
	cfg    config
	rs     *rules.Ruleset
	router *router
	queue  eventQueue
	// pending holds alerts raised but not yet accepted by the handler
	// (pending[:sent] are done); undone the processed events waiting for
	// their alerts to be delivered.
	pending []Alert
	sent    int
	undone  []*event.Event
	seq     uint64
	maxTime int64
	wm      int64
	closed  bool
	stats   counters
}

type counters struct {
	processed, late uint64
	rejected        map[string]uint64
}

// New builds an engine for a ruleset. A ruleset with Version 0 is given
// version 1.
func New(rs *rules.Ruleset, opts ...Option) (*Engine, error) {
	cfg := config{decoder: &event.Decoder{}, maxPartial: DefaultMaxPartialMatches, now: time.Now, workers: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if rs.Version == 0 {
		rs.Version = 1
	}
	e := &Engine{cfg: cfg, rs: rs, maxTime: math.MinInt64, wm: math.MinInt64,
		stats: counters{rejected: map[string]uint64{}}}
	r, err := newRouter(e, rs, cfg.workers)
	if err != nil {
		return nil, err
	}
	e.router = r
	return e, nil
}

// Process adds one event: a map[string]any, JSON bytes (or
// json.RawMessage), an *event.Event, or any value encoding/json can
// marshal into an object. It returns an *event.Error for an event it
// rejects — malformed, without a time, or late (below the watermark) —
// after counting it; such an event is never matched. Other errors come
// from the alert handler.
func (e *Engine) Process(ctx context.Context, in any) error {
	ev, err := e.toEvent(in)
	if err != nil {
		e.mu.Lock()
		e.stats.rejected[event.ReasonOf(err)]++
		e.mu.Unlock()
		return err
	}
	return e.ProcessEvent(ctx, ev)
}

func (e *Engine) toEvent(in any) (*event.Event, error) {
	switch v := in.(type) {
	case *event.Event:
		return v, nil
	case []byte:
		return e.cfg.decoder.Decode(v, "")
	case json.RawMessage:
		return e.cfg.decoder.Decode(v, "")
	case map[string]any:
		return e.cfg.decoder.FromMap(v, "")
	}
	data, err := json.Marshal(in)
	if err != nil {
		return nil, &event.Error{Reason: event.ReasonMalformed, Msg: err.Error()}
	}
	return e.cfg.decoder.Decode(data, "")
}

// ProcessEvent adds a decoded event. An event without an ID gets one from
// its arrival number.
func (e *Engine) ProcessEvent(ctx context.Context, ev *event.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.seq++
	ev.Seq = e.seq
	if ev.ID == "" {
		ev.ID = "#" + strconv.FormatUint(ev.Seq, 10)
	}
	if ev.Time < e.wm {
		e.stats.late++
		return &event.Error{Reason: event.ReasonLate, Msg: fmt.Sprintf(
			"late event %s: time %s is below the watermark %s",
			ev.ID, event.FormatTime(ev.Time), event.FormatTime(e.wm))}
	}
	e.queue.push(ev)
	if ev.Time > e.maxTime {
		e.maxTime = ev.Time
	}
	if e.cfg.externalWM {
		return nil
	}
	return e.advance(ctx, e.maxTime-e.cfg.outOfOrderness)
}

// AdvanceWatermark moves the watermark to t (never back): buffered events
// up to t are processed, then windows, expiries and absences due by t
// fire. Events older than t are late from then on.
func (e *Engine) AdvanceWatermark(ctx context.Context, t time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	return e.advance(ctx, t.UnixMilli())
}

// Watermark returns the current watermark.
func (e *Engine) Watermark() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.UnixMilli(e.wm).UTC()
}

// Close processes every buffered event (as if the out-of-orderness were 0),
// delivers every pending alert, and stops the engine. If the alert handler
// fails, Close returns its error and the engine stays open, so Close can
// be called again. It does not move time past the last event: to
// close open windows and confirm pending absences, AdvanceWatermark to
// EndOfTime first, as replay does.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	if err := e.advance(ctx, max(e.maxTime, e.wm)); err != nil {
		return err // still open: Close again once the handler recovers
	}
	e.closed = true
	e.router.stop()
	return nil
}

// advance processes the events and timers due by wm, in time order:
// timers due at or before an event's time fire before it, so a window
// ending at t closes before an event at t is counted in the next one.
// Events exactly at the current watermark are not late, so they are
// processed even when wm does not move.
func (e *Engine) advance(ctx context.Context, wm int64) error {
	// First finish what an earlier failed delivery left.
	if err := e.flush(ctx); err != nil {
		return err
	}
	if wm < e.wm || (wm == e.wm && (e.queue.len() == 0 || e.queue.peek().Time > wm)) {
		return nil
	}
	start := len(e.undone)
	for e.queue.len() > 0 && e.queue.peek().Time <= wm {
		e.undone = append(e.undone, e.queue.pop())
	}
	batch := e.undone[start:]
	e.router.run(batch, wm)
	e.stats.processed += uint64(len(batch))
	e.wm = wm
	e.pending = e.router.collect(e.pending)
	return e.flush(ctx)
}

// flush hands the pending alerts to the handler, in order, then reports
// the events whose alerts are all delivered as done. On a handler error
// the undelivered alerts stay pending — none is dropped — and the next
// Process, AdvanceWatermark or Close delivers them first.
func (e *Engine) flush(ctx context.Context) error {
	for e.sent < len(e.pending) {
		if h := e.cfg.onAlert; h != nil {
			if err := h(ctx, e.pending[e.sent]); err != nil {
				return fmt.Errorf("alert handler: %w", err)
			}
		}
		e.pending[e.sent] = Alert{}
		e.sent++
	}
	e.pending, e.sent = e.pending[:0], 0
	if len(e.undone) > 0 {
		if e.cfg.onDone != nil {
			e.cfg.onDone(ctx, e.undone)
		}
		clear(e.undone)
		e.undone = e.undone[:0]
	}
	return nil
}

// Ruleset returns the ruleset the engine runs.
func (e *Engine) Ruleset() *rules.Ruleset {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rs
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Processed uint64            // events matched against the rules
	Late      uint64            // events rejected as late
	Rejected  map[string]uint64 // other rejected events, by reason
	Buffered  int               // events waiting for the watermark
	Pending   int               // alerts raised but not yet accepted by the alert handler
	Watermark time.Time
	Rules     map[string]RuleStats
}

// RuleStats are one rule's counters.
type RuleStats struct {
	Alerts      uint64 // alerts raised, suppressed ones included
	Suppressed  uint64 // alerts inside the throttle
	Errors      uint64 // expression runtime errors
	Keys        int    // keys holding state now
	Partial     int    // partial matches held now (sequence rules)
	Evicted     uint64 // partial matches evicted by max_partial_matches
	KeyFailures uint64 // events whose key could not be computed
}

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Stats{
		Processed: e.stats.processed, Late: e.stats.late, Rejected: map[string]uint64{},
		Buffered: e.queue.len(), Pending: len(e.pending) - e.sent, Watermark: time.UnixMilli(e.wm).UTC(), Rules: map[string]RuleStats{},
	}
	for k, v := range e.stats.rejected {
		s.Rejected[k] = v
	}
	e.router.stats(s.Rules)
	return s
}

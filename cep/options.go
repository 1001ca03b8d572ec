package cep

import (
	"context"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// Defaults of the engine's options.
const (
	// DefaultMaxPartialMatches bounds the partial matches of one key and
	// rule when neither the rule nor WithMaxPartialMatches says otherwise.
	DefaultMaxPartialMatches = 10000
	// DefaultKeyGroups is the number of key groups of the exchange.
	DefaultKeyGroups = 128
	// DefaultStateTTL is how long a key keeps state that no window or
	// deadline bounds (see WithStateTTL).
	DefaultStateTTL = 24 * time.Hour
	// DefaultMaxBuffered bounds the events waiting for the watermark.
	DefaultMaxBuffered = 1 << 20
	// DefaultAlertQueue bounds the alerts waiting for delivery.
	DefaultAlertQueue = 10000
	// DefaultMaxBatch is the most alerts one delivery hands the sink.
	DefaultMaxBatch = 1000
)

// AlertHandler receives alerts one at a time, in order, from the
// engine's delivery stage: never while the engine holds its lock, so it
// may take its time (a full queue then holds back new events) but must
// not call Flush or Close. An error is retried with backoff, from the
// alert that failed; no alert is dropped.
type AlertHandler func(ctx context.Context, a Alert) error

type config struct {
	deliver        deliverFunc
	outOfOrderness int64
	workers        int
	decoder        *event.Decoder
	maxPartial     int
	keyGroups      int
	stateTTL       int64
	maxBuffered    int
	alertQueue     int
	maxBatch       int
	followWall     bool
	minBackoff     time.Duration
	maxBackoff     time.Duration
	maxAttempts    int
	onDeliveryErr  func(err error, attempt int)
	onExprErr      func(rules.ExprError, rules.ErrorSample)
	now            func() time.Time
	obs            Observer
}

func defaultConfig() config {
	return config{
		decoder: &event.Decoder{}, maxPartial: DefaultMaxPartialMatches, now: time.Now, workers: 1,
		keyGroups: DefaultKeyGroups, stateTTL: DefaultStateTTL.Milliseconds(), maxBuffered: DefaultMaxBuffered,
		alertQueue: DefaultAlertQueue, maxBatch: DefaultMaxBatch,
		minBackoff: 100 * time.Millisecond, maxBackoff: 10 * time.Second,
	}
}

// Option configures an Engine.
type Option func(*config)

// WithAlertHandler sets the function that receives alerts one by one.
func WithAlertHandler(h AlertHandler) Option {
	return func(c *config) {
		c.deliver = func(ctx context.Context, alerts []Alert) (int, error) {
			for i, a := range alerts {
				if err := h(ctx, a); err != nil {
					return i, err
				}
			}
			return len(alerts), nil
		}
	}
}

// WithSink delivers alerts to s in batches of up to WithMaxBatch alerts,
// in order. A failed batch is written again, whole (sinks de-duplicate on
// Alert.ID). The engine does not close s.
func WithSink(s Sink) Option {
	return func(c *config) {
		c.deliver = func(ctx context.Context, alerts []Alert) (int, error) {
			if err := s.WriteBatch(ctx, alerts); err != nil {
				return 0, err
			}
			return len(alerts), nil
		}
	}
}

// WithOutOfOrderness sets how far behind the latest event time the
// watermark of the input that Process feeds stays. The default is 0:
// every event is processed at once, and an event older than one already
// seen is late. Inputs opened with OpenInput set their own.
func WithOutOfOrderness(d time.Duration) Option {
	return func(c *config) { c.outOfOrderness = d.Milliseconds() }
}

// WithDecoder sets how JSON events are decoded (time field, id field,
// limits).
func WithDecoder(d *event.Decoder) Option { return func(c *config) { c.decoder = d } }

// WithMaxPartialMatches sets the default bound on partial matches per key
// and sequence rule.
func WithMaxPartialMatches(n int) Option { return func(c *config) { c.maxPartial = n } }

// WithWorkers processes partitions on n goroutines, so one engine uses n
// cores. Results do not depend on n: every partition is processed by one
// goroutine at a time, in the same order whatever the number, and alerts
// are delivered in the same order. The default is 1.
func WithWorkers(n int) Option { return func(c *config) { c.workers = max(n, 1) } }

// WithKeyGroups sets the number of key groups of the exchange (default
// 128): a rule's keys are spread over them by a hash of the key. The
// number is part of the layout of snapshots: a snapshot restores into an
// engine with another number by moving every key to its new group.
func WithKeyGroups(n int) Option { return func(c *config) { c.keyGroups = max(n, 1) } }

// WithStateTTL sets how long a key keeps state that nothing else bounds,
// in event time since the key's last event: the partial matches of a
// sequence rule without any within, and the remembered true result of an
// emit: first threshold rule whose window has emptied (after which the
// rule alerts again the next time the condition holds). The default is
// DefaultStateTTL; 0 keeps such state forever.
func WithStateTTL(d time.Duration) Option { return func(c *config) { c.stateTTL = d.Milliseconds() } }

// WithMaxBuffered bounds the events waiting for the watermark, across all
// inputs (default DefaultMaxBuffered). When they reach it, Process and
// Input.Push wait (bounded by their context) until the watermark moves.
func WithMaxBuffered(n int) Option { return func(c *config) { c.maxBuffered = max(n, 1) } }

// WithAlertQueue bounds the alerts waiting for delivery (default
// DefaultAlertQueue). When it is full, Process and Input.Push wait
// (bounded by their context) until the sink catches up: backpressure.
func WithAlertQueue(n int) Option { return func(c *config) { c.alertQueue = max(n, 1) } }

// WithMaxBatch sets the most alerts one call to the sink gets (default
// DefaultMaxBatch).
func WithMaxBatch(n int) Option { return func(c *config) { c.maxBatch = max(n, 1) } }

// WithDeliveryBackoff sets the wait between retries of a failed delivery:
// doubling from min up to max (defaults 100ms and 10s).
func WithDeliveryBackoff(minWait, maxWait time.Duration) Option {
	return func(c *config) { c.minBackoff, c.maxBackoff = minWait, max(minWait, maxWait) }
}

// WithDeliveryAttempts makes delivery give up after n failed attempts of
// the same batch (0, the default: retry forever). After that the engine is
// failed: Process and Push return ErrDeliveryFailed, and Flush and Close
// return the error; the undelivered alerts stay in the engine's snapshot.
// For batch jobs whose output cannot recover (a closed pipe).
func WithDeliveryAttempts(n int) Option { return func(c *config) { c.maxAttempts = max(n, 0) } }

// WithDeliveryErrors sets a function told of every failed delivery
// attempt (for logs and health); attempt counts from 1 and restarts after
// a success.
func WithDeliveryErrors(f func(err error, attempt int)) Option {
	return func(c *config) { c.onDeliveryErr = f }
}

// WithWallClockWhenIdle makes an input that is idle (see
// InputOptions.IdleTimeout) follow the wall clock: its watermark becomes
// now minus its out-of-orderness, so absences and tumbling windows fire
// without new traffic. When every input feeding the exchange is idle, the
// exchange follows the wall clock too, minus WithOutOfOrderness.
func WithWallClockWhenIdle() Option { return func(c *config) { c.followWall = true } }

// WithExpressionErrors sets a function called with the first failures of
// each expression (rules.MaxErrorSamples per expression and worker), e.g.
// to log which expression failed on which event and why. It runs on the
// engine's workers: it must be quick and safe for concurrent use.
func WithExpressionErrors(f func(rules.ExprError, rules.ErrorSample)) Option {
	return func(c *config) { c.onExprErr = f }
}

// WithClock sets the wall clock: alerts' detected_at, idleness.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

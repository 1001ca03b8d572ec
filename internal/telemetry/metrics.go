// Package telemetry exports what vigil measures: OpenTelemetry metrics,
// served in the Prometheus format at /metrics, and traces over OTLP. The
// engine reports through cep.Observer and cep.Engine.Stats; sources and
// sinks through their Stats; this package turns them into instruments.
// Counts are read when Prometheus scrapes, so the hot path pays only for
// the few atomic additions the observer makes per batch and per alert.
package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/sinks"
	"github.com/vigilhq/vigil/sources"
)

// Metrics holds vigil's instruments and the Prometheus registry that
// serves them. Build it with NewMetrics, attach what it watches (Engine,
// Kafka, Webhook, sinks through Sink), and serve Handler at /metrics.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry
	meter    metric.Meter
	now      func() time.Time

	events  counts[eventKey]
	alerts  counts[alertKey]
	deadOK  counts[[2]string] // sink, reason
	deadErr counts[string]    // sink
	sinkN   counts[string]    // alerts taken, by sink
	sinkErr counts[string]    // failed writes, by sink

	ruleEval  metric.Float64Histogram
	delivery  metric.Float64Histogram
	sinkWrite metric.Float64Histogram
	webhookRq metric.Float64Histogram
	ckptDur   metric.Float64Histogram
	evalOpts  sync.Map // rule name -> []metric.RecordOption

	mu          sync.Mutex
	engine      *cep.Engine
	kafka       []watchedKafka
	webhooks    map[string]webhookStats
	stores      map[string]eventStore
	reloadStats func() ReloadStats
	ckpt        *checkpoint
}

type eventKey struct{ source, outcome, reason string }

type alertKey struct {
	rule, severity     string
	shadow, suppressed bool
}

type watchedKafka struct {
	topic string
	src   kafkaStats
}

type kafkaStats interface{ Stats() sources.KafkaStats }

type webhookStats interface{ Stats() sinks.WebhookStats }

// eventStore is an event writer (clickhouse.EventWriter) as metrics read it.
type eventStore interface {
	Queued() int
	Written() uint64
	Err() error
}

type checkpoint struct {
	at   time.Time
	size int64
}

// NewMetrics builds the instruments on a fresh OpenTelemetry meter
// provider whose reader is a Prometheus exporter on its own registry.
func NewMetrics() (*Metrics, error) {
	m := &Metrics{registry: prometheus.NewRegistry(), now: time.Now,
		webhooks: map[string]webhookStats{}, stores: map[string]eventStore{}}
	exp, err := otelprom.New(otelprom.WithRegisterer(m.registry), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	m.provider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m.meter = m.provider.Meter("github.com/vigilhq/vigil")
	if err := m.register(); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return m, nil
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Shutdown stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.provider.Shutdown(ctx) }

// Bucket bounds, in seconds: one rule on one event takes microseconds; a
// sink write or a checkpoint milliseconds to seconds.
var (
	evalBuckets  = []float64{1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 1e-3, 1e-2}
	writeBuckets = []float64{1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

func (m *Metrics) histogram(in Instrument, bounds []float64) (metric.Float64Histogram, error) {
	return m.meter.Float64Histogram(in.Name, metric.WithUnit(in.Unit), metric.WithDescription(in.Help),
		metric.WithExplicitBucketBoundaries(bounds...))
}

// register creates the instruments: histograms recorded as things happen,
// and everything else observed at scrape time by one callback.
func (m *Metrics) register() error {
	var err error
	if m.ruleEval, err = m.histogram(mRuleEval, evalBuckets); err != nil {
		return err
	}
	if m.delivery, err = m.histogram(mDelivery, writeBuckets); err != nil {
		return err
	}
	if m.sinkWrite, err = m.histogram(mSinkWrite, writeBuckets); err != nil {
		return err
	}
	if m.webhookRq, err = m.histogram(mWebhookRequest, writeBuckets); err != nil {
		return err
	}
	if m.ckptDur, err = m.histogram(mCheckpointDur, writeBuckets); err != nil {
		return err
	}
	obs := map[string]metric.Observable{}
	for _, in := range Catalog {
		var o metric.Observable
		switch {
		case in.Kind == Counter:
			o, err = m.meter.Int64ObservableCounter(in.Name, metric.WithUnit(in.Unit), metric.WithDescription(in.Help))
		case in.Kind == Gauge && in.Unit == "s":
			o, err = m.meter.Float64ObservableGauge(in.Name, metric.WithUnit(in.Unit), metric.WithDescription(in.Help))
		case in.Kind == Gauge:
			o, err = m.meter.Int64ObservableGauge(in.Name, metric.WithUnit(in.Unit), metric.WithDescription(in.Help))
		default:
			continue
		}
		if err != nil {
			return err
		}
		obs[in.Name] = o
	}
	list := make([]metric.Observable, 0, len(obs))
	for _, o := range obs {
		list = append(list, o)
	}
	_, err = m.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		m.observe(&observer{o: o, obs: obs})
		return nil
	}, list...)
	return err
}

// observer writes observations by instrument.
type observer struct {
	o   metric.Observer
	obs map[string]metric.Observable
}

func (o *observer) int(in Instrument, v int64, kv ...attribute.KeyValue) {
	switch x := o.obs[in.Name].(type) {
	case metric.Int64ObservableCounter:
		o.o.ObserveInt64(x, v, metric.WithAttributes(kv...))
	case metric.Int64ObservableGauge:
		o.o.ObserveInt64(x, v, metric.WithAttributes(kv...))
	}
}

func (o *observer) float(in Instrument, v float64, kv ...attribute.KeyValue) {
	if x, ok := o.obs[in.Name].(metric.Float64ObservableGauge); ok {
		o.o.ObserveFloat64(x, v, metric.WithAttributes(kv...))
	}
}

func str(k, v string) attribute.KeyValue { return attribute.String(k, v) }

// observe reports everything read at scrape time.
func (m *Metrics) observe(o *observer) {
	m.events.each(func(k eventKey, n int64) {
		o.int(mEvents, n, str("source", k.source), str("outcome", k.outcome), str("reason", k.reason))
	})
	m.alerts.each(func(k alertKey, n int64) {
		o.int(mAlerts, n, str("rule", k.rule), str("severity", k.severity),
			str("shadow", strconv.FormatBool(k.shadow)), str("suppressed", strconv.FormatBool(k.suppressed)))
	})
	m.deadOK.each(func(k [2]string, n int64) { o.int(mDeadLetters, n, str("sink", k[0]), str("reason", k[1])) })
	m.deadErr.each(func(k string, n int64) { o.int(mDeadLetterErrs, n, str("sink", k)) })
	m.sinkN.each(func(k string, n int64) { o.int(mSinkAlerts, n, str("sink", k)) })
	m.sinkErr.each(func(k string, n int64) { o.int(mSinkFailures, n, str("sink", k)) })

	m.mu.Lock()
	eng, kafkas, reloads, ckpt := m.engine, append([]watchedKafka(nil), m.kafka...), m.reloadStats, m.ckpt
	webhooks, stores := cloneMap(m.webhooks), cloneMap(m.stores)
	m.mu.Unlock()
	for name, w := range stores {
		o.int(mStoreRows, int64(w.Written()), str("store", name))
		o.int(mStoreQueue, int64(w.Queued()), str("store", name))
		failing := int64(0)
		if w.Err() != nil {
			failing = 1
		}
		o.int(mStoreFailing, failing, str("store", name))
	}
	now := m.now()
	if reloads != nil {
		st := reloads()
		o.int(mReloads, int64(st.Applied), str("result", "ok"))
		o.int(mReloads, int64(st.Refused), str("result", "error"))
		if !st.LastApplied.IsZero() {
			o.float(mReloadLast, float64(st.LastApplied.UnixMilli())/1e3)
		}
		failing := int64(0)
		if st.Failing {
			failing = 1
		}
		o.int(mReloadFailing, failing)
	}
	if ckpt != nil {
		o.int(mCheckpointSize, ckpt.size)
		o.float(mCheckpointAge, now.Sub(ckpt.at).Seconds())
	}
	if eng != nil {
		m.observeEngine(o, eng, now)
	}
	for name, w := range webhooks {
		st := w.Stats()
		o.int(mSinkQueue, st.Queued, str("sink", name))
		o.int(mSinkRetries, st.Retries, str("sink", name))
		o.int(mSinkGaveUp, st.Failures, str("sink", name))
	}
	for _, k := range kafkas {
		st := k.src.Stats()
		topic := str("topic", k.topic)
		o.int(mKafkaFetched, st.Fetched, topic)
		o.int(mKafkaAssigned, int64(len(st.Partitions)), topic)
		o.int(mKafkaRebalance, st.Rebalances, topic)
		o.int(mKafkaCommitErr, st.CommitErrors, topic)
		for p, ps := range st.Partitions {
			if ps.Lag >= 0 {
				o.int(mKafkaLag, ps.Lag, topic, str("partition", strconv.Itoa(p)))
			}
		}
		for reason, n := range st.DeadLettered {
			o.int(mDeadLetters, n, str("sink", "kafka"), str("reason", reason))
		}
	}
}

func (m *Metrics) observeEngine(o *observer, eng *cep.Engine, now time.Time) {
	st := eng.Stats()
	o.int(mProcessed, int64(st.Processed))
	o.int(mQueue, int64(st.Pending))
	rs := eng.Ruleset()
	o.int(mRules, int64(len(rs.Rules)))
	o.int(mRulesetVersion, int64(rs.Version))
	if !st.Watermark.IsZero() && st.Watermark.After(time.UnixMilli(0)) && st.Watermark.Before(cep.EndOfTime) {
		o.float(mWatermarkLag, now.Sub(st.Watermark).Seconds(), str("input", "exchange"))
	}
	for name, in := range st.Inputs {
		input := str("input", name)
		o.int(mBuffered, int64(in.Buffered), input)
		idle := int64(0)
		if in.Idle {
			idle = 1
		}
		o.int(mInputIdle, idle, input)
		if in.HasWatermark && in.Watermark.Before(cep.EndOfTime) {
			o.float(mWatermarkLag, now.Sub(in.Watermark).Seconds(), input)
		}
	}
	for name, r := range st.Rules {
		rule := str("rule", name)
		o.int(mRuleErrors, int64(r.Errors), rule)
		o.int(mKeyFailures, int64(r.KeyFailures), rule)
		o.int(mKeys, int64(r.Keys), rule)
		o.int(mPartial, int64(r.Partial), rule)
		o.int(mEvictions, int64(r.Evicted), rule)
		o.int(mExpired, int64(r.Expired), rule)
	}
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Engine makes the metrics read eng's Stats at every scrape. Pass the
// engine built with Observer's result.
func (m *Metrics) Engine(eng *cep.Engine) {
	m.mu.Lock()
	m.engine = eng
	m.mu.Unlock()
}

// Kafka makes the metrics read a Kafka source's Stats at every scrape:
// consumer lag per partition, fetches, rebalances, commit errors, dead
// letters; and count its undecodable records as rejected events.
func (m *Metrics) Kafka(topic string, src kafkaStats) {
	m.mu.Lock()
	m.kafka = append(m.kafka, watchedKafka{topic: topic, src: src})
	m.mu.Unlock()
	m.events.source(func(add func(eventKey, int64)) {
		for reason, n := range src.Stats().Undecoded {
			add(eventKey{"kafka", "rejected", reason}, n)
		}
	})
}

// Webhook makes the metrics read a webhook sink's Stats at every scrape:
// its queue, retries and the alerts it gave up on.
func (m *Metrics) Webhook(name string, w webhookStats) {
	m.mu.Lock()
	m.webhooks[name] = w
	m.mu.Unlock()
}

// EventStore makes the metrics read an event writer at every scrape: rows
// written, rows queued, and whether its writes fail.
func (m *Metrics) EventStore(name string, w eventStore) {
	m.mu.Lock()
	m.stores[name] = w
	m.mu.Unlock()
}

// WebhookAttempt records one request to the webhook (sinks.WebhookConfig.Attempted).
func (m *Metrics) WebhookAttempt(took time.Duration, err error) {
	m.webhookRq.Record(context.Background(), took.Seconds(), outcomeOpt(err))
}

// Observer returns the engine observer that feeds the metrics: events by
// source and outcome, alerts by rule, sampled rule evaluation time, and
// delivery attempts. An input's source is the part of its name before
// the first colon ("kafka:payments/3" is kafka), so partitions never
// become labels of the event counts.
//
// Give each engine its own: the engine calls Events one call at a time,
// with its lock held, so the observer keeps the counter of the last input
// it saw without a lock or a lookup — the only per-event cost of metrics.
func (m *Metrics) Observer() cep.Observer {
	var lastInput string
	var lastAccepted *atomic.Int64
	return cep.Observer{
		Events: func(input string, accepted int, rejected []cep.Rejection) {
			if accepted > 0 {
				if lastAccepted == nil || input != lastInput {
					lastInput, lastAccepted = input, m.events.counter(eventKey{SourceOf(input), "accepted", ""})
				}
				lastAccepted.Add(int64(accepted))
			}
			for _, r := range rejected {
				m.Rejected(SourceOf(input), event.ReasonOf(r.Err), 1)
			}
		},
		Alert: func(ctx context.Context, a *cep.Alert) {
			m.alerts.add(alertKey{a.Rule, a.Severity, a.Shadow, a.Suppressed}, 1)
			if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
				a.TraceID = sc.TraceID().String()
			}
		},
		RuleEval: func(rule string, d time.Duration) {
			m.ruleEval.Record(context.Background(), d.Seconds(), m.ruleOpts(rule)...)
		},
		Delivery: func(_ int, d time.Duration, err error) {
			m.delivery.Record(context.Background(), d.Seconds(), outcomeOpt(err))
		},
	}
}

// SourceOf returns the source an engine input belongs to.
func SourceOf(input string) string {
	if i := strings.IndexByte(input, ':'); i >= 0 {
		return input[:i]
	}
	return input
}

// Rejected counts n events of a source that were not accepted: late
// ones (reason late) or rejected for reason.
func (m *Metrics) Rejected(source, reason string, n int) {
	outcome := "rejected"
	if reason == event.ReasonLate {
		outcome = "late"
	}
	m.events.add(eventKey{source, outcome, reason}, int64(n))
}

// DeadLetter counts records written to a dead-letter sink, or one failed
// write (err not nil).
func (m *Metrics) DeadLetter(sink, reason string, n int, err error) {
	if err != nil {
		m.deadErr.add(sink, 1)
		return
	}
	m.deadOK.add([2]string{sink, reason}, int64(n))
}

// ReloadStats are the reload loop's counters, read at every scrape.
type ReloadStats struct {
	Applied, Refused uint64
	LastApplied      time.Time
	Failing          bool // the last attempt was refused
}

// Reloads makes the metrics read the reload loop's counters at every
// scrape.
func (m *Metrics) Reloads(stats func() ReloadStats) {
	m.mu.Lock()
	m.reloadStats = stats
	m.mu.Unlock()
}

// CheckpointDone records a checkpoint written: how long it took, its
// size, and when it finished. It is the registration point for
// checkpointing; until one calls it, no checkpoint series is exported.
func (m *Metrics) CheckpointDone(took time.Duration, size int64, at time.Time) {
	m.ckptDur.Record(context.Background(), took.Seconds())
	m.mu.Lock()
	m.ckpt = &checkpoint{at: at, size: size}
	m.mu.Unlock()
}

var (
	okOpt  = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(str("outcome", "ok")))}
	errOpt = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(str("outcome", "error")))}
)

func outcomeOpt(err error) metric.RecordOption {
	if err != nil {
		return errOpt[0]
	}
	return okOpt[0]
}

// ruleOpts returns the recording options of a rule, built once.
func (m *Metrics) ruleOpts(rule string) []metric.RecordOption {
	if v, ok := m.evalOpts.Load(rule); ok {
		return v.([]metric.RecordOption)
	}
	opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(str("rule", rule)))}
	v, _ := m.evalOpts.LoadOrStore(rule, opts)
	return v.([]metric.RecordOption)
}

// counts is a table of monotonic counts, added to under a read lock once
// a key exists, plus sources of counts read at scrape time.
type counts[K comparable] struct {
	mu      sync.RWMutex
	m       map[K]*atomic.Int64
	sources []func(add func(K, int64))
}

func (c *counts[K]) add(k K, n int64) { c.counter(k).Add(n) }

// counter returns k's counter, made on first use.
func (c *counts[K]) counter(k K) *atomic.Int64 {
	c.mu.RLock()
	v := c.m[k]
	c.mu.RUnlock()
	if v == nil {
		c.mu.Lock()
		if c.m == nil {
			c.m = map[K]*atomic.Int64{}
		}
		if v = c.m[k]; v == nil {
			v = new(atomic.Int64)
			c.m[k] = v
		}
		c.mu.Unlock()
	}
	return v
}

// source adds a function that contributes counts at scrape time.
func (c *counts[K]) source(f func(add func(K, int64))) {
	c.mu.Lock()
	c.sources = append(c.sources, f)
	c.mu.Unlock()
}

// each calls f with every key's total: what was added, plus what the
// sources contribute.
func (c *counts[K]) each(f func(K, int64)) {
	c.mu.RLock()
	total := make(map[K]int64, len(c.m))
	for k, v := range c.m {
		total[k] = v.Load()
	}
	srcs := c.sources
	c.mu.RUnlock()
	for _, s := range srcs {
		s(func(k K, n int64) { total[k] += n })
	}
	for k, n := range total {
		f(k, n)
	}
}

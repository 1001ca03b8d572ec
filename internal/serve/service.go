// Package serve runs vigil as a service (`vigil serve`): sources feed the
// engine, alerts go to the sinks and the embedded store, and the HTTP API
// answers. It only wires parts together; each part lives in its own
// package.
package serve

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/api"
	"github.com/vigilhq/vigil/internal/health"
	"github.com/vigilhq/vigil/internal/reload"
	"github.com/vigilhq/vigil/internal/replay"
	"github.com/vigilhq/vigil/internal/telemetry"
	"github.com/vigilhq/vigil/rules"
	"github.com/vigilhq/vigil/sinks"
	"github.com/vigilhq/vigil/sources"
	"github.com/vigilhq/vigil/store"
	"github.com/vigilhq/vigil/store/clickhouse"
)

// Service is a running vigil.
type Service struct {
	cfg     *Config
	log     *slog.Logger
	rs      *rules.Ruleset // the rules at start-up; s.rules has the running ones
	rules   *reload.Manager
	ck      *checkpointer // nil when checkpoints are off
	decoder event.Decoder
	eng     *cep.Engine
	store   *store.SQLite
	ch      *clickhouse.Store       // nil without a clickhouse: section
	events  *clickhouse.EventWriter // nil unless events go to ClickHouse
	targets []sinks.Target          // the sinks, in the order the fan-out writes them
	fanout  *sinks.Fanout
	webhook *sinks.Webhook
	http    *httpInput
	kafka   *kafkaInput
	dead    *deadLetterFile
	api     *http.Server
	ln      net.Listener
	metrics *telemetry.Metrics
	health  health.Registry
	// stopTracing flushes the spans (nil: tracing is off).
	stopTracing func(context.Context) error

	stopping atomic.Bool

	// life bounds the service's own loops (Kafka, ticks, the outbox).
	// Shutdown cancels it first, so intake stops; the engine then drains.
	life     context.Context
	stopLife context.CancelFunc
}

// New builds a service from its config: it loads the rules, opens the
// store and the sinks, connects the sources, and binds the listener.
func New(cfg *Config, logger *slog.Logger, stdout io.Writer) (*Service, error) {
	s := &Service{cfg: cfg, log: logger}
	s.life, s.stopLife = context.WithCancel(context.Background())
	var err error
	if s.metrics, err = telemetry.NewMetrics(); err != nil {
		return nil, err
	}
	if ep := cfg.Telemetry.OTLPEndpoint; ep != "" {
		if s.stopTracing, err = telemetry.StartTracing(s.life, ep); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			if s.rules != nil {
				s.rules.Abort(context.Background()) // a version that never ran is not history
			}
			if s.eng != nil {
				_ = s.eng.Close(context.Background()) // stops its workers
			}
			_ = s.closeAll(context.Background())
		}
	}()
	s.decoder = event.Decoder{TimeField: cfg.Time.Field, IDField: cfg.Time.IDField, TimeUnit: cfg.Time.Unit,
		MaxSize: cfg.Limits.MaxEventSize, MaxDepth: cfg.Limits.MaxEventDepth, ProcessingTime: cfg.Time.Processing}
	if err = os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	if s.dead, err = openDeadLetters(filepath.Join(cfg.DataDir, "dead-letter.ndjson")); err != nil {
		return nil, err
	}
	s.dead.metrics = s.metrics
	// With a webhook, the store is also its outbox: an alert the webhook had
	// queued but not delivered when the process died is sent after a restart.
	if s.store, err = store.Open(cfg.Store.Path, store.Options{Retention: time.Duration(cfg.Store.Retention),
		Outbox: cfg.Sinks.Webhook != nil}); err != nil {
		return nil, fmt.Errorf("alert store: %w", err)
	}
	if files, ferr := rules.ExpandPaths(cfg.Rules); ferr == nil && len(files) == 0 {
		// ./rules from the repository root is the Go package: no rules file.
		err = fmt.Errorf("no rules files (*.yaml, *.yml) in %s: name the rules with --rules DIR (e.g. --rules examples/rules); to start with no rule, name a file holding rules: [] and pass --allow-empty",
			strings.Join(cfg.Rules, ", "))
		return nil, err
	}
	// The rules: the configured files, with the lists kept through the API,
	// recorded as a version when they changed since the last one.
	if s.rules, s.rs, err = reload.Open(context.Background(), s.store,
		reload.Options{Paths: cfg.Rules, Logger: logger.With("component", "rules"), AllowEmpty: cfg.AllowEmptyRules}); err != nil {
		return nil, err
	}
	if len(s.rs.Rules) == 0 && !cfg.AllowEmptyRules {
		// Nearly always a wrong path (./rules from the repository root is
		// the Go package): say so rather than run and match nothing.
		err = fmt.Errorf("no rules in %s (%d rules file(s) found): name the rules with --rules DIR (e.g. --rules examples/rules), or start without rules with --allow-empty",
			strings.Join(cfg.Rules, ", "), len(s.rs.Files))
		return nil, err
	}
	tokens, err := cfg.APITokens()
	if err != nil {
		return nil, err
	}

	// History first, so an alert is on record before anyone acts on it.
	s.targets = []sinks.Target{{Name: "store", Role: sinks.History, Sink: s.store}}
	var history api.AlertReader = s.store
	if c := cfg.ClickHouse; c != nil {
		if s.ch, s.events, err = openClickHouse(c, logger); err != nil {
			return nil, err
		}
		s.targets = append(s.targets, sinks.Target{Name: "clickhouse", Role: sinks.History, Sink: s.ch})
		history = s.ch
		if s.events != nil {
			s.metrics.EventStore("clickhouse", s.events)
		}
	}
	if cfg.Sinks.Stdout {
		s.targets = append(s.targets, sinks.Target{Name: "stdout", Role: sinks.History, Sink: sinks.NewFile(stdout)})
	}
	if cfg.Sinks.File != "" {
		f, ferr := sinks.OpenFile(cfg.Sinks.File)
		if err = ferr; err != nil {
			return nil, err
		}
		s.targets = append(s.targets, sinks.Target{Name: "file", Role: sinks.History, Sink: f})
	}
	if w := cfg.Sinks.Webhook; w != nil {
		headers := http.Header{}
		for k, v := range w.Headers {
			headers.Set(k, v)
		}
		if s.webhook, err = sinks.NewWebhook(sinks.WebhookConfig{URL: w.URL, Headers: headers,
			QueueSize: w.QueueSize, Timeout: time.Duration(w.Timeout), Logger: logger.With("sink", "webhook"),
			MinBackoff: time.Duration(w.MinBackoff), MaxBackoff: time.Duration(w.MaxBackoff),
			Delivered: s.webhookDelivered, Attempted: s.metrics.WebhookAttempt,
			DeadLetter: s.deadAlert}); err != nil {
			return nil, err
		}
		s.targets = append(s.targets, sinks.Target{Name: "webhook", Role: sinks.Action, Sink: s.webhook})
	}
	if k := cfg.Sinks.Kafka; k != nil {
		ks, kerr := sinks.NewKafka(sinks.KafkaConfig{Brokers: k.Brokers, Topic: k.Topic})
		if err = kerr; err != nil {
			return nil, err
		}
		s.targets = append(s.targets, sinks.Target{Name: "kafka", Role: sinks.Action, Sink: ks})
	}
	s.fanout = sinks.NewFanout(s.measured(s.targets)...)
	if s.webhook != nil {
		s.metrics.Webhook("webhook", s.webhook)
	}

	ooo := time.Duration(cfg.Time.OutOfOrderness)
	opts := []cep.Option{
		cep.WithWorkers(cfg.Limits.Workers),
		cep.WithOutOfOrderness(ooo),
		cep.WithMaxPartialMatches(cfg.Limits.MaxPartialMatches),
		cep.WithMaxBuffered(cfg.Limits.MaxBufferedEvents),
		cep.WithAlertQueue(cfg.Limits.AlertQueue),
		cep.WithStateTTL(time.Duration(cfg.Limits.StateTTL)),
		cep.WithDecoder(&s.decoder),
		cep.WithSink(s.fanout),
		cep.WithDeliveryErrors(s.deliveryFailed),
		cep.WithObserver(s.metrics.Observer()),
		cep.WithExpressionErrors(s.expressionFailed),
	}
	if cfg.Time.AdvanceWhenIdle {
		opts = append(opts, cep.WithWallClockWhenIdle())
	}
	if s.eng, err = cep.New(s.rs, opts...); err != nil {
		return nil, err
	}
	s.rules.Attach(s.eng)
	s.metrics.Engine(s.eng)
	in, err := s.eng.OpenInput("http", cep.InputOptions{OutOfOrderness: ooo, IdleTimeout: time.Duration(cfg.Time.IdleTimeout)})
	if err != nil {
		return nil, err
	}
	s.http = &httpInput{in: in, decoder: &s.decoder, dead: s.dead, metrics: s.metrics, started: time.Now().UnixMilli(),
		wait: time.Duration(cfg.Limits.IngestWait), events: s.events}
	// Before any event, and before the Kafka source starts (its first
	// assignment reads the positions): the last checkpoint's state.
	var positions map[string]int64
	if cfg.Checkpoint.Interval > 0 {
		if s.ck, err = newCheckpointer(s); err != nil {
			return nil, err
		}
		positions, err = s.ck.restore(context.Background())
		if err != nil {
			return nil, fmt.Errorf("%w (to start without that state, move %s away)", err, cfg.Checkpoint.Dir)
		}
	}
	if k := cfg.Kafka; k != nil {
		start := kafka.FirstOffset
		if k.StartOffset == "last" {
			start = kafka.LastOffset
		}
		// The wall clock waits until the group is joined (see assign).
		s.eng.FollowWallClock(false)
		s.kafka = &kafkaInput{eng: s.eng, log: logger.With("source", "kafka"), topic: k.Topic, inputs: map[int]*cep.Input{}, events: s.events,
			pushed: map[int]sources.Record{}, restored: map[string]int64{}, skip: map[int]int64{},
			ck: s.ck, grace: time.Duration(k.SessionTimeout + k.RebalanceTimeout),
			followWall: cfg.Time.AdvanceWhenIdle,
			opts:       cep.InputOptions{OutOfOrderness: ooo, IdleTimeout: time.Duration(cfg.Time.IdleTimeout), PartitionKey: k.Key}}
		if positions != nil {
			s.kafka.restored = positions
		}
		if s.kafka.grace <= 0 {
			s.kafka.grace = time.Minute // kafka-go's defaults: 30s each
		}
		if s.kafka.src, err = sources.NewKafka(sources.KafkaConfig{Brokers: k.Brokers, Topic: k.Topic, GroupID: k.GroupID,
			Decoder: s.decoder, DeadLetterTopic: k.DeadLetterTopic, StartOffset: start,
			OnAssign: s.kafka.assign, OnRevoke: s.kafka.revoke,
			CommitInterval: time.Duration(k.CommitInterval), HeartbeatInterval: time.Duration(k.HeartbeatInterval),
			SessionTimeout: time.Duration(k.SessionTimeout), RebalanceTimeout: time.Duration(k.RebalanceTimeout),
			JoinGroupBackoff: time.Duration(k.JoinGroupBackoff), FetchMaxWait: time.Duration(k.FetchMaxWait),
			Logger: logger.With("source", "kafka")}); err != nil {
			s.kafka = nil
			return nil, err
		}
		s.metrics.Kafka(k.Topic, s.kafka.src)
		if k.Key != "" {
			s.warnCoPartitioned(k.Key)
		}
	}
	s.registerHealth()
	s.watchReloads()
	srv := &api.Server{Ingest: s.http, Alerts: history, Readiness: s.health.ReadyHandler(), Metrics: s.metrics.Handler(),
		MaxBodySize: int64(cfg.Limits.MaxBodySize),
		MaxItems:    cfg.Limits.MaxEventsPerRequest, Logger: logger, Rules: s.rules, Tokens: tokens, MaxListSize: int64(cfg.Limits.MaxListSize)}
	s.api = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if t := cfg.HTTP.TLS; t != nil {
		if _, err = tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
			return nil, fmt.Errorf("http.tls: %w", err)
		}
	}
	if s.ln, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	if len(tokens) == 0 {
		if host, _, _ := net.SplitHostPort(cfg.HTTP.Listen); isLoopback(host) {
			logger.Info("the API has no tokens: it is open to every local process (configure auth.tokens to guard it)", "listen", s.Addr())
		} else {
			logger.Warn("the API has no tokens and listens beyond this machine: anyone who reaches it can change the rules (configure auth.tokens)", "listen", s.Addr())
		}
	}
	return s, nil
}

// warnCoPartitioned says which rules run in the Kafka partitions' own
// time (their key is kafka.key) and that events posted over HTTP reach
// them through the exchange, apart from the Kafka events of the same key.
func (s *Service) warnCoPartitioned(key string) {
	var co []string
	for _, r := range s.rs.Rules {
		if len(r.Key) == 1 && strings.TrimSpace(r.Key[0].Source) == strings.TrimSpace(key) {
			co = append(co, r.Name)
		}
	}
	if len(co) == 0 {
		s.log.Warn("kafka.key matches no rule's key: every rule is served through the exchange", "kafka_key", key)
		return
	}
	s.log.Info("rules keyed by kafka.key run in each Kafka partition's own time", "kafka_key", key, "rules", strings.Join(co, ","))
	s.log.Warn("events posted over HTTP reach these rules apart from the Kafka events of the same key: send a key's events through one path",
		"rules", strings.Join(co, ","))
}

// expressionFailed logs the first failures of each expression (a few per
// expression and worker): which rule and setting, where it is written, the
// expression, the event and why. The counts are in the engine's stats.
func (s *Service) expressionFailed(x rules.ExprError, sample rules.ErrorSample) {
	s.log.Warn("expression failed; the condition is false for this event",
		"rule", x.Rule, "field", x.Field, "at", fmt.Sprintf("%s:%d:%d", x.File, x.Line, x.Column),
		"expr", x.Source, "event", sample.EventID, "err", sample.Msg)
}

// Addr is the API's address, once New has bound it.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Describe says where everything is, for the startup banner.
func (s *Service) Describe() string {
	var b strings.Builder
	seq, thr := 0, 0
	for _, r := range s.rs.Rules {
		if r.Sequence != nil {
			seq++
		} else {
			thr++
		}
	}
	fmt.Fprintf(&b, "vigil serve\n")
	fmt.Fprintf(&b, "  rules        %s: %d rules (%d sequence, %d threshold), version %d\n",
		strings.Join(s.cfg.Rules, ", "), len(s.rs.Rules), seq, thr, s.rs.Version)
	scheme, auth := "http", "open (no tokens)"
	if s.cfg.HTTP.TLS != nil {
		scheme = "https"
	}
	if n := len(s.cfg.Auth.Tokens); n > 0 {
		auth = fmt.Sprintf("%d tokens", n)
	}
	fmt.Fprintf(&b, "  http         %s://%s  (POST /v1/events, GET /v1/alerts, /v1/rules, /v1/lists, /healthz, /readyz, /metrics); API %s\n", scheme, s.Addr(), auth)
	if k := s.cfg.Kafka; k != nil {
		fmt.Fprintf(&b, "  kafka in     %s topic %s, group %s, dead letters to %s\n", strings.Join(k.Brokers, ","), k.Topic, k.GroupID, k.DeadLetterTopic)
	}
	var outs []string
	if s.cfg.Sinks.Stdout {
		outs = append(outs, "stdout")
	}
	if s.cfg.Sinks.File != "" {
		outs = append(outs, "file "+s.cfg.Sinks.File)
	}
	if w := s.cfg.Sinks.Webhook; w != nil {
		outs = append(outs, "webhook "+w.URL)
	}
	if k := s.cfg.Sinks.Kafka; k != nil {
		outs = append(outs, "kafka topic "+k.Topic)
	}
	fmt.Fprintf(&b, "  alerts       store %s; %s\n", s.cfg.Store.Path, strings.Join(outs, ", "))
	fmt.Fprintf(&b, "  dead letters %s\n", s.dead.path)
	fmt.Fprintf(&b, "  time         field %q, out-of-orderness %s, idle %s, follow wall clock when idle: %v\n",
		s.cfg.Time.Field, time.Duration(s.cfg.Time.OutOfOrderness), time.Duration(s.cfg.Time.IdleTimeout), s.cfg.Time.AdvanceWhenIdle)
	fmt.Fprintf(&b, "  workers      %d\n", s.cfg.Limits.Workers)
	return b.String()
}

// Run serves until ctx ends, then shuts down gracefully: stop intake,
// drain the engine (its delivery stage writes the last alerts), flush the
// sinks, commit offsets. Each phase has its own time limit, so one slow
// part cannot starve the others.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 1)

	wg.Add(1)
	go func() {
		defer wg.Done()
		serve := func() error { return s.api.Serve(s.ln) }
		if t := s.cfg.HTTP.TLS; t != nil {
			serve = func() error { return s.api.ServeTLS(s.ln, t.Cert, t.Key) }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	if s.kafka != nil {
		wg.Go(func() { s.kafka.run(s.life) })
	}
	wg.Go(func() { s.tick(s.life) })
	wg.Go(func() { s.reloadOnSignal(s.life) })
	if s.ck != nil {
		wg.Go(func() { s.ck.run(s.life) })
	}
	if s.cfg.RulesWatch {
		wg.Go(func() { s.watchRules(s.life) })
	}
	if s.webhook != nil {
		wg.Go(func() { s.resendOutbox(s.life) })
	}
	retention := make(chan struct{})
	go func() {
		defer close(retention)
		s.store.RunRetention(s.life, time.Hour)
	}()
	if s.ch != nil {
		wg.Go(func() { s.ch.RunRetention(s.life, time.Duration(s.cfg.ClickHouse.Retention), time.Hour) })
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		s.log.Error("stopping after an error", "err", runErr)
	}
	s.stopping.Store(true)
	s.log.Info("shutting down: stopping intake")
	s.stopLife()
	httpCtx, cancelHTTP := context.WithTimeout(context.Background(), 10*time.Second)
	if err := s.api.Shutdown(httpCtx); err != nil {
		s.log.Warn("requests still running after 10s; closing their connections", "err", err)
		_ = s.api.Close()
	}
	cancelHTTP()
	wg.Wait()
	<-retention

	drainCtx, cancelDrain := context.WithTimeout(context.Background(), 30*time.Second)
	if s.ck != nil {
		// Checkpointed: deliver what was raised, save the state as it is
		// (buffered events included), and stop without moving time.
		s.log.Info("shutting down: delivering alerts, then the last checkpoint")
		if err := s.eng.Flush(drainCtx); err != nil {
			s.log.Error("delivering alerts before the last checkpoint", "pending", s.eng.Stats().Pending, "err", err)
		}
		if err := s.ck.checkpoint(drainCtx); err != nil {
			s.log.Error("the last checkpoint failed; the one before stays the truth", "err", err)
		}
		if err := s.eng.Halt(drainCtx); err != nil {
			s.log.Error("stopping the engine: alerts not written; the checkpoint holds them", "err", err)
			runErr = errors.Join(runErr, err)
		}
	} else {
		s.log.Info("shutting down: draining the engine")
		if err := s.eng.Close(drainCtx); err != nil {
			s.log.Error("draining the engine: alerts not written; their events stay uncommitted",
				"pending", s.eng.Stats().Pending, "err", err)
			runErr = errors.Join(runErr, err)
		}
	}
	cancelDrain()
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelFlush()
	if err := s.closeAll(flushCtx); err != nil {
		runErr = errors.Join(runErr, err)
	}
	s.log.Info("stopped")
	return runErr
}

// closeAll flushes the sinks, then commits the source's offsets: only
// alerts durably written may let offsets move.
func (s *Service) closeAll(ctx context.Context) error {
	var errs []error
	if s.events != nil { // before the sinks: the ClickHouse sink closes the connection
		if err := s.events.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("writing events to clickhouse: %w", err))
		}
	}
	if s.fanout != nil {
		if err := s.fanout.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flushing sinks: %w", err))
		}
	} else {
		for _, t := range s.targets { // New failed before the fan-out existed
			errs = append(errs, t.Sink.Close(ctx))
		}
		if len(s.targets) == 0 && s.store != nil {
			errs = append(errs, s.store.Close(ctx))
		}
	}
	if s.kafka != nil {
		// Its own time: a slow webhook drain above must not leave the final
		// commit no time at all.
		commitCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.kafka.src.Close(commitCtx); err != nil {
			errs = append(errs, fmt.Errorf("committing kafka offsets: %w", err))
		}
	}
	if s.dead != nil {
		errs = append(errs, s.dead.Close())
	}
	if s.stopTracing != nil {
		if err := s.stopTracing(ctx); err != nil {
			s.log.Warn("traces not all sent before shutdown", "err", err)
		}
	}
	return errors.Join(errs...)
}

// deliveryFailed logs a failed alert delivery: the first attempt, then
// every tenth, so a long outage does not flood the log. The engine
// retries; /readyz reports it meanwhile.
func (s *Service) deliveryFailed(err error, attempt int) {
	if attempt == 1 || attempt%10 == 0 {
		s.log.Warn("alerts not written; retrying", "attempt", attempt, "err", err)
	}
}

// tick lets the wall clock act on the engine: idle inputs, and the
// watermark following the clock when every source is idle.
func (s *Service) tick(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.eng.Tick(ctx); err != nil && !errors.Is(err, cep.ErrClosed) {
				s.log.Error("engine tick", "err", err)
			}
		}
	}
}

// webhookDelivered clears a delivered alert from the outbox.
func (s *Service) webhookDelivered(a cep.Alert) {
	if err := s.store.OutboxDone(context.Background(), a.ID); err != nil {
		s.log.Warn("outbox: could not mark a delivered alert; it may be sent again after a restart", "alert_id", a.ID, "err", err)
	}
}

// resendOutbox queues the alerts the webhook had not delivered when the
// service last stopped (crash, or a drain that ran out of time).
func (s *Service) resendOutbox(ctx context.Context) {
	alerts, err := s.store.Outbox(ctx)
	if err != nil {
		s.log.Error("outbox: reading undelivered webhook alerts", "err", err)
		return
	}
	if len(alerts) > 0 {
		s.log.Info("outbox: sending alerts the webhook had not delivered before the last stop", "alerts", len(alerts))
	}
	if err := s.webhook.WriteBatch(ctx, alerts); err != nil {
		return // shutting down: they stay in the outbox
	}
}

// deadAlert records an alert the webhook gave up on, so it is never lost:
// in the dead-letter file, and only then off the outbox. One it abandoned
// because the service is stopping, or whose dead letter cannot be
// written, stays in the outbox and is sent after the restart.
func (s *Service) deadAlert(f sinks.FailedAlert) {
	if s.stopping.Load() {
		s.log.Warn("webhook: alert not delivered before shutdown; it will be sent after the restart", "alert_id", f.Alert.ID, "err", f.Err)
		return
	}
	raw, _ := json.Marshal(f.Alert)
	if err := s.dead.write(replay.Rejected{Source: "webhook", Reason: "alert_undeliverable", Error: fmt.Sprint(f.Err), Raw: string(raw)}); err != nil {
		s.log.Error("webhook gave up on an alert and the dead-letter file cannot take it; it stays in the outbox for the next start",
			"alert_id", f.Alert.ID, "rule", f.Alert.Rule, "err", err)
		return
	}
	if err := s.store.OutboxDone(context.Background(), f.Alert.ID); err != nil {
		s.log.Warn("outbox: could not clear a dead-lettered alert", "alert_id", f.Alert.ID, "err", err)
	}
	s.log.Error("webhook gave up on an alert; it is in the dead-letter file", "alert_id", f.Alert.ID, "rule", f.Alert.Rule, "err", f.Err)
}

// isLoopback reports whether a listen host only accepts local connections.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Package serve runs vigil as a service (`vigil serve`): sources feed the
// engine, alerts go to the sinks and the embedded store, and the HTTP API
// answers. It only wires parts together; each part lives in its own
// package.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/api"
	"github.com/vigilhq/vigil/internal/replay"
	"github.com/vigilhq/vigil/rules"
	"github.com/vigilhq/vigil/sinks"
	"github.com/vigilhq/vigil/sources"
	"github.com/vigilhq/vigil/store"
)

// Service is a running vigil.
type Service struct {
	cfg     *Config
	log     *slog.Logger
	rs      *rules.Ruleset
	decoder event.Decoder
	eng     *cep.Engine
	store   *store.SQLite
	targets []sinks.Target // the sinks, in the order the fan-out writes them
	fanout  *sinks.Fanout
	webhook *sinks.Webhook
	kafka   *sources.Kafka
	dead    *deadLetterFile
	marks   *watermarks
	api     *http.Server
	ln      net.Listener

	pendingMu sync.Mutex
	pending   map[*event.Event]sources.Record // Kafka records waiting for the engine
	httpSeq   atomic.Uint64
	startedAt int64
	stopping  atomic.Bool

	// life bounds every engine call. It is the service's, never an HTTP
	// request's: one engine step writes the alerts of many requests and of
	// Kafka, so a client hanging up must not cancel it. Shutdown cancels it
	// first, so blocked writes give up and their alerts wait, pending, for
	// the drain.
	life     context.Context
	stopLife context.CancelFunc

	sinkErr  atomic.Pointer[error] // the last alert write failure, while sinks fail
	kafkaErr atomic.Pointer[error] // the last Kafka read failure, while reads fail
}

// New builds a service from its config: it loads the rules, opens the
// store and the sinks, connects the sources, and binds the listener.
func New(cfg *Config, logger *slog.Logger, stdout io.Writer) (*Service, error) {
	s := &Service{cfg: cfg, log: logger, pending: map[*event.Event]sources.Record{}, startedAt: time.Now().UnixMilli()}
	s.life, s.stopLife = context.WithCancel(context.Background())
	var err error
	defer func() {
		if err != nil {
			if s.eng != nil {
				_ = s.eng.Close(context.Background()) // stops its workers
			}
			_ = s.closeAll(context.Background())
		}
	}()
	if s.rs, err = loadRules(cfg.Rules); err != nil {
		return nil, err
	}
	s.decoder = event.Decoder{TimeField: cfg.Time.Field, IDField: cfg.Time.IDField,
		MaxSize: cfg.Limits.MaxEventSize, MaxDepth: cfg.Limits.MaxEventDepth, ProcessingTime: cfg.Time.Processing}
	if err = os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	if s.dead, err = openDeadLetters(filepath.Join(cfg.DataDir, "dead-letter.ndjson")); err != nil {
		return nil, err
	}
	// With a webhook, the store is also its outbox: an alert the webhook had
	// queued but not delivered when the process died is sent after a restart.
	if s.store, err = store.Open(cfg.Store.Path, store.Options{Retention: time.Duration(cfg.Store.Retention),
		Outbox: cfg.Sinks.Webhook != nil}); err != nil {
		return nil, fmt.Errorf("alert store: %w", err)
	}

	// History first, so an alert is on record before anyone acts on it.
	s.targets = []sinks.Target{{Name: "store", Role: sinks.History, Sink: s.store}}
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
			Delivered:  s.webhookDelivered,
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
	s.fanout = sinks.NewFanout(s.targets...)

	s.marks = newWatermarks(time.Duration(cfg.Time.OutOfOrderness), time.Duration(cfg.Time.IdleTimeout),
		cfg.Time.AdvanceWhenIdle, time.Now)
	if s.eng, err = cep.New(s.rs,
		cep.WithWorkers(cfg.Limits.Workers),
		cep.WithExternalWatermark(),
		cep.WithMaxPartialMatches(cfg.Limits.MaxPartialMatches),
		cep.WithDecoder(&s.decoder),
		cep.WithAlertHandler(s.writeAlert),
		cep.WithDoneHandler(s.eventsDone),
	); err != nil {
		return nil, err
	}
	if k := cfg.Kafka; k != nil {
		start := kafka.FirstOffset
		if k.StartOffset == "last" {
			start = kafka.LastOffset
		}
		if s.kafka, err = sources.NewKafka(sources.KafkaConfig{Brokers: k.Brokers, Topic: k.Topic, GroupID: k.GroupID,
			Decoder: s.decoder, DeadLetterTopic: k.DeadLetterTopic, StartOffset: start,
			OutOfOrderness: time.Duration(cfg.Time.OutOfOrderness), IdleTimeout: time.Duration(cfg.Time.IdleTimeout),
			CommitInterval: time.Duration(k.CommitInterval), HeartbeatInterval: time.Duration(k.HeartbeatInterval),
			SessionTimeout: time.Duration(k.SessionTimeout), RebalanceTimeout: time.Duration(k.RebalanceTimeout),
			JoinGroupBackoff: time.Duration(k.JoinGroupBackoff), FetchMaxWait: time.Duration(k.FetchMaxWait),
			Logger: logger.With("source", "kafka")}); err != nil {
			return nil, err
		}
	}
	srv := &api.Server{Ingest: s, Alerts: s.store, Ready: s.ready, MaxBodySize: int64(cfg.Limits.MaxBodySize),
		MaxItems: cfg.Limits.MaxEventsPerRequest, Logger: logger}
	s.api = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if s.ln, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return s, nil
}

func loadRules(paths []string) (*rules.Ruleset, error) {
	files, err := rules.ExpandPaths(paths)
	if err != nil {
		return nil, fmt.Errorf("rules: %w (create the directory or pass --rules)", err)
	}
	return rules.LoadFiles(files...)
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
	fmt.Fprintf(&b, "  http         http://%s  (POST /v1/events, GET /v1/alerts, /healthz, /readyz)\n", s.Addr())
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
// drain the engine, flush the sinks, commit offsets. Each phase has its own
// time limit, so one slow part cannot starve the others.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 3)

	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.api.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	if s.kafka != nil {
		s.marks.observe("kafka", 0, false) // holds time until the source reports
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.readKafka(s.life); err != nil {
				errc <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.tick(s.life)
	}()
	if s.webhook != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.resendOutbox(s.life)
		}()
	}
	retention := make(chan struct{})
	go func() {
		defer close(retention)
		s.store.RunRetention(s.life, time.Hour)
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		s.log.Error("stopping after an error", "err", runErr)
	}
	s.stopping.Store(true)
	s.log.Info("shutting down: stopping intake")
	s.stopLife() // blocked alert writes give up; their alerts stay pending for the drain
	httpCtx, cancelHTTP := context.WithTimeout(context.Background(), 10*time.Second)
	if err := s.api.Shutdown(httpCtx); err != nil {
		s.log.Warn("requests still running after 10s; closing their connections", "err", err)
		_ = s.api.Close()
	}
	cancelHTTP()
	wg.Wait()
	<-retention

	s.log.Info("shutting down: draining the engine")
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), 30*time.Second)
	if err := s.eng.Close(drainCtx); err != nil {
		s.log.Error("draining the engine: alerts not written; their events stay uncommitted",
			"pending", s.eng.Stats().Pending, "err", err)
		runErr = errors.Join(runErr, err)
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
		if err := s.kafka.Close(commitCtx); err != nil {
			errs = append(errs, fmt.Errorf("committing kafka offsets: %w", err))
		}
	}
	if s.dead != nil {
		errs = append(errs, s.dead.Close())
	}
	return errors.Join(errs...)
}

// writeAlert sends an alert to every sink. A failing sink is retried until
// it takes the alert or the service stops: an alert is never dropped while
// the process lives, and the events that raised it are not committed.
func (s *Service) writeAlert(ctx context.Context, a cep.Alert) error {
	backoff := 100 * time.Millisecond
	for {
		err := s.fanout.Write(ctx, a)
		if err == nil {
			s.sinkErr.Store(nil)
			return nil
		}
		s.sinkErr.Store(&err)
		if ctx.Err() != nil {
			return err
		}
		s.log.Warn("alert not written; retrying", "rule", a.Rule, "key", a.Key, "id", a.ID, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return err
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// eventsDone acknowledges Kafka records once the engine processed their
// events and their alerts were written.
func (s *Service) eventsDone(_ context.Context, evs []*event.Event) {
	if s.kafka == nil {
		return
	}
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	for _, ev := range evs {
		if r, ok := s.pending[ev]; ok {
			delete(s.pending, ev)
			s.kafka.Done(r)
		}
	}
}

// Ingest implements api.Ingester for POST /v1/events. The request's context
// is not used for the engine: see Service.life.
func (s *Service) Ingest(_ context.Context, items []json.RawMessage) []api.Rejected {
	var rejected []api.Rejected
	var maxTime int64
	seen := false
	for i, raw := range items {
		pos := "http:" + strconv.FormatInt(s.startedAt, 36) + ":" + strconv.FormatUint(s.httpSeq.Add(1), 10)
		ev, err := s.decoder.Decode(raw, pos)
		if err == nil {
			err = s.eng.ProcessEvent(s.life, ev)
		}
		if err != nil {
			reason := event.ReasonOf(err)
			rejected = append(rejected, api.Rejected{Index: i, Reason: reason, Error: err.Error()})
			// Line is the item's number in the request, from 1.
			s.dead.write(replay.Rejected{Source: "http", Line: i + 1, Reason: reason, Error: err.Error(), Raw: string(raw)})
			continue
		}
		if !seen || ev.Time > maxTime {
			maxTime, seen = ev.Time, true
		}
	}
	if seen {
		s.marks.observe("http", maxTime-time.Duration(s.cfg.Time.OutOfOrderness).Milliseconds(), true)
		s.advance(s.life)
	}
	return rejected
}

// readKafka feeds the engine from the Kafka source until ctx ends. A read
// error (for instance the dead-letter topic being unavailable, which holds
// back the records it cannot yet park) is logged, reported by /readyz and
// retried: processing never stops for bad input or a broker hiccup.
func (s *Service) readKafka(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		recs, err := s.kafka.Read(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, sources.ErrClosed) {
				return nil
			}
			s.kafkaErr.Store(&err)
			s.log.Warn("kafka read failed; retrying", "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		s.kafkaErr.Store(nil)
		backoff = 100 * time.Millisecond
		for _, r := range recs {
			s.pendingMu.Lock()
			s.pending[r.Event] = r
			s.pendingMu.Unlock()
			if err := s.eng.ProcessEvent(ctx, r.Event); err != nil {
				s.pendingMu.Lock()
				delete(s.pending, r.Event)
				s.pendingMu.Unlock()
				if errors.Is(err, cep.ErrClosed) {
					return nil
				}
				// Late: to the dead-letter topic, and its offset may move on.
				s.deadLetterKafka(ctx, r, err)
			}
		}
		s.observeKafka()
		s.advance(ctx)
	}
}

// deadLetterKafka writes a record the engine rejected to the dead-letter
// topic, retrying with backoff while the topic is unavailable: the record
// is not committed until it is written, and the service keeps running.
func (s *Service) deadLetterKafka(ctx context.Context, r sources.Record, cause error) {
	backoff := 100 * time.Millisecond
	for {
		err := s.kafka.DeadLetter(ctx, r, event.ReasonOf(cause), cause)
		if err == nil || ctx.Err() != nil {
			return
		}
		s.log.Warn("dead-letter write failed; retrying", "partition", r.Partition, "offset", r.Offset, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// tick moves the watermark with time, for idle sources.
func (s *Service) tick(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.kafka != nil {
				s.observeKafka()
			}
			s.advance(ctx)
		}
	}
}

// observeKafka reports the Kafka source to the watermark tracker. Until it
// has partitions assigned and all of them have gone idle, it counts as
// active — with an unknown time before its first events — so the wall
// clock cannot overtake events it is about to deliver (joining a consumer
// group can take seconds).
func (s *Service) observeKafka() {
	wm, ok := s.kafka.Watermark()
	st := s.kafka.Stats()
	idle := len(st.Partitions) > 0
	for _, p := range st.Partitions {
		idle = idle && p.Idle
	}
	if !idle {
		s.marks.observe("kafka", wm, ok)
	}
}

// advance moves the engine's watermark to the combined one.
func (s *Service) advance(ctx context.Context) {
	wm, ok := s.marks.current()
	if !ok {
		return
	}
	if err := s.eng.AdvanceWatermark(ctx, time.UnixMilli(wm)); err != nil && !errors.Is(err, cep.ErrClosed) && ctx.Err() == nil {
		s.log.Error("advancing the watermark", "err", err)
	}
}

func (s *Service) ready(ctx context.Context) error {
	if s.stopping.Load() {
		return errors.New("shutting down")
	}
	if err := s.sinkErr.Load(); err != nil {
		return fmt.Errorf("alert sinks are failing, intake is held back: %w", *err)
	}
	if err := s.kafkaErr.Load(); err != nil {
		return fmt.Errorf("kafka source is failing: %w", *err)
	}
	if s.webhook != nil {
		if err := s.webhook.Ready(); err != nil {
			return fmt.Errorf("webhook sink: %w", err)
		}
	}
	if _, err := s.store.Count(ctx); err != nil {
		return fmt.Errorf("alert store: %w", err)
	}
	return nil
}

// webhookDelivered clears a delivered alert from the outbox.
func (s *Service) webhookDelivered(a cep.Alert) {
	if err := s.store.OutboxDone(context.Background(), a.ID); err != nil {
		s.log.Warn("outbox: could not mark a delivered alert; it may be sent again after a restart", "id", a.ID, "err", err)
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
	for _, a := range alerts {
		if err := s.webhook.Write(ctx, a); err != nil {
			return // shutting down: they stay in the outbox
		}
	}
}

// deadAlert records an alert the webhook gave up on, so it is never lost.
// One it abandoned because the service is stopping stays in the outbox and
// is sent after the restart.
func (s *Service) deadAlert(f sinks.FailedAlert) {
	if s.stopping.Load() {
		s.log.Warn("webhook: alert not delivered before shutdown; it will be sent after the restart", "id", f.Alert.ID, "err", f.Err)
		return
	}
	if err := s.store.OutboxDone(context.Background(), f.Alert.ID); err != nil {
		s.log.Warn("outbox: could not clear a dead-lettered alert", "id", f.Alert.ID, "err", err)
	}
	raw, _ := json.Marshal(f.Alert)
	s.dead.write(replay.Rejected{Source: "webhook", Reason: "alert_undeliverable", Error: fmt.Sprint(f.Err), Raw: string(raw)})
	s.log.Error("webhook gave up on an alert; it is in the dead-letter file", "id", f.Alert.ID, "rule", f.Alert.Rule, "err", f.Err)
}

// deadLetterFile appends rejected input as NDJSON.
type deadLetterFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
	enc  *json.Encoder
}

func openDeadLetters(path string) (*deadLetterFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &deadLetterFile{path: path, f: f, enc: json.NewEncoder(f)}, nil
}

func (d *deadLetterFile) write(r replay.Rejected) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_ = d.enc.Encode(r)
}

func (d *deadLetterFile) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.f.Close()
}

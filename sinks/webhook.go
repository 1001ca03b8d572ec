package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/cep"
)

var _ cep.Sink = (*Webhook)(nil)

// WebhookConfig configures a Webhook. Zero fields take the defaults given.
type WebhookConfig struct {
	// URL receives one POST per alert. Required; http or https.
	URL string
	// Headers are added to every request (e.g. Authorization). They cannot
	// override Content-Type or Idempotency-Key.
	Headers http.Header
	// Timeout bounds each request. Default 10s.
	Timeout time.Duration
	// QueueSize bounds the alerts accepted but not yet delivered (queued
	// or being retried). When it is reached, WriteBatch blocks. Default
	// 1000.
	QueueSize int
	// Workers is the number of concurrent deliveries. Default 2.
	Workers int
	// MinBackoff and MaxBackoff bound the wait between attempts: before
	// retry n it is uniformly random in [0, min(MaxBackoff,
	// MinBackoff·2ⁿ⁻¹)) ("full jitter"). A Retry-After header on a 429 or
	// 503 raises the wait, up to MaxBackoff. Defaults 100ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts gives up on an alert after that many failed attempts,
	// treating it as a permanent failure. 0, the default, retries forever.
	MaxAttempts int
	// DedupeSize is how many delivered ids are remembered. Default
	// DefaultDedupeSize.
	DedupeSize int
	// FailureThreshold is how many consecutive failed attempts make Ready
	// report an error. Default 5.
	FailureThreshold int
	// Client sends the requests. Default: a client with its own transport,
	// whose idle connections Close closes, that does not follow redirects
	// (a 3xx is a permanent failure).
	Client *http.Client
	// Logger receives permanent failures (Error) and retries (Debug).
	// Default: discard.
	Logger *slog.Logger
	// DeadLetter, if set, receives every alert the webhook gives up on:
	// rejected with a 4xx, out of attempts, or abandoned by Close. It is
	// called from a delivery goroutine and should not block for long. If
	// nil, those alerts are kept in memory, without bound, and returned by
	// Failed; a long-running service should set DeadLetter.
	DeadLetter func(FailedAlert)
	// Delivered, if set, is called with every alert the receiver accepted
	// (a 2xx), from a delivery goroutine: for instance to clear an outbox,
	// so that alerts still queued at a crash can be sent after a restart.
	Delivered func(cep.Alert)
	// Attempted, if set, is told how long each request took and its error
	// (nil: a 2xx), from a delivery goroutine: for metrics.
	Attempted func(took time.Duration, err error)

	// Rand returns a number in [0, 1) for jitter; it must be safe for
	// concurrent use. Default math/rand/v2.Float64. For tests.
	Rand func() float64
	// Sleep waits d or until ctx ends, returning ctx's error in that case.
	// For tests.
	Sleep func(ctx context.Context, d time.Duration) error
}

// FailedAlert is an alert the webhook gave up on.
type FailedAlert struct {
	Alert    cep.Alert
	Err      error // the last attempt's error, or why it was abandoned
	Attempts int
}

// WebhookStats counts what a Webhook has done.
type WebhookStats struct {
	Queued       int64 // accepted, not yet delivered or given up (includes in-flight)
	Delivered    int64 // got a 2xx
	Retries      int64 // failed attempts that will be retried
	Failures     int64 // alerts given up on: a non-retryable status, or MaxAttempts reached
	Deduplicated int64 // alerts skipped because the id was delivered or queued
	Abandoned    int64 // alerts still undelivered when Close's ctx ended
}

// Webhook POSTs each alert as JSON to a URL, with the header
// "Idempotency-Key: <alert id>".
//
// WriteBatch puts the alerts, in order, in a bounded in-memory queue and
// returns; delivery workers send each in its own request, retrying network
// errors, 408, 429 and 5xx with exponential backoff and full jitter.
// Another 4xx (or any other non-2xx) is a permanent failure: logged,
// counted and handed to DeadLetter (or kept for Failed). When the queue is
// full, WriteBatch blocks (backpressure). With more than one worker,
// alerts queued in order may be delivered out of order. An id that was
// delivered recently or is queued is not sent again; an
// alert with no id is never de-duplicated. Receivers should de-duplicate
// on Idempotency-Key too: a response lost on the way back means a resend
// (net/http itself resends such a request when a reused connection drops).
//
// The queue lives in memory: alerts accepted by WriteBatch but not
// delivered are lost if the process crashes, unless an outbox records
// them, as vigil serve's store does (see Delivered). Close drains the
// queue.
type Webhook struct {
	cfg       WebhookConfig
	client    *http.Client
	transport *http.Transport // ours, if cfg.Client was nil
	log       *slog.Logger

	slots   chan struct{}      // one token per pending alert: bounds the queue
	queue   chan *delivery     // cap QueueSize; never full, since slots bound it
	closing chan struct{}      // closed by Close: blocked WriteBatch calls give up
	cancel  context.CancelFunc // cancels the workers' ctx when Close gives up draining
	done    chan struct{}      // closed when every worker has returned

	mu        sync.Mutex
	closed    bool
	closeErr  error
	pending   map[string]struct{} // ids queued or being delivered
	delivered *idSet
	failed    []FailedAlert
	lastErr   error // the last failed attempt's error, for Ready

	nDelivered, nRetries, nFailures, nDeduplicated, nAbandoned atomic.Int64
	consecutive                                                atomic.Int64 // failed attempts since the last success
}

// delivery is one queued alert.
type delivery struct {
	alert cep.Alert
	body  []byte
}

// NewWebhook checks cfg, fills in defaults and starts the delivery
// workers. Close stops them.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook: url %q: want http(s)://host/…", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1000
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.MaxAttempts < 0 {
		cfg.MaxAttempts = 0
	}
	if cfg.FailureThreshold <= 0 {
		cfg.FailureThreshold = 5
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	w := &Webhook{
		cfg:       cfg,
		client:    cfg.Client,
		log:       cfg.Logger,
		slots:     make(chan struct{}, cfg.QueueSize),
		queue:     make(chan *delivery, cfg.QueueSize),
		closing:   make(chan struct{}),
		done:      make(chan struct{}),
		pending:   make(map[string]struct{}),
		delivered: newIDSet(cfg.DedupeSize),
	}
	if w.client == nil {
		w.transport = http.DefaultTransport.(*http.Transport).Clone()
		w.client = &http.Client{
			Transport: w.transport,
			// Following a 301/302/303 would turn the POST into a GET
			// without the alert, whose 200 would count as delivered.
			// A redirect is a permanent failure instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.log = w.log.With("sink", "webhook", "host", u.Host)
	stop, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() { w.work(stop) })
	}
	go func() {
		wg.Wait()
		close(w.done)
	}()
	return w, nil
}

// Write queues a for delivery, as WriteBatch does a batch of one.
func (w *Webhook) Write(ctx context.Context, a cep.Alert) error {
	return w.WriteBatch(ctx, []cep.Alert{a})
}

// WriteBatch queues alerts for delivery, one at a time and in order, and
// returns once all are queued. While the queue is full it waits for room,
// returning ctx's error if ctx ends first, or ErrClosed if the webhook is
// closed; the alerts queued before that stay queued, and writing the batch
// again skips them. An id delivered recently or already queued (earlier
// in the batch, say) is skipped.
func (w *Webhook) WriteBatch(ctx context.Context, alerts []cep.Alert) error {
	for _, a := range alerts {
		if err := w.enqueue(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// enqueue queues a, waiting for a slot while the queue is full.
func (w *Webhook) enqueue(ctx context.Context, a cep.Alert) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	closed, dup := w.closed, w.isDup(a.ID)
	w.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if dup {
		w.nDeduplicated.Add(1)
		return nil
	}
	// The bytes json.Marshal(a) returns, without its second pass over them.
	body, err := a.MarshalJSON()
	if err != nil {
		return fmt.Errorf("webhook: encode alert %s: %w", a.ID, err)
	}

	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.closing:
		return ErrClosed
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// Check again: Close, or another write of the same id, may have come
	// in while we waited.
	if w.closed {
		<-w.slots
		return ErrClosed
	}
	if w.isDup(a.ID) {
		<-w.slots
		w.nDeduplicated.Add(1)
		return nil
	}
	if a.ID != "" {
		w.pending[a.ID] = struct{}{}
	}
	w.queue <- &delivery{alert: a, body: body} // never blocks: we hold a slot
	return nil
}

// isDup reports whether id was delivered recently or is pending. w.mu is held.
func (w *Webhook) isDup(id string) bool {
	if id == "" {
		return false
	}
	_, queued := w.pending[id]
	return queued || w.delivered.Contains(id)
}

// Close stops accepting alerts (WriteBatch returns ErrClosed) and waits for
// the queue to drain. If ctx ends first, the deliveries under way are
// cancelled, the alerts not yet delivered go to DeadLetter (or Failed),
// and Close returns an error saying how many there were. Either way, every
// worker goroutine has returned when Close does.
func (w *Webhook) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.closing)
		close(w.queue) // no enqueue can send now: they check closed under mu
	}
	w.mu.Unlock()

	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done // prompt: requests and backoff sleeps watch the workers' ctx
	}
	w.cancel()
	if w.transport != nil {
		w.transport.CloseIdleConnections()
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.nAbandoned.Load(); n > 0 && w.closeErr == nil {
		w.closeErr = fmt.Errorf("webhook: closed with %d alerts undelivered: %w", n, context.Cause(ctx))
	}
	return w.closeErr
}

// Stats returns the webhook's counters.
func (w *Webhook) Stats() WebhookStats {
	return WebhookStats{
		Queued:       int64(len(w.slots)),
		Delivered:    w.nDelivered.Load(),
		Retries:      w.nRetries.Load(),
		Failures:     w.nFailures.Load(),
		Deduplicated: w.nDeduplicated.Load(),
		Abandoned:    w.nAbandoned.Load(),
	}
}

// Ready returns an error, for /readyz, once FailureThreshold consecutive
// attempts have failed; a successful delivery clears it.
func (w *Webhook) Ready() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.consecutive.Load(); n >= int64(w.cfg.FailureThreshold) {
		return fmt.Errorf("webhook: %d consecutive delivery failures, last: %w", n, w.lastErr)
	}
	return nil
}

// Failed returns the alerts given up on, when no DeadLetter is set.
func (w *Webhook) Failed() []FailedAlert {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]FailedAlert(nil), w.failed...)
}

// work delivers queued alerts until Close closes the queue. Once ctx is
// cancelled, it abandons what is left instead.
func (w *Webhook) work(ctx context.Context) {
	for d := range w.queue {
		if err := ctx.Err(); err != nil {
			w.abandon(d, err, 0)
			continue
		}
		w.deliver(ctx, d)
	}
}

// deliver sends d until it is delivered, rejected, out of attempts, or
// abandoned.
func (w *Webhook) deliver(ctx context.Context, d *delivery) {
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := w.post(ctx, d)
		if w.cfg.Attempted != nil {
			w.cfg.Attempted(time.Since(start), err)
		}
		if err == nil {
			w.consecutive.Store(0)
			w.nDelivered.Add(1)
			if w.cfg.Delivered != nil {
				w.cfg.Delivered(d.alert)
			}
			w.finish(d, true)
			return
		}
		if ctx.Err() != nil {
			w.abandon(d, err, attempt)
			return
		}
		w.mu.Lock()
		w.lastErr = err
		w.mu.Unlock()
		w.consecutive.Add(1)

		var se *statusError
		permanent := errors.As(err, &se) && !se.retryable()
		if permanent || (w.cfg.MaxAttempts > 0 && attempt >= w.cfg.MaxAttempts) {
			w.nFailures.Add(1)
			w.log.Error("webhook delivery failed", "alert_id", d.alert.ID, "rule", d.alert.Rule,
				"key", d.alert.Key, "attempts", attempt, "err", err)
			w.giveUp(FailedAlert{Alert: d.alert, Err: err, Attempts: attempt})
			w.finish(d, false)
			return
		}

		w.nRetries.Add(1)
		wait := backoff(attempt, w.cfg.MinBackoff, w.cfg.MaxBackoff, w.cfg.Rand())
		if se != nil && se.retryAfter > wait {
			wait = min(se.retryAfter, w.cfg.MaxBackoff)
		}
		w.log.Debug("webhook delivery will be retried", "alert_id", d.alert.ID, "rule", d.alert.Rule,
			"key", d.alert.Key, "attempt", attempt, "backoff", wait, "err", err)
		if serr := w.cfg.Sleep(ctx, wait); serr != nil {
			w.abandon(d, err, attempt)
			return
		}
	}
}

// post makes one attempt to deliver d.
func (w *Webhook) post(ctx context.Context, d *delivery) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(d.body))
	if err != nil {
		return err
	}
	for k, vs := range w.cfg.Headers {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/json")
	if d.alert.ID != "" {
		req.Header.Set("Idempotency-Key", d.alert.ID)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	// Drain (a little of) the body so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &statusError{code: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
}

// abandon gives up on d because Close stopped waiting.
func (w *Webhook) abandon(d *delivery, err error, attempts int) {
	w.nAbandoned.Add(1)
	w.giveUp(FailedAlert{Alert: d.alert, Err: fmt.Errorf("webhook closed before delivery: %w", err), Attempts: attempts})
	w.finish(d, false)
}

func (w *Webhook) giveUp(f FailedAlert) {
	if w.cfg.DeadLetter != nil {
		w.cfg.DeadLetter(f)
		return
	}
	w.mu.Lock()
	w.failed = append(w.failed, f)
	w.mu.Unlock()
}

// finish takes d out of the queue, freeing its slot.
func (w *Webhook) finish(d *delivery, delivered bool) {
	if id := d.alert.ID; id != "" {
		w.mu.Lock()
		delete(w.pending, id)
		if delivered {
			w.delivered.Add(id)
		}
		w.mu.Unlock()
	}
	<-w.slots
}

// statusError is a non-2xx response.
type statusError struct {
	code       int
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	return fmt.Sprintf("webhook: http status %d %s", e.code, http.StatusText(e.code))
}

// retryable reports whether the request may succeed later: 408, 429, 5xx.
func (e *statusError) retryable() bool {
	return e.code == http.StatusRequestTimeout || e.code == http.StatusTooManyRequests || e.code >= 500
}

// backoff returns the wait before retry number attempt (1 = first retry):
// r·min(max, min·2^(attempt−1)), with r in [0, 1).
func backoff(attempt int, minWait, maxWait time.Duration, r float64) time.Duration {
	ceil := minWait
	for i := 1; i < attempt && ceil < maxWait; i++ {
		ceil *= 2
	}
	ceil = min(ceil, maxWait)
	return time.Duration(r * float64(ceil))
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

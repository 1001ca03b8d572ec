package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
)

// hangUp, as a receiver's response, closes the connection without one.
const hangUp = -1

// receiver is a webhook endpoint. respond picks the response to request n
// (0-based, in arrival order); nil means 200.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	respond func(n int, a cep.Alert) int

	mu       sync.Mutex
	requests int
	got      map[string]int // alert id → times accepted with a 2xx
	order    []string       // ids accepted, in order
	header   http.Header    // the last request's headers
}

func newReceiver(t *testing.T, respond func(n int, a cep.Alert) int) *receiver {
	r := &receiver{t: t, respond: respond, got: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	var a cep.Alert
	if err := json.NewDecoder(req.Body).Decode(&a); err != nil {
		r.t.Errorf("request body is not an alert: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if got := req.Header.Get("Idempotency-Key"); got != a.ID {
		r.t.Errorf("Idempotency-Key = %q; want the alert id %q", got, a.ID)
	}
	if got := req.Header.Get("Content-Type"); got != "application/json" {
		r.t.Errorf("Content-Type = %q; want application/json", got)
	}
	r.mu.Lock()
	n := r.requests
	r.requests++
	r.header = req.Header.Clone()
	r.mu.Unlock()

	status := http.StatusOK
	if r.respond != nil {
		status = r.respond(n, a)
	}
	switch {
	case status == hangUp:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			r.t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
		return
	case status >= 300 && status < 400:
		w.Header().Set("Location", "/elsewhere")
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	case status >= 200 && status < 300:
		r.mu.Lock()
		r.got[a.ID]++
		r.order = append(r.order, a.ID)
		r.mu.Unlock()
	}
	w.WriteHeader(status)
}

func (r *receiver) stats() (requests int, got map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	got = make(map[string]int, len(r.got))
	for k, v := range r.got {
		got[k] = v
	}
	return r.requests, got
}

// checkExactlyOnce fails unless the receiver accepted each alert once and
// nothing else.
func (r *receiver) checkExactlyOnce(alerts []cep.Alert) {
	r.t.Helper()
	_, got := r.stats()
	for _, a := range alerts {
		if got[a.ID] != 1 {
			r.t.Errorf("alert %s received %d times; want 1", a.ID, got[a.ID])
		}
	}
	if len(got) != len(alerts) {
		r.t.Errorf("received %d ids; want %d", len(got), len(alerts))
	}
}

// noSleep is a Sleep for tests: it returns at once, unless ctx has ended.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func newTestWebhook(t *testing.T, cfg WebhookConfig) *Webhook {
	t.Helper()
	if cfg.Sleep == nil {
		cfg.Sleep = noSleep
	}
	w, err := NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

func writeAll(t *testing.T, s cep.Sink, alerts []cep.Alert) {
	t.Helper()
	for _, a := range alerts {
		if err := s.WriteBatch(context.Background(), []cep.Alert{a}); err != nil {
			t.Fatalf("WriteBatch(%s) = %v", a.ID, err)
		}
	}
}

func closeSink(t *testing.T, s cep.Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close() = %v", err)
	}
}

func TestNewWebhookRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "example.com/hook", "ftp://example.com/", "http://", "http://%zz"} {
		if w, err := NewWebhook(WebhookConfig{URL: u}); err == nil {
			w.Close(context.Background())
			t.Errorf("NewWebhook(URL: %q) = nil error; want one", u)
		}
	}
}

func TestWebhookDeliversEachAlertOnce(t *testing.T) {
	r := newReceiver(t, nil)
	w := newTestWebhook(t, WebhookConfig{
		URL: r.srv.URL, Workers: 4, QueueSize: 16,
		Headers: http.Header{"Authorization": {"Bearer s3cret"}, "Content-Type": {"text/plain"}},
	})
	alerts := testAlerts(200, 9)
	writeAll(t, w, alerts)
	closeSink(t, w)

	r.checkExactlyOnce(alerts)
	r.mu.Lock()
	auth := r.header.Get("Authorization")
	r.mu.Unlock()
	if got := auth; got != "Bearer s3cret" {
		t.Errorf("Authorization = %q; want the configured header", got)
	}
	want := WebhookStats{Delivered: 200}
	if got := w.Stats(); got != want {
		t.Errorf("Stats() = %+v; want %+v", got, want)
	}
	if f := w.Failed(); len(f) != 0 {
		t.Errorf("Failed() = %v; want none", f)
	}
}

// A receiver that fails the first requests, then recovers, gets every
// alert exactly once.
func TestWebhookRetriesUntilReceiverRecovers(t *testing.T) {
	const failFirst = 12
	tests := []struct {
		name string
		fail func(n int) int
		// On a reused connection, net/http retries a request with an
		// Idempotency-Key itself after a hang-up, so we count fewer retries.
		hangsUp bool
	}{
		{"500", func(int) int { return http.StatusInternalServerError }, false},
		{"503", func(int) int { return http.StatusServiceUnavailable }, false},
		{"hang up", func(int) int { return hangUp }, true},
		{"429", func(int) int { return http.StatusTooManyRequests }, false},
		{"408", func(int) int { return http.StatusRequestTimeout }, false},
		{"mixed", func(n int) int {
			return []int{http.StatusBadGateway, hangUp, http.StatusTooManyRequests, http.StatusInternalServerError}[n%4]
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t, func(n int, _ cep.Alert) int {
				if n < failFirst {
					return tt.fail(n)
				}
				return http.StatusOK
			})
			w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Workers: 3, MaxBackoff: time.Millisecond})
			alerts := testAlerts(40, 5)
			writeAll(t, w, alerts)
			closeSink(t, w)

			r.checkExactlyOnce(alerts)
			if requests, _ := r.stats(); requests != len(alerts)+failFirst {
				t.Errorf("receiver got %d requests; want %d", requests, len(alerts)+failFirst)
			}
			got := w.Stats()
			want := WebhookStats{Delivered: 40, Retries: failFirst}
			if tt.hangsUp && got.Retries > 0 && got.Retries <= failFirst {
				want.Retries = got.Retries
			}
			if got != want {
				t.Errorf("Stats() = %+v; want %+v", got, want)
			}
		})
	}
}

func TestWebhookPermanentFailure(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		maxAttempts int
		wantTries   int // requests for the bad alert
	}{
		{"400", http.StatusBadRequest, 0, 1},
		{"401", http.StatusUnauthorized, 0, 1},
		{"404", http.StatusNotFound, 0, 1},
		{"422", http.StatusUnprocessableEntity, 0, 1},
		{"302 is not followed", http.StatusFound, 0, 1},
		{"307 is not followed", http.StatusTemporaryRedirect, 0, 1},
		{"500 until MaxAttempts", http.StatusInternalServerError, 4, 4},
	}
	for _, tt := range tests {
		for _, useDeadLetter := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/dead letter %v", tt.name, useDeadLetter), func(t *testing.T) {
				var tries atomic.Int64
				r := newReceiver(t, func(_ int, a cep.Alert) int {
					if a.ID == "bad" {
						tries.Add(1)
						return tt.status
					}
					return http.StatusOK
				})
				var logs bytes.Buffer
				var (
					mu   sync.Mutex
					dead []FailedAlert
				)
				cfg := WebhookConfig{
					URL: r.srv.URL, MaxAttempts: tt.maxAttempts,
					Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				}
				if useDeadLetter {
					cfg.DeadLetter = func(f FailedAlert) {
						mu.Lock()
						dead = append(dead, f)
						mu.Unlock()
					}
				}
				w := newTestWebhook(t, cfg)
				good := testAlerts(5, 2)
				writeAll(t, w, append([]cep.Alert{testAlert("bad", "card-9")}, good...))
				closeSink(t, w)

				r.checkExactlyOnce(good)
				if got := tries.Load(); got != int64(tt.wantTries) {
					t.Errorf("bad alert tried %d times; want %d", got, tt.wantTries)
				}
				failed := w.Failed()
				if useDeadLetter {
					if len(failed) != 0 {
						t.Errorf("Failed() = %v; want none (DeadLetter set)", failed)
					}
					failed = dead
				}
				if len(failed) != 1 || failed[0].Alert.ID != "bad" || failed[0].Attempts != tt.wantTries {
					t.Fatalf("failed alerts = %+v; want just bad, after %d attempts", failed, tt.wantTries)
				}
				if want := fmt.Sprintf("status %d", tt.status); !strings.Contains(failed[0].Err.Error(), want) {
					t.Errorf("failure error = %v; want it to say %q", failed[0].Err, want)
				}
				if st := w.Stats(); st.Failures != 1 || st.Delivered != 5 {
					t.Errorf("Stats() = %+v; want 1 failure, 5 delivered", st)
				}
				if log := logs.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "alert_id=bad") {
					t.Errorf("log = %q; want an error about alert bad", log)
				}
			})
		}
	}
}

// A full queue makes Write block until a slot frees, or until ctx ends.
func TestWebhookBackpressure(t *testing.T) {
	arrived := make(chan string, 10)
	release := make(chan struct{})
	r := newReceiver(t, func(_ int, a cep.Alert) int {
		arrived <- a.ID
		<-release
		return http.StatusOK
	})
	w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Workers: 1, QueueSize: 2})
	ctx := context.Background()

	// a1 goes out and hangs at the receiver; a2 waits in the queue.
	writeAll(t, w, []cep.Alert{testAlert("a1", "k")})
	if id := <-arrived; id != "a1" {
		t.Fatalf("receiver got %s first; want a1", id)
	}
	writeAll(t, w, []cep.Alert{testAlert("a2", "k")})
	if q := w.Stats().Queued; q != 2 {
		t.Errorf("Stats().Queued = %d; want 2", q)
	}

	// The queue is full: Write waits for ctx.
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := w.Write(tctx, testAlert("a3", "k")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write to a full queue, ctx times out = %v; want context.DeadlineExceeded", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	go func() { errc <- w.Write(cctx, testAlert("a3", "k")) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Write to a full queue, ctx cancelled = %v; want context.Canceled", err)
	}

	// A Write waiting for room succeeds once the receiver lets a1 through.
	go func() { errc <- w.Write(ctx, testAlert("a4", "k")) }()
	select {
	case err := <-errc:
		t.Fatalf("Write to a full queue returned %v before a slot freed", err)
	default:
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("Write once a slot frees = %v; want nil", err)
	}
	closeSink(t, w)
	r.checkExactlyOnce([]cep.Alert{testAlert("a1", "k"), testAlert("a2", "k"), testAlert("a4", "k")})
	if q := w.Stats().Queued; q != 0 {
		t.Errorf("after Close, Stats().Queued = %d; want 0", q)
	}
}

// Close wakes a Write blocked on a full queue.
func TestWebhookCloseWakesBlockedWrite(t *testing.T) {
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	r := newReceiver(t, func(int, cep.Alert) int {
		arrived <- struct{}{}
		<-release
		return http.StatusOK
	})
	w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Workers: 1, QueueSize: 1})
	writeAll(t, w, []cep.Alert{testAlert("a1", "k")})
	<-arrived
	errc := make(chan error)
	go func() { errc <- w.Write(context.Background(), testAlert("a2", "k")) }()
	closed := make(chan error)
	go func() { closed <- w.Close(context.Background()) }()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("blocked Write when closed = %v; want ErrClosed", err)
	}
	close(release)
	if err := <-closed; err != nil {
		t.Errorf("Close() = %v", err)
	}
	r.checkExactlyOnce([]cep.Alert{testAlert("a1", "k")})
}

// Close waits for the queue to drain.
func TestWebhookCloseDrains(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t, func(n int, _ cep.Alert) int {
		if n == 0 {
			<-release // hold everything up until Close has begun
		}
		if n%3 == 0 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Workers: 1, QueueSize: 100})
	alerts := testAlerts(100, 10)
	writeAll(t, w, alerts)
	go close(release)
	closeSink(t, w)
	r.checkExactlyOnce(alerts)
	// One worker: the receiver saw the alerts in the order written.
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, id := range r.order {
		if id != alerts[i].ID {
			t.Fatalf("alert %d received = %s; want %s", i, id, alerts[i].ID)
		}
	}
	if err := w.Write(context.Background(), testAlert("late", "k")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v; want ErrClosed", err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("second Close() = %v; want nil", err)
	}
}

// When Close's ctx ends before the queue drains, Close says how many
// alerts were left, and hands them over rather than losing them.
func TestWebhookCloseTimeout(t *testing.T) {
	r := newReceiver(t, func(int, cep.Alert) int { return http.StatusInternalServerError })
	sleeping := make(chan struct{}, 100)
	w := newTestWebhook(t, WebhookConfig{
		URL: r.srv.URL, Workers: 1,
		// Every retry waits until Close gives up.
		Sleep: func(ctx context.Context, _ time.Duration) error {
			sleeping <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		},
	})
	alerts := testAlerts(3, 3)
	writeAll(t, w, alerts)
	<-sleeping // a001 has failed once and waits to retry

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := w.Close(ctx)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "3 alerts undelivered") {
		t.Fatalf("Close() with the receiver down = %v; want 3 alerts undelivered, context.Canceled", err)
	}
	if err2 := w.Close(context.Background()); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second Close() = %v; want %v again", err2, err)
	}
	failed := w.Failed()
	if len(failed) != 3 {
		t.Fatalf("Failed() has %d alerts; want 3: %+v", len(failed), failed)
	}
	ids := map[string]bool{}
	for _, f := range failed {
		ids[f.Alert.ID] = true
	}
	for _, a := range alerts {
		if !ids[a.ID] {
			t.Errorf("Failed() is missing %s", a.ID)
		}
	}
	if st := w.Stats(); st.Abandoned != 3 || st.Queued != 0 || st.Delivered != 0 {
		t.Errorf("Stats() = %+v; want 3 abandoned, none queued or delivered", st)
	}
}

func TestBackoff(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 30 * time.Second
	tests := []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{1, 0, 0},
		{1, 0.5, 50 * time.Millisecond},
		{1, 0.999, 99900 * time.Microsecond},
		{2, 0.5, 100 * time.Millisecond},
		{3, 0.5, 200 * time.Millisecond},
		{4, 0.25, 200 * time.Millisecond},
		{9, 0.5, 12800 * time.Millisecond},
		{10, 0.5, 15 * time.Second}, // 25.6s < 30s
		{11, 0.5, 15 * time.Second}, // capped at 30s
		{1000, 0.5, 15 * time.Second},
	}
	for _, tt := range tests {
		if got := backoff(tt.attempt, lo, hi, tt.r); got != tt.want {
			t.Errorf("backoff(%d, %v, %v, %v) = %v; want %v", tt.attempt, lo, hi, tt.r, got, tt.want)
		}
	}
}

// The waits between attempts grow exponentially up to MaxBackoff, are
// jittered by Rand, and honour Retry-After.
func TestWebhookBackoffGrowsWithJitter(t *testing.T) {
	// No hang-ups here: on a reused connection, net/http itself retries a
	// request with an Idempotency-Key, without a wait of ours.
	statuses := []int{500, 502, 500, 503, 500, 500, 429}
	r := newReceiver(t, func(n int, _ cep.Alert) int {
		if n < len(statuses) {
			return statuses[n]
		}
		return http.StatusOK
	})
	rands := []float64{0.5, 0.9, 0.1, 0.99, 0.5, 0.25, 0}
	var (
		mu    sync.Mutex
		calls int
		waits []time.Duration
	)
	w := newTestWebhook(t, WebhookConfig{
		URL: r.srv.URL, Workers: 1,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Rand: func() float64 {
			mu.Lock()
			defer mu.Unlock()
			calls++
			return rands[(calls-1)%len(rands)]
		},
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return ctx.Err()
		},
	})
	writeAll(t, w, []cep.Alert{testAlert("a1", "k")})
	closeSink(t, w)

	ms := time.Millisecond
	want := []time.Duration{
		5 * ms,   // 0.5 · 10ms
		18 * ms,  // 0.9 · 20ms
		4 * ms,   // 0.1 · 40ms
		79200000, // 0.99 · 80ms
		50 * ms,  // 0.5 · 100ms (capped)
		25 * ms,  // 0.25 · 100ms
		100 * ms, // 0 · 100ms, raised by Retry-After: 1 and capped at MaxBackoff
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("waits = %v; want %v", waits, want)
	}
	r.checkExactlyOnce([]cep.Alert{testAlert("a1", "k")})

	// With the default Rand, waits are spread over [0, ceiling).
	seen := map[time.Duration]bool{}
	for range 100 {
		d := backoff(3, 10*ms, 100*ms, rand.Float64())
		if d < 0 || d >= 40*ms {
			t.Fatalf("backoff(3) = %v; want in [0, 40ms)", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Errorf("100 jittered waits took %d distinct values; want many", len(seen))
	}
}

// An id already delivered, or queued, is not sent again, even when many
// goroutines write the same alerts at once.
func TestWebhookDedupe(t *testing.T) {
	t.Run("queued and delivered", func(t *testing.T) {
		arrived := make(chan struct{}, 10)
		release := make(chan struct{})
		r := newReceiver(t, func(int, cep.Alert) int {
			arrived <- struct{}{}
			<-release
			return http.StatusOK
		})
		w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Workers: 1})
		a, b := testAlert("a1", "k"), testAlert("b2", "k")
		writeAll(t, w, []cep.Alert{a, b})
		<-arrived
		writeAll(t, w, []cep.Alert{a, b}) // a being delivered, b queued
		close(release)
		closeSink(t, w)
		r.checkExactlyOnce([]cep.Alert{a, b})
		if got := w.Stats().Deduplicated; got != 2 {
			t.Errorf("Stats().Deduplicated = %d; want 2", got)
		}
	})
	t.Run("concurrent writers", func(t *testing.T) {
		r := newReceiver(t, func(n int, _ cep.Alert) int {
			if n%5 == 0 {
				return http.StatusInternalServerError // some retries, so ids stay queued a while
			}
			return http.StatusOK
		})
		w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Workers: 4, QueueSize: 8})
		alerts := testAlerts(50, 5)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range alerts {
					a := alerts[(i+g*7)%len(alerts)]
					if err := w.Write(context.Background(), a); err != nil {
						t.Errorf("WriteBatch(%s) = %v", a.ID, err)
					}
				}
			})
		}
		wg.Wait()
		closeSink(t, w)
		r.checkExactlyOnce(alerts)
		if st := w.Stats(); st.Delivered != 50 || st.Deduplicated != 7*50 {
			t.Errorf("Stats() = %+v; want 50 delivered, %d deduplicated", st, 7*50)
		}
	})
	t.Run("evicted ids are sent again", func(t *testing.T) {
		r := newReceiver(t, nil)
		w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Workers: 1, QueueSize: 1, DedupeSize: 2})
		a, b, c := testAlert("a", "k"), testAlert("b", "k"), testAlert("c", "k")
		// QueueSize 1: when Write(d) returns, c is delivered and a evicted.
		writeAll(t, w, []cep.Alert{a, b, c, testAlert("d", "k"), a})
		closeSink(t, w)
		if _, got := r.stats(); got["a"] != 2 || got["b"] != 1 || got["c"] != 1 {
			t.Errorf("received %v; want a twice (evicted), b and c once", got)
		}
	})
}

// Ready fails after FailureThreshold consecutive failed attempts and
// recovers with the next delivery.
func TestWebhookReady(t *testing.T) {
	// a1 fails 3 times, then is delivered; a2 fails once, then is delivered.
	r := newReceiver(t, func(n int, _ cep.Alert) int {
		if n < 3 || n == 4 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	var (
		w     *Webhook
		mu    sync.Mutex
		ready []error // Ready() as each retry begins
	)
	w = newTestWebhook(t, WebhookConfig{
		URL: r.srv.URL, Workers: 1, FailureThreshold: 3,
		Sleep: func(ctx context.Context, _ time.Duration) error {
			err := w.Ready()
			mu.Lock()
			ready = append(ready, err)
			mu.Unlock()
			return ctx.Err()
		},
	})
	if err := w.Ready(); err != nil {
		t.Fatalf("Ready() before any delivery = %v; want nil", err)
	}
	writeAll(t, w, []cep.Alert{testAlert("a1", "k"), testAlert("a2", "k")})
	closeSink(t, w)

	mu.Lock()
	defer mu.Unlock()
	if len(ready) != 4 {
		t.Fatalf("%d retries; want 4", len(ready))
	}
	for i, wantErr := range []bool{false, false, true, false} {
		if (ready[i] != nil) != wantErr {
			t.Errorf("Ready() at retry %d = %v; want error: %v", i+1, ready[i], wantErr)
		}
	}
	if err := ready[2]; err != nil && !strings.Contains(err.Error(), "3 consecutive") {
		t.Errorf("Ready() = %v; want it to say 3 consecutive failures", err)
	}
	if err := w.Ready(); err != nil {
		t.Errorf("Ready() after the last delivery = %v; want nil", err)
	}
}

// A batch is queued in order (one worker delivers it so); repeats within
// and across batches are sent once.
func TestWebhookWriteBatch(t *testing.T) {
	r := newReceiver(t, nil)
	w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Workers: 1, QueueSize: 8})
	alerts := testAlerts(60, 4)
	ctx := context.Background()
	first := append(append([]cep.Alert{}, alerts[:40]...), alerts[2], alerts[39]) // 2 repeats
	second := alerts[30:]                                                         // 10 written already
	for _, batch := range [][]cep.Alert{first, second, nil} {
		if err := w.WriteBatch(ctx, batch); err != nil {
			t.Fatalf("WriteBatch(%d alerts) = %v", len(batch), err)
		}
	}
	closeSink(t, w)
	r.checkExactlyOnce(alerts)
	r.mu.Lock()
	order := slices.Clone(r.order)
	r.mu.Unlock()
	if want := idsOf(alerts); !slices.Equal(order, want) {
		t.Errorf("received %q; want %q", order, want)
	}
	if want := (WebhookStats{Delivered: 60, Deduplicated: 12}); w.Stats() != want {
		t.Errorf("Stats() = %+v; want %+v", w.Stats(), want)
	}
}

// WriteBatch blocks while the queue is full. If ctx ends, the alerts
// queued stay queued, and writing the batch again queues only the rest.
func TestWebhookWriteBatchBackpressure(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t, func(int, cep.Alert) int {
		<-release
		return http.StatusOK
	})
	w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Workers: 1, QueueSize: 2})
	batch := testAlerts(5, 1)

	tctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := w.WriteBatch(tctx, batch); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WriteBatch(5 alerts) into a queue of 2 = %v; want context.DeadlineExceeded", err)
	}
	if q := w.Stats().Queued; q != 2 {
		t.Errorf("Stats().Queued = %d; want 2", q)
	}

	errc := make(chan error)
	go func() { errc <- w.WriteBatch(context.Background(), batch) }()
	select {
	case err := <-errc:
		t.Fatalf("WriteBatch into a full queue returned %v before a slot freed", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("WriteBatch once slots free = %v; want nil", err)
	}
	closeSink(t, w)
	r.checkExactlyOnce(batch)
	if st := w.Stats(); st.Delivered != 5 || st.Deduplicated != 2 {
		t.Errorf("Stats() = %+v; want 5 delivered, 2 deduplicated", st)
	}
}

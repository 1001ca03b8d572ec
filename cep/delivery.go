package cep

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// deliverFunc hands alerts to the application and returns how many of
// them, from the first, it took before an error.
type deliverFunc func(ctx context.Context, alerts []Alert) (int, error)

// pendingAlert is an alert waiting for delivery, with the partition that
// raised it (a snapshot of the partition includes it): a key group's id and
// number, or an input partition's id and -1.
type pendingAlert struct {
	Alert
	part string
	kg   int
}

// outEntry is one entry of the delivery queue: an alert, or an ack that
// runs once every alert before it has been delivered.
type outEntry struct {
	alert pendingAlert
	ack   func() // non-nil: an ack entry
}

// delivery is the stage between the engine and the sink: a bounded queue
// of alerts and acks in the order the engine produced them, emptied by one
// goroutine that writes batches to the sink outside the engine's lock,
// retrying failures with backoff, and runs each ack once the alerts before
// it are delivered. A full queue makes the engine refuse new events
// (backpressure); nothing in it is ever dropped.
type delivery struct {
	deliver  deliverFunc
	capacity int
	maxBatch int
	minWait  time.Duration
	maxWait  time.Duration
	attempts int // 0: retry forever
	onErr    func(err error, attempt int)
	observe  func(alerts int, d time.Duration, err error) // Observer.Delivery

	mu         sync.Mutex
	q          []outEntry // q[head:] is live
	head       int
	alerts     atomic.Int64  // alerts in the queue, those in flight included (read without the lock)
	roomCh     chan struct{} // closed when entries leave the queue
	wake       chan struct{} // a new entry (buffered, 1)
	hurry      chan struct{} // deliver now: a flush waits, or a batch is full (buffered, 1)
	acking     int           // acks taken off the queue and still running
	flushers   int           // flush calls in progress: inline acks wake them
	acksQueued int           // acks in the queue
	err        error         // the last failure, until a success
	attempt    int
	cancel     context.CancelFunc // of the attempt in flight
	stopped    bool
	failed     atomic.Pointer[error] // delivery gave up (WithDeliveryAttempts)

	stop chan struct{}
	done chan struct{}
}

func newDelivery(cfg config) *delivery {
	d := &delivery{deliver: cfg.deliver, capacity: cfg.alertQueue, maxBatch: cfg.maxBatch,
		minWait: cfg.minBackoff, maxWait: cfg.maxBackoff, attempts: cfg.maxAttempts, onErr: cfg.onDeliveryErr, observe: cfg.obs.Delivery,
		roomCh: make(chan struct{}), wake: make(chan struct{}, 1), hurry: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go d.loop()
	return d
}

// enqueue appends alerts, then acks. It never blocks: the engine admits
// events only while the queue has room, so it overshoots its capacity by
// at most one step's alerts.
func (d *delivery) enqueue(alerts []pendingAlert, acks []func()) {
	if len(alerts) == 0 && len(acks) == 0 {
		return
	}
	d.mu.Lock()
	if len(alerts) == 0 && d.head == len(d.q) && d.acking == 0 {
		// Nothing before these acks waits for delivery: they run now, on
		// the caller's goroutine, instead of waking the stage for them.
		d.acking += len(acks)
		d.mu.Unlock()
		for _, ack := range acks {
			ack()
		}
		d.mu.Lock()
		d.acking -= len(acks)
		if d.flushers > 0 {
			d.wakeWaiters() // a Flush may be waiting for these acks
		}
		d.mu.Unlock()
		return
	}
	for _, a := range alerts {
		d.q = append(d.q, outEntry{alert: a})
	}
	for _, ack := range acks {
		d.q = append(d.q, outEntry{ack: ack})
	}
	d.acksQueued += len(acks)
	n := d.alerts.Add(int64(len(alerts)))
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	if n >= int64(d.maxBatch) || len(acks) > 0 {
		d.rush()
	}
}

// rush ends the stage's lingering: deliver what is queued now.
func (d *delivery) rush() {
	select {
	case d.hurry <- struct{}{}:
	default:
	}
}

// linger is how long the stage waits, after the first alert of a burst,
// for more to deliver them in one batch — and to wake its goroutine once
// per burst rather than once per alert. Acks, a full batch, Flush and
// Close cut it short.
const linger = time.Millisecond

// full and queued read a counter, not the lock: the engine asks on
// every event.
func (d *delivery) full() bool { return d.alerts.Load() >= int64(d.capacity) }

func (d *delivery) queued() int { return int(d.alerts.Load()) }

func (d *delivery) lastError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// room returns a channel closed when entries next leave the queue.
func (d *delivery) room() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.roomCh
}

// pendingOf returns the undelivered alerts of a partition (in flight
// ones included), in order.
func (d *delivery) pendingOf(part string) []Alert {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Alert
	for _, e := range d.q[d.head:] {
		if e.ack == nil && e.alert.part == part {
			out = append(out, e.alert.Alert)
		}
	}
	return out
}

func (d *delivery) loop() {
	defer close(d.done)
	var alerts []Alert
	for {
		d.mu.Lock()
		idle := false
		for len(d.q) == d.head {
			if d.stopped {
				d.mu.Unlock()
				return
			}
			idle = true
			d.mu.Unlock()
			select {
			case <-d.wake:
			case <-d.stop:
			}
			d.mu.Lock()
		}
		// The first alert of a burst waits a little for the rest; what
		// queued up while a batch was written goes at once, and so does
		// anything an ack waits for.
		if idle && !d.stopped && d.acksQueued == 0 && d.alerts.Load() < int64(d.maxBatch) {
			d.mu.Unlock()
			t := time.NewTimer(linger)
			select {
			case <-t.C:
			case <-d.hurry:
			case <-d.stop:
			}
			t.Stop()
			d.mu.Lock()
		}
		// Take alerts up to a batch, and the acks among and right after
		// them.
		alerts = alerts[:0]
		for _, e := range d.q[d.head:] {
			if e.ack != nil {
				continue
			}
			if len(alerts) == d.maxBatch {
				break
			}
			alerts = append(alerts, e.alert.Alert)
		}
		d.mu.Unlock()
		if !d.write(alerts) {
			return
		}
		clear(alerts)
	}
}

// write delivers alerts, retrying until they are all taken, committing
// progress as it goes. It returns false when the stage is stopped first.
func (d *delivery) write(alerts []Alert) bool {
	if len(alerts) == 0 || d.deliver == nil {
		d.commit(len(alerts), true)
		return true
	}
	wait := d.minWait
	for off := 0; ; {
		ctx, cancel := context.WithCancel(context.Background())
		d.mu.Lock()
		d.cancel = cancel
		d.mu.Unlock()
		var start time.Time
		if d.observe != nil {
			start = time.Now()
		}
		n, err := d.deliver(ctx, alerts[off:])
		cancel()
		if d.observe != nil {
			d.observe(len(alerts)-off, time.Since(start), err)
		}
		n = min(max(n, 0), len(alerts)-off)
		off += n
		last := off == len(alerts)
		if n > 0 || (err == nil && last) {
			d.commit(n, err == nil && last)
		}
		if err == nil && last {
			return true
		}
		if err == nil {
			err = errors.New("the alert handler took only part of the batch")
		}
		d.mu.Lock()
		d.err = fmt.Errorf("alert delivery: %w", err)
		d.attempt++
		attempt, onErr := d.attempt, d.onErr
		d.mu.Unlock()
		if onErr != nil {
			onErr(err, attempt)
		}
		if d.attempts > 0 && attempt >= d.attempts {
			d.mu.Lock()
			failed := fmt.Errorf("%w: %w", ErrDeliveryFailed, err)
			d.failed.Store(&failed)
			d.wakeWaiters() // they see the failure
			d.mu.Unlock()
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.stop:
			t.Stop()
			return false
		}
		wait = min(wait*2, d.maxWait)
	}
}

// commit removes the first n alerts of the queue, with every ack before
// the first alert left — all of them when all is true — and runs those
// acks: the alerts before each have been delivered.
func (d *delivery) commit(n int, all bool) {
	var acks []func()
	d.mu.Lock()
	i := d.head
	for ; i < len(d.q); i++ {
		e := &d.q[i]
		if e.ack != nil {
			acks = append(acks, e.ack)
			d.acksQueued--
			continue
		}
		if n == 0 {
			break
		}
		n--
	}
	if all {
		// Acks right after the last alert taken depend on nothing more.
		for ; i < len(d.q) && d.q[i].ack != nil; i++ {
			acks = append(acks, d.q[i].ack)
			d.acksQueued--
		}
	}
	removed := i - d.head
	for j := d.head; j < i; j++ {
		if d.q[j].ack == nil {
			d.alerts.Add(-1)
		}
		d.q[j] = outEntry{}
	}
	d.head = i
	if d.head == len(d.q) {
		if cap(d.q) > 4096 {
			d.q = nil
		} else {
			d.q = d.q[:0]
		}
		d.head = 0
	} else if d.head > 1024 && d.head > len(d.q)/2 {
		k := copy(d.q, d.q[d.head:])
		clear(d.q[k:])
		d.q, d.head = d.q[:k], 0
	}
	if d.attempt > 0 && (all || removed > 0) {
		d.err, d.attempt = nil, 0
	}
	d.acking += len(acks)
	d.mu.Unlock()
	for _, ack := range acks {
		ack()
	}
	// Only now: Flush promises that the acks of what it waited for ran.
	d.mu.Lock()
	d.acking -= len(acks)
	if removed > 0 {
		d.wakeWaiters()
	}
	d.mu.Unlock()
}

// wakeWaiters closes roomCh for whoever waits on it (the lock is held).
func (d *delivery) wakeWaiters() {
	close(d.roomCh)
	d.roomCh = make(chan struct{})
}

// ErrDeliveryFailed is returned once delivery has given up (see
// WithDeliveryAttempts).
var ErrDeliveryFailed = errors.New("cep: alert delivery failed")

// failure returns the error delivery gave up with, or nil.
func (d *delivery) failure() error {
	if p := d.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// flush waits until the queue is empty. When ctx ends first it returns
// the last delivery error (or ctx's), and the alerts stay queued.
func (d *delivery) flush(ctx context.Context) error {
	d.mu.Lock()
	d.flushers++
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.flushers--
		d.mu.Unlock()
	}()
	for {
		d.mu.Lock()
		empty := len(d.q) == d.head && d.acking == 0
		room := d.roomCh
		d.mu.Unlock()
		if failed := d.failure(); failed != nil {
			return failed
		}
		if empty {
			return nil
		}
		d.rush()
		select {
		case <-room:
		case <-ctx.Done():
			if err := d.lastError(); err != nil {
				return err
			}
			return fmt.Errorf("alert delivery: %d alerts not delivered: %w", d.queued(), ctx.Err())
		}
	}
}

// interrupt cancels the delivery attempt in flight (it is retried).
func (d *delivery) interrupt() {
	d.mu.Lock()
	if d.cancel != nil {
		d.cancel()
	}
	d.mu.Unlock()
}

// close stops the stage once the queue is empty, or at once (what is
// queued is then not delivered) when force is true.
func (d *delivery) close(force bool) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		<-d.done
		return
	}
	d.stopped = true
	if force && d.cancel != nil {
		d.cancel()
	}
	d.mu.Unlock()
	d.rush()
	if force {
		close(d.stop)
	} else {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	<-d.done
	if !force {
		close(d.stop)
	}
}

package cep

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/event"
)

// InputOptions describe an input: one stream of events with its own event
// time, such as a Kafka topic-partition, the HTTP endpoint or a file.
type InputOptions struct {
	// OutOfOrderness is how far behind the newest event time of the input
	// its watermark stays: events up to that much older than the newest are
	// still put in order; older ones are late.
	OutOfOrderness time.Duration
	// IdleTimeout: an input that has delivered no event for this long (wall
	// clock) is idle: the events it still buffers are released (as if its
	// out-of-orderness were 0: nothing is expected behind the silence), it
	// no longer holds back the exchange's watermark, and it follows the
	// wall clock when the engine has WithWallClockWhenIdle. Its events
	// below its watermark when it wakes up are late. 0: never idle.
	IdleTimeout time.Duration
	// PartitionKey is the key expression the input is partitioned by — for
	// a Kafka topic-partition, the expression the message key equals
	// (kafka.key). Rules whose key is written exactly so keep their state
	// in the input's own partition and run in its event time alone, so a
	// lagging or idle input never holds them back. "": none.
	PartitionKey string
	// Busy, when set, reports that the source holds events of this input
	// that it has not pushed yet (fetched Kafka records): a busy input is
	// not idle. It is ignored while the engine's buffer is full, so that a
	// full buffer cannot wait forever for a laggard.
	Busy func() bool
}

// input is an input's state.
type input struct {
	name string
	opts InputOptions
	ooo  int64
	// part holds the state of the rules co-partitioned with this input;
	// nil when there are none.
	part *partition
	// corules are the indexes of the rules co-partitioned with the input,
	// xrules those served through the exchange for its events.
	corules, xrules []int
	buf             itemQueue // accepted, waiting for the input's watermark
	xq              itemFIFO  // released by the input, waiting for the exchange's
	due             []item    // released in the current step
	// maxTime is the newest event time accepted; valid when hasTime.
	maxTime  int64
	hasTime  bool
	wm       int64
	seq      uint64    // events accepted so far: the next one's Seq - 1
	lastSeen time.Time // wall time of the last accepted event, or of the opening
	pushing  int       // pushes waiting for room: the input is not idle
	idleNow  bool      // idle in the current step
	removed  bool      // RemoveInput: its handles are void
	// restored: opened by Restore, not yet by OpenInput; OpenInput adopts
	// it with the caller's options.
	restored bool
}

func (in *input) feedsExchange() bool { return len(in.xrules) > 0 }

// idle reports whether the input has been silent for its idle timeout
// (and its source holds nothing more of it). An idle input releases its
// whole buffer — nothing is expected behind the silence — and no longer
// holds back the exchange.
//
// An input Restore brought back is not idle until its owner opens it
// again: its source is on its way (a Kafka partition waiting for the
// group to assign it), and releasing its buffer or letting the exchange
// pass it meanwhile would make the backlog behind it late. An owner that
// will not open it removes it.
func (in *input) idle(now time.Time, full bool) bool {
	if in.restored {
		return false
	}
	if in.opts.IdleTimeout <= 0 || in.pushing > 0 || now.Sub(in.lastSeen) < in.opts.IdleTimeout {
		return false
	}
	return full || in.opts.Busy == nil || !in.opts.Busy()
}

// ingestBatch is the acknowledgement of one Push: it runs once every
// accepted event of the batch has been processed and every alert raised
// before then has been delivered.
type ingestBatch struct {
	remaining int
	ack       func()
}

// Input is a handle on one input of an engine, for pushing its events.
// It is safe for concurrent use. It names the input as it was opened: once
// the input is removed, Push returns ErrNoInput, even if an input of the
// same name is opened again (a Kafka partition revoked and assigned anew
// must not receive the old assignment's records).
type Input struct {
	e    *Engine
	name string
	in   *input
}

// Name returns the input's name.
func (i *Input) Name() string { return i.name }

// ErrInputExists is returned by OpenInput for a name already open.
var ErrInputExists = errors.New("cep: input already open")

// ErrNoInput is returned for an input that is not open (or was removed).
var ErrNoInput = errors.New("cep: no such input")

// defaultInput is the input that Process and ProcessEvent feed.
const defaultInput = "default"

// OpenInput opens an input. An input that Restore brought back and that
// was not opened since is taken over, state included, with opts.
// Otherwise its watermark starts at the engine's floor
// (the highest AdvanceWatermark so far), so its first events may be old;
// until it delivers one, and while it is not idle, it holds back the
// exchange's watermark: a Kafka partition just assigned may bring a
// backlog.
func (e *Engine) OpenInput(name string, opts InputOptions) (*Input, error) {
	if name == "" {
		return nil, errors.New("cep: an input needs a name")
	}
	if opts.OutOfOrderness < 0 || opts.IdleTimeout < 0 {
		return nil, fmt.Errorf("cep: input %q: negative duration", name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if in, ok := e.inputs[name]; ok {
		if !in.restored {
			return nil, fmt.Errorf("%w: %q", ErrInputExists, name)
		}
		// Restore brought it back with its state: the caller takes it
		// over, with its own options (callbacks such as Busy are not in a
		// snapshot).
		in.restored = false
		if (opts.IdleTimeout > 0) != (in.opts.IdleTimeout > 0) {
			if opts.IdleTimeout > 0 {
				e.timed++
			} else {
				e.timed--
			}
		}
		in.opts, in.ooo = opts, opts.OutOfOrderness.Milliseconds()
		return &Input{e: e, name: name, in: in}, nil
	}
	in := e.addInput(name, opts)
	return &Input{e: e, name: name, in: in}, nil
}

func (e *Engine) addInput(name string, opts InputOptions) *input {
	in := &input{name: name, opts: opts, ooo: opts.OutOfOrderness.Milliseconds(),
		wm: e.floor, maxTime: math.MinInt64, lastSeen: e.cfg.now()}
	e.inputs[name] = in
	if name == defaultInput {
		e.defaultIn = in
	}
	if opts.IdleTimeout > 0 {
		e.timed++
	}
	e.inputList = append(e.inputList, in)
	sort.Slice(e.inputList, func(i, j int) bool { return e.inputList[i].name < e.inputList[j].name })
	e.place(in)
	return in
}

// Input returns a handle on the open input of that name.
func (e *Engine) Input(name string) (*Input, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, ok := e.inputs[name]
	if !ok {
		return nil, false
	}
	return &Input{e: e, name: name, in: in}, true
}

// RemoveInput forgets an input, as when its Kafka partition moves to
// another instance: its events not yet processed are dropped (their acks
// never run, so their source does not commit them and the partition's next
// owner reads them again) and the state of the rules co-partitioned with
// it is released. Take a Snapshot of its partition first to move that
// state. The input then no longer holds back the exchange's watermark.
func (e *Engine) RemoveInput(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, ok := e.inputs[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoInput, name)
	}
	e.buffered -= in.buf.len() + in.xq.len()
	delete(e.inputs, name)
	in.removed = true
	if in == e.defaultIn {
		e.defaultIn = nil
	}
	if in.opts.IdleTimeout > 0 {
		e.timed--
	}
	for i, x := range e.inputList {
		if x == in {
			e.inputList = append(e.inputList[:i], e.inputList[i+1:]...)
			break
		}
	}
	if in.part != nil {
		in.part.release()
	}
	e.step()
	return nil
}

// maxEventTime bounds event times (in ms either side of the epoch, some
// 285,000 years): far enough for any real time, near enough that a time
// plus any window or TTL cannot overflow.
const maxEventTime = 1 << 53

// Rejection is an event of a Push that the engine did not accept.
type Rejection struct {
	Index int   // its index in the batch
	Err   error // an *event.Error: late, or a time out of range
}

// Push hands the engine a batch of the input's events, in the input's
// order. Events below the watermark are late: they are not matched, and
// Push returns them as rejections (the caller dead-letters them). ack,
// when not nil, runs once — on the engine's delivery goroutine, so it must
// be quick — after every accepted event of the batch has been processed
// and every alert raised up to then has been delivered: the moment a
// source may commit them. An event without an ID gets one from the input
// and its arrival number.
//
// When the engine's buffer or alert queue is full, Push waits until there
// is room or ctx ends; then it accepts nothing and returns ErrBusy.
func (i *Input) Push(ctx context.Context, evs []*event.Event, ack func()) ([]Rejection, error) {
	return i.e.push(ctx, i.in, evs, ack)
}

// ErrBusy is returned when the engine cannot take more events before the
// caller's context ends: its buffer of events waiting for the watermark
// or its queue of alerts waiting for delivery is full.
var ErrBusy = errors.New("cep: engine busy")

// push takes a batch for an input (nil: the default input, opened on
// first use).
func (e *Engine) push(ctx context.Context, in *input, evs []*event.Event, ack func()) ([]Rejection, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	if in == nil {
		if in = e.defaultIn; in == nil {
			in = e.addInput(defaultInput, InputOptions{OutOfOrderness: time.Duration(e.cfg.outOfOrderness) * time.Millisecond})
		}
	}
	if in.removed {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrNoInput, in.name)
	}
	// While it waits for room the input is busy, never idle: its events
	// are on their way.
	in.pushing++
	err := e.admit(ctx)
	in.pushing--
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	defer e.mu.Unlock()
	if in.removed {
		return nil, fmt.Errorf("%w: %q", ErrNoInput, in.name)
	}
	var rejected []Rejection
	var b *ingestBatch // only an ack needs one
	if ack != nil {
		b = &ingestBatch{ack: ack}
	}
	accepted := 0
	for idx, ev := range evs {
		if ev.Time > maxEventTime || ev.Time < -maxEventTime {
			e.rejected[event.ReasonBadTime]++
			rejected = append(rejected, Rejection{Index: idx, Err: &event.Error{Reason: event.ReasonBadTime,
				Msg: fmt.Sprintf("event %s: time %d ms is out of range", ev.ID, ev.Time)}})
			continue
		}
		if err := e.lateness(in, ev); err != nil {
			e.late++
			rejected = append(rejected, Rejection{Index: idx, Err: err})
			continue
		}
		in.seq++
		ev.Seq = in.seq
		if ev.ID == "" {
			ev.ID = in.eventID(ev.Seq)
		}
		if ev.Time > in.maxTime {
			in.maxTime = ev.Time
			// The watermark moves with every event, not once per batch,
			// so whether an event is late does not depend on batching.
			in.wm = max(in.wm, ev.Time-in.ooo)
		}
		in.hasTime = true
		in.buf.push(item{ev: ev, in: in, batch: b})
		accepted++
		e.buffered++
	}
	if b != nil {
		b.remaining = accepted
	}
	e.observeEvents(in.name, accepted, rejected)
	if accepted > 0 {
		if in.opts.IdleTimeout > 0 {
			in.lastSeen = e.cfg.now()
		}
	} else if ack != nil {
		e.acks = append(e.acks, ack) // nothing to wait for but earlier alerts
	}
	e.stepCtx = ctx
	e.step()
	e.stepCtx = nil
	return rejected, nil
}

func (in *input) eventID(seq uint64) string {
	if in.name == defaultInput {
		return "#" + strconv.FormatUint(seq, 10)
	}
	return in.name + "#" + strconv.FormatUint(seq, 10)
}

// lateness returns the error for an event below a watermark it must pass:
// its input's, and the exchange's when rules are served there.
func (e *Engine) lateness(in *input, ev *event.Event) error {
	wm := in.wm
	if in.feedsExchange() && e.wmX > wm {
		wm = e.wmX // an idle input that wakes up behind the exchange
	}
	if ev.Time >= wm {
		return nil
	}
	return &event.Error{Reason: event.ReasonLate, Msg: fmt.Sprintf(
		"late event %s: time %s is below the watermark %s",
		ev.ID, event.FormatTime(ev.Time), event.FormatTime(wm))}
}

// admit waits, with e.mu held (it is released while waiting), until the
// engine can take events: the alert queue has room. A full buffer of
// events waiting for watermarks does not wait — nothing would move it — but
// makes room by processing its oldest events early (see makeRoom).
func (e *Engine) admit(ctx context.Context) error {
	for {
		if e.closed {
			return ErrClosed
		}
		if err := e.out.failure(); err != nil {
			return err
		}
		if e.buffered >= e.cfg.maxBuffered {
			e.makeRoom()
		}
		if !e.out.full() {
			return nil
		}
		room := e.out.room()
		e.mu.Unlock()
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			e.mu.Lock()
			return fmt.Errorf("%w: %s", ErrBusy, e.busyReason())
		case <-room:
		case <-t.C:
		}
		t.Stop()
		e.mu.Lock()
		e.step() // the wall clock may have moved meanwhile
	}
}

// makeRoom brings the events waiting for watermarks under the bound: the
// oldest are processed now, as if their inputs' (and the exchange's)
// watermarks had reached them, in widening steps. The bound thereby caps
// how far inputs may drift apart: an event that later arrives below the
// watermark so moved is late. Nothing else can free a full buffer — an
// input holding the exchange back may be the very one waiting for room.
func (e *Engine) makeRoom() {
	e.forced++
	for stride := int64(1); e.buffered >= e.cfg.maxBuffered; stride *= 2 {
		oldest, found := int64(math.MaxInt64), false
		for _, in := range e.inputList {
			if in.buf.len() > 0 && in.buf.peek().ev.Time < oldest {
				oldest, found = in.buf.peek().ev.Time, true
			}
			if in.xq.len() > 0 && in.xq.front().ev.Time < oldest {
				oldest, found = in.xq.front().ev.Time, true
			}
		}
		if !found {
			return
		}
		to := oldest + stride
		if oldest > math.MaxInt64-stride {
			to = math.MaxInt64
		}
		for _, in := range e.inputList {
			in.wm = max(in.wm, min(to, in.maxTime))
		}
		e.wmX = max(e.wmX, to)
		e.step()
	}
}

// busyReason says why the engine is full; e.mu is held.
func (e *Engine) busyReason() string {
	if e.out.full() {
		msg := fmt.Sprintf("%d alerts wait for delivery", e.out.queued())
		if err := e.out.lastError(); err != nil {
			msg += ": " + err.Error()
		}
		return msg
	}
	return fmt.Sprintf("%d events wait for the watermark (%s)", e.buffered, event.FormatTime(e.wmX))
}

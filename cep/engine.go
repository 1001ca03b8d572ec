// Package cep is vigil's engine: event time, watermarks, keyed state and
// the run loop that feeds the matchers of patterns/ and raises alerts. It
// is also the public embedding API. It imports no Kafka, ClickHouse or
// HTTP code: sources and sinks wrap it.
//
// # Inputs, partitions and the exchange
//
// Events come from inputs (OpenInput; Process feeds one named "default"),
// each with its own event time: its watermark is the newest event time it
// has delivered minus its out-of-orderness. State lives in partitions,
// each processed by one goroutine at a time. A rule keyed by an input's
// declared partitioning key (InputOptions.PartitionKey) keeps its state
// in that input's own partition and runs in that input's time alone. Every
// other rule is served through the exchange: its events are routed by a
// hash of its key to key groups (WithKeyGroups), whose watermark is the
// minimum over the inputs that feed them, idle inputs left out.
//
// # Delivery
//
// Alerts leave the engine through a bounded queue to a delivery stage
// that hands them, in batches and in order, to the sink (WithSink) or the
// alert handler (WithAlertHandler), outside the engine's lock. An ack
// given to Input.Push runs once the batch's events are processed and
// every alert raised before then is delivered.
package cep

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// EndOfTime is the watermark that closes every window and confirms every
// pending absence: replay and test advance to it after the last event.
var EndOfTime = time.UnixMilli(endOfTime).UTC()

const endOfTime = 253402300799999 // 9999-12-31T23:59:59.999Z

// minTime is a watermark before every event.
const minTime = math.MinInt64

// ErrClosed is returned by calls on a closed engine.
var ErrClosed = errors.New("cep: engine is closed")

// Engine matches a ruleset against streams of events. It is safe for
// concurrent use; events are processed in event-time order (ties in
// arrival order), so results are deterministic for a given input order,
// whatever the number of workers.
type Engine struct {
	mu      sync.Mutex
	cfg     config
	rs      *rules.Ruleset
	keyText []string // each rule's key as written, for co-partitioning
	workers []*worker
	pool    *pool
	out     *delivery

	inputs    map[string]*input
	inputList []*input // sorted by name
	defaultIn *input   // inputs[defaultInput], once opened
	// The exchange's state: key group g (of nkg) lives in shards[g mod
	// len(shards)], one shard per worker slot. Key groups are the unit of
	// routing, ownership and snapshots; shards only hold them, so that a
	// step touches a few hot maps rather than many cold ones.
	nkg    int
	shards []*partition
	wake   wakeHeap // shards by their next timer

	floor    int64  // the highest AdvanceWatermark
	wmX      int64  // the exchange's watermark
	xPassed  int64  // the watermark up to which the exchange has processed
	minName  string // the first-named active input at wmX (see releasable)
	buffered int    // accepted events not yet processed everywhere
	closed   bool   // refuses new events
	draining bool   // Close: every buffered event is due
	stopped  bool   // workers stopped

	acks []func() // batches done this step
	// stepCtx is the context of the Push whose step runs, for the
	// observer; nil otherwise.
	stepCtx context.Context
	forced  uint64 // times a full buffer forced watermarks forward

	processed, late uint64
	rejected        map[string]uint64
	retired         map[string]RuleStats // counters of rule states an update dropped

	// step scratch, and the step's parallel phases bound once (a closure
	// per step would allocate)
	batch                       []item
	running                     []*partition
	feeding                     []*input
	slots                       [][]*partition // each exchange slot's touched shard
	routes                      [][][]routed   // routes[chunk][shard]: the parallel exchange's routing
	slotFrom                    int            // e.running[slotFrom:] are the woken shards
	collected                   []pendingAlert
	runInputFn, routeFn, slotFn func(w *worker, i int)
	// timed is the number of inputs with an idle timeout: only then does a
	// step read the wall clock.
	timed int
}

// New builds an engine for a ruleset. A ruleset with Version 0 is given
// version 1.
func New(rs *rules.Ruleset, opts ...Option) (*Engine, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if rs.Version == 0 {
		rs.Version = 1
	}
	e := &Engine{cfg: cfg, rs: rs, inputs: map[string]*input{}, floor: math.MinInt64, wmX: math.MinInt64, xPassed: math.MinInt64,
		rejected: map[string]uint64{}, retired: map[string]RuleStats{}}
	e.keyText = keyTexts(rs)
	for i := 0; i < cfg.workers; i++ {
		w, err := newWorker(e, rs)
		if err != nil {
			return nil, err
		}
		e.workers = append(e.workers, w)
	}
	e.slots = make([][]*partition, cfg.workers)
	e.routes = make([][][]routed, cfg.workers)
	for i := range e.routes {
		e.routes[i] = make([][]routed, cfg.workers)
	}
	e.nkg = cfg.keyGroups
	e.shards = make([]*partition, cfg.workers)
	for i := range e.shards {
		e.shards[i] = newPartition(e, "shard/"+itoa(i), i)
	}
	e.layOut(len(rs.Rules))
	e.pool = newPool(e.workers)
	e.out = newDelivery(cfg)
	e.runInputFn = func(w *worker, i int) {
		p := e.running[i]
		p.runInput(w, p.in.due, p.in.wm)
	}
	e.routeFn = e.routeSlot
	e.slotFn = e.runSlot
	return e, nil
}

// now reads the wall clock when something needs it: an input that can go
// idle, or the wall clock to follow.
func (e *Engine) now() time.Time {
	if e.timed == 0 && !e.cfg.followWall {
		return time.Time{}
	}
	return e.cfg.now()
}

// layOut gives every shard its rule states' storage in one block, shard
// after shard, for a ruleset of n rules.
func (e *Engine) layOut(n int) {
	ptrs := make([]*ruleState, len(e.shards)*n)
	slab := make([]ruleState, len(e.shards)*n)
	for i, p := range e.shards {
		rule := ptrs[i*n : (i+1)*n : (i+1)*n]
		copy(rule, p.rule)
		p.rule, p.slab = rule, slab[i*n:(i+1)*n:(i+1)*n]
	}
}

// keyTexts returns each rule's key as written: one expression's source,
// or "" for a composite key or none.
func keyTexts(rs *rules.Ruleset) []string {
	out := make([]string, len(rs.Rules))
	for i, r := range rs.Rules {
		if len(r.Key) == 1 {
			out[i] = strings.TrimSpace(r.Key[0].Source)
		}
	}
	return out
}

// place decides, for each rule, whether the input's events reach it in
// the input's own partition or through the exchange.
func (e *Engine) place(in *input) {
	in.corules, in.xrules = in.corules[:0], in.xrules[:0]
	for ix := range e.rs.Rules {
		if in.opts.PartitionKey != "" && e.keyText[ix] == strings.TrimSpace(in.opts.PartitionKey) {
			in.corules = append(in.corules, ix)
		} else {
			in.xrules = append(in.xrules, ix)
		}
	}
	if len(in.corules) > 0 && in.part == nil {
		in.part = newPartition(e, inputPartitionID(in.name), -1)
		in.part.in = in
		in.part.wm = in.wm
	}
}

// Process adds one event to the default input: a map[string]any, JSON
// bytes (or json.RawMessage), an *event.Event, or any value encoding/json
// can marshal into an object. It returns an *event.Error for an event it
// rejects — malformed, without a time, or late (below the watermark) —
// after counting it; such an event is never matched. It returns ErrBusy
// when the engine is full until ctx ends, and ErrClosed after Close.
func (e *Engine) Process(ctx context.Context, in any) error {
	ev, err := e.toEvent(in)
	if err != nil {
		e.mu.Lock()
		e.rejected[event.ReasonOf(err)]++
		if e.cfg.obs.Events != nil {
			e.observeEvents(defaultInput, 0, []Rejection{{Err: err}})
		}
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

// ProcessEvent adds a decoded event to the default input. An event
// without an ID gets one from its arrival number.
func (e *Engine) ProcessEvent(ctx context.Context, ev *event.Event) error {
	rej, err := e.push(ctx, nil, []*event.Event{ev}, nil)
	if err != nil {
		return err
	}
	if len(rej) > 0 {
		return rej[0].Err
	}
	return nil
}

// AdvanceWatermark moves the watermark of every input, and of the
// exchange, to at least t (never back): buffered events up to t are
// processed, then windows, expiries and absences due by t fire. Events
// older than t are late from then on, also on inputs opened later.
func (e *Engine) AdvanceWatermark(ctx context.Context, t time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.floor = max(e.floor, t.UnixMilli())
	e.step()
	return nil
}

// Tick lets the wall clock act: inputs that have gone idle stop holding
// back the exchange, and, with WithWallClockWhenIdle, idle inputs follow
// the wall clock. A service calls it a few times a second.
func (e *Engine) Tick(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.step()
	return nil
}

// FollowWallClock turns the behaviour of WithWallClockWhenIdle on or off.
// A service turns it off while a source is still joining (a Kafka consumer
// group): until the source says which inputs it has, an idle moment must
// not move time past the backlog it is about to deliver.
func (e *Engine) FollowWallClock(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg.followWall = on
}

// Watermark returns the exchange's watermark: with only the default
// input, that input's. It is the zero time before any.
func (e *Engine) Watermark() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.wmX == minTime {
		return time.Time{}
	}
	return time.UnixMilli(e.wmX).UTC()
}

// Flush waits until every alert raised so far has been delivered and
// every ack whose events are done has run. When ctx ends first it returns
// the last delivery error, and the alerts stay queued.
func (e *Engine) Flush(ctx context.Context) error { return e.out.flush(ctx) }

// Close refuses new events, processes the buffered events (each input as
// if its out-of-orderness were 0), delivers every pending alert, and
// stops the engine. With several inputs the exchange goes only as far as
// the oldest active input's newest event, so a lagging input's keys see
// no time pass that its events have not: what lies beyond is left
// unprocessed and unacknowledged, for its source to deliver again. If
// delivery does not finish before ctx ends, Close returns the delivery
// error and may be called again to go on waiting. It does not move time
// past the last event: to close open windows and confirm pending
// absences, AdvanceWatermark to EndOfTime first, as replay does.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	if !e.closed {
		e.closed, e.draining = true, true
		e.step()
	}
	e.mu.Unlock()
	if err := e.out.flush(ctx); err != nil {
		if errors.Is(err, ErrDeliveryFailed) {
			e.stop()
		} else {
			e.out.interrupt()
		}
		return err
	}
	e.stop()
	return nil
}

// Halt refuses new events, delivers the alerts already raised, and stops
// the engine, leaving buffered events unprocessed and time where it is:
// for a service that took a Snapshot (a checkpoint) just before, which
// holds those events, so that a restart goes on exactly where it stopped.
// Like Close, it may be called again when ctx ends first.
func (e *Engine) Halt(ctx context.Context) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	if err := e.out.flush(ctx); err != nil {
		if errors.Is(err, ErrDeliveryFailed) {
			e.stop()
		} else {
			e.out.interrupt()
		}
		return err
	}
	e.stop()
	return nil
}

// stop ends the workers and the delivery stage, once.
func (e *Engine) stop() {
	e.mu.Lock()
	stopped := e.stopped
	e.stopped = true
	e.mu.Unlock()
	if !stopped {
		e.pool.stop()
		e.out.close(e.out.failure() != nil)
	}
}

// Ruleset returns the ruleset the engine runs.
func (e *Engine) Ruleset() *rules.Ruleset {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rs
}

// step processes whatever the watermarks allow: each input's due events in
// its own partition, then the exchange's due events in its key groups, and
// the timers due; then hands the alerts raised, and the acks of the
// batches now done, to the delivery stage. It runs with e.mu held.
func (e *Engine) step() {
	if e.stopped {
		return
	}
	e.watermarks(e.now())
	e.running = e.running[:0]

	// Inputs: release what their watermark passed.
	single := len(e.inputList) == 1
	for _, in := range e.inputList {
		if in.part == nil {
			// No rule of its own: straight on to the exchange, or, the only
			// input, straight into its batch.
			if single && in.xq.len() == 0 && in.wm <= e.wmX {
				for in.buf.len() > 0 && in.buf.peek().ev.Time <= in.wm {
					e.batch = append(e.batch, in.buf.pop())
				}
				continue
			}
			for in.buf.len() > 0 && in.buf.peek().ev.Time <= in.wm {
				e.toExchange(in, in.buf.pop())
			}
			continue
		}
		in.due = in.due[:0]
		for in.buf.len() > 0 && in.buf.peek().ev.Time <= in.wm {
			it := in.buf.pop()
			in.due = append(in.due, it)
			if in.feedsExchange() {
				e.toExchange(in, it)
			}
		}
		if len(in.due) > 0 || in.part.nextTimer() <= in.wm {
			e.running = append(e.running, in.part)
		}
	}
	if n := len(e.running); n > 0 {
		e.pool.run(n, e.runInputFn)
	}
	for _, in := range e.inputList {
		if len(in.due) == 0 {
			continue
		}
		if !in.feedsExchange() {
			for i := range in.due {
				e.complete(&in.due[i])
			}
		}
		in.due = reuse(in.due)
	}
	inputParts := len(e.running)

	// The exchange: due events of every input in order, routed by key;
	// key groups with timers due run too.
	e.merge()
	e.xPassed = e.wmX
	for len(e.wake) > 0 && e.wake[0].at <= e.wmX {
		w := e.wake.pop()
		if p := e.shards[w.kg]; w.at == p.wakeAt {
			p.wakeAt = math.MaxInt64
			e.touch(p)
		}
	}
	e.exchange(inputParts)
	groups := e.running[inputParts:]
	for i := range e.batch {
		e.complete(&e.batch[i])
	}
	e.batch = reuse(e.batch)
	for _, p := range groups {
		p.touched = false
		if nt := p.nextTimer(); nt < p.wakeAt {
			p.wakeAt = nt
			e.wake.push(wakeEntry{at: nt, kg: p.kg})
		}
	}

	e.collect()
	if f := e.cfg.obs.Alert; f != nil && len(e.collected) > 0 {
		ctx := e.stepCtx
		if ctx == nil {
			ctx = context.Background()
		}
		for i := range e.collected {
			f(ctx, &e.collected[i].Alert)
		}
	}
	e.out.enqueue(e.collected, e.acks)
	e.collected = reuse(e.collected)
	e.acks = nil
}

// toExchange queues an item released by its input for the exchange —
// unless the exchange has passed it (an event restored into an engine
// that had gone further): key groups never see time go back, so it is
// late for them.
func (e *Engine) toExchange(in *input, it item) {
	if it.ev.Time < e.xPassed {
		e.late++
		// Done for the exchange; an input partition processes it this
		// step, and its ack waits for the step's alerts anyway.
		e.complete(&it)
		return
	}
	in.xq.push(it)
}

func (e *Engine) touch(p *partition) {
	if !p.touched {
		p.touched = true
		e.running = append(e.running, p)
	}
}

// complete accounts for an event that has left the engine.
func (e *Engine) complete(it *item) {
	e.processed++
	e.buffered--
	if b := it.batch; b != nil {
		if b.remaining--; b.remaining == 0 && b.ack != nil {
			e.acks = append(e.acks, b.ack)
		}
	}
}

// watermarks moves each input's watermark and the exchange's.
//
// An input's is its newest event time minus its out-of-orderness (its
// newest event time when it is idle or the engine drains). Only when every
// input is idle does time follow the wall clock: an idle input among
// active ones may be a stalled one, whose events are on their way. The
// exchange's is the minimum over the active inputs that feed it; an input
// that has told no time yet holds it; when every input is idle it is the
// highest of theirs (nothing is pending anywhere).
func (e *Engine) watermarks(now time.Time) {
	full := e.buffered >= e.cfg.maxBuffered
	nowMS := now.UnixMilli()
	allIdle := len(e.inputList) > 0
	for _, in := range e.inputList {
		in.idleNow = in.idle(now, full) || (e.draining && !in.hasTime)
		allIdle = allIdle && in.idleNow
	}
	x, active, hold := int64(math.MaxInt64), false, false
	drainTo := int64(math.MinInt64)
	e.minName = ""
	for _, in := range e.inputList {
		w := max(in.wm, e.floor)
		if in.hasTime {
			w = max(w, in.maxTime-in.ooo)
			if e.draining || in.idleNow {
				w = max(w, in.maxTime)
			}
		}
		if allIdle && e.cfg.followWall {
			w = max(w, nowMS-in.ooo)
		}
		in.wm = w
		if !in.feedsExchange() {
			continue
		}
		drainTo = max(drainTo, w)
		if in.idleNow {
			continue
		}
		if !in.hasTime {
			hold = true // active, but its time is not known yet
			continue
		}
		if w < x || (w == x && in.name < e.minName) {
			e.minName = in.name
		}
		x, active = min(x, w), true
	}
	switch {
	case hold:
	case active:
		e.wmX = max(e.wmX, x)
	default: // every input feeding the exchange is idle
		e.wmX = max(e.wmX, drainTo)
		if allIdle && e.cfg.followWall {
			e.wmX = max(e.wmX, nowMS-e.cfg.outOfOrderness)
		}
	}
	e.wmX = max(e.wmX, e.floor)
	if e.wmX > x || !active {
		e.minName = "" // nothing at the watermark waits for an input
	}
}

// releasable reports whether the exchange may process an item now: one
// below its watermark, or at it from an input that no active input still
// able to send events of that time precedes (ties are ordered by input
// name, so an earlier-named input's next event of that time must come
// first).
func (e *Engine) releasable(it *item) bool {
	t := it.ev.Time
	return t < e.wmX || (t == e.wmX && (e.minName == "" || it.in.name <= e.minName))
}

// merge takes, from every input's exchange queue, the events the
// exchange's watermark has passed, in processing order.
func (e *Engine) merge() {
	feeding := e.feeding[:0]
	for _, in := range e.inputList {
		if in.xq.len() > 0 && e.releasable(in.xq.front()) {
			feeding = append(feeding, in)
		}
	}
	e.feeding = feeding[:0]
	if len(feeding) == 0 {
		return
	}
	if len(feeding) == 1 {
		in := feeding[0]
		feeding[0] = nil
		for in.xq.len() > 0 && e.releasable(in.xq.front()) {
			e.batch = append(e.batch, in.xq.pop())
		}
		return
	}
	for len(feeding) > 0 {
		best := 0
		for i := 1; i < len(feeding); i++ {
			if feeding[i].xq.front().before(feeding[best].xq.front()) {
				best = i
			}
		}
		in := feeding[best]
		e.batch = append(e.batch, in.xq.pop())
		if in.xq.len() == 0 || !e.releasable(in.xq.front()) {
			feeding = append(feeding[:best], feeding[best+1:]...)
		}
	}
	clear(e.feeding[:cap(e.feeding)])
}

// parallelExchange is the smallest batch the workers share. Below it
// handing work to other goroutines costs more than it saves.
const parallelExchange = 64

// routed is an event a rule's where passed, with its key: what the
// parallel exchange's first phase hands to the shard that owns the key.
type routed struct {
	ev  *event.Event
	ix  int
	key string
	// routeNS is how long routing took when the evaluation is timed for
	// the observer (at least 1); 0 when it is not.
	routeNS int64
}

// exchange runs the step's batch through the key groups, then fires the
// timers due by the exchange's watermark in every group touched (by the
// batch, or by the wake heap: e.running[from:]).
//
// With one worker (or a small batch) everything runs here. With n workers
// it runs in two parallel phases. First slot s of n routes the s-th
// contiguous chunk of the batch: each rule's where and key, once per
// event, into one list per destination shard. Then shard d handles its
// lists in chunk order, which is batch order, and fires its timers. A
// shard is only ever touched by one goroutine, and results do not depend
// on n.
func (e *Engine) exchange(from int) {
	n := len(e.workers)
	if n == 1 || len(e.batch) < parallelExchange {
		e.routeDirect()
		w := e.workers[0]
		for _, p := range e.running[from:] {
			p.finish(w, e.wmX)
		}
		return
	}
	e.slotFrom = from
	e.pool.run(n, e.routeFn)
	e.pool.run(n, e.slotFn)
	for i := range e.slots {
		e.running = append(e.running, e.slots[i]...)
		e.slots[i] = reuse(e.slots[i])
	}
}

// routeSlot is the first phase of a parallel exchange: slot s of n routes
// its chunk of the batch into e.routes[s][shard].
func (e *Engine) routeSlot(w *worker, s int) {
	n := len(e.shards)
	lists := e.routes[s]
	for d := range lists {
		lists[d] = lists[d][:0]
	}
	lo, hi := len(e.batch)*s/n, len(e.batch)*(s+1)/n
	for i := lo; i < hi; i++ {
		ev := e.batch[i].ev
		sampled := w.sampleEvent(ev)
		for _, ix := range e.batch[i].in.xrules {
			t := startEval(sampled)
			key, ok := w.route(ix, ev)
			t.pause()
			if !ok {
				w.report(&t, ix)
				continue
			}
			d := keyGroup(key, e.nkg) % n
			lists[d] = append(lists[d], routed{ev: ev, ix: ix, key: key, routeNS: t.routeNS()})
		}
	}
}

// runSlot is the second phase of a parallel exchange: shard d handles
// what every chunk routed to it, in batch order, then fires its timers.
func (e *Engine) runSlot(w *worker, d int) {
	n := len(e.shards)
	p := e.shards[d]
	touched := e.slots[d][:0]
	for s := range e.routes {
		for _, r := range e.routes[s][d] {
			if !p.touched {
				p.touched = true
				touched = append(touched, p)
			}
			if p.last != r.ev {
				p.fireTimers(w, r.ev.Time)
				p.last = r.ev
			}
			if r.routeNS == 0 {
				w.handle(p, p.state(r.ix), r.ev, r.key)
				continue
			}
			// Routed by a timed evaluation on another worker: add the
			// matcher's time to the routing's.
			t := evalTimer{on: true, t0: time.Now(), took: time.Duration(r.routeNS)}
			w.handle(p, p.state(r.ix), r.ev, r.key)
			t.pause()
			w.report(&t, r.ix)
		}
		clear(e.routes[s][d]) // hold no event past the step
	}
	// Shards the wake heap named, already in e.running: this slot's.
	for _, q := range e.running[e.slotFrom:] {
		if q.kg%n == d {
			q.finish(w, e.wmX)
		}
	}
	for _, q := range touched {
		q.finish(w, e.wmX)
	}
	e.slots[d] = touched
}

// routeDirect routes the batch on the calling goroutine and handles each
// event in its key groups at once: with one worker there is nothing to
// spread, and no list to build. Each group still sees its events in order,
// its timers due by an event's time fired before it.
func (e *Engine) routeDirect() {
	w := e.workers[0]
	n := len(e.shards)
	for i := range e.batch {
		it := &e.batch[i]
		sampled := w.sampleEvent(it.ev)
		for _, ix := range it.in.xrules {
			t := startEval(sampled)
			key, ok := w.route(ix, it.ev)
			if !ok {
				t.pause()
				w.report(&t, ix)
				continue
			}
			p := e.shards[0]
			if n > 1 {
				p = e.shards[keyGroup(key, e.nkg)%n]
			}
			e.touch(p)
			if p.last != it.ev {
				t.pause()
				p.fireTimers(w, it.ev.Time)
				p.last = it.ev
				t.resume()
			}
			w.handle(p, p.state(ix), it.ev, key)
			t.pause()
			w.report(&t, ix)
		}
	}
}

// collect gathers the alerts the step's partitions raised: merged by
// time, ties in partition order (inputs' partitions by name, then key
// groups by number), each partition's own order kept. A shard holds
// several key groups; their alerts are told apart by the key group each
// records, so the order depends only on the input, never on the workers.
func (e *Engine) collect() {
	start := len(e.collected)
	for _, p := range e.running {
		if len(p.out) > 0 {
			e.collected = append(e.collected, p.out...)
			p.out = reuse(p.out)
		}
	}
	out := e.collected[start:]
	if len(out) < 2 {
		return
	}
	// Each partition's alerts, in emission order, side by side.
	slices.SortStableFunc(out, func(a, b pendingAlert) int { return comparePart(&a, &b) })
	var runs [][]pendingAlert
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && comparePart(&out[i], &out[j]) == 0 {
			j++
		}
		runs = append(runs, out[i:j])
		i = j
	}
	if len(runs) == 1 {
		return
	}
	merged := make([]pendingAlert, 0, len(out))
	for {
		best := -1
		for i, r := range runs {
			if len(r) > 0 && (best < 0 || r[0].Time.Before(runs[best][0].Time)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		merged = append(merged, runs[best][0])
		runs[best] = runs[best][1:]
	}
	copy(out, merged)
}

// comparePart orders alerts by the partition that raised them: inputs'
// partitions by name, then key groups by number.
func comparePart(a, b *pendingAlert) int {
	switch {
	case a.kg < 0 && b.kg < 0:
		return strings.Compare(a.part, b.part)
	case a.kg < 0:
		return -1
	case b.kg < 0:
		return 1
	}
	return a.kg - b.kg
}

// reuse empties a scratch slice for the next step. Small ones keep their
// old elements until overwritten — clearing them on every event costs more
// than the few references they keep alive; large ones (after a burst) are
// released.
func reuse[T any](s []T) []T {
	if cap(s) > 4096 {
		return nil
	}
	return s[:0]
}

func keyGroupID(kg int) string { return "kg/" + itoa(kg) }

func inputPartitionID(name string) string { return "input/" + name }

package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/event"
)

// Row is one event to store.
type Row struct {
	Event    *event.Event
	Raw      []byte // the JSON as received
	Source   string // http, kafka:<topic>/<partition>, a file name
	Position string // where in the source, exactly as given to the decoder (ids of events without one derive from it)
}

// size is what a queued row is counted as against MaxQueuedBytes.
func (r Row) size() int64 {
	return int64(len(r.Raw)+len(r.Source)+len(r.Position)+len(r.Event.ID)) + 128
}

// SizeOf returns the bytes rows count for against the queue bound, for
// Reserve.
func SizeOf(rows []Row) int64 {
	var n int64
	for _, r := range rows {
		n += r.size()
	}
	return n
}

// ErrBusy is returned by Reserve when the queue stayed full until its
// context ended: ClickHouse is slow or down.
var ErrBusy = errors.New("clickhouse: event queue full")

// ErrWriterClosed is returned by Reserve once Close has begun.
var ErrWriterClosed = errors.New("clickhouse: event writer closed")

// queued is a row with the numbers the writer gives it.
type queued struct {
	Row
	ingestMs  int64
	ingestSeq uint64
	bytes     int64
}

type pendingAck struct {
	upTo uint64 // runs once this many rows have been written
	ack  func()
}

// EventWriter writes events to the events table in columnar batches cut
// by size (Config.BatchRows) and time (Config.BatchInterval). Its queue is
// bounded in rows and bytes: a source reserves room first (Reserve), and
// waits — or gives up, for an HTTP 503 — while ClickHouse is slow or down.
// A failed batch is retried with backoff, forever, as a new batch built
// from the same rows (a sent batch cannot be resent); nothing queued is
// dropped. An ack passed to Add runs once its rows, and every row before
// them, are written, so a Kafka offset moves only past stored events.
//
// An EventWriter is safe for concurrent use.
type EventWriter struct {
	s   *Store
	cfg Config

	mu        sync.Mutex
	q         []queued // q[head:] waits; q[head:head+inFlight] is being written
	head      int
	acks      []pendingAck
	added     uint64 // rows ever added
	written   uint64 // rows ever written
	rowsHeld  int    // reserved or queued
	bytesHeld int64
	room      chan struct{} // closed when room is freed
	wake      chan struct{} // buffered 1: rows were added
	flush     chan struct{} // buffered 1: write what is queued now
	closing   bool
	lastErr   error
	failures  int

	written64 atomic.Uint64 // rows written, for metrics without the lock
	stop      chan struct{} // Close gave up: stop retrying
	done      chan struct{}
}

// NewEventWriter starts a writer of the events table.
func (s *Store) NewEventWriter() *EventWriter {
	w := &EventWriter{s: s, cfg: s.cfg, room: make(chan struct{}), wake: make(chan struct{}, 1),
		flush: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// Reserve waits until the queue has room for n rows of the given bytes
// (see SizeOf), and holds it for Add. When ctx ends first it returns an
// error wrapping ErrBusy that says why. A request larger than the whole
// queue is let in when the queue is empty, so it overshoots by at most one
// request.
func (w *EventWriter) Reserve(ctx context.Context, n int, bytes int64) error {
	for {
		w.mu.Lock()
		if w.closing {
			w.mu.Unlock()
			return ErrWriterClosed
		}
		empty := w.rowsHeld == 0
		if empty || w.rowsHeld+n <= w.cfg.MaxQueuedRows && w.bytesHeld+bytes <= w.cfg.MaxQueuedBytes {
			w.rowsHeld += n
			w.bytesHeld += bytes
			w.mu.Unlock()
			return nil
		}
		room, lastErr := w.room, w.lastErr
		held := w.rowsHeld
		w.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%w (%d events wait): %v", ErrBusy, held, lastErr)
			}
			return fmt.Errorf("%w (%d events wait to be written)", ErrBusy, held)
		}
	}
}

// Release gives back room reserved and not used.
func (w *EventWriter) Release(n int, bytes int64) {
	w.mu.Lock()
	w.rowsHeld -= n
	w.bytesHeld -= bytes
	w.freed()
	w.mu.Unlock()
}

// Add queues rows that were reserved (Reserve(len(rows), SizeOf(rows)));
// ack, when not nil, runs once they are written. It never blocks.
func (w *EventWriter) Add(rows []Row, ack func()) {
	now := nowMs()
	w.mu.Lock()
	for _, r := range rows {
		w.q = append(w.q, queued{Row: r, ingestMs: now, ingestSeq: w.s.seq.next(), bytes: r.size()})
	}
	w.added += uint64(len(rows))
	if ack != nil {
		if len(rows) == 0 && w.written == w.added {
			w.mu.Unlock()
			ack()
			return
		}
		w.acks = append(w.acks, pendingAck{upTo: w.added, ack: ack})
	}
	full := len(w.q)-w.head >= w.cfg.BatchRows
	w.mu.Unlock()
	signal(w.wake)
	if full {
		signal(w.flush)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// freed wakes Reserve callers (the lock is held).
func (w *EventWriter) freed() {
	close(w.room)
	w.room = make(chan struct{})
}

// Err is the last write failure while writes fail, for /readyz.
func (w *EventWriter) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastErr == nil {
		return nil
	}
	return fmt.Errorf("events not written to ClickHouse after %d attempts, %d queued: %w", w.failures, len(w.q)-w.head, w.lastErr)
}

// Queued is the number of rows waiting to be written.
func (w *EventWriter) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.q) - w.head
}

// Written is the number of rows written so far.
func (w *EventWriter) Written() uint64 { return w.written64.Load() }

// Flush writes what is queued now and waits until it is written.
func (w *EventWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	target := w.added
	w.mu.Unlock()
	for {
		w.mu.Lock()
		ok, room, lastErr := w.written >= target, w.room, w.lastErr
		w.mu.Unlock()
		if ok {
			return nil
		}
		signal(w.flush)
		select {
		case <-room:
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("clickhouse: events not written: %w", lastErr)
			}
			return ctx.Err()
		}
	}
}

// Close writes what is queued and stops. When ctx ends first it stops
// retrying and returns an error counting the rows not written (their
// acks never run, so their Kafka offsets stay uncommitted).
func (w *EventWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	err := w.Flush(ctx)
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	if err != nil {
		return fmt.Errorf("%w; %d events not written", err, w.Queued())
	}
	return nil
}

func (w *EventWriter) loop() {
	defer close(w.done)
	for {
		// Wait for a first row, then for a full batch or the interval.
		w.mu.Lock()
		n := len(w.q) - w.head
		w.mu.Unlock()
		if n == 0 {
			select {
			case <-w.wake:
				continue
			case <-w.flush:
				continue
			case <-w.stop:
				return
			}
		}
		if n < w.cfg.BatchRows {
			t := time.NewTimer(w.cfg.BatchInterval)
			select {
			case <-t.C:
			case <-w.flush:
			case <-w.stop:
			}
			t.Stop()
		}
		w.mu.Lock()
		n = min(len(w.q)-w.head, w.cfg.BatchRows)
		batch := w.q[w.head : w.head+n]
		w.mu.Unlock()
		if !w.write(batch) {
			return
		}
		w.commit(n)
	}
}

// write sends rows until it succeeds, a new batch per attempt. It
// returns false when Close gave up.
func (w *EventWriter) write(rows []queued) bool {
	wait := w.cfg.MinBackoff
	for {
		err := w.send(rows)
		if err == nil {
			return true
		}
		w.mu.Lock()
		w.lastErr, w.failures = err, w.failures+1
		attempt := w.failures
		w.freed() // Reserve callers see the error
		w.mu.Unlock()
		if attempt == 1 || attempt%10 == 0 {
			w.cfg.Logger.Warn("clickhouse: events not written; retrying", "rows", len(rows), "attempt", attempt, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.stop:
			t.Stop()
			return false
		}
		wait = min(wait*2, w.cfg.MaxBackoff)
	}
}

func (w *EventWriter) send(rows []queued) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() { // Close giving up cancels the attempt in flight
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return w.s.insertEvents(ctx, w.columns(rows))
}

// eventColumns is the column list of an events insert.
const eventColumns = "day, time, time_ms, id, key, key_names, key_values, type, source, position, ingest_ms, ingest_seq, raw"

// insertEvents sends one columnar batch of the events table.
func (s *Store) insertEvents(ctx context.Context, cols []any) error {
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".events ("+eventColumns+")")
	if err != nil {
		return err
	}
	defer b.Abort() // a batch must always be released; a no-op once sent
	for i, col := range cols {
		if err := b.Column(i).Append(col); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return b.Send()
}

// columns lays rows out as the columns of eventColumns.
func (w *EventWriter) columns(rows []queued) []any {
	n := len(rows)
	var (
		days, times                      = make([]time.Time, n), make([]time.Time, n)
		timeMs, ingestMs                 = make([]int64, n), make([]int64, n)
		ids, keys, types, srcs, pos, raw = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		keyNames, keyValues              = make([][]string, n), make([][]string, n)
		seqs                             = make([]uint64, n)
	)
	for i, r := range rows {
		ev := r.Event
		t := clampTime(ev.Time)
		days[i], times[i], timeMs[i] = t, t, ev.Time
		ids[i], srcs[i], pos[i], raw[i] = ev.ID, r.Source, r.Position, string(r.Raw)
		if s, ok := ev.Fields["type"].(string); ok {
			types[i] = s
		}
		keyNames[i] = w.cfg.KeyFields
		vals := make([]string, len(w.cfg.KeyFields))
		for j, f := range w.cfg.KeyFields {
			vals[j] = fieldString(ev.Fields, f)
		}
		keyValues[i] = vals
		if len(vals) > 0 {
			keys[i] = vals[0]
		}
		ingestMs[i], seqs[i] = r.ingestMs, r.ingestSeq
	}
	if keyNames[0] == nil {
		for i := range keyNames {
			keyNames[i] = []string{}
		}
	}
	return []any{days, times, timeMs, ids, keys, keyNames, keyValues, types, srcs, pos, ingestMs, seqs, raw}
}

// commit removes the first n queued rows, frees their room and runs the
// acks they complete.
func (w *EventWriter) commit(n int) {
	var ready []func()
	w.mu.Lock()
	for i := w.head; i < w.head+n; i++ {
		w.rowsHeld--
		w.bytesHeld -= w.q[i].bytes
		w.q[i] = queued{}
	}
	w.head += n
	if w.head == len(w.q) {
		w.q, w.head = w.q[:0], 0
		if cap(w.q) > 4*w.cfg.BatchRows {
			w.q = nil
		}
	}
	w.written += uint64(n)
	w.written64.Store(w.written)
	k := 0
	for ; k < len(w.acks) && w.acks[k].upTo <= w.written; k++ {
		ready = append(ready, w.acks[k].ack)
	}
	w.acks = w.acks[k:]
	w.lastErr, w.failures = nil, 0
	w.freed()
	w.mu.Unlock()
	for _, ack := range ready {
		ack()
	}
}

// fieldString is a field's value (a dotted path) as key text: strings as
// they are, numbers in their shortest form, "" when absent.
func fieldString(fields map[string]any, path string) string {
	var v any = fields
	for part := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if v, ok = m[part]; !ok {
			return ""
		}
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// sequence numbers rows and alerts in write order, increasing across
// restarts: it starts from the wall clock in nanoseconds.
type sequence struct{ n atomic.Uint64 }

func newSequence() *sequence {
	s := &sequence{}
	s.n.Store(uint64(time.Now().UnixNano()))
	return s
}

func (s *sequence) next() uint64 { return s.n.Add(1) }

func nowMs() int64 { return time.Now().UnixMilli() }

// clampTime is a time as Date and DateTime columns can hold it (1970 to
// 2105): an event far in the past or future must not fail its batch
// forever. time_ms keeps the exact value.
func clampTime(ms int64) time.Time {
	return time.UnixMilli(min(max(ms, 0), maxDateMs)).UTC()
}

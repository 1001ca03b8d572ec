package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/telemetry"
	"github.com/vigilhq/vigil/sources"
	"github.com/vigilhq/vigil/store/clickhouse"
)

// kafkaInput feeds the engine from a Kafka source: each assigned
// topic-partition is an engine input of its own, opened when the group
// assigns it and removed when it moves away, so its event time is its own
// and a partition the instance does not own holds nothing back. Records
// travel to the engine with an ack that marks them done in the source once
// their events are processed and their alerts written; records the engine
// rejects are dead-lettered first.
type kafkaInput struct {
	src  *sources.Kafka
	eng  *cep.Engine
	log  *slog.Logger
	opts cep.InputOptions
	// topic names the inputs: "kafka:<topic>/<partition>".
	topic string

	// followWall is whether the engine may follow the wall clock once the
	// source has joined its group.
	followWall bool

	// ck, when checkpoints are on: records are done in the source when a
	// checkpoint covers them, not when processed (see checkpointer).
	ck *checkpointer

	mu     sync.Mutex
	inputs map[int]*cep.Input
	joined bool
	// With checkpoints: pushed is each partition's last record in the
	// engine's state (without its payload); restored the positions of the
	// checkpoint the engine started from, by input name, until a newer
	// push or a revoke supersedes them; skip the offset through which an
	// assigned partition's records are already in the restored state.
	pushed   map[int]sources.Record
	restored map[string]int64
	skip     map[int]int64
	// grace is how long partitions of the checkpoint are held for the
	// group to assign them here.
	grace time.Duration

	err atomic.Pointer[error] // the last read failure, while reads fail

	events *clickhouse.EventWriter // nil: events are not persisted
}

// hasJoined reports whether the source has joined its consumer group.
func (k *kafkaInput) hasJoined() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.joined
}

func (k *kafkaInput) inputName(p int) string { return "kafka:" + k.topic + "/" + strconv.Itoa(p) }

// assign opens an engine input per partition: before its first record,
// so that, until it delivers or goes idle, it holds back the exchange and
// its backlog is not late. The first generation joined lets the engine
// follow the wall clock: before, an idle moment could move time past the
// backlog the source is about to deliver.
func (k *kafkaInput) assign(partitions []int) {
	if k.ck != nil {
		k.ck.barrier.Lock() // before k.mu, as a push takes them
		defer k.ck.barrier.Unlock()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.joined {
		k.joined = true
		if k.followWall {
			defer k.eng.FollowWallClock(true)
		}
		if k.ck != nil && len(k.restored) > 0 {
			// Partitions of the checkpoint not assigned in this first
			// generation are held (their inputs keep the exchange from
			// passing their backlog) for a rebalance to bring them: a
			// crashed member of the group lingers until its session times
			// out. After the grace they are saved and released.
			time.AfterFunc(k.grace, k.releaseUnassigned)
		}
	}
	for _, p := range partitions {
		name := k.inputName(p)
		if pos, ok := k.restored[name]; ok {
			k.skip[p] = pos
		} else if k.ck != nil {
			// Revoked earlier (or held past its grace): its saved state
			// comes back before its first record.
			if pos, ok := k.ck.restorePartition(context.Background(), name); ok {
				k.skip[p] = pos
				k.restored[name] = pos
			}
		}
		opts := k.opts
		opts.Busy = func() bool { return k.src.Busy(p) }
		in, err := k.eng.OpenInput(name, opts)
		if err != nil {
			if !errors.Is(err, cep.ErrClosed) {
				k.log.Error("opening the engine input of a partition", "partition", p, "err", err)
			}
			continue
		}
		k.inputs[p] = in
	}
}

// releaseUnassigned saves and removes the restored inputs of partitions
// still not assigned here.
func (k *kafkaInput) releaseUnassigned() {
	k.ck.barrier.Lock()
	defer k.ck.barrier.Unlock()
	k.mu.Lock()
	defer k.mu.Unlock()
	for name, pos := range k.restored {
		owned := false
		for p := range k.inputs {
			owned = owned || k.inputName(p) == name
		}
		if owned {
			continue
		}
		k.log.Warn("a partition of the checkpoint was not assigned here: its state is saved aside and released", "input", name)
		k.releaseLocked(name, pos)
	}
}

// releaseLocked saves an input's state (with checkpoints) and removes it.
// The caller holds the barrier and k.mu.
func (k *kafkaInput) releaseLocked(name string, pos int64) {
	delete(k.restored, name)
	if k.ck != nil {
		if err := k.ck.savePartition(context.Background(), name, pos); err != nil {
			k.log.Error("saving a released partition's state failed: it will start from its committed offset", "input", name, "err", err)
		}
	}
	if err := k.eng.RemoveInput(name); err != nil && !errors.Is(err, cep.ErrNoInput) {
		k.log.Warn("removing the engine input of a partition", "input", name, "err", err)
	}
}

// revoke removes the inputs of partitions that moved away. With
// checkpoints their state is saved first, for when they come back;
// without, their events not yet processed are dropped uncommitted, for
// the next owner to read.
func (k *kafkaInput) revoke(partitions []int) {
	if k.ck != nil {
		k.ck.barrier.Lock()
		defer k.ck.barrier.Unlock()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range partitions {
		name := k.inputName(p)
		pos, hasPos := int64(-1), false
		if r, ok := k.pushed[p]; ok {
			pos, hasPos = r.Offset, true
		} else if o, ok := k.restored[name]; ok {
			pos, hasPos = o, true
		}
		delete(k.pushed, p)
		delete(k.skip, p)
		if k.inputs[p] == nil {
			delete(k.restored, name)
			continue
		}
		delete(k.inputs, p)
		if k.ck != nil && hasPos {
			k.releaseLocked(name, pos)
			continue
		}
		delete(k.restored, name)
		if err := k.eng.RemoveInput(name); err != nil && !errors.Is(err, cep.ErrNoInput) {
			k.log.Warn("removing the engine input of a partition", "partition", p, "err", err)
		}
	}
}

func (k *kafkaInput) input(p int) *cep.Input {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.inputs[p]
}

// run feeds the engine until ctx ends. A read error (for instance the
// dead-letter topic being unavailable, which holds back the records it
// cannot yet park) is logged, reported by /readyz and retried: processing
// never stops for bad input or a broker hiccup.
func (k *kafkaInput) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		recs, err := k.src.Read(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, sources.ErrClosed) {
				return
			}
			k.err.Store(&err)
			k.log.Warn("kafka read failed; retrying", "err", err)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		k.err.Store(nil)
		backoff = 100 * time.Millisecond
		// One push per partition, in the order read.
		for len(recs) > 0 {
			p := recs[0].Partition
			n := 1
			for n < len(recs) && recs[n].Partition == p {
				n++
			}
			if !k.push(ctx, recs[:n]) {
				return
			}
			recs = recs[n:]
		}
	}
}

// positions returns, for a checkpoint, the offset of each partition's
// last record in the engine's state, by input name, and the records a
// durable checkpoint lets the source commit through.
func (k *kafkaInput) positions() (map[string]int64, []coveredRecord) {
	k.mu.Lock()
	defer k.mu.Unlock()
	pos := make(map[string]int64, len(k.restored)+len(k.pushed))
	for name, o := range k.restored {
		pos[name] = o
	}
	for p := range k.inputs {
		if _, ok := pos[k.inputName(p)]; !ok {
			pos[k.inputName(p)] = -1 // open, nothing in the state yet
		}
	}
	covered := make([]coveredRecord, 0, len(k.pushed))
	for p, r := range k.pushed {
		pos[k.inputName(p)] = r.Offset
		covered = append(covered, coveredRecord{r})
	}
	return pos, covered
}

// coveredRecord is a partition's last record a checkpoint holds.
type coveredRecord struct{ rec sources.Record }

// pushed records that r is now part of the engine's state.
func (k *kafkaInput) markPushed(r sources.Record) {
	r.Event, r.Raw, r.Key = nil, nil, nil
	k.mu.Lock()
	defer k.mu.Unlock()
	if prev, ok := k.pushed[r.Partition]; !ok || r.Offset > prev.Offset {
		k.pushed[r.Partition] = r
	}
	delete(k.restored, k.inputName(r.Partition))
}

// fresh drops the records the restored checkpoint already holds, marking
// them covered.
func (k *kafkaInput) fresh(recs []sources.Record) []sources.Record {
	k.mu.Lock()
	through, ok := k.skip[recs[0].Partition]
	k.mu.Unlock()
	if !ok {
		return recs
	}
	n := 0
	for n < len(recs) && recs[n].Offset <= through {
		n++
	}
	if n > 0 {
		k.markPushed(recs[n-1])
	}
	return recs[n:]
}

// push hands one partition's records to the engine, waiting while the
// engine is full. It returns false when ctx ends.
func (k *kafkaInput) push(ctx context.Context, recs []sources.Record) bool {
	in := k.input(recs[0].Partition)
	if in == nil {
		return true // revoked meanwhile: the next owner reads them
	}
	// With ClickHouse, room for the events first: waiting here stops
	// fetching (backpressure while ClickHouse is slow or down).
	var size int64
	if k.events != nil {
		size = clickhouse.SizeOf(k.rows(recs))
		if err := k.events.Reserve(ctx, len(recs), size); err != nil {
			return false
		}
	}
	// stored queues the accepted events of the records pushed (all of
	// recs, or those of them not pushed before); release gives the room
	// back when none was.
	stored := func(pushed []sources.Record, rejected []cep.Rejection, ack func()) {
		if k.events != nil {
			addAccepted(k.events, k.rows(pushed), len(recs), size, rejected, ack)
		}
	}
	release := func() {
		if k.events != nil {
			k.events.Release(len(recs), size)
		}
	}
	if k.ck != nil {
		return k.pushCheckpointed(ctx, in, recs, stored, release)
	}
	evs := events(recs)
	// The records are done when the engine has processed them and written
	// their alerts, the rejected ones are dead-lettered and, with
	// ClickHouse, the events are stored: every part must finish.
	parts := int32(2)
	if k.events != nil {
		parts = 3
	}
	var finished atomic.Int32
	done := func() {
		if finished.Add(1) == parts {
			for _, r := range recs {
				k.src.Done(r)
			}
		}
	}
	bctx, end := telemetry.StartBatch(ctx, "kafka", recs[0].Partition, len(recs))
	defer func() { end(nil) }()
	for {
		rejected, err := in.Push(bctx, evs, done)
		if err == nil {
			stored(recs, rejected, done)
			if !k.deadLetters(ctx, recs, rejected) {
				return false
			}
			done()
			return true
		}
		if retry, ok := k.pushFailed(ctx, recs, err); !retry {
			release()
			return ok
		}
	}
}

// pushCheckpointed is push when checkpoints are on: a push, its dead
// letters and the record of its position are one step for a checkpoint
// (the barrier), and the records are done in the source when a checkpoint
// covers them. A full engine is waited for a second at a time, so that
// checkpoints go on meanwhile.
//
// With ClickHouse, stored queues the accepted events inside the barrier
// (release gives the room back when nothing was pushed); a checkpoint is
// written only once the events before it are in ClickHouse.
func (k *kafkaInput) pushCheckpointed(ctx context.Context, in *cep.Input, recs []sources.Record,
	stored func([]sources.Record, []cep.Rejection, func()), release func()) bool {
	for {
		k.ck.barrier.Lock()
		if recs = k.fresh(recs); len(recs) == 0 {
			k.ck.barrier.Unlock()
			release()
			return true
		}

		attempt, cancel := context.WithTimeout(ctx, time.Second)
		rejected, err := in.Push(attempt, events(recs), nil)
		cancel()
		if err == nil {
			stored(recs, rejected, nil)
			if !k.deadLetters(ctx, recs, rejected) {
				// Stopping with the batch in the state but a rejected
				// record not yet parked: no checkpoint may be written
				// from here on (the last one stays the truth).
				k.ck.inconsistent.Store(true)
				k.ck.barrier.Unlock()
				return false
			}
			k.markPushed(recs[len(recs)-1])
			k.ck.barrier.Unlock()
			return true
		}
		k.ck.barrier.Unlock()
		if retry, ok := k.pushFailed(ctx, recs, err); !retry {
			release()
			return ok
		}
	}
}

// rows are the events table's rows for records.
func (k *kafkaInput) rows(recs []sources.Record) []clickhouse.Row {
	rows := make([]clickhouse.Row, len(recs))
	for i, r := range recs {
		rows[i] = clickhouse.Row{Event: r.Event, Raw: r.Raw, Source: k.inputName(r.Partition),
			Position: r.Topic + "/" + strconv.Itoa(r.Partition) + "/" + strconv.FormatInt(r.Offset, 10)}
	}
	return rows
}

func events(recs []sources.Record) []*event.Event {
	evs := make([]*event.Event, len(recs))
	for i, r := range recs {
		evs[i] = r.Event
	}
	return evs
}

// deadLetters parks the records the engine rejected; false when ctx ended
// first (the batch stays uncommitted, and is read again).
func (k *kafkaInput) deadLetters(ctx context.Context, recs []sources.Record, rejected []cep.Rejection) bool {
	for _, rej := range rejected {
		if !k.deadLetter(ctx, recs[rej.Index], rej.Err) {
			return false
		}
	}
	return true
}

// pushFailed says what a failed push means: retry (the engine is busy),
// or stop with ok (the partition was revoked meanwhile) or not (closed,
// or ctx ended).
func (k *kafkaInput) pushFailed(ctx context.Context, recs []sources.Record, err error) (retry, ok bool) {
	switch {
	case errors.Is(err, cep.ErrBusy):
		// Backpressure: the engine's queues are full. Keep waiting; the
		// records stay uncommitted meanwhile.
		k.log.Debug("engine busy; holding kafka records", "partition", recs[0].Partition, "err", err)
		return ctx.Err() == nil, false
	case errors.Is(err, cep.ErrNoInput):
		return false, true // revoked meanwhile
	}
	return false, false // closed, or ctx ended
}

// deadLetter writes a record the engine rejected to the dead-letter topic,
// retrying with backoff while the topic is unavailable: the record is not
// committed until it is written, and the service keeps running. It reports
// false when ctx ended first.
func (k *kafkaInput) deadLetter(ctx context.Context, r sources.Record, cause error) bool {
	backoff := 100 * time.Millisecond
	for {
		err := k.src.DeadLetter(ctx, r, event.ReasonOf(cause), cause)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		k.log.Warn("dead-letter write failed; retrying", "partition", r.Partition, "offset", r.Offset, "err", err)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// failure returns the last read failure, while reads fail.
func (k *kafkaInput) failure() error {
	if err := k.err.Load(); err != nil {
		return fmt.Errorf("kafka source is failing: %w", *err)
	}
	if err := k.src.DeadLetterErr(); err != nil {
		return fmt.Errorf("kafka source is failing: %w", err)
	}
	return nil
}

// sleep waits for d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

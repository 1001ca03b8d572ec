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

	mu     sync.Mutex
	inputs map[int]*cep.Input
	joined bool

	err atomic.Pointer[error] // the last read failure, while reads fail
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
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.joined {
		k.joined = true
		if k.followWall {
			defer k.eng.FollowWallClock(true)
		}
	}
	for _, p := range partitions {
		opts := k.opts
		opts.Busy = func() bool { return k.src.Busy(p) }
		in, err := k.eng.OpenInput(k.inputName(p), opts)
		if err != nil {
			if !errors.Is(err, cep.ErrClosed) {
				k.log.Error("opening the engine input of a partition", "partition", p, "err", err)
			}
			continue
		}
		k.inputs[p] = in
	}
}

// revoke removes the inputs of partitions that moved away: their events
// not yet processed are dropped uncommitted, for the next owner to read.
func (k *kafkaInput) revoke(partitions []int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range partitions {
		if k.inputs[p] == nil {
			continue
		}
		delete(k.inputs, p)
		if err := k.eng.RemoveInput(k.inputName(p)); err != nil && !errors.Is(err, cep.ErrNoInput) {
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

// push hands one partition's records to the engine, waiting while the
// engine is full. It returns false when ctx ends.
func (k *kafkaInput) push(ctx context.Context, recs []sources.Record) bool {
	in := k.input(recs[0].Partition)
	if in == nil {
		return true // revoked meanwhile: the next owner reads them
	}
	evs := make([]*event.Event, len(recs))
	for i, r := range recs {
		evs[i] = r.Event
	}
	// The records are done when the engine has processed them and written
	// their alerts, and the rejected ones are dead-lettered: both halves
	// must finish.
	var halves atomic.Int32
	done := func() {
		if halves.Add(1) == 2 {
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
			for _, rej := range rejected {
				if !k.deadLetter(ctx, recs[rej.Index], rej.Err) {
					// Stopping before the dead letter is written: the
					// batch stays uncommitted, and is read again.
					return false
				}
			}
			done()
			return true
		}
		switch {
		case errors.Is(err, cep.ErrBusy):
			// Backpressure: the engine's queues are full. Keep waiting;
			// the records stay uncommitted meanwhile.
			k.log.Debug("engine busy; holding kafka records", "partition", recs[0].Partition, "err", err)
			if ctx.Err() != nil {
				return false
			}
		case errors.Is(err, cep.ErrNoInput):
			return true // revoked meanwhile
		default: // closed, or ctx ended
			return false
		}
	}
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

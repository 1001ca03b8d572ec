package serve

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/internal/checkpoint"
)

// checkpointer saves the engine's state with the Kafka positions it
// covers, and brings it back at start-up.
//
// Consistency: the Kafka loop holds mu around each push and the record of
// its position, and a checkpoint holds it around the snapshot, so the
// positions written are exactly those of the events in the state. Only
// after the file is durable are those records marked done in the source,
// so the offsets Kafka commits never pass a checkpoint: after a crash the
// source resumes at or before the checkpoint's positions, the records the
// state already holds are skipped, and the rest are processed again
// (their alerts carry the same ids).
type checkpointer struct {
	s   *Service
	dir *checkpoint.Dir

	barrier sync.Mutex // see above
	// inconsistent: the state holds events whose position could not be
	// recorded (a shutdown cut a push short); no checkpoint is written.
	inconsistent atomic.Bool

	statsMu sync.Mutex
	stats   checkpointStats
}

type checkpointStats struct {
	Count    uint64
	Failures uint64
	Last     time.Time
	Took     time.Duration
	Bytes    int64
	LastErr  string
}

func newCheckpointer(s *Service) (*checkpointer, error) {
	dir, err := checkpoint.Open(s.cfg.Checkpoint.Dir, s.cfg.Checkpoint.Keep, s.log.With("component", "checkpoint"))
	if err != nil {
		return nil, err
	}
	return &checkpointer{s: s, dir: dir}, nil
}

// restore loads the newest good checkpoint into the engine, before any
// event, and returns the Kafka positions it covers (by input name).
func (c *checkpointer) restore(ctx context.Context) (map[string]int64, error) {
	var positions map[string]int64
	ck, err := c.dir.Load(func(ck *checkpoint.Checkpoint) error {
		rep, err := c.s.eng.Restore(ctx, bytes.NewReader(ck.Snapshot))
		if err != nil {
			return err
		}
		positions = ck.Meta.Positions
		attrs := []any{"path", ck.Path, "written_at", ck.Meta.WrittenAt, "keys", rep.Keys, "buffered_events", rep.Buffered,
			"undelivered_alerts", rep.Alerts, "rules_version", ck.Meta.RulesVersion}
		if len(rep.Dropped) > 0 {
			// As a reload would: the state of rules whose matching
			// definition changed since the checkpoint starts afresh.
			attrs = append(attrs, "dropped_rules", strings.Join(rep.Dropped, ","))
			c.s.log.Warn("checkpoint restored; the state of rules changed since it was written is dropped", attrs...)
		} else {
			c.s.log.Info("checkpoint restored", attrs...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ck == nil {
		c.s.log.Info("no checkpoint: starting with empty state", "dir", c.dir.Path())
	}
	return positions, nil
}

// run checkpoints at the configured interval until ctx ends.
func (c *checkpointer) run(ctx context.Context) {
	t := time.NewTicker(time.Duration(c.s.cfg.Checkpoint.Interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.checkpoint(ctx); err != nil && ctx.Err() == nil {
				c.s.log.Error("checkpoint failed; the previous one stays, offsets wait", "err", err)
			}
		}
	}
}

// checkpoint writes one checkpoint and then lets the source commit what it
// covers.
func (c *checkpointer) checkpoint(ctx context.Context) error {
	start := time.Now()
	var buf bytes.Buffer
	c.barrier.Lock()
	if c.inconsistent.Load() {
		c.barrier.Unlock()
		return fmt.Errorf("checkpoint: skipped: a push was cut short, the last checkpoint stays the truth")
	}
	var positions map[string]int64
	var covered []coveredRecord
	if k := c.s.kafka; k != nil {
		positions, covered = k.positions()
	}
	rulesVersion := c.s.eng.Ruleset().Version
	// Into memory under the engine's lock (the pause is the snapshot's
	// encoding alone), to disk outside it.
	err := c.s.eng.Snapshot(ctx, &buf)
	c.barrier.Unlock()
	if err == nil && c.s.events != nil {
		// The events pushed before the barrier must be in ClickHouse before
		// a checkpoint says their records are done.
		if ferr := c.s.events.Flush(ctx); ferr != nil {
			err = fmt.Errorf("events not yet in ClickHouse: %w", ferr)
		}
	}
	if err == nil {
		var path string
		var size int64
		path, size, err = c.dir.Write(checkpoint.Meta{WrittenAt: time.Now().UTC(), RulesVersion: rulesVersion, Positions: positions}, buf.Bytes())
		if err == nil {
			c.s.log.Debug("checkpoint written", "path", path, "bytes", size, "took", time.Since(start))
			for _, r := range covered {
				c.s.kafka.src.DoneThrough(r.rec)
			}
			for name := range positions {
				c.dir.RemovePartition(name) // this checkpoint holds it now
			}
			c.s.metrics.CheckpointDone(time.Since(start), size, time.Now())
			c.statsMu.Lock()
			c.stats.Count++
			c.stats.Last, c.stats.Took, c.stats.Bytes, c.stats.LastErr = time.Now(), time.Since(start), size, ""
			c.statsMu.Unlock()
			return nil
		}
	}
	c.statsMu.Lock()
	c.stats.Failures++
	c.stats.LastErr = err.Error()
	c.statsMu.Unlock()
	return fmt.Errorf("checkpoint: %w", err)
}

// Stats returns the checkpoint counters.
func (c *checkpointer) Stats() checkpointStats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	return c.stats
}

// savePartition writes the state of one Kafka partition's input (its rule
// state, time and buffered events) with its position, before the input
// is removed: for when the partition is assigned here again. The caller
// holds the barrier.
func (c *checkpointer) savePartition(ctx context.Context, name string, pos int64) error {
	var buf bytes.Buffer
	if err := c.s.eng.Snapshot(ctx, &buf, "input/"+name); err != nil {
		return err
	}
	return c.dir.WritePartition(name, checkpoint.Meta{WrittenAt: time.Now().UTC(), RulesVersion: c.s.eng.Ruleset().Version,
		Positions: map[string]int64{name: pos}}, buf.Bytes())
}

// restorePartition brings back a partition saved by savePartition, and
// returns its position; ok is false when there was none (or it could not
// be read: the partition then starts from its committed offset, with a
// log line).
func (c *checkpointer) restorePartition(ctx context.Context, name string) (pos int64, ok bool) {
	ck, err := c.dir.ReadPartition(name)
	if err == nil && ck != nil {
		var rep cep.RestoreReport
		rep, err = c.s.eng.Restore(ctx, bytes.NewReader(ck.Snapshot))
		if err == nil {
			p, has := ck.Meta.Positions[name]
			c.s.log.Info("partition state restored", "input", name, "position", p, "buffered_events", rep.Buffered, "late", rep.Late,
				"dropped_rules", strings.Join(rep.Dropped, ","))
			return p, has
		}
	}
	if err != nil {
		c.s.log.Error("a partition checkpoint could not be restored: the partition starts from its committed offset without its state",
			"input", name, "err", err)
	}
	return 0, false
}

package sources

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
)

// The consumer group side of the Kafka source: one loop joins generation
// after generation; each generation runs one fetcher per assigned partition
// and one committer, all started with Generation.Start so that kafka-go
// waits for them before the member rejoins or leaves.

// run follows the consumer group until ctx ends or the group is closed.
func (k *Kafka) run(ctx context.Context) {
	defer close(k.runDone)
	for {
		gen, err := k.group.Next(ctx)
		switch {
		case err == nil:
			k.startGeneration(gen)
		case ctx.Err() != nil, errors.Is(err, kafka.ErrGroupClosed):
			return
		default:
			// kafka-go backs off and retries joining by itself.
			k.log.Warn("consumer group", "err", err)
		}
	}
}

// partitionStart is where a partition of a generation starts fetching.
type partitionStart struct {
	st     *partition
	id     int
	offset int64
}

// startGeneration takes over the partitions assigned in gen and starts
// their fetchers and the generation's committer. The previous generation
// has ended by now: kafka-go hands out a generation only after every
// function started in the one before has returned.
func (k *Kafka) startGeneration(gen *kafka.Generation) {
	assigned := gen.Assignments[k.cfg.Topic]
	starts := make([]partitionStart, 0, len(assigned))
	var added, removed []int

	k.mu.Lock()
	k.generation = gen.ID
	k.rebalances++
	owned := make(map[int]bool, len(assigned))
	for _, a := range assigned {
		owned[a.ID] = true
		st := k.parts[a.ID]
		if st != nil && !st.continuesAt(a.Offset) {
			k.log.Info("partition offset moved while away, tracking afresh",
				"partition", a.ID, "committed", a.Offset, "ours", st.committed, "dropped", st.tracker.pending())
			st = nil
			removed = append(removed, a.ID)
		}
		offset := a.Offset
		if st == nil {
			k.epochs++
			st = &partition{
				epoch:     k.epochs,
				tracker:   newOffsetTracker(),
				committed: max(a.Offset, -1),
				nextFetch: -1,
				highWater: -1,
				from:      -1,
			}
			k.parts[a.ID] = st
			added = append(added, a.ID)
		} else if st.nextFetch >= 0 {
			// Kept: go on after what was already queued. Records
			// handed out but not done stay tracked.
			offset = st.nextFetch
		}
		starts = append(starts, partitionStart{st, a.ID, offset})
	}
	for id, st := range k.parts {
		if !owned[id] {
			if n := st.tracker.pending(); n > 0 {
				k.log.Info("partition revoked, its unfinished records go to the new owner",
					"partition", id, "unfinished", n)
			}
			delete(k.parts, id)
			removed = append(removed, id)
		}
	}
	k.mu.Unlock()
	// Before any fetcher starts: the caller sets up a partition before its
	// first record and tears it down before the next owner's.
	if len(removed) > 0 && k.cfg.OnRevoke != nil {
		sort.Ints(removed)
		k.cfg.OnRevoke(removed)
	}
	if k.cfg.OnAssign != nil {
		sort.Ints(added)
		k.cfg.OnAssign(added)
	}

	// Each new partition's offsets, so that one with records waiting is
	// busy (not idle) before its first fetch answers. Best effort: on
	// failure it is busy from its first record on.
	var fresh []int
	for _, s := range starts {
		if s.st.tracker.last < 0 {
			fresh = append(fresh, s.id)
		}
	}
	if len(fresh) > 0 {
		k.learnOffsets(fresh, starts)
	}

	k.log.Debug("joined generation", "generation", gen.ID, "partitions", len(starts))
	k.start(gen, func(ctx context.Context) { k.commitLoop(ctx, gen) })
	for _, s := range starts {
		k.start(gen, func(ctx context.Context) { k.fetch(ctx, s.st, s.id, s.offset) })
	}
}

// learnOffsets asks the broker for the first and last offsets of the
// partitions that have read nothing yet, and records where each starts
// and its high watermark.
func (k *Kafka) learnOffsets(ids []int, starts []partitionStart) {
	reqs := make([]kafka.OffsetRequest, 0, 2*len(ids))
	for _, id := range ids {
		reqs = append(reqs, kafka.FirstOffsetOf(id), kafka.LastOffsetOf(id))
	}
	c := &kafka.Client{Addr: kafka.TCP(k.cfg.Brokers...), Transport: k.transport, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{k.cfg.Topic: reqs}})
	if err != nil {
		k.log.Debug("listing offsets of assigned partitions", "err", err)
		return
	}
	byID := map[int]kafka.PartitionOffsets{}
	for _, po := range resp.Topics[k.cfg.Topic] {
		if po.Error == nil {
			byID[po.Partition] = po
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, s := range starts {
		po, ok := byID[s.id]
		if !ok || s.st.tracker.last >= 0 {
			continue
		}
		from := s.offset
		switch {
		case from == kafka.LastOffset:
			from = po.LastOffset
		case from < 0:
			from = po.FirstOffset
		}
		s.st.from = max(from, po.FirstOffset)
		if s.st.highWater < 0 {
			s.st.highWater = po.LastOffset
		}
	}
}

// start runs fn for the generation. kafka-go waits for it before the next
// generation or leaving the group, but not when the generation had already
// ended (a Close racing with the hand-over): then fn runs on its own, so
// Close waits for it through k.workers.
func (k *Kafka) start(gen *kafka.Generation, fn func(ctx context.Context)) {
	k.workers.Add(1)
	gen.Start(func(ctx context.Context) {
		defer k.workers.Done()
		fn(ctx)
	})
}

// continuesAt reports whether a partition assigned again at the committed
// offset committed can keep its tracking: nobody else has committed for it
// since this member did.
func (st *partition) continuesAt(committed int64) bool {
	if committed < 0 {
		return st.committed < 0
	}
	return committed == st.committed
}

// fetch reads one partition from offset into k.msgs until ctx ends. It
// must not return before: returning ends the generation.
func (k *Kafka) fetch(ctx context.Context, st *partition, id int, offset int64) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   k.cfg.Brokers,
		Topic:     k.cfg.Topic,
		Partition: id,
		Dialer:    k.cfg.Dialer,
		MinBytes:  1,
		MaxBytes:  k.cfg.FetchMaxBytes,
		MaxWait:   k.cfg.FetchMaxWait,
		// Lag comes from each fetch's high watermark; kafka-go's lag
		// poller would only dial the broker once a minute per partition.
		ReadLagInterval: -1,
		Logger:          kafkaLogger(k.log, slog.LevelDebug),
		ErrorLogger:     kafkaLogger(k.log, slog.LevelWarn),
	})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		// Cannot happen on a fresh reader; wait for the generation to end.
		k.log.Error("cannot seek", "partition", id, "offset", offset, "err", err)
		<-ctx.Done()
		return
	}
	epoch := st.epoch
	for failures := 0; ; {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			k.log.Warn("fetch failed", "partition", id, "err", err)
			if !sleep(ctx, min(time.Duration(failures)*100*time.Millisecond, 5*time.Second)) {
				return
			}
			continue
		}
		failures = 0
		k.mu.Lock()
		st.queued++ // before the send: Read may take it at once
		k.mu.Unlock()
		select {
		case k.msgs <- fetchedMessage{msg: m, epoch: epoch}:
			k.mu.Lock()
			st.nextFetch = m.Offset + 1
			k.mu.Unlock()
		case <-ctx.Done():
			k.mu.Lock()
			st.queued--
			k.mu.Unlock()
			return
		}
	}
}

// commitLoop commits the done offsets every CommitInterval and once more
// when the generation ends (a rebalance or Close).
func (k *Kafka) commitLoop(ctx context.Context, gen *kafka.Generation) {
	t := time.NewTicker(k.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := k.commit(gen); err != nil {
				k.log.Warn("commit failed", "generation", gen.ID, "err", err)
			}
		case <-ctx.Done():
			k.mu.Lock()
			skip := k.noFinal
			k.mu.Unlock()
			if skip {
				return
			}
			err := k.commit(gen)
			select {
			case <-k.closing:
				k.mu.Lock()
				k.finalErr = err // Close returns it
				k.mu.Unlock()
			default:
				if err != nil {
					k.log.Warn("commit at the end of the generation failed", "generation", gen.ID, "err", err)
				}
			}
			return
		}
	}
}

// commit commits, for every partition of gen, the offset after the highest
// one below which everything is done, if it moved.
func (k *Kafka) commit(gen *kafka.Generation) error {
	k.commitMu.Lock()
	defer k.commitMu.Unlock()
	offsets := make(map[int]int64)
	parts := make(map[int]*partition)
	k.mu.Lock()
	for id, st := range k.parts {
		if f, ok := st.tracker.committable(); ok && f+1 > st.committed {
			offsets[id], parts[id] = f+1, st
		}
	}
	k.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	err := gen.CommitOffsets(map[string]map[int]int64{k.cfg.Topic: offsets})
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.commitErrs++
		return err
	}
	for id, o := range offsets {
		if st := parts[id]; o > st.committed {
			st.committed = o
		}
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

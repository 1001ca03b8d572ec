package serve

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/internal/health"
	"github.com/vigilhq/vigil/internal/telemetry"
	"github.com/vigilhq/vigil/sinks"
)

// measured returns the targets with each sink measured under its name.
func (s *Service) measured(targets []sinks.Target) []sinks.Target {
	out := make([]sinks.Target, len(targets))
	for i, t := range targets {
		t.Sink = s.metrics.Sink(t.Name, t.Sink)
		out[i] = t
	}
	return out
}

// watchReloads exports the reload loop's counters.
func (s *Service) watchReloads() {
	s.metrics.Reloads(func() telemetry.ReloadStats {
		st := s.rules.Stats()
		return telemetry.ReloadStats{Applied: st.Reloads, Refused: st.Failures, LastApplied: st.Last, Failing: st.LastErr != ""}
	})
}

// Health is the registry behind /readyz: a part added later (ClickHouse,
// checkpoints) registers its own check here.
func (s *Service) Health() *health.Registry { return &s.health }

// registerHealth names the service's parts for /readyz, each with the
// check that says whether it can do its job now.
func (s *Service) registerHealth() {
	h := &s.health
	h.Register("service", func(context.Context) error {
		if s.stopping.Load() {
			return errors.New("shutting down")
		}
		return nil
	})
	if c := s.ck; c != nil {
		// Stale checkpoints mean a crash would replay (and a restart
		// would lose) more than an interval's worth.
		started := time.Now()
		h.Register("checkpoints", func(context.Context) error {
			st := c.Stats()
			limit := 3 * time.Duration(s.cfg.Checkpoint.Interval)
			last := st.Last
			if last.IsZero() {
				last = started
			}
			if age := time.Since(last); age > limit {
				if st.LastErr != "" {
					return fmt.Errorf("no checkpoint for %s: %s", age.Round(time.Second), st.LastErr)
				}
				return fmt.Errorf("no checkpoint for %s (interval %s)", age.Round(time.Second), time.Duration(s.cfg.Checkpoint.Interval))
			}
			return nil
		})
	}
	if s.events != nil {
		h.Register("clickhouse", func(context.Context) error { return s.eventsFailure() })
	}
	h.Register("rules", func(context.Context) error {
		if len(s.eng.Ruleset().Rules) == 0 {
			return errors.New("no rules loaded: nothing is matched")
		}
		return nil
	})
	h.Register("engine", func(context.Context) error {
		st := s.eng.Stats()
		if st.DeliveryError != nil {
			return fmt.Errorf("alert sinks are failing, %d alerts wait and intake is held back once %d do: %w",
				st.Pending, s.cfg.Limits.AlertQueue, st.DeliveryError)
		}
		return nil
	})
	h.Register("dead_letters", func(context.Context) error {
		if err := s.dead.failure(); err != nil {
			return fmt.Errorf("rejected events cannot be recorded: %w", err)
		}
		return nil
	})
	h.Register("store", func(ctx context.Context) error {
		if _, err := s.store.Count(ctx); err != nil {
			return fmt.Errorf("alert store: %w", err)
		}
		return nil
	})
	h.Register("source/http", func(context.Context) error { return nil })
	if s.kafka != nil {
		h.Register("source/kafka", func(context.Context) error {
			if err := s.kafka.failure(); err != nil {
				return err
			}
			if !s.kafka.hasJoined() {
				return errors.New("kafka source: joining the consumer group, no partitions assigned yet")
			}
			return nil
		})
	}
	if s.webhook != nil {
		h.Register("sink/webhook", func(context.Context) error {
			if err := s.webhook.Ready(); err != nil {
				return fmt.Errorf("webhook sink: %w", err)
			}
			return nil
		})
	}
}

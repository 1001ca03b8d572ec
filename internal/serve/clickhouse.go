package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/store/clickhouse"
)

// ClickHouseConfig is the clickhouse: section: events and alerts are
// written there, and alert history is answered from there.
type ClickHouseConfig struct {
	Addr     []string `yaml:"addr"`     // native protocol, default [127.0.0.1:9000]
	Database string   `yaml:"database"` // default vigil
	Username string   `yaml:"username"` // default default
	Password string   `yaml:"password"`
	// Events persists every event that decodes (default true); false
	// writes alerts only.
	Events *bool `yaml:"events"`
	Batch  struct {
		Rows     int      `yaml:"rows"`     // default 50000
		Interval Duration `yaml:"interval"` // default 1s
	} `yaml:"batch"`
	// MaxQueuedRows bounds the events waiting to be written (default
	// 4 × batch.rows); beyond it HTTP answers 503 and Kafka waits.
	MaxQueuedRows int `yaml:"max_queued_rows"`
	// Keys are event fields copied to the events table's key columns; the
	// first is its sort key (default [card_id]).
	Keys []string `yaml:"keys"`
	// Retention drops day partitions older than this, hourly (default 0:
	// keep everything).
	Retention Duration `yaml:"retention"`
}

func (c *ClickHouseConfig) events() bool { return c.Events == nil || *c.Events }

func (c *ClickHouseConfig) validate() error {
	if c.Batch.Rows < 0 || c.Batch.Interval < 0 || c.MaxQueuedRows < 0 || c.Retention < 0 {
		return errors.New("clickhouse: batch, max_queued_rows and retention must not be negative")
	}
	if c.MaxQueuedRows > 0 && c.MaxQueuedRows < c.Batch.Rows {
		return errors.New("clickhouse: max_queued_rows must be at least batch.rows")
	}
	return nil
}

// StoreConfig is the store package's config for this section.
func (c *ClickHouseConfig) StoreConfig(logger *slog.Logger) clickhouse.Config {
	keys := c.Keys
	if keys == nil {
		keys = []string{"card_id"}
	}
	return clickhouse.Config{Addr: c.Addr, Database: c.Database, Username: c.Username, Password: c.Password,
		BatchRows: c.Batch.Rows, BatchInterval: time.Duration(c.Batch.Interval), MaxQueuedRows: c.MaxQueuedRows,
		KeyFields: keys, Logger: logger}
}

// openClickHouse connects (waiting at most 30s) and starts the event
// writer when events are persisted.
func openClickHouse(c *ClickHouseConfig, logger *slog.Logger) (*clickhouse.Store, *clickhouse.EventWriter, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := clickhouse.Open(ctx, c.StoreConfig(logger.With("sink", "clickhouse")))
	if err != nil {
		return nil, nil, err
	}
	if !c.events() {
		return st, nil, nil
	}
	return st, st.NewEventWriter(), nil
}

// eventRows are the rows of decoded events for the events table.
func eventRows(evs []*event.Event, raws [][]byte, source string, positions []string) []clickhouse.Row {
	rows := make([]clickhouse.Row, len(evs))
	for i, ev := range evs {
		rows[i] = clickhouse.Row{Event: ev, Raw: raws[i], Source: source, Position: positions[i]}
	}
	return rows
}

// addAccepted queues the rows of the events the engine accepted, for
// which n rows of size bytes were reserved, and gives back the rest: the
// room of rejected (late) events, which go to the dead letters, not to
// the events table.
func addAccepted(w *clickhouse.EventWriter, rows []clickhouse.Row, n int, size int64, rejected []cep.Rejection, ack func()) {
	acc := acceptedRows(rows, rejected)
	if len(acc) < n {
		w.Release(n-len(acc), size-clickhouse.SizeOf(acc))
	}
	w.Add(acc, ack)
}

func acceptedRows(rows []clickhouse.Row, rejected []cep.Rejection) []clickhouse.Row {
	if len(rejected) == 0 {
		return rows
	}
	drop := make(map[int]bool, len(rejected))
	for _, r := range rejected {
		drop[r.Index] = true
	}
	out := make([]clickhouse.Row, 0, len(rows)-len(rejected))
	for i, r := range rows {
		if !drop[i] {
			out = append(out, r)
		}
	}
	return out
}

// eventsFailure is the event writer's failure, for /readyz.
func (s *Service) eventsFailure() error {
	if s.events == nil {
		return nil
	}
	if err := s.events.Err(); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	return nil
}

package clickhouse

import (
	"context"
	"fmt"
	"time"
)

// StoredEvent is an event read back for a backtest.
type StoredEvent struct {
	TimeMs   int64
	ID       string
	Source   string
	Position string
	Raw      []byte
}

// ScanEvents calls fn for every stored event with from <= time < to, in
// event-time order, events of equal time in arrival order, each event
// once however often it was written. It reads one chunk (default an
// hour) at a time, so memory stays constant in the length of the range.
// fn's error stops the scan and is returned.
func (s *Store) ScanEvents(ctx context.Context, from, to time.Time, chunk time.Duration, fn func(StoredEvent) error) error {
	if chunk <= 0 {
		chunk = time.Hour
	}
	lo, end := from.UnixMilli(), to.UnixMilli()
	for lo < end {
		// Each chunk starts at the next stored event, so empty stretches
		// (a quiet night, a far-off outlier) cost one query.
		first, _, n, err := s.span(ctx, lo, end)
		if err != nil || n == 0 {
			return err
		}
		hi := min(first+chunk.Milliseconds(), end)
		if err := s.scanChunk(ctx, first, hi, fn); err != nil {
			return err
		}
		lo = hi
	}
	return nil
}

func (s *Store) scanChunk(ctx context.Context, lo, hi int64, fn func(StoredEvent) error) error {
	// The group is the sort key (what a merge collapses); argMax takes the
	// copy a merge keeps, so the order of equal times never changes.
	rows, err := s.conn.Query(ctx, `SELECT time_ms, id, max(ingest_seq) AS seq,
			argMax(source, ingest_seq), argMax(position, ingest_seq), argMax(raw, ingest_seq)
		FROM `+s.db+`.events
		WHERE time_ms >= ? AND time_ms < ? AND day >= ? AND day <= ?
		GROUP BY key, time_ms, id
		ORDER BY time_ms, seq`, lo, hi, dayOf(lo), dayOf(hi))
	if err != nil {
		return fmt.Errorf("clickhouse: reading events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e StoredEvent
		var seq uint64
		var raw string
		if err := rows.Scan(&e.TimeMs, &e.ID, &seq, &e.Source, &e.Position, &raw); err != nil {
			return fmt.Errorf("clickhouse: reading events: %w", err)
		}
		e.Raw = []byte(raw)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("clickhouse: reading events: %w", err)
	}
	return nil
}

// CountEvents returns the number of distinct events with from <= time < to.
func (s *Store) CountEvents(ctx context.Context, from, to time.Time) (uint64, error) {
	var n uint64
	err := s.conn.QueryRow(ctx, `SELECT count() FROM (SELECT 1 FROM `+s.db+`.events
		WHERE time_ms >= ? AND time_ms < ? AND day >= ? AND day <= ? GROUP BY key, time_ms, id)`,
		from.UnixMilli(), to.UnixMilli(), dayOf(from.UnixMilli()), dayOf(to.UnixMilli())).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("clickhouse: counting events: %w", err)
	}
	return n, nil
}

// span returns the first and last event times in [lo, hi) and the rows there.
func (s *Store) span(ctx context.Context, lo, hi int64) (first, last int64, n uint64, err error) {
	err = s.conn.QueryRow(ctx, `SELECT min(time_ms), max(time_ms), count() FROM `+s.db+`.events
		WHERE time_ms >= ? AND time_ms < ? AND day >= ? AND day <= ?`, lo, hi, dayOf(lo), dayOf(hi)).Scan(&first, &last, &n)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("clickhouse: reading events: %w", err)
	}
	return first, last, n, nil
}

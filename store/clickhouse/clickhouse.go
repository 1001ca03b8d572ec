// Package clickhouse persists events and alerts to ClickHouse for
// analytics and alert history, over the native protocol
// (github.com/ClickHouse/clickhouse-go/v2).
//
// The schema works on ClickHouse 18.16 (Debian 12's package) and on
// current releases: no DateTime64, JSON, Map or TTL. Times are kept
// exactly as Int64 Unix milliseconds (time_ms) beside a DateTime (time)
// and a Date (day) that partitions the tables by day; retention drops
// whole partitions ([Store.DropBefore]).
//
// De-duplication. Delivery is at least once: a batch whose answer was
// lost is written again, and a replayed Kafka tail re-emits its alerts.
// Both tables are ReplacingMergeTree keyed (ORDER BY) by columns that
// include the row's id, so background merges eventually keep one row per
// id; until then every query collapses duplicates itself by grouping on
// the sort key and taking argMax(column, version). argMax rather than
// FINAL: FINAL on 18.16 merges in one thread over the whole table, while
// a GROUP BY runs in parallel over only the rows the WHERE keeps, and it
// picks the very row a merge keeps, so a query's answer never changes
// when a merge runs.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Config says where ClickHouse is and how to write to it.
type Config struct {
	Addr     []string // host:port of the native protocol; default 127.0.0.1:9000
	Database string   // default vigil; created when missing
	Username string   // default "default"
	Password string
	// BatchRows and BatchInterval cut event batches: a batch is sent when
	// it holds BatchRows rows or its first row has waited BatchInterval
	// (defaults 50000 and 1s).
	BatchRows     int
	BatchInterval time.Duration
	// MaxQueuedRows and MaxQueuedBytes bound the events waiting to be
	// written (defaults 4×BatchRows and 256 MiB): beyond them Add waits,
	// which holds back the sources (backpressure).
	MaxQueuedRows  int
	MaxQueuedBytes int64
	// KeyFields are the event fields copied to key columns: the first
	// to key (the sort key: events by key over time), all of them to
	// key_names/key_values.
	KeyFields []string
	// MinBackoff and MaxBackoff bound the wait between retries of a
	// failed write (defaults 100ms and 10s).
	MinBackoff, MaxBackoff time.Duration
	DialTimeout            time.Duration // default 5s
	Logger                 *slog.Logger
}

func (c *Config) fill() error {
	if len(c.Addr) == 0 {
		c.Addr = []string{"127.0.0.1:9000"}
	}
	if c.Database == "" {
		c.Database = "vigil"
	}
	if !identifier.MatchString(c.Database) {
		return fmt.Errorf("clickhouse: database %q: want letters, digits and _", c.Database)
	}
	if c.Username == "" {
		c.Username = "default"
	}
	if c.BatchRows <= 0 {
		c.BatchRows = 50000
	}
	if c.BatchInterval <= 0 {
		c.BatchInterval = time.Second
	}
	if c.MaxQueuedRows <= 0 {
		c.MaxQueuedRows = 4 * c.BatchRows
	}
	if c.MaxQueuedRows < c.BatchRows {
		return fmt.Errorf("clickhouse: max queued rows %d is below the batch size %d", c.MaxQueuedRows, c.BatchRows)
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = 256 << 20
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(10*time.Second, c.MinBackoff)
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Store is a connection to vigil's ClickHouse database: alert history
// (a cep.Sink and the alert queries) and the event reader of backtests.
// Events are written through an [EventWriter]. A Store is safe for
// concurrent use.
type Store struct {
	conn driver.Conn
	cfg  Config
	db   string // quoted database name, for SQL
	seq  *sequence
}

// Open connects, creates the database and tables when missing and
// migrates an older schema. It fails when the server cannot be reached.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	conn, err := ch.Open(&ch.Options{
		Addr:        cfg.Addr,
		Auth:        ch.Auth{Database: "default", Username: cfg.Username, Password: cfg.Password},
		DialTimeout: cfg.DialTimeout,
		// Several writers (events, alerts) and readers share the pool.
		MaxOpenConns: 8, MaxIdleConns: 4, ConnMaxLifetime: time.Hour,
		Compression: &ch.Compression{Method: ch.CompressionLZ4},
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	s := &Store{conn: conn, cfg: cfg, db: "`" + cfg.Database + "`", seq: newSequence()}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s: %w", strings.Join(cfg.Addr, ","), err)
	}
	if err := s.migrate(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s: schema: %w", strings.Join(cfg.Addr, ","), err)
	}
	return s, nil
}

// Database is the database vigil's tables are in.
func (s *Store) Database() string { return s.cfg.Database }

// Ping checks the connection; /readyz calls it.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Close closes the connections. Close the EventWriters first.
func (s *Store) Close(context.Context) error { return s.conn.Close() }

// DropBefore drops the day partitions of both tables whose day is
// before t's (UTC): the retention command. It returns the partitions
// dropped, as "table/YYYYMMDD".
func (s *Store) DropBefore(ctx context.Context, t time.Time) ([]string, error) {
	// partition_id is the day as YYYYMMDD; DROP PARTITION takes the
	// partition's value, a Date.
	rows, err := s.conn.Query(ctx, `SELECT DISTINCT table, partition_id FROM system.parts
		WHERE database = ? AND table IN ('events', 'alerts') AND active AND partition_id < ?
		ORDER BY table, partition_id`, s.cfg.Database, t.UTC().Format("20060102"))
	if err != nil {
		return nil, fmt.Errorf("clickhouse: listing partitions: %w", err)
	}
	type part struct{ table, partition string }
	var parts []part
	for rows.Next() {
		var p part
		if err := rows.Scan(&p.table, &p.partition); err != nil {
			rows.Close()
			return nil, err
		}
		parts = append(parts, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var dropped []string
	for _, p := range parts {
		if !digits.MatchString(p.partition) {
			continue // not a day partition of this schema
		}
		day, _ := time.Parse("20060102", p.partition)
		if err := s.conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION '%s'", s.db, p.table, day.Format("2006-01-02"))); err != nil {
			return dropped, fmt.Errorf("clickhouse: dropping %s partition %s: %w", p.table, p.partition, err)
		}
		dropped = append(dropped, p.table+"/"+p.partition)
	}
	return dropped, nil
}

var digits = regexp.MustCompile(`^[0-9]{8}$`)

// RunRetention drops partitions older than keep every interval until ctx
// ends; keep 0 does nothing.
func (s *Store) RunRetention(ctx context.Context, keep, every time.Duration) {
	if keep <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		dropped, err := s.DropBefore(ctx, time.Now().Add(-keep))
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("clickhouse retention", "err", err)
		} else if len(dropped) > 0 {
			s.cfg.Logger.Info("clickhouse retention: dropped partitions", "partitions", strings.Join(dropped, ","))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Retryable reports whether a write error may succeed when tried again:
// connection errors and server errors alike (the server may be
// restarting); only a cancelled context is final.
func retryable(err error) bool {
	return !errors.Is(err, context.Canceled)
}

package clickhouse

import (
	"context"
	"fmt"
	"strings"
)

// SchemaVersion is the version of the layout this code writes. Open
// upgrades an older database and refuses a newer one.
const SchemaVersion = 1

// migrations[i] upgrades schema version i to i+1; {db} is the database.
// Append, never edit. Each statement is idempotent (IF NOT EXISTS), so a
// migration cut short is simply run again.
var migrations = [][]string{
	// 0 → 1
	{
		// Every accepted event. Sorted by key then time: "events of this
		// card over time" reads one range. ingest_seq orders events of
		// equal time as they arrived, and is the version duplicates are
		// collapsed by (the sort key includes the id).
		`CREATE TABLE IF NOT EXISTS {db}.events (
			day        Date,            -- UTC day of time_ms: the partition
			time       DateTime,        -- time_ms in seconds, for date functions
			time_ms    Int64,           -- event time, Unix milliseconds (exact)
			id         String,          -- event id (the id field, or one derived from the position)
			key        String,          -- value of the first configured key field
			key_names  Array(String),   -- every configured key field ...
			key_values Array(String),   -- ... and its value ("" when absent)
			type       String,          -- the event's "type" field, when it is a string
			source     String,          -- http, kafka:<topic>/<partition>, or a file name
			position   String,          -- where in the source: offset, line, request item
			ingest_ms  Int64,           -- wall time vigil accepted it, Unix milliseconds
			ingest_seq UInt64,          -- arrival order (increasing across restarts)
			raw        String           -- the event's JSON as received
		) ENGINE = ReplacingMergeTree(ingest_seq)
		PARTITION BY day
		ORDER BY (key, time_ms, id)`,
		// Every alert, suppressed and shadow ones included. Sorted by rule
		// and key over time. version is higher for earlier writes, so the
		// row kept is the first one written, as in the embedded store.
		`CREATE TABLE IF NOT EXISTS {db}.alerts (
			day           Date,
			time          DateTime,
			time_ms       Int64,           -- alert (event) time, Unix milliseconds
			id            String,
			rule          String,
			rule_version  Int64,
			rule_hash     String,
			match_hash    String,
			severity      String,
			key           String,
			detected_ms   Int64,           -- wall time of detection, Unix milliseconds
			summary       String,
			label_names   Array(String),
			label_values  Array(String),
			fields        String,          -- JSON object
			values        String,          -- JSON object: a threshold rule's aggregates
			shadow        UInt8,
			suppressed    UInt8,
			stages        Array(String),   -- matched stages in pattern order ("" for a threshold window) ...
			stage_event_ids Array(Array(String)), -- ... and the ids of the events each took
			event_ids     Array(String),
			body          String,          -- the alert's JSON, matched events included
			version       UInt64           -- 2^64-1 minus the write sequence: the first write wins
		) ENGINE = ReplacingMergeTree(version)
		PARTITION BY day
		ORDER BY (rule, key, time_ms, id)`,
	},
}

func (s *Store) migrate(ctx context.Context) error {
	if err := s.conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+s.db); err != nil {
		return err
	}
	if err := s.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+s.db+
		".schema_version (version UInt32, applied_ms Int64) ENGINE = TinyLog"); err != nil {
		return err
	}
	v, err := s.schemaVersion(ctx)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("database %s has schema version %d, newer than this vigil's %d: upgrade vigil", s.cfg.Database, v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		for _, stmt := range migrations[v] {
			if err := s.conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", s.db)); err != nil {
				return fmt.Errorf("migrating to version %d: %w", v+1, err)
			}
		}
		if err := s.recordVersion(ctx, v+1); err != nil {
			return fmt.Errorf("recording version %d: %w", v+1, err)
		}
	}
	return nil
}

// schemaVersion is the highest version recorded, 0 for a new database.
func (s *Store) schemaVersion(ctx context.Context) (int, error) {
	var v uint32
	if err := s.conn.QueryRow(ctx, "SELECT max(version) FROM "+s.db+".schema_version").Scan(&v); err != nil {
		return 0, err
	}
	return int(v), nil
}

// recordVersion appends a version row. A batch, not INSERT … VALUES: the
// native protocol sends an INSERT's rows as a data block.
func (s *Store) recordVersion(ctx context.Context, v int) error {
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".schema_version (version, applied_ms)")
	if err != nil {
		return err
	}
	defer b.Abort()
	if err := b.Append(uint32(v), nowMs()); err != nil {
		return err
	}
	return b.Send()
}

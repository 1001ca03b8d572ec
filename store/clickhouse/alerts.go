package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/store"
)

var _ cep.Sink = (*Store)(nil)

// WriteBatch inserts alerts as one columnar batch (cep.Sink). It returns
// nil once ClickHouse has the rows; on error the engine's delivery stage
// retries with backoff, with a new batch. Alerts written twice are stored
// once as far as every query can tell (see the package comment).
func (s *Store) WriteBatch(ctx context.Context, alerts []cep.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	n := len(alerts)
	var (
		days, times                                 = make([]time.Time, n), make([]time.Time, n)
		timeMs, ruleVersions, detected              = make([]int64, n), make([]int64, n), make([]int64, n)
		ids, rules, ruleHashes, matchHashes         = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		severities, keys, summaries, fields, values = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		labelNames, labelValues, stages, eventIDs   = make([][]string, n), make([][]string, n), make([][]string, n), make([][]string, n)
		stageIDs                                    = make([][][]string, n)
		shadow, suppressed                          = make([]uint8, n), make([]uint8, n)
		bodies                                      = make([]string, n)
		versions                                    = make([]uint64, n)
	)
	for i, a := range alerts {
		if a.ID == "" {
			return fmt.Errorf("clickhouse: alert %d (rule %q, key %q) has no id", i, a.Rule, a.Key)
		}
		body, err := a.MarshalJSON()
		if err != nil {
			return fmt.Errorf("clickhouse: alert %s: %w", a.ID, err)
		}
		// The body holds the values as the API shows them (non-finite
		// numbers as null); fields and values are copied from it.
		var parsed struct {
			Fields json.RawMessage `json:"fields"`
			Values json.RawMessage `json:"values"`
		}
		_ = json.Unmarshal(body, &parsed)
		days[i], times[i], timeMs[i] = clampTime(a.Time.UnixMilli()), clampTime(a.Time.UnixMilli()), a.Time.UnixMilli()
		ids[i], rules[i], ruleVersions[i], ruleHashes[i], matchHashes[i] = a.ID, a.Rule, a.RuleVersion, a.RuleHash, a.MatchHash
		severities[i], keys[i], detected[i], summaries[i] = a.Severity, a.Key, a.DetectedAt.UnixMilli(), a.Summary
		fields[i], values[i] = orEmptyObject(parsed.Fields), orEmptyObject(parsed.Values)
		labelNames[i], labelValues[i] = sortedPairs(a.Labels)
		stages[i], stageIDs[i] = matchedStages(a)
		eventIDs[i] = orEmpty(a.EventIDs)
		shadow[i], suppressed[i] = b2u(a.Shadow), b2u(a.Suppressed)
		bodies[i] = string(body)
		versions[i] = math.MaxUint64 - s.seq.next()
	}
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".alerts (day, time, time_ms, id, rule, rule_version, rule_hash, match_hash, "+
		"severity, key, detected_ms, summary, label_names, label_values, fields, values, shadow, suppressed, "+
		"stages, stage_event_ids, event_ids, body, version)")
	if err != nil {
		return fmt.Errorf("clickhouse: alerts: %w", err)
	}
	defer b.Abort()
	for i, col := range []any{days, times, timeMs, ids, rules, ruleVersions, ruleHashes, matchHashes,
		severities, keys, detected, summaries, labelNames, labelValues, fields, values, shadow, suppressed,
		stages, stageIDs, eventIDs, bodies, versions} {
		if err := b.Column(i).Append(col); err != nil {
			return fmt.Errorf("clickhouse: alerts column %d: %w", i, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("clickhouse: alerts: %w", err)
	}
	return nil
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orEmptyObject(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return "{}"
	}
	return string(raw)
}

func sortedPairs(m map[string]string) ([]string, []string) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	vals := make([]string, len(names))
	for i, k := range names {
		vals[i] = m[k]
	}
	return names, vals
}

// matchedStages lists a sequence alert's stages in the order of its
// EventIDs (pattern order) with the ids each took; a threshold alert has
// one unnamed stage, its window.
func matchedStages(a cep.Alert) ([]string, [][]string) {
	if len(a.Matched) == 0 {
		if len(a.EventIDs) == 0 {
			return []string{}, [][]string{}
		}
		return []string{""}, [][]string{a.EventIDs}
	}
	stageOf := map[string]string{}
	for stage, evs := range a.Matched {
		for _, ev := range evs {
			if id, ok := ev["id"].(string); ok {
				stageOf[id] = stage
			}
		}
	}
	var names []string
	var ids [][]string
	for _, id := range a.EventIDs {
		st := stageOf[id]
		if len(names) == 0 || names[len(names)-1] != st {
			names = append(names, st)
			ids = append(ids, nil)
		}
		ids[len(ids)-1] = append(ids[len(ids)-1], id)
	}
	if names == nil {
		return []string{}, [][]string{}
	}
	return names, ids
}

// Query answers an alert history query with exactly the semantics of
// package store (filters, newest-first order, keyset cursor; see
// store.Query). Duplicates collapse to the first write: rule, key, time
// and id are the same in every copy of an alert, so they filter before
// the collapse; severity and shadow may differ between copies (a
// presentation edit keeps the id), so they filter after it.
func (s *Store) Query(ctx context.Context, q store.Query) (store.Page, error) {
	if err := q.Validate(); err != nil {
		return store.Page{}, err
	}
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if q.Rule != "" {
		add("rule = ?", q.Rule)
	}
	if q.Key != "" {
		add("key = ?", q.Key)
	}
	if !q.From.IsZero() {
		ms := q.From.UnixMilli()
		add("time_ms >= ? AND day >= ?", ms, dayOf(ms))
	}
	if !q.To.IsZero() {
		ms := q.To.UnixMilli()
		add("time_ms < ? AND day <= ?", ms, dayOf(ms))
	}
	if q.Cursor != "" {
		c, err := store.ParseCursor(q.Cursor)
		if err != nil {
			return store.Page{}, err
		}
		add("(time_ms < ? OR time_ms = ? AND id < ?) AND day <= ?", c.TimeMs, c.TimeMs, c.ID, dayOf(c.TimeMs))
	}
	var having []string
	if q.Severity != "" {
		having = append(having, "argMax(severity, version) = ?")
		args = append(args, q.Severity)
	}
	if q.Shadow != nil {
		having = append(having, "argMax(shadow, version) = ?")
		args = append(args, b2u(*q.Shadow))
	}
	sql := "SELECT id, argMax(body, version) FROM " + s.db + ".alerts"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " GROUP BY rule, key, time_ms, id"
	if len(having) > 0 {
		sql += " HAVING " + strings.Join(having, " AND ")
	}
	sql += fmt.Sprintf(" ORDER BY time_ms DESC, id DESC LIMIT %d", q.PageSize()+1)
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return store.Page{}, fmt.Errorf("clickhouse: alerts query: %w", err)
	}
	defer rows.Close()
	var out []cep.Alert
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			return store.Page{}, fmt.Errorf("clickhouse: alerts query: %w", err)
		}
		a, err := decodeAlert(id, body)
		if err != nil {
			return store.Page{}, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return store.Page{}, fmt.Errorf("clickhouse: alerts query: %w", err)
	}
	return store.NewPage(q, out), nil
}

// Get returns the alert with the given id, with its matched events. The
// alerts table is sorted by rule, so this reads every partition's id
// column: fine for an operator's look-up, not for a hot path.
func (s *Store) Get(ctx context.Context, id string) (cep.Alert, bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT argMax(body, version) FROM "+s.db+".alerts WHERE id = ? GROUP BY id", id)
	if err != nil {
		return cep.Alert{}, false, fmt.Errorf("clickhouse: get alert %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return cep.Alert{}, false, rows.Err()
	}
	var body string
	if err := rows.Scan(&body); err != nil {
		return cep.Alert{}, false, fmt.Errorf("clickhouse: get alert %s: %w", id, err)
	}
	a, err := decodeAlert(id, body)
	return a, err == nil, err
}

// Count returns the number of distinct alerts stored.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT uniqExact(id) FROM "+s.db+".alerts").Scan(&n); err != nil {
		return 0, fmt.Errorf("clickhouse: count alerts: %w", err)
	}
	return int(n), nil
}

func decodeAlert(id, body string) (cep.Alert, error) {
	var a cep.Alert
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		return cep.Alert{}, fmt.Errorf("clickhouse: alert %s: stored JSON: %w", id, err)
	}
	return a, nil
}

// dayOf is the UTC day of a time, as the text a Date column compares
// with, clamped to the days a Date holds (1970 to 2105).
func dayOf(ms int64) string {
	return time.UnixMilli(min(max(ms, 0), maxDateMs)).UTC().Format("2006-01-02")
}

// maxDateMs is 2105-12-31T00:00:00Z, the last day of a Date.
var maxDateMs = time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli()

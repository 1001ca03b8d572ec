package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RulesVersion is one applied ruleset: who applied it, when, how, what it
// changed, and the full text of every file, so that it can be shown and
// re-applied byte for byte.
type RulesVersion struct {
	Version int64     `json:"version"`
	At      time.Time `json:"at"`
	// Actor is the API token's name, or sighup, file (the watcher),
	// startup, or anonymous when the API has no tokens.
	Actor string `json:"actor"`
	// Source says how it came: api, reload, sighup, file, startup, or
	// rollback of version N.
	Source string          `json:"source"`
	Diff   json.RawMessage `json:"diff"`
	Files  []RulesFile     `json:"files,omitempty"`
}

// RulesFile is one file of a ruleset.
type RulesFile struct {
	Name string `json:"name"`
	Data []byte `json:"-"`
}

// ListVersion is one stored state of a named list.
type ListVersion struct {
	Version int64     `json:"version"`
	Name    string    `json:"name"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Size    int       `json:"size"`
	// Values is a JSON array of the list's values (strings, numbers,
	// booleans); empty in listings, and for versions older than the
	// newest KeepListValues.
	Values json.RawMessage `json:"-"`
	// Deleted: this version removed the list.
	Deleted bool `json:"deleted,omitempty"`
}

// KeepListValues is how many versions of a list keep their values; older
// ones keep who, when and how many.
const KeepListValues = 5

// RecordRules stores a ruleset version and returns its number, one more
// than any number handed out before.
func (s *SQLite) RecordRules(ctx context.Context, v RulesVersion) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	diff := v.Diff
	if len(diff) == 0 {
		diff = json.RawMessage("{}")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO rule_versions (at_ms, actor, source, diff) VALUES (?, ?, ?, ?)`,
		v.At.UnixMilli(), v.Actor, v.Source, string(diff))
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	n, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	for i, f := range v.Files {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rule_version_files (version, seq, name, data) VALUES (?, ?, ?, ?)`,
			n, i, f.Name, f.Data); err != nil {
			return 0, fmt.Errorf("store: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return n, nil
}

// DeleteRules removes a version that could not be applied after it was
// recorded. Its number is never handed out again.
func (s *SQLite) DeleteRules(ctx context.Context, version int64) error {
	if s.isClosed() {
		return ErrClosed
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM rule_version_files WHERE version = ?`, `DELETE FROM rule_versions WHERE version = ?`} {
		if _, err := tx.ExecContext(ctx, q, version); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// RulesVersions lists the recorded versions, newest first, without their
// files.
func (s *SQLite) RulesVersions(ctx context.Context) ([]RulesVersion, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, `SELECT version, at_ms, actor, source, diff FROM rule_versions ORDER BY version DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []RulesVersion
	for rows.Next() {
		v, err := scanRulesVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return out, nil
}

// RulesVersion returns one version with its files; version 0 means the
// latest.
func (s *SQLite) RulesVersion(ctx context.Context, version int64) (RulesVersion, bool, error) {
	if s.isClosed() {
		return RulesVersion{}, false, ErrClosed
	}
	q := `SELECT version, at_ms, actor, source, diff FROM rule_versions WHERE version = ?`
	args := []any{version}
	if version == 0 {
		q, args = `SELECT version, at_ms, actor, source, diff FROM rule_versions ORDER BY version DESC LIMIT 1`, nil
	}
	v, err := scanRulesVersion(s.r.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return RulesVersion{}, false, nil
	}
	if err != nil {
		return RulesVersion{}, false, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT name, data FROM rule_version_files WHERE version = ? ORDER BY seq`, v.Version)
	if err != nil {
		return RulesVersion{}, false, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f RulesFile
		if err := rows.Scan(&f.Name, &f.Data); err != nil {
			return RulesVersion{}, false, fmt.Errorf("store: %w", err)
		}
		if f.Data == nil {
			f.Data = []byte{}
		}
		v.Files = append(v.Files, f)
	}
	if err := rows.Err(); err != nil {
		return RulesVersion{}, false, fmt.Errorf("store: %w", err)
	}
	return v, true, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRulesVersion(row scanner) (RulesVersion, error) {
	var v RulesVersion
	var at int64
	var diff string
	if err := row.Scan(&v.Version, &at, &v.Actor, &v.Source, &diff); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return v, err
		}
		return v, fmt.Errorf("store: %w", err)
	}
	v.At = time.UnixMilli(at).UTC()
	v.Diff = json.RawMessage(diff)
	return v, nil
}

// RecordList stores a named list's new content and returns its version
// (one sequence for every list: a number is never used twice).
func (s *SQLite) RecordList(ctx context.Context, v ListVersion) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO list_versions (name, at_ms, actor, size, data, deleted) VALUES (?, ?, ?, ?, ?, ?)`,
		v.Name, v.At.UnixMilli(), v.Actor, v.Size, []byte(v.Values), v.Deleted)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	n, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	// A big list PUT often must not grow the file for ever.
	if _, err := tx.ExecContext(ctx, `UPDATE list_versions SET data = x'' WHERE name = ? AND version NOT IN
		(SELECT version FROM list_versions WHERE name = ? ORDER BY version DESC LIMIT ?)`, v.Name, v.Name, KeepListValues); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return n, nil
}

// Lists returns the newest version of every stored list not deleted, by
// name, values included.
func (s *SQLite) Lists(ctx context.Context) ([]ListVersion, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, `SELECT l.version, l.name, l.at_ms, l.actor, l.size, l.data FROM list_versions l
		WHERE l.version = (SELECT MAX(version) FROM list_versions WHERE name = l.name) AND l.deleted = 0 ORDER BY l.name`)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []ListVersion
	for rows.Next() {
		var v ListVersion
		var at int64
		var data []byte
		if err := rows.Scan(&v.Version, &v.Name, &at, &v.Actor, &v.Size, &data); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		v.At, v.Values = time.UnixMilli(at).UTC(), json.RawMessage(data)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return out, nil
}

// ListHistory lists a list's versions, newest first, without values.
func (s *SQLite) ListHistory(ctx context.Context, name string) ([]ListVersion, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, `SELECT version, name, at_ms, actor, size, deleted FROM list_versions WHERE name = ? ORDER BY version DESC`, name)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []ListVersion
	for rows.Next() {
		var v ListVersion
		var at int64
		if err := rows.Scan(&v.Version, &v.Name, &at, &v.Actor, &v.Size, &v.Deleted); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		v.At = time.UnixMilli(at).UTC()
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return out, nil
}

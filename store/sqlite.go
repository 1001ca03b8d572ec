package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vigilhq/vigil/cep"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLite is the embedded alert store, the default when no
// ClickHouse is configured.
//
// Why SQLite, and why modernc.org/sqlite: it is a real embedded database
// with a stable, documented file format, transactions and SQL indexes, so
// there is no home-made format to design, repair or migrate by hand; and
// the modernc build is SQLite translated to pure Go, so `go build` needs no
// cgo and vigil stays a single static binary that cross-compiles. The file
// runs in WAL mode: readers (API queries) never block the writer (the alert
// sink) and the writer never blocks readers. All writes go through one
// connection, so they queue in Go instead of failing with SQLITE_BUSY;
// reads use a pool of read-only connections. Commits are synchronous (fsync
// of the WAL), so a nil error from Put or WriteBatch means the alerts
// survive a crash, as cep.Sink requires. A batch is one transaction, so one
// fsync, however many alerts it holds.
//
// Each alert is one row: the columns the API filters and sorts on, plus the
// alert's full JSON form (cep.Alert.MarshalJSON) including its matched
// events. Rows are keyed by the deterministic alert id, so writing an alert
// twice stores it once (the first write wins).
//
// A SQLite is safe for concurrent use.
type SQLite struct {
	w    *sql.DB // the one writer connection
	r    *sql.DB // read-only pool
	opts Options
	path string

	// stmts caches the read statements by SQL text: there are at most
	// 2^7 query shapes (the limit is a parameter), and SQLite parses each
	// once per connection instead of once per page.
	stmts sync.Map // string → *sql.Stmt

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

var _ cep.Sink = (*SQLite)(nil)

// Options configure a SQLite store.
type Options struct {
	// Retention is how long alerts are kept, by alert time; RunRetention
	// deletes older ones. 0 keeps them forever.
	Retention time.Duration
	// Now is the clock for retention; default time.Now.
	Now func() time.Time
	// Readers is the size of the read connection pool; default
	// GOMAXPROCS, at least 2 and at most 8.
	Readers int
	// Logger receives retention errors and summaries; default slog.Default().
	Logger *slog.Logger
	// Outbox makes the store remember, in the same transaction as the
	// alert, every new alert that is neither shadow nor suppressed, until
	// OutboxDone: an action sink with an in-memory queue (the webhook)
	// marks what it delivered, and after a crash Outbox returns what it had
	// not, to send again. An alert stored before is never added again, so a
	// re-delivered event cannot re-queue a delivered alert.
	Outbox bool
}

// ErrClosed is returned by the methods of a closed store.
var ErrClosed = errors.New("store: closed")

// SchemaVersion is the version of the database layout this code writes.
// Open upgrades older files and refuses newer ones.
const SchemaVersion = 4

// migrations[i] upgrades schema version i to i+1. Append, never edit.
var migrations = []string{
	// 0 → 1
	`CREATE TABLE alerts (
		id           TEXT    NOT NULL PRIMARY KEY,
		rule         TEXT    NOT NULL,
		key          TEXT    NOT NULL,
		severity     TEXT    NOT NULL,
		time_ms      INTEGER NOT NULL, -- alert (event) time, Unix ms
		detected_ms  INTEGER NOT NULL, -- wall time of detection, Unix ms
		shadow       INTEGER NOT NULL, -- 0 or 1
		suppressed   INTEGER NOT NULL, -- 0 or 1
		rule_version INTEGER NOT NULL,
		body         TEXT    NOT NULL  -- the alert's JSON, matched events included
	);
	-- Every index ends in (time_ms, id), the order pages are read in, so a
	-- filtered page is a range scan that needs no sort.
	CREATE INDEX alerts_time     ON alerts (time_ms, id);
	CREATE INDEX alerts_rule     ON alerts (rule, time_ms, id);
	CREATE INDEX alerts_key      ON alerts (key, time_ms, id);
	CREATE INDEX alerts_severity ON alerts (severity, time_ms, id);`,
	// 1 → 2: alerts an action sink has yet to deliver (see Options.Outbox).
	`CREATE TABLE outbox (id TEXT NOT NULL PRIMARY KEY);`,
	// 2 → 3: the history of rulesets and named lists (see versions.go).
	// AUTOINCREMENT: a version number is never used twice, even after a
	// failed apply deleted its row.
	`CREATE TABLE rule_versions (
		version  INTEGER PRIMARY KEY AUTOINCREMENT,
		at_ms    INTEGER NOT NULL,
		actor    TEXT    NOT NULL,
		source   TEXT    NOT NULL,
		diff     TEXT    NOT NULL -- JSON
	);
	CREATE TABLE rule_version_files (
		version INTEGER NOT NULL REFERENCES rule_versions (version) ON DELETE CASCADE,
		seq     INTEGER NOT NULL,
		name    TEXT    NOT NULL,
		data    BLOB    NOT NULL,
		PRIMARY KEY (version, seq)
	);
	CREATE TABLE list_versions (
		version INTEGER PRIMARY KEY AUTOINCREMENT,
		name    TEXT    NOT NULL,
		at_ms   INTEGER NOT NULL,
		actor   TEXT    NOT NULL,
		size    INTEGER NOT NULL,
		data    BLOB    NOT NULL -- JSON array of the values
	);
	CREATE INDEX list_versions_name ON list_versions (name, version);`,
	// 3 → 4: a list removed through the API is a version too.
	`ALTER TABLE list_versions ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;`,
}

// Open opens the store at path, creating its directory and file when they
// are missing and upgrading an older schema.
func Open(path string, opts Options) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("store: no path")
	}
	if opts.Retention < 0 {
		return nil, fmt.Errorf("store: negative retention %s", opts.Retention)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Readers <= 0 {
		opts.Readers = min(max(runtime.GOMAXPROCS(0), 2), 8)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// Alerts carry customer data: create the file readable by its owner
	// only (SQLite gives the -wal and -shm files the same mode).
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	f.Close()
	s := &SQLite{opts: opts, path: abs, closed: make(chan struct{})}

	// The writer: one connection, BEGIN IMMEDIATE so a transaction takes
	// the write lock up front, WAL, fsync on commit.
	s.w, err = sql.Open("sqlite", dsn(abs,
		"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)")+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.migrate(); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}

	s.r, err = sql.Open("sqlite", dsn(abs, "busy_timeout(10000)", "query_only(1)"))
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	s.r.SetMaxOpenConns(opts.Readers)
	s.r.SetMaxIdleConns(opts.Readers)
	if err := s.r.Ping(); err != nil {
		s.w.Close()
		s.r.Close()
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	return s, nil
}

// dsn builds a SQLite URI for path, so that any file name works.
func dsn(path string, pragmas ...string) string {
	q := url.Values{"_pragma": pragmas}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}).String()
}

// migrate brings the schema to SchemaVersion in one transaction.
func (s *SQLite) migrate() error {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("schema version %d is newer than this vigil supports (%d); use a newer vigil", v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("schema upgrade to version %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *SQLite) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Path is the absolute path of the database file.
func (s *SQLite) Path() string { return s.path }

// Put stores alerts in one transaction: all of them or, on error, none.
// An alert whose id is already stored is skipped. A nil error means the
// transaction is committed to disk.
func (s *SQLite) Put(ctx context.Context, alerts ...cep.Alert) error {
	if s.isClosed() {
		return ErrClosed
	}
	if len(alerts) == 0 {
		return nil
	}
	bodies := make([][]byte, len(alerts))
	for i, a := range alerts {
		if a.ID == "" {
			return fmt.Errorf("store: alert %d (rule %q, key %q) has no id", i, a.Rule, a.Key)
		}
		// The bytes json.Marshal(a) returns, without its second pass over them.
		b, err := a.MarshalJSON()
		if err != nil {
			return fmt.Errorf("store: alert %s: %w", a.ID, err)
		}
		bodies[i] = b
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO alerts
		(id, rule, key, severity, time_ms, detected_ms, shadow, suppressed, rule_version, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	defer stmt.Close()
	for i, a := range alerts {
		res, err := stmt.ExecContext(ctx, a.ID, a.Rule, a.Key, a.Severity,
			a.Time.UnixMilli(), a.DetectedAt.UnixMilli(), a.Shadow, a.Suppressed, a.RuleVersion,
			string(bodies[i]))
		if err != nil {
			return fmt.Errorf("store: put %s: %w", a.ID, err)
		}
		if s.opts.Outbox && !a.Shadow && !a.Suppressed {
			if n, _ := res.RowsAffected(); n == 1 { // new: not delivered before
				if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO outbox (id) VALUES (?)`, a.ID); err != nil {
					return fmt.Errorf("store: put %s: outbox: %w", a.ID, err)
				}
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	return nil
}

// WriteBatch stores alerts in one transaction, as Put does (cep.Sink): one
// commit, so one fsync, per batch. Ids already stored, or repeated within
// the batch, are stored once.
func (s *SQLite) WriteBatch(ctx context.Context, alerts []cep.Alert) error {
	return s.Put(ctx, alerts...)
}

// Query returns one page of the alerts q selects, newest first, each with
// its matched events. A bad limit or cursor is a *ParamError.
func (s *SQLite) Query(ctx context.Context, q Query) (Page, error) {
	if s.isClosed() {
		return Page{}, ErrClosed
	}
	if err := q.Validate(); err != nil {
		return Page{}, err
	}
	query, args := sqlFor(q)
	stmt, err := s.stmt(ctx, query)
	if err != nil {
		return Page{}, fmt.Errorf("store: query: %w", err)
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return Page{}, fmt.Errorf("store: query: %w", err)
	}
	defer rows.Close()
	var alerts []cep.Alert
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			return Page{}, fmt.Errorf("store: query: %w", err)
		}
		a, err := decode(id, body)
		if err != nil {
			return Page{}, err
		}
		alerts = append(alerts, a)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("store: query: %w", err)
	}
	return NewPage(q, alerts), nil
}

// stmt returns the cached read statement for query.
func (s *SQLite) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// sqlFor translates q (already validated) to SQL. It fetches one row more
// than the page size, for NewPage to tell whether there is a next page.
func sqlFor(q Query) (string, []any) {
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
	if q.Severity != "" {
		add("severity = ?", q.Severity)
	}
	if !q.From.IsZero() {
		add("time_ms >= ?", q.From.UnixMilli())
	}
	if !q.To.IsZero() {
		add("time_ms < ?", q.To.UnixMilli())
	}
	if q.Shadow != nil {
		add("shadow = ?", *q.Shadow)
	}
	if c, ok, _ := q.after(); ok {
		add("(time_ms, id) < (?, ?)", c.TimeMs, c.ID)
	}
	var b strings.Builder
	b.WriteString("SELECT id, body FROM alerts")
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY time_ms DESC, id DESC LIMIT ?")
	args = append(args, q.PageSize()+1)
	return b.String(), args
}

func decode(id, body string) (cep.Alert, error) {
	var a cep.Alert
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		return cep.Alert{}, fmt.Errorf("store: alert %s: stored JSON: %w", id, err)
	}
	return a, nil
}

// Get returns the alert with the given id, with its matched events.
func (s *SQLite) Get(ctx context.Context, id string) (cep.Alert, bool, error) {
	if s.isClosed() {
		return cep.Alert{}, false, ErrClosed
	}
	stmt, err := s.stmt(ctx, `SELECT body FROM alerts WHERE id = ?`)
	if err != nil {
		return cep.Alert{}, false, fmt.Errorf("store: get %s: %w", id, err)
	}
	var body string
	switch err := stmt.QueryRowContext(ctx, id).Scan(&body); {
	case errors.Is(err, sql.ErrNoRows):
		return cep.Alert{}, false, nil
	case err != nil:
		return cep.Alert{}, false, fmt.Errorf("store: get %s: %w", id, err)
	}
	a, err := decode(id, body)
	if err != nil {
		return cep.Alert{}, false, err
	}
	return a, true, nil
}

// Count returns the number of stored alerts.
func (s *SQLite) Count(ctx context.Context) (int, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM alerts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// deleteBatch bounds how many rows one retention transaction deletes, so
// that a large backlog does not hold the write lock for long. A variable
// for tests.
var deleteBatch = 5000

// DeleteBefore deletes the alerts whose time is before t (in milliseconds)
// and returns how many it deleted.
func (s *SQLite) DeleteBefore(ctx context.Context, t time.Time) (int, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	ms := t.UnixMilli()
	total := 0
	for {
		res, err := s.w.ExecContext(ctx, `DELETE FROM alerts WHERE rowid IN
			(SELECT rowid FROM alerts WHERE time_ms < ? ORDER BY time_ms LIMIT ?)`, ms, deleteBatch)
		if err != nil {
			return total, fmt.Errorf("store: delete: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("store: delete: %w", err)
		}
		total += int(n)
		if n < int64(deleteBatch) {
			return total, nil
		}
	}
}

// RunRetention deletes alerts older than Options.Retention now and then
// every interval (default one hour), until ctx is done or the store is
// closed. It returns at once when Retention is 0. Errors are logged and
// retried at the next interval. Run it in its own goroutine.
func (s *SQLite) RunRetention(ctx context.Context, every time.Duration) {
	if s.opts.Retention <= 0 {
		return
	}
	if every <= 0 {
		every = time.Hour
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		cutoff := s.opts.Now().Add(-s.opts.Retention)
		n, err := s.DeleteBefore(ctx, cutoff)
		switch {
		case err != nil && ctx.Err() == nil && !s.isClosed():
			s.opts.Logger.Error("alert store retention", "path", s.path, "err", err)
		case n > 0:
			s.opts.Logger.Info("alert store retention", "path", s.path, "deleted", n, "before", cutoff.UTC())
		}
		select {
		case <-ctx.Done():
			return
		case <-s.closed:
			return
		case <-tick.C:
		}
	}
}

// OutboxDone forgets an outbox entry: the action sink delivered the alert
// (or gave up on it and dead-lettered it).
func (s *SQLite) OutboxDone(ctx context.Context, id string) error {
	if s.isClosed() {
		return ErrClosed
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id); err != nil {
		return fmt.Errorf("store: outbox done %s: %w", id, err)
	}
	return nil
}

// Outbox returns the alerts still waiting for the action sink, oldest
// first.
func (s *SQLite) Outbox(ctx context.Context) ([]cep.Alert, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	rows, err := s.w.QueryContext(ctx, `SELECT a.id, a.body FROM outbox o JOIN alerts a ON a.id = o.id ORDER BY a.time_ms, a.id`)
	if err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	defer rows.Close()
	var out []cep.Alert
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			return nil, fmt.Errorf("store: outbox: %w", err)
		}
		a, err := decode(id, body)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Close releases the store. It is safe to call more than once; later
// calls return the first call's result. ctx is not used: closing SQLite
// does not block on the network.
func (s *SQLite) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		close(s.closed)
		// Let the query planner keep its statistics current
		// (https://sqlite.org/lang_analyze.html#pragopt); cheap, and best
		// effort.
		_, _ = s.w.Exec(`PRAGMA optimize`)
		s.stmts.Range(func(_, st any) bool {
			st.(*sql.Stmt).Close()
			return true
		})
		s.closeErr = errors.Join(s.r.Close(), s.w.Close())
	})
	return s.closeErr
}

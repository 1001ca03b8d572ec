// Package reload is the one path by which a running service changes its
// rules and named lists: the rules API, SIGHUP and the file watcher all
// call it. Every change is compiled completely before anything moves,
// applied to the engine between two events, serialized with every other
// change, and recorded as a version in the store.
package reload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/internal/telemetry"
	"github.com/vigilhq/vigil/rules"
	"github.com/vigilhq/vigil/store"
)

// Engine is what the manager changes: a cep.Engine.
type Engine interface {
	Update(ctx context.Context, rs *rules.Ruleset) error
	SetLists(lists map[string]map[any]struct{}) error
}

// Store records versions: a store.SQLite.
type Store interface {
	RecordRules(ctx context.Context, v store.RulesVersion) (int64, error)
	DeleteRules(ctx context.Context, version int64) error
	RulesVersions(ctx context.Context) ([]store.RulesVersion, error)
	RulesVersion(ctx context.Context, version int64) (store.RulesVersion, bool, error)
	RecordList(ctx context.Context, v store.ListVersion) (int64, error)
	Lists(ctx context.Context) ([]store.ListVersion, error)
	ListHistory(ctx context.Context, name string) ([]store.ListVersion, error)
}

// Options configure a Manager.
type Options struct {
	// Paths are the configured rules files and directories: what start-up,
	// POST /v1/rules/reload, SIGHUP and the watcher read.
	Paths []string
	// ListDir is the directory that list files named by rules pushed
	// through the API are relative to (default: the first configured
	// path's directory).
	ListDir string
	Logger  *slog.Logger
	Now     func() time.Time
	// AllowEmpty lets a ruleset without rules run (it matches nothing):
	// otherwise one is refused, at start-up and on every change.
	AllowEmpty bool
}

// Manager holds the running ruleset and changes it.
type Manager struct {
	opts  Options
	store Store
	log   *slog.Logger

	mu       sync.Mutex // serializes every change
	eng      Engine
	rs       *rules.Ruleset
	files    []store.RulesFile
	fromDisk bool              // the running files were read from the configured paths
	disk     []store.RulesFile // the configured files as last read: the watcher's reference
	apiLists map[string]list   // lists kept through the API
	startup  int64             // the version Open recorded, 0 if none (Abort deletes it)

	stats Stats
}

// list is a named list kept through the API.
type list struct {
	set  map[any]struct{}
	meta store.ListVersion // without values
}

// Stats count reloads, for metrics and /readyz.
type Stats struct {
	Reloads  uint64    // applied rulesets, start-up's included
	Failures uint64    // reloads refused (invalid rules, or the engine refused)
	Version  int64     // running version
	Last     time.Time // when the running version was applied
	LastErr  string    // the last failure's message, "" after a success
}

// Result is an applied (or, for Validate, a would-be) change.
type Result struct {
	Version int64      `json:"version,omitempty"`
	Diff    rules.Diff `json:"diff"`
}

// InvalidError is a ruleset that does not compile. Details are positioned
// like vigil check's errors.
type InvalidError struct {
	Errors rules.ErrorList
	Err    error // when the failure is not about the rules' text (a file unreadable)
}

func (e *InvalidError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	if len(e.Errors) == 1 {
		return e.Errors[0].Error()
	}
	return fmt.Sprintf("%d errors in the rules, the first: %s", len(e.Errors), e.Errors[0].Error())
}

// ErrNotFound is a version or list that does not exist.
var ErrNotFound = errors.New("not found")

// ConflictError is a list update that clashes with the rules files.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// BadListError is a list body that is not a list.
type BadListError struct{ Msg string }

func (e *BadListError) Error() string { return e.Msg }

// Open loads the configured rules with the stored lists, and records them
// as a new version only if they differ from the latest recorded one. The
// returned ruleset carries its version; build the engine with it, then
// Attach the engine.
func Open(ctx context.Context, st Store, opts Options) (*Manager, *rules.Ruleset, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ListDir == "" && len(opts.Paths) > 0 {
		opts.ListDir = opts.Paths[0]
		if fi, err := os.Stat(opts.ListDir); err == nil && !fi.IsDir() {
			opts.ListDir = filepath.Dir(opts.ListDir)
		}
	}
	m := &Manager{opts: opts, store: st, log: opts.Logger, apiLists: map[string]list{}}
	stored, err := st.Lists(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("lists: %w", err)
	}
	for _, v := range stored {
		set, err := parseJSONList(v.Values)
		if err != nil {
			return nil, nil, fmt.Errorf("stored list %q (version %d): %w", v.Name, v.Version, err)
		}
		v.Values = nil
		m.apiLists[v.Name] = list{set: set, meta: v}
	}
	files, err := readFiles(opts.Paths)
	if err != nil {
		return nil, nil, err
	}
	rs, err := m.compile(files, true)
	if err != nil {
		return nil, nil, err
	}
	// At start-up the configured files win over an API copy of a list
	// they define (set while the running rules did not define it).
	for _, name := range rs.ReplacedLists {
		m.log.Warn("a list the configured rules files define was also kept through the API: the files' list is used, the API's copy removed",
			"list", name, "at", rs.ListsAt[name])
		if err := m.removeList(ctx, name, "startup"); err != nil {
			return nil, nil, err
		}
	}
	latest, ok, err := st.RulesVersion(ctx, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("rules versions: %w", err)
	}
	if ok && sameFiles(latest.Files, files) {
		rs.Version = latest.Version
		m.log.Info("rules unchanged since the last recorded version", "version", latest.Version)
	} else {
		var prev *rules.Ruleset
		if ok {
			prev, _ = m.compile(latest.Files, m.diskSource(ctx, latest)) // a version that no longer compiles diffs as empty
		}
		diff := rules.Compare(prev, rs)
		v, err := m.record(ctx, files, diff, "startup", "startup")
		if err != nil {
			return nil, nil, err
		}
		rs.Version, m.startup = v, v
		if ok {
			m.log.Warn("the configured rules files differ from the latest recorded version: running the files",
				"latest", latest.Version, "latest_source", latest.Source, "version", v,
				"added", len(diff.Added), "removed", len(diff.Removed), "changed", len(diff.ChangedMatching)+len(diff.ChangedPresentation))
		}
	}
	m.rs, m.files, m.fromDisk, m.disk = rs, files, true, files
	m.stats = Stats{Reloads: 1, Version: rs.Version, Last: opts.Now()}
	return m, rs, nil
}

// Abort undoes Open's record of a start-up version, for a service that
// failed to start: a version that never ran is not history. (Its number
// stays unused.)
func (m *Manager) Abort(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.startup > 0 {
		if err := m.store.DeleteRules(ctx, m.startup); err != nil {
			m.log.Warn("removing the start-up version of a service that did not start", "version", m.startup, "err", err)
		}
		m.startup = 0
	}
}

// Attach hands the manager the engine it changes.
func (m *Manager) Attach(eng Engine) {
	m.mu.Lock()
	m.eng = eng
	m.mu.Unlock()
}

// Running returns the running ruleset and its files.
func (m *Manager) Running() (*rules.Ruleset, []store.RulesFile) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rs, m.files
}

// Stats returns the reload counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Validate compiles files and says what applying them would change;
// nothing changes.
func (m *Manager) Validate(files []store.RulesFile) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs, err := m.compile(files, false)
	if err != nil {
		return Result{}, err
	}
	return Result{Diff: rules.Compare(m.rs, rs)}, nil
}

// Apply compiles files and, if they compile, makes them the running
// ruleset between two events, recorded as a new version. On any error
// the running ruleset stays.
func (m *Manager) Apply(ctx context.Context, files []store.RulesFile, actor, source string) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.apply(ctx, files, false, actor, source)
}

// ReloadConfigured re-reads the configured files and applies them.
func (m *Manager) ReloadConfigured(ctx context.Context, actor, source string) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	files, err := readFiles(m.opts.Paths)
	if err != nil {
		m.failed(err)
		return Result{}, err
	}
	res, err := m.apply(ctx, files, true, actor, source)
	if err == nil {
		m.disk = files
	}
	return res, err
}

// ReloadIfChanged is ReloadConfigured for the file watcher: when the
// files and the lists they define are exactly those running, it records
// no version and returns changed false.
func (m *Manager) ReloadIfChanged(ctx context.Context, actor, source string) (res Result, changed bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	files, err := readFiles(m.opts.Paths)
	if err != nil {
		m.failed(err)
		return Result{}, false, err
	}
	// Against the files as last read from disk, not the running ones: a
	// ruleset pushed through the API stays until the files change.
	if sameFiles(files, m.disk) {
		rs, err := m.compile(files, true)
		if err == nil && (!m.fromDisk || sameLists(rs.Lists, m.rs.Lists)) {
			return Result{Version: m.rs.Version}, false, nil
		}
	}
	m.disk = files
	res, err = m.apply(ctx, files, true, actor, source)
	return res, err == nil, err
}

func sameLists(a, b map[string]map[any]struct{}) bool {
	return maps.EqualFunc(a, b, func(x, y map[any]struct{}) bool {
		return len(x) == len(y) && maps.EqualFunc(x, y, func(struct{}, struct{}) bool { return true })
	})
}

// Rollback re-applies version v's files, byte for byte, as a new version.
func (m *Manager) Rollback(ctx context.Context, v int64, actor string) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok, err := m.store.RulesVersion(ctx, v)
	if err != nil {
		return Result{}, err
	}
	if !ok || v <= 0 {
		return Result{}, fmt.Errorf("rules version %d: %w", v, ErrNotFound)
	}
	return m.apply(ctx, old.Files, m.diskSource(ctx, old), actor, fmt.Sprintf("rollback of version %d", v))
}

// diskSource reports whether a version's files were read from the
// configured paths (their list files are then read as written), following
// rollbacks to the version they restored.
func (m *Manager) diskSource(ctx context.Context, v store.RulesVersion) bool {
	for range 100 {
		var n int64
		if _, err := fmt.Sscanf(v.Source, "rollback of version %d", &n); err != nil {
			return v.Source != "api"
		}
		prev, ok, err := m.store.RulesVersion(ctx, n)
		if err != nil || !ok {
			return false
		}
		v = prev
	}
	return false
}

func (m *Manager) apply(ctx context.Context, files []store.RulesFile, fromDisk bool, actor, source string) (res Result, err error) {
	ctx, end := telemetry.StartSpan(ctx, "rules.reload", attribute.String("vigil.source", source))
	defer func() { end(err) }()
	rs, err := m.compile(files, fromDisk)
	if err != nil {
		m.failed(err)
		return Result{}, err
	}
	if m.eng == nil {
		return Result{}, errors.New("reload: no engine attached")
	}
	diff := rules.Compare(m.rs, rs)
	// Record first, so that a version is on record before it runs; a
	// version the engine then refuses is deleted (its number is not
	// reused).
	v, err := m.record(ctx, files, diff, actor, source)
	if err != nil {
		m.failed(err)
		return Result{}, err
	}
	rs.Version = v
	if err := m.eng.Update(ctx, rs); errors.Is(err, cep.ErrStateDropped) {
		// Applied: the new rules run; a key lost its state.
		m.log.Warn("rules applied, but some kept state could not be carried over", "version", v, "err", err)
	} else if err != nil {
		if derr := m.store.DeleteRules(context.WithoutCancel(ctx), v); derr != nil {
			m.log.Error("deleting a rules version the engine refused", "version", v, "err", derr)
		}
		m.failed(err)
		return Result{}, fmt.Errorf("applying the rules: %w", err)
	}
	m.rs, m.files, m.fromDisk, m.startup = rs, files, fromDisk, 0
	m.stats.Reloads++
	m.stats.Version, m.stats.Last, m.stats.LastErr = v, m.opts.Now(), ""
	m.log.Info("rules applied", "version", v, "actor", actor, "source", source,
		"added", len(diff.Added), "removed", len(diff.Removed),
		"changed_matching", len(diff.ChangedMatching), "changed_presentation", len(diff.ChangedPresentation))
	return Result{Version: v, Diff: diff}, nil
}

func (m *Manager) failed(err error) {
	m.stats.Failures++
	m.stats.LastErr = err.Error()
}

func (m *Manager) record(ctx context.Context, files []store.RulesFile, diff rules.Diff, actor, source string) (int64, error) {
	d, err := json.Marshal(diff)
	if err != nil {
		return 0, err
	}
	v, err := m.store.RecordRules(ctx, store.RulesVersion{At: m.opts.Now(), Actor: actor, Source: source, Diff: d, Files: files})
	if err != nil {
		return 0, fmt.Errorf("recording the rules version: %w", err)
	}
	return v, nil
}

// compile loads files with the API's lists. Files read from the
// configured paths name list files as written; files sent over the API
// name them relative to the configured rules directory, inside it.
func (m *Manager) compile(files []store.RulesFile, fromDisk bool) (*rules.Ruleset, error) {
	if len(files) == 0 {
		return nil, &InvalidError{Err: errors.New("no rules files: send at least one")}
	}
	seen := map[string]bool{}
	sources := make([]rules.Source, 0, len(files))
	for _, f := range files {
		if seen[f.Name] {
			return nil, &InvalidError{Err: fmt.Errorf("two files are named %q: name each file once", f.Name)}
		}
		seen[f.Name] = true
		src := rules.Source{Name: f.Name, Data: f.Data, Dir: filepath.Dir(f.Name)}
		if !fromDisk {
			src.Dir, src.Confined = m.opts.ListDir, true
		}
		sources = append(sources, src)
	}
	lists := make(map[string]map[any]struct{}, len(m.apiLists))
	for name, l := range m.apiLists {
		lists[name] = l.set
	}
	rs, err := rules.LoadWith(sources, rules.LoadOptions{Lists: lists, FilesWin: m.rs == nil})
	if err != nil {
		var el rules.ErrorList
		if errors.As(err, &el) {
			return nil, &InvalidError{Errors: el}
		}
		return nil, &InvalidError{Err: err}
	}
	// (At start-up, m.rs is nil: the service says itself what is wrong
	// with an empty ruleset.)
	if len(rs.Rules) == 0 && !m.opts.AllowEmpty && m.rs != nil {
		return nil, &InvalidError{Err: fmt.Errorf("the ruleset has no rules: it would match nothing (files: %s); to run without rules on purpose, start the service with --allow-empty",
			strings.Join(rs.Files, ", "))}
	}
	return rs, nil
}

// readFiles reads the configured paths.
func readFiles(paths []string) ([]store.RulesFile, error) {
	names, err := rules.ExpandPaths(paths)
	if err != nil {
		return nil, &InvalidError{Err: fmt.Errorf("rules: %w", err)}
	}
	files := make([]store.RulesFile, 0, len(names))
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, &InvalidError{Err: fmt.Errorf("rules: %w", err)}
		}
		files = append(files, store.RulesFile{Name: n, Data: data})
	}
	return files, nil
}

func sameFiles(a, b []store.RulesFile) bool {
	return slices.EqualFunc(a, b, func(x, y store.RulesFile) bool {
		return x.Name == y.Name && bytes.Equal(x.Data, y.Data)
	})
}

// Versions lists the recorded rules versions, newest first.
func (m *Manager) Versions(ctx context.Context) ([]store.RulesVersion, error) {
	return m.store.RulesVersions(ctx)
}

// Version returns one recorded version with its files.
func (m *Manager) Version(ctx context.Context, v int64) (store.RulesVersion, bool, error) {
	if v <= 0 {
		return store.RulesVersion{}, false, nil
	}
	return m.store.RulesVersion(ctx, v)
}

package reload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/vigilhq/vigil/rules"
	"github.com/vigilhq/vigil/store"
)

// MaxListEntries bounds one list (PUT /v1/lists/{name}).
const MaxListEntries = 10_000_000

// ListInfo describes a named list.
type ListInfo struct {
	Name string `json:"name"`
	// Origin is "api" for a list kept through PUT /v1/lists, or the rules
	// file that defines it.
	Origin  string `json:"origin"`
	Size    int    `json:"size"`
	Version int64  `json:"version,omitempty"` // api lists
	At      string `json:"at,omitempty"`
	Actor   string `json:"actor,omitempty"`
	// Values, sorted (strings first, then numbers, then booleans); only
	// when one list is asked for.
	Values []any `json:"values,omitempty"`
}

// ParseList reads a list body: a JSON array of strings, numbers and
// booleans, or text with one value per line (each a string; blank lines
// and lines starting with # are skipped, as are spaces around a value).
func ParseList(body []byte) (map[any]struct{}, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // a byte-order mark is not part of the first value
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return parseJSONList(trimmed)
	}
	if (len(trimmed) > 0 && trimmed[0] == '{') || string(trimmed) == "null" {
		// A JSON value that is not an array is a mistake, not a one-line
		// text list.
		return nil, &BadListError{"a JSON list body is an array of strings, numbers and booleans; a text body is one value per line"}
	}
	set := map[any]struct{}{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		v := strings.TrimSpace(sc.Text())
		if v == "" || strings.HasPrefix(v, "#") {
			continue
		}
		if len(set) == MaxListEntries {
			return nil, &BadListError{fmt.Sprintf("more than %d entries", MaxListEntries)}
		}
		set[v] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, &BadListError{fmt.Sprintf("line %d: %v", line+1, err)}
	}
	return set, nil
}

func parseJSONList(body []byte) (map[any]struct{}, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, &BadListError{"a JSON list body is an array of strings, numbers and booleans"}
	}
	set := map[any]struct{}{}
	for i := 0; dec.More(); i++ {
		if len(set) == MaxListEntries {
			return nil, &BadListError{fmt.Sprintf("more than %d entries", MaxListEntries)}
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, &BadListError{fmt.Sprintf("item %d: %v", i, err)}
		}
		switch x := v.(type) {
		case string, bool:
		case float64:
			if math.IsInf(x, 0) || math.IsNaN(x) {
				return nil, &BadListError{fmt.Sprintf("item %d: not a finite number", i)}
			}
		default:
			return nil, &BadListError{fmt.Sprintf("item %d: list values must be strings, numbers or booleans, got %s", i, jsonKind(v))}
		}
		set[v] = struct{}{}
	}
	if _, err := dec.Token(); err != nil {
		return nil, &BadListError{fmt.Sprintf("the array does not end: %v", err)}
	}
	if dec.More() {
		return nil, &BadListError{"text after the array"}
	}
	return set, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// PutList replaces (or creates) the list name with set, between two
// events, keeping every rule's state, and records it.
func (m *Manager) PutList(ctx context.Context, name string, set map[any]struct{}, actor string) (ListInfo, error) {
	if !rules.ValidListName(name) {
		return ListInfo{}, &BadListError{fmt.Sprintf("list name %q must be an identifier (letters, digits, _; not starting with a digit)", name)}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, api := m.apiLists[name]; !api {
		if _, inFiles := m.rs.Lists[name]; inFiles {
			return ListInfo{}, &ConflictError{fmt.Sprintf("list %q is defined in the rules files: change it there, or remove it there and keep it here", name)}
		}
	}
	if m.eng == nil {
		return ListInfo{}, fmt.Errorf("reload: no engine attached")
	}
	values := sortedValues(set)
	data, err := json.Marshal(values)
	if err != nil {
		return ListInfo{}, err
	}
	meta := store.ListVersion{Name: name, At: m.opts.Now().UTC(), Actor: actor, Size: len(set), Values: data}
	if meta.Version, err = m.store.RecordList(ctx, meta); err != nil {
		return ListInfo{}, fmt.Errorf("recording the list: %w", err)
	}
	meta.Values = nil
	lists := maps.Clone(m.rs.Lists)
	lists[name] = set
	if err := m.eng.SetLists(lists); err != nil {
		return ListInfo{}, fmt.Errorf("applying the list: %w", err)
	}
	rs := *m.rs
	rs.Lists = lists
	m.rs = &rs
	m.apiLists[name] = list{set: set, meta: meta}
	m.log.Info("list updated", "list", name, "version", meta.Version, "actor", actor, "size", len(set))
	return apiInfo(name, m.apiLists[name]), nil
}

// DeleteList removes a list kept through the API, unless a running rule
// uses it.
func (m *Manager) DeleteList(ctx context.Context, name, actor string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.apiLists[name]; !ok {
		if _, inFiles := m.rs.Lists[name]; inFiles {
			return &ConflictError{fmt.Sprintf("list %q is defined in the rules files (%s): remove it there", name, m.fileOf(name))}
		}
		return fmt.Errorf("list %q: %w", name, ErrNotFound)
	}
	// Still used if the running rules do not compile without it.
	kept := m.apiLists[name]
	delete(m.apiLists, name)
	if _, err := m.compile(m.files, m.fromDisk); err != nil {
		m.apiLists[name] = kept
		return &ConflictError{fmt.Sprintf("list %q is used by the running rules (without it: %v): change them first", name, err)}
	}
	m.apiLists[name] = kept
	if err := m.removeList(ctx, name, actor); err != nil {
		return err
	}
	lists := maps.Clone(m.rs.Lists)
	delete(lists, name)
	if m.eng != nil {
		if err := m.eng.SetLists(lists); err != nil {
			return fmt.Errorf("applying the list removal: %w", err)
		}
	}
	rs := *m.rs
	rs.Lists = lists
	m.rs = &rs
	return nil
}

// removeList records a list's removal and forgets it.
func (m *Manager) removeList(ctx context.Context, name, actor string) error {
	if _, err := m.store.RecordList(ctx, store.ListVersion{Name: name, At: m.opts.Now().UTC(), Actor: actor, Deleted: true, Values: []byte("[]")}); err != nil {
		return fmt.Errorf("recording the list removal: %w", err)
	}
	delete(m.apiLists, name)
	m.log.Info("list removed", "list", name, "actor", actor)
	return nil
}

// Lists describes every list the rules can use, by name.

func (m *Manager) Lists() []ListInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ListInfo, 0, len(m.rs.Lists))
	for _, name := range slices.Sorted(maps.Keys(m.rs.Lists)) {
		out = append(out, m.info(name, false))
	}
	return out
}

// List describes one list, values included.
func (m *Manager) List(name string) (ListInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rs.Lists[name]; !ok {
		return ListInfo{}, false
	}
	return m.info(name, true), true
}

// ListHistory lists an API list's versions, newest first.
func (m *Manager) ListHistory(ctx context.Context, name string) ([]store.ListVersion, error) {
	return m.store.ListHistory(ctx, name)
}

func (m *Manager) info(name string, values bool) ListInfo {
	var li ListInfo
	if l, ok := m.apiLists[name]; ok {
		li = apiInfo(name, l)
	} else {
		li = ListInfo{Name: name, Origin: m.fileOf(name), Size: len(m.rs.Lists[name])}
	}
	if values {
		li.Values = sortedValues(m.rs.Lists[name])
	}
	return li
}

func apiInfo(name string, l list) ListInfo {
	return ListInfo{Name: name, Origin: "api", Size: len(l.set), Version: l.meta.Version,
		At: l.meta.At.Format("2006-01-02T15:04:05.000Z07:00"), Actor: l.meta.Actor}
}

// fileOf says where the rules files define a list.
func (m *Manager) fileOf(name string) string {
	if at, ok := m.rs.ListsAt[name]; ok {
		return at
	}
	return "rules files"
}

// sortedValues orders a set's values: strings, then numbers, then false
// and true, so that output and stored versions are stable.
func sortedValues(set map[any]struct{}) []any {
	out := make([]any, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	rank := func(v any) int {
		switch v.(type) {
		case string:
			return 0
		case float64:
			return 1
		}
		return 2
	}
	slices.SortFunc(out, func(a, b any) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		switch x := a.(type) {
		case string:
			return strings.Compare(x, b.(string))
		case float64:
			y := b.(float64)
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		case bool:
			if x == b.(bool) {
				return 0
			}
			if !x {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
}

// Package store keeps alert history and answers the alert queries of the
// HTTP API (GET /v1/alerts) and of `vigil alerts`.
//
// The query semantics live in this file, once, for every implementation:
// [Query] says which alerts match, [NewestFirst] how they are ordered,
// [Cursor] how a page continues, and [NewPage] how a page is cut. The
// embedded store ([SQLite]) translates them to SQL; [Paginate] is the same
// thing in plain Go, for tests and in-memory implementations.
//
// Time has millisecond resolution everywhere: an alert's time,
// the From/To bounds and the cursor are all compared as Unix milliseconds.
package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
)

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Query selects alerts. The zero Query selects the newest DefaultLimit
// alerts.
type Query struct {
	Rule, Key, Severity string // exact match when set
	// From and To bound the alert time (event time): From <= time < To,
	// compared in milliseconds. A zero value leaves that side open.
	From, To time.Time
	Shadow   *bool // nil: shadow and live alerts alike
	// Limit is the page size: 0 means DefaultLimit; 1..MaxLimit are
	// accepted, anything else is an error.
	Limit int
	// Cursor continues from a previous Page's NextCursor; "" starts at the
	// newest alert.
	Cursor string
}

// Page is one page of results, newest first (time descending, then id
// descending). NextCursor is "" on the last page.
type Page struct {
	Alerts     []cep.Alert
	NextCursor string
}

// ErrBadCursor is wrapped by the error for a cursor that is not one this
// package produced.
var ErrBadCursor = errors.New("not a cursor returned by a previous page")

// ParamError is a bad query parameter. The HTTP API turns it into a 400
// response naming the parameter.
type ParamError struct {
	Param  string // "rule", "from", "limit", "cursor", …
	Value  string
	Reason string
	Err    error // underlying error, if any
}

func (e *ParamError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("parameter %s: %s", e.Param, e.Reason)
	}
	return fmt.Sprintf("parameter %s=%q: %s", e.Param, e.Value, e.Reason)
}

func (e *ParamError) Unwrap() error { return e.Err }

// ParseQuery reads a Query from the parameters of GET /v1/alerts:
//
//	rule, key, severity  exact match
//	from, to             RFC 3339 (any fractional precision), Unix milliseconds,
//	                     "now", or a duration back from now: "24h", "15m", "7d",
//	                     "now-24h"; from is inclusive, to exclusive
//	shadow               true or false (absent: both)
//	limit                1..1000 (absent: 100)
//	cursor               NextCursor of the previous page
//
// An empty value is the same as an absent one; unknown parameters are
// ignored. A parameter given twice is an error, as is any bad value; the
// error is a *ParamError naming the parameter.
func ParseQuery(v url.Values) (Query, error) {
	return ParseQueryAt(v, time.Now())
}

// ParseQueryAt is ParseQuery with relative times taken back from now.
func ParseQueryAt(v url.Values, now time.Time) (Query, error) {
	var q Query
	get := func(name string) (string, error) {
		vals := v[name]
		if len(vals) > 1 {
			return "", &ParamError{Param: name, Reason: "given more than once"}
		}
		if len(vals) == 0 {
			return "", nil
		}
		return strings.TrimSpace(vals[0]), nil
	}
	var err error
	if q.Rule, err = get("rule"); err != nil {
		return Query{}, err
	}
	if q.Key, err = get("key"); err != nil {
		return Query{}, err
	}
	if q.Severity, err = get("severity"); err != nil {
		return Query{}, err
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		s, err := get(p.name)
		if err != nil {
			return Query{}, err
		}
		if s == "" {
			continue
		}
		t, err := parseTimeParam(s, now)
		if err != nil {
			return Query{}, &ParamError{Param: p.name, Value: s, Reason: err.Error()}
		}
		*p.dst = t
	}
	s, err := get("shadow")
	if err != nil {
		return Query{}, err
	}
	if s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return Query{}, &ParamError{Param: "shadow", Value: s, Reason: "want true or false"}
		}
		q.Shadow = &b
	}
	if s, err = get("limit"); err != nil {
		return Query{}, err
	}
	if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return Query{}, &ParamError{Param: "limit", Value: s, Reason: fmt.Sprintf("want an integer from 1 to %d", MaxLimit)}
		}
		if n < 1 || n > MaxLimit {
			return Query{}, &ParamError{Param: "limit", Value: s, Reason: fmt.Sprintf("must be from 1 to %d", MaxLimit)}
		}
		q.Limit = n
	}
	if q.Cursor, err = get("cursor"); err != nil {
		return Query{}, err
	}
	if err := q.Validate(); err != nil {
		return Query{}, err
	}
	return q, nil
}

// parseTimeParam reads an absolute or relative time, to the millisecond.
func parseTimeParam(s string, now time.Time) (time.Time, error) {
	const want = `want an RFC 3339 time, Unix milliseconds, or a duration back from now such as "24h" or "7d"`
	if s == "now" {
		return time.UnixMilli(now.UnixMilli()).UTC(), nil
	}
	// Integers are Unix milliseconds, strings with a date RFC 3339.
	if ms, err := event.ParseTime(s); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	rel, ok := strings.CutPrefix(s, "now-")
	if !ok {
		rel = s
	}
	d, err := parseDuration(rel)
	if err != nil || d < 0 {
		return time.Time{}, errors.New(want)
	}
	return time.UnixMilli(now.Add(-d).UnixMilli()).UTC(), nil
}

// parseDuration is time.ParseDuration plus a leading whole number of days:
// "7d", "1d12h".
func parseDuration(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 100*366 {
			return 0, errors.New("bad day count")
		}
		days = time.Duration(n) * 24 * time.Hour
		if s = s[i+1:]; s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return days + d, nil
}

// Validate checks the limit, the cursor and the time range. Every store
// calls it; the error is a *ParamError.
func (q Query) Validate() error {
	if q.Limit < 0 || q.Limit > MaxLimit {
		return &ParamError{Param: "limit", Value: strconv.Itoa(q.Limit), Reason: fmt.Sprintf("must be from 1 to %d", MaxLimit)}
	}
	if _, _, err := q.after(); err != nil {
		return err
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.From.UnixMilli() >= q.To.UnixMilli() {
		return &ParamError{Param: "to", Value: event.FormatTime(q.To.UnixMilli()),
			Reason: fmt.Sprintf("must be after from (%s)", event.FormatTime(q.From.UnixMilli()))}
	}
	return nil
}

// PageSize is the effective limit: DefaultLimit when Limit is 0.
func (q Query) PageSize() int {
	if q.Limit <= 0 {
		return DefaultLimit
	}
	return min(q.Limit, MaxLimit)
}

// Matches reports whether a passes the filters: rule, key, severity, time
// range and shadow. It ignores the cursor and the limit (see Paginate).
func (q Query) Matches(a cep.Alert) bool {
	if q.Rule != "" && a.Rule != q.Rule ||
		q.Key != "" && a.Key != q.Key ||
		q.Severity != "" && a.Severity != q.Severity ||
		q.Shadow != nil && a.Shadow != *q.Shadow {
		return false
	}
	ms := a.Time.UnixMilli()
	if !q.From.IsZero() && ms < q.From.UnixMilli() {
		return false
	}
	if !q.To.IsZero() && ms >= q.To.UnixMilli() {
		return false
	}
	return true
}

// after decodes the cursor; ok is false when there is none.
func (q Query) after() (Cursor, bool, error) {
	if q.Cursor == "" {
		return Cursor{}, false, nil
	}
	c, err := ParseCursor(q.Cursor)
	if err != nil {
		return Cursor{}, false, err
	}
	return c, true, nil
}

// Cursor is a position in the newest-first order: the last alert of a page.
// The next page holds the alerts strictly after it, (time, id) < (TimeMs,
// ID). This is keyset pagination: a page is found through the (time_ms, id)
// index whatever its depth, and alerts stored between two page reads never
// shift, repeat or hide the alerts of later pages.
type Cursor struct {
	TimeMs int64
	ID     string
}

// CursorOf returns the cursor that continues after a.
func CursorOf(a cep.Alert) Cursor { return Cursor{TimeMs: a.Time.UnixMilli(), ID: a.ID} }

// String encodes the cursor opaquely: URL-safe base64 of "ms:id".
func (c Cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.TimeMs, 10) + ":" + c.ID))
}

// Precedes reports whether the cursor comes before a in newest-first
// order, that is, whether a belongs to a later page.
func (c Cursor) Precedes(a cep.Alert) bool {
	ms := a.Time.UnixMilli()
	return ms < c.TimeMs || ms == c.TimeMs && a.ID < c.ID
}

// ParseCursor decodes and validates a cursor from Cursor.String. Its error
// is a *ParamError for "cursor" wrapping ErrBadCursor.
func ParseCursor(s string) (Cursor, error) {
	bad := func() (Cursor, error) {
		v := s
		if len(v) > 64 {
			v = v[:64] + "…"
		}
		return Cursor{}, &ParamError{Param: "cursor", Value: v, Reason: ErrBadCursor.Error(), Err: ErrBadCursor}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return bad()
	}
	msText, id, ok := strings.Cut(string(raw), ":")
	if !ok || id == "" || msText == "" {
		return bad()
	}
	ms, err := strconv.ParseInt(msText, 10, 64)
	if err != nil || strconv.FormatInt(ms, 10) != msText {
		return bad()
	}
	return Cursor{TimeMs: ms, ID: id}, nil
}

// NewestFirst orders alerts as pages list them: time descending (in
// milliseconds), then id descending. It is a comparison function for
// slices.SortFunc.
func NewestFirst(a, b cep.Alert) int {
	if am, bm := a.Time.UnixMilli(), b.Time.UnixMilli(); am != bm {
		if am > bm {
			return -1
		}
		return 1
	}
	return -strings.Compare(a.ID, b.ID)
}

// NewPage cuts a page from rows: the matching alerts after the cursor in
// newest-first order, at most PageSize()+1 of them. The extra row only tells
// that there is a next page. A store fetches PageSize()+1 rows so that the
// last page has NextCursor "" even when it is full.
func NewPage(q Query, rows []cep.Alert) Page {
	n := q.PageSize()
	if len(rows) <= n {
		return Page{Alerts: rows}
	}
	rows = rows[:n]
	return Page{Alerts: rows, NextCursor: CursorOf(rows[n-1]).String()}
}

// Paginate answers q over alerts in memory: the reference semantics that
// every store must reproduce. alerts is not modified; ids are assumed
// unique.
func Paginate(q Query, alerts []cep.Alert) (Page, error) {
	if err := q.Validate(); err != nil {
		return Page{}, err
	}
	c, hasCursor, _ := q.after()
	var rows []cep.Alert
	for _, a := range alerts {
		if q.Matches(a) && (!hasCursor || c.Precedes(a)) {
			rows = append(rows, a)
		}
	}
	slices.SortFunc(rows, NewestFirst)
	if len(rows) > q.PageSize()+1 {
		rows = rows[:q.PageSize()+1]
	}
	return NewPage(q, rows), nil
}

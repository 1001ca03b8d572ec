package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
)

// want is what reading a back gives: times to the millisecond in UTC, and
// the empty collections its JSON form writes for nil ones.
func want(a cep.Alert) cep.Alert {
	a.Time = time.UnixMilli(a.Time.UnixMilli()).UTC()
	a.DetectedAt = time.UnixMilli(a.DetectedAt.UnixMilli()).UTC()
	if a.Labels == nil {
		a.Labels = map[string]string{}
	}
	if a.Fields == nil {
		a.Fields = map[string]any{}
	}
	if a.Values == nil {
		a.Values = map[string]any{}
	}
	if a.EventIDs == nil {
		a.EventIDs = []string{}
	}
	return a
}

func TestPutGetRoundTrip(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	full := cep.Alert{
		ID: "a1b2c3", Rule: "card-testing", RuleVersion: 7, RuleHash: "9f86d081",
		Severity: "high", Key: "card-123",
		Time:       time.Date(2026, 11, 20, 10, 4, 5, 123_000_000, time.UTC),
		DetectedAt: time.Date(2026, 11, 20, 10, 4, 7, 456_000_000, time.UTC),
		Summary:    "3 probes then a big charge on card-123",
		Labels:     map[string]string{"team": "payments", "tier": "1"},
		Fields: map[string]any{"probe_total": 3.5, "country": "FR", "blocked": true, "none": nil,
			"list": []any{1.0, "two"}, "nested": map[string]any{"a": map[string]any{"b": -2.25}}},
		Values: map[string]any{"count()": 3.0, "sum(amount)": 12345.67},
		Matched: map[string][]map[string]any{
			"probe": {
				{"id": "t1", "ts": "2026-11-20T10:00:00.001Z", "amount": 1.0, "merchant": map[string]any{"country": "US"}},
				{"id": "t2", "ts": "2026-11-20T10:01:00Z", "amount": 0.5},
				{"id": "t3", "ts": "2026-11-20T10:02:00Z", "amount": 2.0},
			},
			"big": {{"id": "t4", "ts": "2026-11-20T10:04:05.123Z", "amount": 900.0, "tags": []any{"x", "y"}}},
		},
		EventIDs: []string{"t1", "t2", "t3", "t4"},
	}
	for _, tc := range []struct {
		name string
		in   cep.Alert
	}{
		{"every field", full},
		{"minimal", cep.Alert{ID: "min", Rule: "r", Time: time.UnixMilli(1), DetectedAt: time.UnixMilli(2)}},
		{"shadow and suppressed", func() cep.Alert {
			a := full
			a.ID, a.Shadow, a.Suppressed = "shadow-supp", true, true
			return a
		}()},
		{"sub-millisecond times are cut to the millisecond", func() cep.Alert {
			a := full
			a.ID = "submilli"
			a.Time = time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC)
			a.DetectedAt = time.Date(2026, 1, 2, 3, 4, 6, 1_500, time.UTC)
			return a
		}()},
		{"non-UTC location", func() cep.Alert {
			a := full
			a.ID = "paris"
			a.Time = time.Date(2026, 7, 14, 12, 0, 0, 7_000_000, paris)
			return a
		}()},
		{"before 1970", func() cep.Alert {
			a := full
			a.ID = "old"
			a.Time = time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
			return a
		}()},
		{"zero times", cep.Alert{ID: "zero", Rule: "r"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			ctx := context.Background()
			put(t, s, tc.in)
			got, ok, err := s.Get(ctx, tc.in.ID)
			if err != nil || !ok {
				t.Fatalf("Get = %v, %v", ok, err)
			}
			if w := want(tc.in); !reflect.DeepEqual(got, w) {
				t.Errorf("Get:\n got %#v\nwant %#v", got, w)
			}
			if got.Time.UnixMilli() != tc.in.Time.UnixMilli() || got.DetectedAt.UnixMilli() != tc.in.DetectedAt.UnixMilli() {
				t.Errorf("times %v %v; want %v %v", got.Time, got.DetectedAt, tc.in.Time, tc.in.DetectedAt)
			}
			// The list carries the same alert, matched events included.
			p, err := s.Query(ctx, Query{})
			if err != nil || len(p.Alerts) != 1 || !reflect.DeepEqual(p.Alerts[0], got) {
				t.Errorf("Query = %+v, %v", p, err)
			}
			// The filter columns agree with the alert.
			var rule, key, sev string
			var timeMs, detectedMs, ruleVersion int64
			var shadow, suppressed bool
			err = s.r.QueryRow(`SELECT rule, key, severity, time_ms, detected_ms, shadow, suppressed, rule_version
				FROM alerts WHERE id = ?`, tc.in.ID).Scan(&rule, &key, &sev, &timeMs, &detectedMs, &shadow, &suppressed, &ruleVersion)
			if err != nil {
				t.Fatal(err)
			}
			a := tc.in
			if rule != a.Rule || key != a.Key || sev != a.Severity || timeMs != a.Time.UnixMilli() ||
				detectedMs != a.DetectedAt.UnixMilli() || shadow != a.Shadow || suppressed != a.Suppressed || ruleVersion != a.RuleVersion {
				t.Errorf("columns %q %q %q %d %d %v %v %d", rule, key, sev, timeMs, detectedMs, shadow, suppressed, ruleVersion)
			}
		})
	}
}

func TestGetMissing(t *testing.T) {
	s := openTemp(t, Options{})
	put(t, s, mk("x", "r", "k", "low", 0, false))
	if a, ok, err := s.Get(context.Background(), "y"); ok || err != nil || a.ID != "" {
		t.Errorf("Get(missing) = %v, %v, %v", a, ok, err)
	}
}

func TestPutDeduplicates(t *testing.T) {
	ctx := context.Background()
	first := mk("dup", "r", "k", "high", 10, false)
	second := first
	second.Summary, second.Suppressed = "changed", true
	for _, tc := range []struct {
		name  string
		calls [][]cep.Alert
	}{
		{"two calls", [][]cep.Alert{{first}, {second}}},
		{"one call", [][]cep.Alert{{first, second}}},
		{"mixed batch", [][]cep.Alert{{first, mk("other", "r", "k", "low", 5, false)}, {second, mk("other", "r", "k", "low", 5, false)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			for _, c := range tc.calls {
				put(t, s, c...)
			}
			got, _, err := s.Get(ctx, "dup")
			if err != nil || got.Summary != first.Summary || got.Suppressed {
				t.Errorf("Get = %+v, %v; want the first write", got, err)
			}
			p, err := s.Query(ctx, Query{Key: "k"})
			if err != nil {
				t.Fatal(err)
			}
			n, _ := s.Count(ctx)
			if strings.Count(join(ids(p.Alerts)), "dup") != 1 || n != len(p.Alerts) {
				t.Errorf("ids %v, count %d", ids(p.Alerts), n)
			}
		})
	}
}

// A value JSON cannot carry does not make an alert unwritable (it would
// hold back every alert behind it): it is stored as null.
func TestPutStoresNonFiniteAsNull(t *testing.T) {
	ctx := context.Background()
	nan := mk("nan", "r", "k", "low", 0, false)
	nan.Fields = map[string]any{"x": math.NaN(), "y": 1.0}
	s := openTemp(t, Options{})
	if err := s.Put(ctx, nan); err != nil {
		t.Fatalf("Put of an alert with a NaN field: %v", err)
	}
	if got, found, err := s.Get(ctx, "nan"); err != nil || !found || got.Fields["x"] != nil || got.Fields["y"] != 1.0 {
		t.Errorf("Get = %+v, %v, %v; want x null and y 1", got.Fields, found, err)
	}
}

func TestPutErrorsStoreNothing(t *testing.T) {
	ctx := context.Background()
	ok := mk("ok", "r", "k", "low", 0, false)
	for _, tc := range []struct {
		name, err string
		batch     []cep.Alert
	}{
		{"no id", "no id", []cep.Alert{ok, {Rule: "r"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			err := s.Put(ctx, tc.batch...)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.err) {
				t.Errorf("Put = %v; want an error about %q", err, tc.err)
			}
			if n, _ := s.Count(ctx); n != 0 {
				t.Errorf("Count = %d after a failed Put; want 0", n)
			}
		})
	}
	s := openTemp(t, Options{})
	if err := s.Put(ctx); err != nil {
		t.Errorf("Put() = %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(canceled, ok); !errors.Is(err, context.Canceled) {
		t.Errorf("Put(canceled) = %v", err)
	}
}

// filterSet is a small fixed set for filter tests; times are ms after base.
var filterSet = []cep.Alert{
	mk("a01", "velocity", "card-1", "high", 0, false),
	mk("a02", "velocity", "card-2", "low", 1000, false),
	mk("a03", "velocity", "card-1", "high", 2000, true),
	mk("a04", "card-testing", "card-1", "critical", 2000, false),
	mk("a05", "card-testing", "card-3", "high", 2999, false),
	mk("a06", "card-testing", "card-3", "high", 3000, true),
	mk("a07", "geo", "card-2", "low", 3000, false),
	mk("a08", "geo", "card-2", "low", 3001, false),
	mk("a09", "velocity", "card-3", "high", -1, false),
	mk("a10", "geo", "card-1", "critical", 5000, true),
}

func TestQueryFilters(t *testing.T) {
	s := openTemp(t, Options{})
	put(t, s, filterSet...)
	for _, tc := range []struct {
		name string
		q    Query
		want string // ids, newest first
	}{
		{"all", Query{}, "a10,a08,a07,a06,a05,a04,a03,a02,a01,a09"},
		{"rule", Query{Rule: "velocity"}, "a03,a02,a01,a09"},
		{"key", Query{Key: "card-2"}, "a08,a07,a02"},
		{"severity", Query{Severity: "critical"}, "a10,a04"},
		{"no such rule", Query{Rule: "nope"}, ""},
		{"rule is exact", Query{Rule: "velo"}, ""},
		{"from is inclusive", Query{From: at(2000)}, "a10,a08,a07,a06,a05,a04,a03"},
		{"to is exclusive", Query{To: at(2000)}, "a02,a01,a09"},
		{"from and to", Query{From: at(2000), To: at(3000)}, "a05,a04,a03"},
		{"one millisecond", Query{From: at(3000), To: at(3001)}, "a07,a06"},
		{"before base", Query{To: at(0)}, "a09"},
		{"sub-millisecond bounds compare in ms", Query{From: at(3000).Add(999 * time.Microsecond), To: at(3001).Add(time.Microsecond)}, "a07,a06"},
		{"shadow true", Query{Shadow: ptr(true)}, "a10,a06,a03"},
		{"shadow false", Query{Shadow: ptr(false)}, "a08,a07,a05,a04,a02,a01,a09"},
		{"rule and key", Query{Rule: "velocity", Key: "card-1"}, "a03,a01"},
		{"rule, key and shadow", Query{Rule: "velocity", Key: "card-1", Shadow: ptr(false)}, "a01"},
		{"key and severity", Query{Key: "card-3", Severity: "high"}, "a06,a05,a09"},
		{"everything", Query{Rule: "card-testing", Key: "card-3", Severity: "high", From: at(0), To: at(3001), Shadow: ptr(true)}, "a06"},
		{"limit", Query{Limit: 3}, "a10,a08,a07"},
		{"limit with filter", Query{Key: "card-1", Limit: 2}, "a10,a04"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Query(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := join(ids(p.Alerts)); got != tc.want {
				t.Errorf("SQLite: %s; want %s", got, tc.want)
			}
			// The Go semantics agree.
			gp, err := Paginate(tc.q, filterSet)
			if err != nil {
				t.Fatal(err)
			}
			if got := join(ids(gp.Alerts)); got != tc.want {
				t.Errorf("Paginate: %s; want %s", got, tc.want)
			}
			if (p.NextCursor == "") != (gp.NextCursor == "") || p.NextCursor != gp.NextCursor {
				t.Errorf("NextCursor %q; Paginate %q", p.NextCursor, gp.NextCursor)
			}
		})
	}
}

func TestOrderEqualTimesByIDDesc(t *testing.T) {
	s := openTemp(t, Options{})
	var in []cep.Alert
	for _, id := range []string{"b", "a", "d", "c", "ab", "B"} {
		in = append(in, mk(id, "r", "k", "low", 7, false))
	}
	in = append(in, mk("z-older", "r", "k", "low", 6, false), mk("0-newer", "r", "k", "low", 8, false))
	put(t, s, in...)
	const want = "0-newer,d,c,b,ab,a,B,z-older"
	if got := join(ids(all(t, s, Query{}))); got != want {
		t.Errorf("order %s; want %s", got, want)
	}
	if got := join(ids(all(t, s, Query{Limit: 1}))); got != want {
		t.Errorf("order with limit 1: %s; want %s", got, want)
	}
}

// series returns n alerts one millisecond apart, several per millisecond.
func series(prefix string, n int, fromMs int64) []cep.Alert {
	out := make([]cep.Alert, n)
	for i := range out {
		out[i] = mk(fmt.Sprintf("%s%04d", prefix, i), []string{"r1", "r2"}[i%2], fmt.Sprintf("k%d", i%7), "high", fromMs+int64(i/3), false)
	}
	return out
}

func TestPagination(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// between is called before reading page i (i >= 1).
		between func(t *testing.T, s *SQLite, i int)
		sizes   []int
	}{
		{"quiet", nil, []int{100, 100, 50}},
		{"newer alerts arrive between pages", func(t *testing.T, s *SQLite, i int) {
			put(t, s, series(fmt.Sprintf("new%d-", i), 30, 100_000)...)
		}, []int{100, 100, 50}},
		{"late alerts below the cursor arrive", func(t *testing.T, s *SQLite, i int) {
			put(t, s, mk(fmt.Sprintf("late%d", i), "r1", "k0", "high", -50, false))
		}, []int{100, 100, 52}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			orig := series("a", 250, 0)
			put(t, s, orig...)
			seen := map[string]int{}
			var sizes []int
			q := Query{Limit: 100}
			for i := 0; ; i++ {
				if i > 0 && tc.between != nil {
					tc.between(t, s, i)
				}
				p, err := s.Query(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if !sortedNewestFirst(p.Alerts) {
					t.Errorf("page %d not newest first", i)
				}
				sizes = append(sizes, len(p.Alerts))
				for _, a := range p.Alerts {
					seen[a.ID]++
				}
				if p.NextCursor == "" {
					break
				}
				q.Cursor = p.NextCursor
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("page sizes %v; want %v", sizes, tc.sizes)
			}
			for _, a := range orig {
				if seen[a.ID] != 1 {
					t.Errorf("alert %s seen %d times", a.ID, seen[a.ID])
				}
			}
			for id, n := range seen {
				if strings.HasPrefix(id, "new") || n != 1 {
					t.Errorf("alert %s seen %d times", id, n)
				}
			}
		})
	}

	t.Run("full last page has no cursor", func(t *testing.T) {
		s := openTemp(t, Options{})
		put(t, s, series("a", 200, 0)...)
		p1, err := s.Query(ctx, Query{Limit: 100})
		if err != nil || p1.NextCursor == "" {
			t.Fatalf("page 1: %d alerts, cursor %q, %v", len(p1.Alerts), p1.NextCursor, err)
		}
		p2, err := s.Query(ctx, Query{Limit: 100, Cursor: p1.NextCursor})
		if err != nil || len(p2.Alerts) != 100 || p2.NextCursor != "" {
			t.Errorf("page 2: %d alerts, cursor %q, %v", len(p2.Alerts), p2.NextCursor, err)
		}
	})
	t.Run("empty store", func(t *testing.T) {
		s := openTemp(t, Options{})
		p, err := s.Query(ctx, Query{})
		if err != nil || len(p.Alerts) != 0 || p.NextCursor != "" {
			t.Errorf("Query = %+v, %v", p, err)
		}
	})
}

func TestQueryRejectsBadInput(t *testing.T) {
	s := openTemp(t, Options{})
	put(t, s, filterSet...)
	ctx := context.Background()
	good := Cursor{TimeMs: at(2000).UnixMilli(), ID: "a04"}.String()
	for _, tc := range []struct {
		name, param string
		q           Query
	}{
		{"cursor not base64", "cursor", Query{Cursor: "%%%"}},
		{"cursor with padding", "cursor", Query{Cursor: good + "="}},
		{"cursor without colon", "cursor", Query{Cursor: b64("12345")}},
		{"cursor without id", "cursor", Query{Cursor: b64("12345:")}},
		{"cursor without time", "cursor", Query{Cursor: b64(":a04")}},
		{"cursor time not a number", "cursor", Query{Cursor: b64("12x:a04")}},
		{"cursor time with plus", "cursor", Query{Cursor: b64("+12:a04")}},
		{"cursor truncated", "cursor", Query{Cursor: good[:5]}},
		{"limit negative", "limit", Query{Limit: -1}},
		{"limit too large", "limit", Query{Limit: MaxLimit + 1}},
		{"empty range", "to", Query{From: at(10), To: at(10)}},
		{"reversed range", "to", Query{From: at(10), To: at(9)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Query(ctx, tc.q)
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Param != tc.param {
				t.Fatalf("Query = %v; want a ParamError for %s", err, tc.param)
			}
			if !strings.Contains(err.Error(), tc.param) {
				t.Errorf("error %q does not name %s", err, tc.param)
			}
			if tc.param == "cursor" && !errors.Is(err, ErrBadCursor) {
				t.Errorf("error %v is not ErrBadCursor", err)
			}
		})
	}
	// The good cursor works: alerts strictly after (2000, a04).
	p, err := s.Query(ctx, Query{Cursor: good})
	if err != nil || join(ids(p.Alerts)) != "a03,a02,a01,a09" {
		t.Errorf("Query(good cursor) = %v, %v", ids(p.Alerts), err)
	}
}

func TestLimitBounds(t *testing.T) {
	s := openTemp(t, Options{})
	put(t, s, series("a", MaxLimit+5, 0)...)
	ctx := context.Background()
	for _, tc := range []struct {
		limit, want int
	}{{0, DefaultLimit}, {1, 1}, {DefaultLimit, DefaultLimit}, {MaxLimit, MaxLimit}} {
		p, err := s.Query(ctx, Query{Limit: tc.limit})
		if err != nil || len(p.Alerts) != tc.want || p.NextCursor == "" {
			t.Errorf("limit %d: %d alerts, cursor %q, %v; want %d and a cursor", tc.limit, len(p.Alerts), p.NextCursor, err, tc.want)
		}
	}
	p, err := s.Query(ctx, Query{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	p, err = s.Query(ctx, Query{Limit: MaxLimit, Cursor: p.NextCursor})
	if err != nil || len(p.Alerts) != 5 || p.NextCursor != "" {
		t.Errorf("second page: %d alerts, cursor %q, %v", len(p.Alerts), p.NextCursor, err)
	}
}

// Every API query shape reads pages in index order: no table scan sorted
// in a temporary B-tree.
func TestQueryPlansUseIndexes(t *testing.T) {
	s := openTemp(t, Options{})
	put(t, s, series("a", 50, 0)...)
	cur := Cursor{TimeMs: 1, ID: "x"}.String()
	for _, q := range []Query{
		{}, {Cursor: cur}, {Rule: "r"}, {Key: "k"}, {Severity: "s"},
		{Rule: "r", Cursor: cur, From: at(0), To: at(10)}, {Key: "k", Cursor: cur},
		{From: at(0), To: at(10)}, {Shadow: ptr(true)},
		{Rule: "r", Key: "k"}, {Key: "k", Severity: "s", Shadow: ptr(false)},
	} {
		query, args := sqlFor(q)
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		if strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, "USING INDEX") {
			t.Errorf("%+v: plan %q", q, p)
		}
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	t.Run("DeleteBefore", func(t *testing.T) {
		s := openTemp(t, Options{})
		put(t, s, filterSet...)
		for _, tc := range []struct {
			before time.Time
			n      int
			left   string
		}{
			{at(-1), 0, "a10,a08,a07,a06,a05,a04,a03,a02,a01,a09"},
			{at(2000), 3, "a10,a08,a07,a06,a05,a04,a03"},
			{at(2000), 0, "a10,a08,a07,a06,a05,a04,a03"},
			{at(3000).Add(time.Microsecond), 3, "a10,a08,a07,a06"},
			{at(100_000), 4, ""},
		} {
			n, err := s.DeleteBefore(ctx, tc.before)
			if err != nil || n != tc.n {
				t.Errorf("DeleteBefore(%d) = %d, %v; want %d", tc.before.Sub(base).Milliseconds(), n, err, tc.n)
			}
			if got := join(ids(all(t, s, Query{}))); got != tc.left {
				t.Errorf("left %s; want %s", got, tc.left)
			}
		}
	})
	t.Run("in batches", func(t *testing.T) {
		defer func(n int) { deleteBatch = n }(deleteBatch)
		deleteBatch = 7
		s := openTemp(t, Options{})
		put(t, s, series("a", deleteBatch*2+3, 0)...)
		n, err := s.DeleteBefore(ctx, at(100_000))
		if c, _ := s.Count(ctx); err != nil || n != deleteBatch*2+3 || c != 0 {
			t.Errorf("DeleteBefore = %d, %v; count %d", n, err, c)
		}
	})
	t.Run("RunRetention", func(t *testing.T) {
		var mu sync.Mutex
		now := at(3000)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		s := openTemp(t, Options{Retention: time.Second, Now: clock})
		put(t, s, filterSet...)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { s.RunRetention(rctx, time.Millisecond); close(done) }()
		waitFor(t, func() bool { n, _ := s.Count(ctx); return n == 7 }) // time >= 2000 kept
		mu.Lock()
		now = at(5000)
		mu.Unlock()
		waitFor(t, func() bool { n, _ := s.Count(ctx); return n == 1 }) // only a10 at 5000
		if _, ok, _ := s.Get(ctx, "a10"); !ok {
			t.Error("a10 deleted")
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("RunRetention did not stop on cancel")
		}
	})
	t.Run("RunRetention stops on Close", func(t *testing.T) {
		s, err := Open(filepath.Join(t.TempDir(), "a.db"), Options{Retention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { s.RunRetention(ctx, time.Hour); close(done) }()
		time.Sleep(10 * time.Millisecond)
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("RunRetention did not stop on Close")
		}
	})
	t.Run("no retention returns at once", func(t *testing.T) {
		s := openTemp(t, Options{})
		put(t, s, filterSet...)
		s.RunRetention(ctx, time.Millisecond) // would block forever otherwise
		if n, _ := s.Count(ctx); n != len(filterSet) {
			t.Errorf("Count = %d", n)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestConcurrentWritersAndReaders(t *testing.T) {
	s := openTemp(t, Options{})
	ctx := context.Background()
	const writers, puts, batch = 4, 25, 4
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 64)
	for w := range writers {
		wg.Go(func() {
			for i := range puts {
				var as []cep.Alert
				for j := range batch {
					// Every writer also re-writes its previous batch's first alert.
					as = append(as, mk(fmt.Sprintf("w%d-%03d-%d", w, i, j), fmt.Sprintf("r%d", w), fmt.Sprintf("k%d", j), "high", int64(i*10+j), w%2 == 0))
				}
				if i > 0 {
					as = append(as, mk(fmt.Sprintf("w%d-%03d-0", w, i-1), fmt.Sprintf("r%d", w), "k0", "high", int64((i-1)*10), w%2 == 0))
				}
				if err := s.Put(ctx, as...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var rg sync.WaitGroup
	for r := range 4 {
		rg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				q := Query{Limit: 7}
				if r%2 == 1 {
					q.Rule = fmt.Sprintf("r%d", i%writers)
				}
				p, err := s.Query(ctx, q)
				if err == nil && !sortedNewestFirst(p.Alerts) {
					err = errors.New("page out of order")
				}
				if err == nil && p.NextCursor != "" {
					_, err = s.Query(ctx, Query{Limit: 7, Rule: q.Rule, Cursor: p.NextCursor})
				}
				if err == nil && len(p.Alerts) > 0 {
					var ok bool
					_, ok, err = s.Get(ctx, p.Alerts[0].ID)
					if err == nil && !ok {
						err = errors.New("listed alert not found")
					}
				}
				if err == nil {
					_, err = s.Count(ctx)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := s.Count(ctx); err != nil || n != writers*puts*batch {
		t.Errorf("Count = %d, %v; want %d", n, err, writers*puts*batch)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "a b?c#d", "alerts.db") // characters that mean something in a URI

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, filterSet...)
	var mode string
	if err := s.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	if _, err := s.r.Exec(`DELETE FROM alerts`); err == nil {
		t.Error("the read pool can write")
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(f); err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v; want no access for group and others", f, fi.Mode())
		} else if err != nil && f == path {
			t.Fatalf("no database file: %v", err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
	for _, f := range []func() error{
		func() error { return s.Put(ctx, filterSet[0]) },
		func() error { _, err := s.Query(ctx, Query{}); return err },
		func() error { _, _, err := s.Get(ctx, "a01"); return err },
		func() error { _, err := s.Count(ctx); return err },
		func() error { _, err := s.DeleteBefore(ctx, base); return err },
	} {
		if err := f(); !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v; want ErrClosed", err)
		}
	}

	// Reopened, the alerts are there.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx); err != nil || n != len(filterSet) {
		t.Errorf("Count after reopen = %d, %v", n, err)
	}
	var v int
	if err := s.r.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != SchemaVersion {
		t.Errorf("schema version %d, %v", v, err)
	}
	// A file from a newer vigil is refused, not misread.
	if _, err := s.w.Exec(`UPDATE schema_version SET version = ?`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open(newer schema) = %v", err)
	}

	// Not a database.
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not sqlite ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(junk, Options{}); err == nil {
		t.Error("Open(junk) succeeded")
	}
	if _, err := Open("", Options{}); err == nil {
		t.Error(`Open("") succeeded`)
	}
	// The directory cannot be created: a file is in the way.
	if _, err := Open(filepath.Join(junk, "x.db"), Options{}); err == nil {
		t.Error("Open under a file succeeded")
	}
}

func TestSink(t *testing.T) {
	var sink cep.Sink = openTemp(t, Options{})
	ctx := context.Background()
	for range 2 {
		if err := sink.WriteBatch(ctx, []cep.Alert{filterSet[0]}); err != nil {
			t.Fatal(err)
		}
	}
	s := sink.(*SQLite)
	if n, err := s.Count(ctx); n != 1 || err != nil {
		t.Errorf("Count = %d, %v", n, err)
	}
}

// A batch is stored in order, in one transaction; repeats within and
// across batches are stored once (the first wins) and enter the outbox
// once.
func TestWriteBatch(t *testing.T) {
	s := openTemp(t, Options{Outbox: true})
	ctx := context.Background()
	again := filterSet[1]
	again.Summary = "a later copy"
	batches := [][]cep.Alert{
		{filterSet[0], filterSet[1], again, filterSet[2], filterSet[0]},
		{filterSet[2], filterSet[3], filterSet[1], filterSet[4]},
		filterSet[5:],
		nil,
	}
	for _, batch := range batches {
		if err := s.WriteBatch(ctx, batch); err != nil {
			t.Fatalf("WriteBatch(%s) = %v", join(ids(batch)), err)
		}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM alerts ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, id)
	}
	rows.Close()
	if got, want := join(stored), join(ids(filterSet)); got != want {
		t.Errorf("stored, in insertion order: %s; want %s", got, want)
	}
	if a, _, err := s.Get(ctx, again.ID); err != nil || a.Summary != filterSet[1].Summary {
		t.Errorf("Get(%s) = summary %q, %v; want the first copy's %q", again.ID, a.Summary, err, filterSet[1].Summary)
	}
	out, err := s.Outbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var live int
	for _, a := range filterSet {
		if !a.Shadow && !a.Suppressed {
			live++
		}
	}
	if len(out) != live {
		t.Errorf("outbox holds %d alerts (%s); want %d", len(out), join(ids(out)), live)
	}

	// All or nothing: a batch with a bad alert stores none of it.
	bad := []cep.Alert{mk("b1", "r", "k", "low", 0, false), {Rule: "r", Key: "k"}}
	if err := s.WriteBatch(ctx, bad); err == nil {
		t.Error("WriteBatch(an alert with no id) = nil; want an error")
	}
	if _, ok, _ := s.Get(ctx, "b1"); ok {
		t.Error("b1 stored from a batch that failed")
	}
}

// The modernc driver stores Go bools as integers; make sure shadow = ? works
// with a bool argument both ways.
func TestShadowColumnIsInteger(t *testing.T) {
	s := openTemp(t, Options{})
	put(t, s, filterSet...)
	var n int
	var typ string
	if err := s.r.QueryRow(`SELECT count(*), typeof(shadow) FROM alerts WHERE shadow = 1`).Scan(&n, &typ); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	if n != 3 || typ != "integer" {
		t.Errorf("shadow = 1: %d rows of type %q", n, typ)
	}
}

func TestOutboxTracksUndeliveredActionAlerts(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "a.db"), Options{Outbox: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	live := cep.Alert{ID: "live", Rule: "r", Key: "k", Time: time.UnixMilli(2000)}
	older := cep.Alert{ID: "older", Rule: "r", Key: "k", Time: time.UnixMilli(1000)}
	shadow := cep.Alert{ID: "shadow", Rule: "r", Key: "k", Time: time.UnixMilli(3000), Shadow: true}
	suppressed := cep.Alert{ID: "supp", Rule: "r", Key: "k", Time: time.UnixMilli(4000), Suppressed: true}
	if err := s.Put(ctx, live, older, shadow, suppressed); err != nil {
		t.Fatal(err)
	}
	ids := func() string {
		out, err := s.Outbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range out {
			got = append(got, a.ID)
		}
		return strings.Join(got, ",")
	}
	if got := ids(); got != "older,live" {
		t.Errorf("outbox = %s; want older,live (oldest first, no shadow or suppressed)", got)
	}
	if err := s.OutboxDone(ctx, "older"); err != nil {
		t.Fatal(err)
	}
	// A re-delivered event writes the alert again: a delivered alert must
	// not come back.
	if err := s.Put(ctx, older, live); err != nil {
		t.Fatal(err)
	}
	if got := ids(); got != "live" {
		t.Errorf("outbox after re-put = %s; want live", got)
	}

	plain, err := Open(filepath.Join(t.TempDir(), "b.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(ctx)
	if err := plain.Put(ctx, live); err != nil {
		t.Fatal(err)
	}
	if out, _ := plain.Outbox(ctx); len(out) != 0 {
		t.Errorf("without Outbox the store queued %d alerts", len(out))
	}
}

func TestRulesAndListVersions(t *testing.T) {
	s := openTemp(t, Options{})
	ctx := context.Background()
	at := time.UnixMilli(1795169045123).UTC()
	files := []RulesFile{{Name: "a.yaml", Data: []byte("rules: []\n")}, {Name: "b.yaml", Data: []byte{}}}
	v1, err := s.RecordRules(ctx, RulesVersion{At: at, Actor: "ops", Source: "api", Diff: []byte(`{"added":["x"]}`), Files: files})
	if err != nil || v1 != 1 {
		t.Fatalf("record: %d %v", v1, err)
	}
	v2, _ := s.RecordRules(ctx, RulesVersion{At: at, Actor: "ops", Source: "api", Files: files[:1]})
	if err := s.DeleteRules(ctx, v2); err != nil {
		t.Fatal(err)
	}
	// A deleted version's number is never handed out again.
	if v3, _ := s.RecordRules(ctx, RulesVersion{At: at, Actor: "sighup", Source: "sighup", Files: files[:1]}); v3 != 3 {
		t.Errorf("version after a deleted one: %d; want 3", v3)
	}
	got, ok, err := s.RulesVersion(ctx, 1)
	if err != nil || !ok || got.Actor != "ops" || !got.At.Equal(at) || string(got.Diff) != `{"added":["x"]}` ||
		len(got.Files) != 2 || got.Files[0].Name != "a.yaml" || string(got.Files[0].Data) != "rules: []\n" || got.Files[1].Data == nil {
		t.Errorf("version 1 = %+v %v %v", got, ok, err)
	}
	if _, ok, _ := s.RulesVersion(ctx, 2); ok {
		t.Error("deleted version 2 still there")
	}
	latest, _, _ := s.RulesVersion(ctx, 0)
	all, _ := s.RulesVersions(ctx)
	if latest.Version != 3 || len(all) != 2 || all[0].Version != 3 || all[1].Version != 1 || all[0].Files != nil {
		t.Errorf("latest %d, all %+v", latest.Version, all)
	}
	for _, l := range []ListVersion{{Name: "b", Size: 1, Values: []byte(`["x"]`)}, {Name: "a", Size: 0, Values: []byte(`[]`)}, {Name: "b", Size: 2, Values: []byte(`["x","y"]`)}} {
		l.At, l.Actor = at, "ops"
		if _, err := s.RecordList(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	lists, _ := s.Lists(ctx)
	if len(lists) != 2 || lists[0].Name != "a" || lists[1].Name != "b" || lists[1].Version != 3 || string(lists[1].Values) != `["x","y"]` {
		t.Errorf("lists %+v", lists)
	}
	if h, _ := s.ListHistory(ctx, "b"); len(h) != 2 || h[0].Version != 3 || h[1].Size != 1 {
		t.Errorf("history %+v", h)
	}
}

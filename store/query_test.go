package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
)

func TestParseQuery(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 123_456_789, time.UTC)
	nowMs := time.UnixMilli(now.UnixMilli()).UTC()
	cur := Cursor{TimeMs: 1795169045000, ID: "a1b2"}.String()
	for _, tc := range []struct {
		in   string
		want Query
	}{
		{"", Query{}},
		{"rule=card-testing", Query{Rule: "card-testing"}},
		{"key=card-123", Query{Key: "card-123"}},
		{"key=a%20b%26c", Query{Key: "a b&c"}},
		{"severity=high", Query{Severity: "high"}},
		{"rule=&key=&severity=&from=&to=&shadow=&limit=&cursor=", Query{}}, // empty means absent
		{"from=2026-11-20T10:04:05.123Z", Query{From: time.Date(2026, 11, 20, 10, 4, 5, 123e6, time.UTC)}},
		{"from=2026-11-20T10:04:05Z", Query{From: time.Date(2026, 11, 20, 10, 4, 5, 0, time.UTC)}},
		{"from=2026-11-20T11:04:05.123456%2B01:00", Query{From: time.Date(2026, 11, 20, 10, 4, 5, 123e6, time.UTC)}},
		{"to=1795169045123", Query{To: time.UnixMilli(1795169045123).UTC()}},
		{"from=0", Query{From: time.UnixMilli(0).UTC()}},
		{"from=24h", Query{From: nowMs.Add(-24 * time.Hour)}},
		{"from=90m&to=30s", Query{From: nowMs.Add(-90 * time.Minute), To: nowMs.Add(-30 * time.Second)}},
		{"from=7d", Query{From: nowMs.Add(-7 * 24 * time.Hour)}},
		{"from=1d12h", Query{From: nowMs.Add(-36 * time.Hour)}},
		{"from=now-15m&to=now", Query{From: nowMs.Add(-15 * time.Minute), To: nowMs}},
		{"shadow=true", Query{Shadow: ptr(true)}},
		{"shadow=false", Query{Shadow: ptr(false)}},
		{"shadow=1", Query{Shadow: ptr(true)}},
		{"limit=1", Query{Limit: 1}},
		{"limit=1000", Query{Limit: 1000}},
		{"cursor=" + cur, Query{Cursor: cur}},
		{"unknown=1&rule=r", Query{Rule: "r"}},
		{"rule=r&key=k&severity=low&from=2h&to=1h&shadow=false&limit=5&cursor=" + cur,
			Query{Rule: "r", Key: "k", Severity: "low", From: nowMs.Add(-2 * time.Hour), To: nowMs.Add(-time.Hour),
				Shadow: ptr(false), Limit: 5, Cursor: cur}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			v, err := url.ParseQuery(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseQueryAt(v, now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in, param string
	}{
		{"from=yesterday", "from"},
		{"from=2026-11-20", "from"},
		{"from=2026-11-20T10:00:00", "from"}, // no zone
		{"to=-24h", "to"},
		{"to=now-", "to"},
		{"from=1.5d", "from"},
		{"from=3x", "from"},
		{"from=1h&to=2h", "to"}, // from after to
		{"from=5&to=5", "to"},
		{"shadow=maybe", "shadow"},
		{"limit=0", "limit"},
		{"limit=-3", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
		{"limit=99999999999999999999", "limit"},
		{"cursor=abc!", "cursor"},
		{"cursor=" + b64("no-colon"), "cursor"},
		{"rule=a&rule=b", "rule"},
		{"key=a&key=b", "key"},
		{"severity=a&severity=b", "severity"},
		{"from=1&from=2", "from"},
		{"shadow=true&shadow=false", "shadow"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			v, err := url.ParseQuery(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseQueryAt(v, now)
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Param != tc.param {
				t.Fatalf("error %v; want a ParamError for %s", err, tc.param)
			}
			if !strings.Contains(err.Error(), tc.param) {
				t.Errorf("error %q does not name %s", err, tc.param)
			}
		})
	}
}

func TestParseQueryNow(t *testing.T) {
	before := time.Now()
	q, err := ParseQuery(url.Values{"from": {"24h"}})
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := before.Add(-24*time.Hour).UnixMilli(), after.Add(-24*time.Hour).UnixMilli()
	if ms := q.From.UnixMilli(); ms < lo || ms > hi {
		t.Errorf("from=24h gave %v; want between %v and %v", q.From, time.UnixMilli(lo), time.UnixMilli(hi))
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []Cursor{
		{0, "a"}, {-62135596800000, "x"}, {1795169045123, "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"},
		{5, "id:with:colons"}, {5, "ünïcode/+="},
	} {
		s := c.String()
		if strings.ContainsAny(s, "+/=") || url.QueryEscape(s) != s {
			t.Errorf("cursor %q needs URL escaping", s)
		}
		got, err := ParseCursor(s)
		if err != nil || got != c {
			t.Errorf("ParseCursor(%v) = %v, %v", c, got, err)
		}
	}
}

// The SQLite store and the Go semantics (Matches, NewestFirst, Paginate)
// agree on random alerts and random queries, page by page.
func TestDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := openTemp(t, Options{})
	ctx := context.Background()
	rules := []string{"velocity", "card-testing", "geo"}
	keys := []string{"c1", "c2", "c3", "c4", "c5"}
	sevs := []string{"low", "high", "critical"}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }

	// Times crowd into a small range so that many alerts share a
	// millisecond; some have sub-millisecond parts.
	var alerts []cep.Alert
	for i := range 400 {
		a := mk(fmt.Sprintf("%x", rng.Uint32()), pick(rules), pick(keys), pick(sevs), int64(rng.IntN(200)), rng.IntN(4) == 0)
		if i%5 == 0 {
			a.Time = a.Time.Add(time.Duration(rng.IntN(1000)) * time.Microsecond)
		}
		alerts = append(alerts, a)
	}
	// Store them in random batches, some alerts twice.
	for rest := alerts; len(rest) > 0; {
		n := min(1+rng.IntN(40), len(rest))
		batch := rest[:n]
		if rng.IntN(3) == 0 {
			batch = append(slices.Clone(batch), alerts[rng.IntN(len(alerts))])
		}
		put(t, s, batch...)
		rest = rest[n:]
	}
	// Ids are random: drop any collision from the Go side, keeping the
	// first write, as the store does.
	seen := map[string]bool{}
	alerts = slices.DeleteFunc(alerts, func(a cep.Alert) bool {
		dup := seen[a.ID]
		seen[a.ID] = true
		return dup
	})
	if n, _ := s.Count(ctx); n != len(alerts) {
		t.Fatalf("Count = %d; want %d", n, len(alerts))
	}

	maybe := func(xs []string) string {
		if rng.IntN(2) == 0 {
			return ""
		}
		return pick(append(slices.Clone(xs), "none"))
	}
	for i := range 150 {
		q := Query{Rule: maybe(rules), Key: maybe(keys), Severity: maybe(sevs), Limit: []int{0, 4, 15, 50}[rng.IntN(4)]}
		if rng.IntN(2) == 0 {
			q.From = at(int64(rng.IntN(220)) - 10).Add(time.Duration(rng.IntN(3)) * 400 * time.Microsecond)
		}
		if rng.IntN(2) == 0 {
			q.To = q.From.Add(time.Duration(1+rng.IntN(100)) * time.Millisecond)
			if q.From.IsZero() {
				q.To = at(int64(rng.IntN(220)))
			}
		}
		if rng.IntN(2) == 0 {
			q.Shadow = ptr(rng.IntN(2) == 0)
		}
		var wantAll []cep.Alert
		for _, a := range alerts {
			if q.Matches(a) {
				wantAll = append(wantAll, a)
			}
		}
		slices.SortFunc(wantAll, NewestFirst)
		var gotAll []cep.Alert
		for page := 0; ; page++ {
			got, err := s.Query(ctx, q)
			if err != nil {
				t.Fatalf("query %d %+v: %v", i, q, err)
			}
			want, err := Paginate(q, alerts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got.Alerts), ids(want.Alerts)) || got.NextCursor != want.NextCursor {
				t.Fatalf("query %d %+v page %d:\n got %v %q\nwant %v %q", i, q, page, ids(got.Alerts), got.NextCursor, ids(want.Alerts), want.NextCursor)
			}
			gotAll = append(gotAll, got.Alerts...)
			if got.NextCursor == "" {
				break
			}
			q.Cursor = got.NextCursor
		}
		if !slices.Equal(ids(gotAll), ids(wantAll)) {
			t.Fatalf("query %d %+v: all pages\n got %v\nwant %v", i, q, ids(gotAll), ids(wantAll))
		}
	}
}

func TestNewestFirst(t *testing.T) {
	as := []cep.Alert{
		mk("b", "r", "k", "", 1, false), mk("a", "r", "k", "", 2, false),
		mk("c", "r", "k", "", 1, false), mk("a", "r", "k", "", 1, false),
	}
	// Sub-millisecond differences do not order alerts; the id does.
	as[2].Time = as[2].Time.Add(900 * time.Microsecond)
	slices.SortFunc(as, NewestFirst)
	var got []string
	for _, a := range as {
		got = append(got, fmt.Sprint(a.ID, a.Time.Sub(base).Milliseconds()))
	}
	if want := "a2,c1,b1,a1"; join(got) != want {
		t.Errorf("order %v; want %s", got, want)
	}
}

// Package storetest is the one test suite every alert store passes: the
// embedded store and ClickHouse run it on the same alerts and must give
// the pages that store.Paginate, the reference semantics, gives.
package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/store"
)

// Store is what the suite needs of an alert store.
type Store interface {
	WriteBatch(ctx context.Context, alerts []cep.Alert) error
	Query(ctx context.Context, q store.Query) (store.Page, error)
	Get(ctx context.Context, id string) (cep.Alert, bool, error)
}

// base is an arbitrary alert time: 2026-11-20T10:00:00Z.
var base = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// Alerts is the suite's data: 400 alerts of 3 rules, 5 keys and 3
// severities crowded into 200 ms (many share a millisecond; some have
// sub-millisecond parts), and the batches to write them in, some alerts
// written twice (with another severity and shadow flag the second time,
// as after a presentation edit: the first write must win).
func Alerts() (unique []cep.Alert, batches [][]cep.Alert) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	for i := range 400 {
		ms := int64(rng.IntN(200))
		a := cep.Alert{
			ID: fmt.Sprintf("%08x", rng.Uint32()), Rule: pick(rules), Key: pick(keys), Severity: pick(sevs),
			Time: base.Add(time.Duration(ms) * time.Millisecond), Shadow: rng.IntN(4) == 0,
			RuleVersion: 1, RuleHash: "h", MatchHash: "m", Summary: "ünïcode ✓",
			Labels: map[string]string{"team": "payments"}, Fields: map[string]any{"n": float64(i)}, Values: map[string]any{},
			EventIDs: []string{fmt.Sprintf("e%d", i)},
		}
		a.DetectedAt = a.Time.Add(1500 * time.Millisecond)
		if i%5 == 0 {
			a.Time = a.Time.Add(time.Duration(rng.IntN(1000)) * time.Microsecond)
		}
		unique = append(unique, a)
	}
	for done := 0; done < len(unique); {
		n := min(1+rng.IntN(40), len(unique)-done)
		batch := slices.Clone(unique[done : done+n])
		done += n
		if rng.IntN(3) == 0 { // one written already, or earlier in this batch
			again := unique[rng.IntN(done)]
			again.Severity, again.Shadow = "critical", !again.Shadow
			batch = append(batch, again)
		}
		batches = append(batches, batch)
	}
	return unique, batches
}

var (
	rules = []string{"velocity", "card-testing", "geo"}
	keys  = []string{"c1", "c2", "c3", "c4", "c5"}
	sevs  = []string{"low", "high", "critical"}
)

// Run writes Alerts' batches to s, then checks 150 random queries page
// by page against store.Paginate: the same alerts, order and cursors.
func Run(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	unique, batches := Alerts()
	for _, b := range batches {
		if err := s.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Each alert as the store returns it: times in milliseconds.
	for i := range unique {
		unique[i].Time = time.UnixMilli(unique[i].Time.UnixMilli()).UTC()
	}
	for _, a := range unique[:20] {
		got, ok, err := s.Get(ctx, a.ID)
		if err != nil || !ok || got.Severity != a.Severity || got.Shadow != a.Shadow || !got.Time.Equal(a.Time) {
			t.Fatalf("Get(%s) = %+v, %v, %v; want the first write %+v", a.ID, got, ok, err, a)
		}
	}
	if _, ok, err := s.Get(ctx, "no-such-alert"); ok || err != nil {
		t.Fatalf("Get(no-such-alert) = %v, %v; want not found", ok, err)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	maybe := func(xs []string) string {
		if rng.IntN(2) == 0 {
			return ""
		}
		return pick(append(slices.Clone(xs), "none"))
	}
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	for i := range 150 {
		q := store.Query{Rule: maybe(rules), Key: maybe(keys), Severity: maybe(sevs), Limit: []int{0, 4, 15, 50}[rng.IntN(4)]}
		if rng.IntN(2) == 0 {
			q.From = at(rng.IntN(220) - 10).Add(time.Duration(rng.IntN(3)) * 400 * time.Microsecond)
		}
		if rng.IntN(2) == 0 {
			q.To = q.From.Add(time.Duration(1+rng.IntN(100)) * time.Millisecond)
			if q.From.IsZero() {
				q.To = at(rng.IntN(220))
			}
		}
		if rng.IntN(2) == 0 {
			b := rng.IntN(2) == 0
			q.Shadow = &b
		}
		for page := 0; ; page++ {
			got, err := s.Query(ctx, q)
			if err != nil {
				t.Fatalf("query %d %+v: %v", i, q, err)
			}
			want, err := store.Paginate(q, unique)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got.Alerts), ids(want.Alerts)) || got.NextCursor != want.NextCursor {
				t.Fatalf("query %d %+v page %d:\n got %v %q\nwant %v %q", i, q, page, ids(got.Alerts), got.NextCursor, ids(want.Alerts), want.NextCursor)
			}
			if got.NextCursor == "" {
				break
			}
			q.Cursor = got.NextCursor
		}
	}
}

func ids(alerts []cep.Alert) []string {
	out := make([]string, len(alerts))
	for i, a := range alerts {
		out[i] = a.ID
	}
	return out
}

package window_test

import (
	"fmt"

	"github.com/vigilhq/vigil/patterns/window"
)

// A sliding 10-minute window for the condition
// count() >= 3 && sum(amount) > 100 && distinct(merchant) >= 2, as the
// engine drives it: for each event, evaluate the arguments, add the event,
// evict what fell out of (t-10m, t], read the values.
func Example() {
	aggs := []window.Aggregate{
		{Func: window.Count, Text: "count()"},
		{Func: window.Sum, Text: "sum(amount)"},
		{Func: window.Distinct, Text: "distinct(merchant)"},
		{Func: window.Max, Text: "max(amount)"},
	}
	w := window.New(aggs)
	const size = 10 * 60 * 1000 // 10m in ms

	events := []struct {
		id       string
		t        int64
		amount   any
		merchant any
	}{
		{"e1", 0, 20.0, "m1"},
		{"e2", 4 * 60_000, 35.5, "m2"},
		{"e3", 9 * 60_000, nil, "m2"}, // no amount: still counted by count()
		{"e4", 10 * 60_000, 60, "m3"}, // e1 is exactly 10m older: it leaves
	}
	var vals []any
	var ids []string
	for _, e := range events {
		w.Add(e.id, e.t, []any{nil, e.amount, e.merchant, e.amount})
		w.EvictThrough(e.t - size)
		vals = w.Values(vals)
		ids = w.EventIDs(ids)
		fmt.Printf("%s: ", e.id)
		for i, a := range aggs {
			fmt.Printf("%s=%v ", a.Text, vals[i])
		}
		fmt.Println(ids)
	}
	// Output:
	// e1: count()=1 sum(amount)=20 distinct(merchant)=1 max(amount)=20 [e1]
	// e2: count()=2 sum(amount)=55.5 distinct(merchant)=2 max(amount)=35.5 [e1 e2]
	// e3: count()=3 sum(amount)=55.5 distinct(merchant)=2 max(amount)=35.5 [e1 e2 e3]
	// e4: count()=3 sum(amount)=95.5 distinct(merchant)=2 max(amount)=60 [e2 e3 e4]
}

package serve

import (
	"testing"
	"time"
)

func TestWatermarksCombineSources(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	w := newWatermarks(5*time.Second, time.Second, true, func() time.Time { return now })
	step := func(d time.Duration) { now = now.Add(d) }
	check := func(what string, want int64, wantOK bool) {
		t.Helper()
		got, ok := w.current()
		if ok != wantOK || (ok && got != want) {
			t.Errorf("%s: current() = %d, %v; want %d, %v", what, got, ok, want, wantOK)
		}
	}
	check("no source yet: the wall clock", 1_000_000-5000, true)
	w.observe("kafka", 0, false)
	check("kafka delivered but has no time yet: hold", 0, false)
	w.observe("kafka", 500_000, true)
	w.observe("http", 400_000, true)
	check("the minimum of the active sources", 400_000, true)
	step(600 * time.Millisecond)
	w.observe("kafka", 600_000, true)
	step(600 * time.Millisecond)
	check("http idle: left out", 600_000, true)
	step(time.Second)
	check("everything idle: the wall clock", now.UnixMilli()-5000, true)

	off := newWatermarks(0, time.Second, false, func() time.Time { return now })
	if _, ok := off.current(); ok {
		t.Errorf("with advance_when_idle off, an idle service must not move time")
	}
}

package cep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
)

func TestProcessAcceptsEveryInputForm(t *testing.T) {
	rs := mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 4}"))
	var got []Alert
	eng, err := New(rs, WithAlertHandler(func(_ context.Context, a Alert) error { got = append(got, a); return nil }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	type txn struct {
		ID   string `json:"id"`
		TS   string `json:"ts"`
		Card string `json:"card"`
	}
	inputs := []any{
		map[string]any{"id": "m", "ts": "2026-11-20T10:00:00Z", "card": "c1"},
		[]byte(`{"id":"b","ts":"2026-11-20T10:00:01Z","card":"c1"}`),
		json.RawMessage(`{"id":"r","ts":1795168802000,"card":"c1"}`),
		txn{ID: "s", TS: "2026-11-20T10:00:03.5Z", Card: "c1"},
	}
	for _, in := range inputs {
		if err := eng.Process(ctx, in); err != nil {
			t.Fatalf("Process(%T) = %v", in, err)
		}
	}
	if len(got) != 1 || fmt.Sprint(got[0].EventIDs) != "[m b r s]" {
		t.Fatalf("alerts = %v; want one over [m b r s]", alertLines(got))
	}
}

func TestProcessRejectsBadEventsWithReasons(t *testing.T) {
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		in     any
		reason string
	}{
		{[]byte(`not json`), event.ReasonMalformed},
		{[]byte(`[1,2]`), event.ReasonMalformed},
		{map[string]any{"card": "c1"}, event.ReasonNoTime},
		{map[string]any{"ts": "yesterday"}, event.ReasonBadTime},
		{func() {}, event.ReasonMalformed},
	}
	for _, c := range cases {
		err := eng.Process(ctx, c.in)
		var evErr *event.Error
		if !errors.As(err, &evErr) || evErr.Reason != c.reason {
			t.Errorf("Process(%v) = %v; want reason %s", c.in, err, c.reason)
		}
	}
	st := eng.Stats()
	if st.Rejected[event.ReasonMalformed] != 3 || st.Rejected[event.ReasonNoTime] != 1 || st.Processed != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestClosedEngineRefusesWork(t *testing.T) {
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := eng.Process(ctx, map[string]any{"ts": 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Process after Close = %v; want ErrClosed", err)
	}
	if err := eng.AdvanceWatermark(ctx, time.Now()); !errors.Is(err, ErrClosed) {
		t.Errorf("AdvanceWatermark after Close = %v; want ErrClosed", err)
	}
}

func TestCloseProcessesBufferedEvents(t *testing.T) {
	var got []Alert
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 2}")),
		WithOutOfOrderness(time.Hour),
		WithAlertHandler(func(_ context.Context, a Alert) error { got = append(got, a); return nil }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, line := range []string{"e2 10:01 c1", "e1 10:00 c1"} {
		if err := eng.Process(ctx, parseEvent(t, line)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 0 || eng.Stats().Buffered != 2 {
		t.Fatalf("before Close: %d alerts, %d buffered; want 0 and 2", len(got), eng.Stats().Buffered)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if lines := alertLines(got); !sameLines(lines, []string{"r c1 10:01:00.000 e1,e2"}) {
		t.Errorf("alerts after Close = %q", lines)
	}
}

func TestAlertHandlerErrorsReachTheCaller(t *testing.T) {
	boom := errors.New("sink down")
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}")),
		WithAlertHandler(func(context.Context, Alert) error { return boom }))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Process(context.Background(), parseEvent(t, "e1 10:00 c1")); !errors.Is(err, boom) {
		t.Errorf("Process = %v; want the handler's error", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	var mu sync.Mutex
	alerts := 0
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}\nemit: every")),
		WithOutOfOrderness(time.Hour),
		WithAlertHandler(func(context.Context, Alert) error { mu.Lock(); alerts++; mu.Unlock(); return nil }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				ev := map[string]any{"ts": at("10:00") + int64(i), "card": fmt.Sprintf("w%d", w)}
				if err := eng.Process(ctx, ev); err != nil {
					t.Error(err)
					return
				}
				_ = eng.Stats()
			}
		}()
	}
	wg.Wait()
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := eng.Stats(); st.Processed != 1000 || alerts != 1000 {
		t.Errorf("processed %d events, %d alerts; want 1000 each", st.Processed, alerts)
	}
}

func TestAlertJSONRoundTrip(t *testing.T) {
	a := Alert{ID: "x", Rule: "r", RuleVersion: 3, Key: "c1", Time: time.UnixMilli(at("10:00:01.5")).UTC(),
		DetectedAt: time.UnixMilli(at("10:00:02")).UTC(), EventIDs: []string{"e1"}, Shadow: true,
		Matched: map[string][]map[string]any{"a": {{"id": "e1"}}}}
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Alert
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(a.Time) || back.ID != "x" || !back.Shadow || back.RuleVersion != 3 || len(back.Matched["a"]) != 1 {
		t.Errorf("round trip: %s → %+v", data, back)
	}
	var raw map[string]any
	_ = json.Unmarshal(data, &raw)
	if raw["time"] != "2026-11-20T10:00:01.500Z" {
		t.Errorf("time rendered as %v; want 2026-11-20T10:00:01.500Z", raw["time"])
	}
}

func TestExternalWatermarkHoldsEventsUntilAdvanced(t *testing.T) {
	var got []Alert
	var done []string
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 2}")),
		WithExternalWatermark(),
		WithAlertHandler(func(_ context.Context, a Alert) error { got = append(got, a); return nil }),
		WithDoneHandler(func(_ context.Context, evs []*event.Event) {
			for _, ev := range evs {
				done = append(done, ev.ID)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Partition A is ahead (10:05); partition B's event at 10:01 is not late
	// because the caller's watermark (the minimum) has not passed it.
	for _, line := range []string{"a1 10:05 c1", "b1 10:01 c1"} {
		if err := eng.Process(ctx, parseEvent(t, line)); err != nil {
			t.Fatalf("Process(%s) = %v", line, err)
		}
	}
	if len(got) != 0 || len(done) != 0 {
		t.Fatalf("before the watermark moved: alerts %v, done %v", alertLines(got), done)
	}
	if err := eng.AdvanceWatermark(ctx, time.UnixMilli(at("10:02"))); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(done) != "[b1]" || len(got) != 0 {
		t.Fatalf("at 10:02: done %v, alerts %v; want [b1] and none", done, alertLines(got))
	}
	if err := eng.AdvanceWatermark(ctx, time.UnixMilli(at("10:05"))); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(done) != "[b1 a1]" || !sameLines(alertLines(got), []string{"r c1 10:05:00.000 b1,a1"}) {
		t.Errorf("at 10:05: done %v, alerts %v", done, alertLines(got))
	}
	if err := eng.Process(ctx, parseEvent(t, "c1 10:04 c1")); event.ReasonOf(err) != event.ReasonLate {
		t.Errorf("an event below the advanced watermark: %v; want late", err)
	}
}

func TestDoneHandlerWaitsForSuccessfulDelivery(t *testing.T) {
	failing := true
	var done []string
	var delivered []string
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}\nemit: every")),
		WithAlertHandler(func(_ context.Context, a Alert) error {
			if failing {
				return errors.New("sink down")
			}
			delivered = append(delivered, a.EventIDs[len(a.EventIDs)-1])
			return nil
		}),
		WithDoneHandler(func(_ context.Context, evs []*event.Event) {
			for _, ev := range evs {
				done = append(done, ev.ID)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := eng.Process(ctx, parseEvent(t, "e1 10:00 c1")); err == nil {
		t.Fatal("Process succeeded although the sink failed")
	}
	if len(done) != 0 || eng.Stats().Pending != 1 {
		t.Fatalf("after a failed delivery: done %v, pending %d; want none done, 1 pending", done, eng.Stats().Pending)
	}
	failing = false
	if err := eng.Process(ctx, parseEvent(t, "e2 10:01 c1")); err != nil {
		t.Fatal(err)
	}
	// The held-back alert goes first, then the new one; both events are done.
	if fmt.Sprint(delivered) != "[e1 e2]" || fmt.Sprint(done) != "[e1 e2]" {
		t.Errorf("delivered %v, done %v; want [e1 e2] both", delivered, done)
	}
}

func TestHandlerErrorLosesNoAlert(t *testing.T) {
	for _, workers := range []int{1, 3} {
		fails := 1
		var got []string
		eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}")),
			WithWorkers(workers), WithExternalWatermark(),
			WithAlertHandler(func(_ context.Context, a Alert) error {
				if fails > 0 {
					fails--
					return errors.New("sink down")
				}
				got = append(got, a.Key)
				return nil
			}))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, l := range []string{"e1 10:00 k1", "e2 10:00 k2", "e3 10:00 k3"} {
			if err := eng.Process(ctx, parseEvent(t, l)); err != nil {
				t.Fatal(err)
			}
		}
		if err := eng.AdvanceWatermark(ctx, time.UnixMilli(at("10:00"))); err == nil {
			t.Fatal("the failing handler's error did not reach the caller")
		}
		// Nothing new to process: Close must still deliver the three alerts.
		if err := eng.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if sort.Strings(got); fmt.Sprint(got) != "[k1 k2 k3]" {
			t.Errorf("%d workers: delivered %v; want all three keys", workers, got)
		}
	}
}

func TestEventsAtTheWatermarkAreProcessed(t *testing.T) {
	var got []Alert
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 2}")),
		WithAlertHandler(func(_ context.Context, a Alert) error { got = append(got, a); return nil }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, l := range []string{"e1 10:00 c1", "e2 10:00 c1"} {
		if err := eng.Process(ctx, parseEvent(t, l)); err != nil {
			t.Fatal(err)
		}
	}
	// The second event has the watermark's time: not late, processed at once.
	if st := eng.Stats(); st.Processed != 2 || st.Buffered != 0 || len(got) != 1 {
		t.Errorf("processed %d, buffered %d, alerts %d; want 2, 0, 1", st.Processed, st.Buffered, len(got))
	}
}

func TestAlertIDsDoNotCollideAcrossSplits(t *testing.T) {
	// With a separator byte, ("a\x00", "b") and ("a", "\x00b") could meet.
	ids := map[string][]string{}
	for _, parts := range [][]string{{"a\x00", "b"}, {"a", "\x00b"}, {"a", "b"}, {"ab", ""}} {
		id := alertID("r", "h", parts[0], parts[1:])
		if prev, dup := ids[id]; dup {
			t.Errorf("alertID(%q) = alertID(%q)", parts, prev)
		}
		ids[id] = parts
	}
}

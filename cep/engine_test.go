package cep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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
	if err := eng.Flush(ctx); err != nil {
		t.Fatal(err)
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
	if err := eng.Flush(ctx); err != nil {
		t.Fatal(err)
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

// flakyHandler fails its first n calls, then records the alerts it gets.
type flakyHandler struct {
	mu    sync.Mutex
	fails int
	calls int
	got   []Alert
}

func (h *flakyHandler) handle(_ context.Context, a Alert) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.fails > 0 {
		h.fails--
		return errors.New("sink down")
	}
	h.got = append(h.got, a)
	return nil
}

func (h *flakyHandler) alerts() []Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Alert(nil), h.got...)
}

// A failing handler never fails Process: the delivery stage retries with
// backoff, Stats and Flush report the failure meanwhile, and once the
// handler recovers the alert arrives exactly once.
func TestDeliveryFailuresAreRetriedAndReported(t *testing.T) {
	h := &flakyHandler{fails: 1 << 30}
	var attempts atomic.Int64
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}")),
		WithAlertHandler(h.handle), WithDeliveryBackoff(time.Millisecond, 5*time.Millisecond),
		WithDeliveryErrors(func(error, int) { attempts.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := eng.Process(ctx, parseEvent(t, "e1 10:00 c1")); err != nil {
		t.Fatalf("Process = %v; want nil: delivery is not the caller's business", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := eng.Flush(short); err == nil || !strings.Contains(err.Error(), "sink down") {
		t.Errorf("Flush while the sink fails = %v; want its error", err)
	}
	if st := eng.Stats(); st.Pending != 1 || st.DeliveryError == nil {
		t.Errorf("Stats: pending %d, delivery error %v; want 1 and the error", st.Pending, st.DeliveryError)
	}
	if attempts.Load() < 2 {
		t.Errorf("%d attempts reported; want retries", attempts.Load())
	}
	h.mu.Lock()
	h.fails = 0
	h.mu.Unlock()
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.alerts(); len(got) != 1 {
		t.Errorf("delivered %d alerts; want exactly 1", len(got))
	}
	if st := eng.Stats(); st.Pending != 0 || st.DeliveryError != nil {
		t.Errorf("after recovery: pending %d, error %v", st.Pending, st.DeliveryError)
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

// The exchange's watermark is the minimum over its inputs: an input ahead
// does not make a lagging one's events late, and nothing is processed
// until every active input has told its time.
func TestExchangeWaitsForEveryInput(t *testing.T) {
	h := &flakyHandler{}
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 2}")), WithAlertHandler(h.handle))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := eng.OpenInput("a", InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := eng.OpenInput("b", InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var acked []string
	ack := func(name string) func() {
		return func() { mu.Lock(); acked = append(acked, name); mu.Unlock() }
	}
	acks := func() string {
		if err := eng.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprint(acked)
	}
	push := func(in *Input, line, name string) []Rejection {
		t.Helper()
		ev, err := eng.toEvent(parseEvent(t, line))
		if err != nil {
			t.Fatal(err)
		}
		rej, err := in.Push(ctx, []*event.Event{ev}, ack(name))
		if err != nil {
			t.Fatal(err)
		}
		return rej
	}
	push(a, "a1 10:05 c1", "a1")
	if got := acks(); got != "[]" {
		t.Fatalf("b has told no time: acked %s; want nothing", got)
	}
	push(b, "b1 10:01 c1", "b1")
	if got := acks(); got != "[b1]" {
		t.Fatalf("watermark 10:01: acked %s; want [b1]", got)
	}
	push(b, "b2 10:06 c1", "b2")
	if got := acks(); got != "[b1 a1]" {
		t.Fatalf("watermark 10:05: acked %s; want [b1 a1]", got)
	}
	if got := alertLines(h.alerts()); !sameLines(got, []string{"r c1 10:05:00.000 b1,a1"}) {
		t.Errorf("alerts %q", got)
	}
	if rej := push(a, "a0 10:04 c1", "a0"); len(rej) != 1 || event.ReasonOf(rej[0].Err) != event.ReasonLate {
		t.Errorf("an event below its input's watermark: %v; want late", rej)
	}
	if got := acks(); got != "[b1 a1 a0]" {
		t.Errorf("a batch of late events is acked at once: %s", got)
	}
	if err := eng.RemoveInput("a"); err != nil {
		t.Fatal(err)
	}
	// b alone holds the exchange now.
	if got := acks(); got != "[b1 a1 a0 b2]" {
		t.Errorf("after a left: acked %s", got)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// An ack waits until the alerts raised before it are delivered.
func TestAcksWaitForDelivery(t *testing.T) {
	h := &flakyHandler{fails: 1 << 30}
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}\nemit: every")),
		WithAlertHandler(h.handle), WithDeliveryBackoff(time.Millisecond, 2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in, err := eng.OpenInput("src", InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var acked atomic.Int32
	ev, _ := eng.toEvent(parseEvent(t, "e1 10:00 c1"))
	if _, err := in.Push(ctx, []*event.Event{ev}, func() { acked.Add(1) }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // a few failed attempts
	if acked.Load() != 0 {
		t.Fatal("acked while its alert was not delivered")
	}
	h.mu.Lock()
	h.fails = 0
	h.mu.Unlock()
	if err := eng.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if acked.Load() != 1 || len(h.alerts()) != 1 {
		t.Errorf("after recovery: %d acks, %d alerts; want 1 and 1", acked.Load(), len(h.alerts()))
	}
	_ = eng.Close(ctx)
}

func TestHandlerErrorLosesNoAlert(t *testing.T) {
	for _, workers := range []int{1, 3} {
		h := &flakyHandler{fails: 1}
		eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}")),
			WithWorkers(workers), WithAlertHandler(h.handle), WithDeliveryBackoff(time.Millisecond, time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, l := range []string{"e1 10:00 k1", "e2 10:00 k2", "e3 10:00 k3"} {
			if err := eng.Process(ctx, parseEvent(t, l)); err != nil {
				t.Fatal(err)
			}
		}
		if err := eng.Close(ctx); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, a := range h.alerts() {
			keys = append(keys, a.Key)
		}
		if fmt.Sprint(keys) != "[k1 k2 k3]" || h.calls != 4 {
			t.Errorf("%d workers: delivered %v in %d calls; want all three keys in order, one retry", workers, keys, h.calls)
		}
	}
}

// A full alert queue holds back new events (backpressure): Process waits,
// and gives up with ErrBusy when its context ends; nothing is lost.
func TestFullAlertQueueHoldsBackEvents(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}\nemit: every")),
		WithAlertQueue(2), WithMaxBatch(1),
		WithAlertHandler(func(_ context.Context, a Alert) error {
			<-release
			mu.Lock()
			got = append(got, a.EventIDs[len(a.EventIDs)-1])
			mu.Unlock()
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, l := range []string{"e1 10:00 c1", "e2 10:01 c1"} {
		if err := eng.Process(ctx, parseEvent(t, l)); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := eng.Process(short, parseEvent(t, "e3 10:02 c1")); !errors.Is(err, ErrBusy) {
		t.Fatalf("Process with a full queue = %v; want ErrBusy", err)
	}
	close(release)
	if err := eng.Process(ctx, parseEvent(t, "e3 10:02 c1")); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[e1 e2 e3]" {
		t.Errorf("delivered %v; want [e1 e2 e3]", got)
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
	if err := eng.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := eng.Stats(); st.Processed != 2 || st.Buffered != 0 || len(got) != 1 {
		t.Errorf("processed %d, buffered %d, alerts %d; want 2, 0, 1", st.Processed, st.Buffered, len(got))
	}
}

func TestAlertIDsDoNotCollideAcrossSplits(t *testing.T) {
	// With a separator byte, ("a\x00", "b") and ("a", "\x00b") could meet;
	// without stage boundaries, {s: [1, 2], t: [3]} and {s: [1], t: [2, 3]}.
	cases := []struct {
		key    string
		stages []stageIDs
	}{
		{"a\x00", []stageIDs{{ids: []string{"b"}}}},
		{"a", []stageIDs{{ids: []string{"\x00b"}}}},
		{"a", []stageIDs{{ids: []string{"b"}}}},
		{"ab", []stageIDs{{ids: []string{""}}}},
		{"k", []stageIDs{{stage: "s", ids: []string{"1", "2"}}, {stage: "t", ids: []string{"3"}}}},
		{"k", []stageIDs{{stage: "s", ids: []string{"1"}}, {stage: "t", ids: []string{"2", "3"}}}},
		{"k", []stageIDs{{stage: "s", ids: []string{"1", "2", "3"}}}},
		{"k", []stageIDs{{stage: "t", ids: []string{"1", "2", "3"}}}},
	}
	ids := map[string]int{}
	for i, c := range cases {
		id := alertID("r", "h", c.key, c.stages)
		if prev, dup := ids[id]; dup {
			t.Errorf("case %d has the id of case %d", i, prev)
		}
		ids[id] = i
	}
}

// Regression: two different matches of one key over the same events —
// a{1,2} then b{1,2} with no_skip gives {a: e1, b: e2 e3} and
// {a: e1 e2, b: e3} — used to share an id, so de-duplicating sinks
// dropped a real alert.
func TestDistinctMatchesGetDistinctIDs(t *testing.T) {
	res := runEvents(t, mustLoad(t, `rules:
  - name: ab
    key: card
    skip: no_skip
    pattern:
      - begin: a
        where: kind == "a"
        times: 1..2
      - next: b
        where: kind == "b"
        times: 1..2
`), []string{"e1 10:00 c1 kind=a", "e2 10:01 c1 kind=a", "e3 10:02 c1 kind=b", "e4 10:03 c1 kind=b"}, "")
	seen := map[string]string{}
	for _, a := range res.alerts {
		desc := fmt.Sprint(a.Matched["a"], a.Matched["b"])
		if prev, dup := seen[a.ID]; dup {
			t.Errorf("id %s for %s and for %s", a.ID, prev, desc)
		}
		seen[a.ID] = desc
	}
	if len(res.alerts) < 4 {
		t.Errorf("%d alerts; want the four matches a{1,2} b{1,2}", len(res.alerts))
	}
}

// With WithDeliveryAttempts, a handler that keeps failing fails the
// engine: a batch job stops instead of retrying a closed pipe forever.
func TestDeliveryGivesUpWhenAsked(t *testing.T) {
	h := &flakyHandler{fails: 1 << 30}
	eng, err := New(mustLoad(t, rule("threshold: {window: 10m, condition: count() >= 1}\nemit: every")),
		WithAlertHandler(h.handle), WithDeliveryAttempts(2), WithDeliveryBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var perr error
	for i := 0; i < 1000 && perr == nil; i++ {
		perr = eng.Process(ctx, map[string]any{"ts": at("10:00") + int64(i), "card": "c1"})
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(perr, ErrDeliveryFailed) || !strings.Contains(perr.Error(), "sink down") {
		t.Fatalf("Process once delivery gave up = %v; want ErrDeliveryFailed with the cause", perr)
	}
	if err := eng.Close(ctx); !errors.Is(err, ErrDeliveryFailed) {
		t.Errorf("Close = %v; want ErrDeliveryFailed", err)
	}
	if h.calls != 2 {
		t.Errorf("%d attempts; want 2", h.calls)
	}
}

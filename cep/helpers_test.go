package cep

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
)

// The tables in this package describe events and alerts in a compact form.
//
// An event line is "ID TIME KEY field=value…": TIME is HH:MM[:SS[.mmm]] on
// 2026-11-20 UTC, KEY goes to the field "card", values that parse as
// numbers are numbers. "-" as KEY leaves the card out.
//
// An alert is "RULE KEY TIME ID,ID,…" with " suppressed" or " shadow"
// appended when the alert is marked so.

var day = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

func at(clock string) int64 {
	layouts := []string{"15:04:05.000", "15:04:05", "15:04"}
	for _, l := range layouts {
		if t, err := time.Parse(l, clock); err == nil {
			return day.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
				time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())).UnixMilli()
		}
	}
	panic("bad clock " + clock)
}

func clock(ms int64) string {
	t := time.UnixMilli(ms).UTC()
	if t.YearDay() != day.YearDay() {
		return t.Format("01-02T15:04:05.000")
	}
	return t.Format("15:04:05.000")
}

func parseEvent(t *testing.T, line string) map[string]any {
	t.Helper()
	parts := strings.Fields(line)
	if len(parts) < 3 {
		t.Fatalf("bad event line %q", line)
	}
	ev := map[string]any{"id": parts[0], "ts": event.FormatTime(at(parts[1]))}
	if parts[2] != "-" {
		ev["card"] = parts[2]
	}
	for _, kv := range parts[3:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("bad field %q in %q", kv, line)
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			ev[k] = f
		} else {
			ev[k] = v
		}
	}
	return ev
}

func describeAlert(a Alert) string {
	s := fmt.Sprintf("%s %s %s %s", a.Rule, a.Key, clock(a.Time.UnixMilli()), strings.Join(a.EventIDs, ","))
	if a.Suppressed {
		s += " suppressed"
	}
	if a.Shadow {
		s += " shadow"
	}
	return s
}

func mustLoad(t testing.TB, yaml string) *rules.Ruleset {
	t.Helper()
	rs, err := rules.Load([]rules.Source{{Name: "test.yaml", Data: []byte(yaml)}})
	if err != nil {
		t.Fatalf("load rules:\n%v", err)
	}
	return rs
}

// run feeds events to a new engine and returns its alerts, the engine and
// the errors Process returned, by event id.
type runResult struct {
	alerts  []Alert
	eng     *Engine
	rejects map[string]string
}

func runEvents(t *testing.T, rs *rules.Ruleset, lines []string, until string, opts ...Option) runResult {
	t.Helper()
	ctx := context.Background()
	res := runResult{rejects: map[string]string{}}
	opts = append(opts, WithAlertHandler(func(_ context.Context, a Alert) error {
		res.alerts = append(res.alerts, a)
		return nil
	}))
	eng, err := New(rs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	res.eng = eng
	for _, l := range lines {
		ev := parseEvent(t, l)
		if err := eng.Process(ctx, ev); err != nil {
			res.rejects[ev["id"].(string)] = event.ReasonOf(err)
		}
	}
	final := EndOfTime
	if until != "" {
		final = time.UnixMilli(at(until))
	}
	if err := eng.AdvanceWatermark(ctx, final); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return res
}

func alertLines(alerts []Alert) []string {
	out := make([]string, len(alerts))
	for i, a := range alerts {
		out[i] = describeAlert(a)
	}
	return out
}

func sameLines(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// fullAlert is an alert as compared by the differential tests: every
// field but the wall-clock detected_at.
func fullAlert(a Alert) string {
	a.DetectedAt = time.Time{}
	data, err := json.Marshal(a)
	if err != nil {
		panic(err)
	}
	return string(data)
}

func fullAlerts(alerts []Alert) []string {
	out := make([]string, len(alerts))
	for i, a := range alerts {
		out[i] = fullAlert(a)
	}
	return out
}

// engineCase is one row of the engine's semantic tables: rules, events,
// the final watermark and out-of-orderness, and the exact alerts and
// rejections expected.
type engineCase struct {
	name    string
	rules   string
	events  []string
	until   string
	ooo     time.Duration
	want    []string
	rejects map[string]string
}

// check runs the case on one worker and compares exactly; then on three
// workers, which must give the same alerts in the same order; then cut at
// every position into a snapshot restored in a new engine, which must
// give the same alerts, ids included.
func (tc engineCase) check(t *testing.T) {
	res := runEvents(t, mustLoad(t, tc.rules), tc.events, tc.until, WithOutOfOrderness(tc.ooo))
	if got := alertLines(res.alerts); !sameLines(got, tc.want) {
		t.Errorf("alerts:\n got  %q\n want %q", got, tc.want)
	}
	want := tc.rejects
	if want == nil {
		want = map[string]string{}
	}
	if !reflect.DeepEqual(res.rejects, want) {
		t.Errorf("rejected events = %v; want %v", res.rejects, want)
	}
	sharded := runEvents(t, mustLoad(t, tc.rules), tc.events, tc.until, WithOutOfOrderness(tc.ooo), WithWorkers(3))
	if got, want := fullAlerts(sharded.alerts), fullAlerts(res.alerts); !slices.Equal(got, want) {
		t.Errorf("with 3 workers:\n got  %q\n want %q", alertLines(sharded.alerts), alertLines(res.alerts))
	}
	want2 := fullAlerts(res.alerts)
	for cut := 0; cut <= len(tc.events); cut++ {
		got := runCut(t, tc.rules, tc.events, cut, tc.until, WithOutOfOrderness(tc.ooo))
		if !slices.Equal(fullAlerts(got), want2) {
			t.Errorf("snapshot after %d events, restored:\n got  %q\n want %q", cut, alertLines(got), alertLines(res.alerts))
		}
		got = runUpdate(t, tc.rules, tc.events, cut, tc.until, WithOutOfOrderness(tc.ooo))
		if !slices.Equal(fullAlerts(withVersion(got, 1)), want2) {
			t.Errorf("the same rules reloaded after %d events:\n got  %q\n want %q", cut, alertLines(got), alertLines(res.alerts))
		}
	}
}

// runUpdate runs the events, updating the engine after the first cut to
// the same rules loaded again: nothing may change but the version.
func runUpdate(t *testing.T, rulesYAML string, lines []string, cut int, until string, opts ...Option) []Alert {
	t.Helper()
	ctx := context.Background()
	var alerts []Alert
	eng, err := New(mustLoad(t, rulesYAML), append(opts, WithAlertHandler(func(_ context.Context, a Alert) error {
		alerts = append(alerts, a)
		return nil
	}))...)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		if i == cut {
			if err := eng.Update(ctx, mustLoad(t, rulesYAML)); err != nil {
				t.Fatalf("Update: %v", err)
			}
		}
		_ = eng.Process(ctx, parseEvent(t, l))
	}
	if cut == len(lines) {
		if err := eng.Update(ctx, mustLoad(t, rulesYAML)); err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	final := EndOfTime
	if until != "" {
		final = time.UnixMilli(at(until))
	}
	if err := eng.AdvanceWatermark(ctx, final); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return alerts
}

// withVersion sets every alert's rule version, for comparing runs whose
// versions differ by design.
func withVersion(alerts []Alert, v int64) []Alert {
	out := make([]Alert, len(alerts))
	for i, a := range alerts {
		a.RuleVersion = v
		out[i] = a
	}
	return out
}

// runCut runs the first cut events in one engine, snapshots it, restores
// the snapshot into a new engine (rules loaded again, as after a
// restart) and runs the rest there. It returns the alerts of both.
func runCut(t *testing.T, rulesYAML string, lines []string, cut int, until string, opts ...Option) []Alert {
	t.Helper()
	ctx := context.Background()
	var alerts []Alert
	var mu sync.Mutex
	recording := true
	handler := WithAlertHandler(func(_ context.Context, a Alert) error {
		mu.Lock()
		defer mu.Unlock()
		if recording {
			alerts = append(alerts, a)
		}
		return nil
	})
	first, err := New(mustLoad(t, rulesYAML), append(opts, handler)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[:cut] {
		_ = first.Process(ctx, parseEvent(t, l))
	}
	if err := first.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if err := first.Snapshot(ctx, &snap); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	mu.Lock()
	recording = false
	mu.Unlock()
	_ = first.Close(ctx)
	mu.Lock()
	recording = true
	mu.Unlock()

	second, err := New(mustLoad(t, rulesYAML), append(opts, handler)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Restore(ctx, &snap); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for _, l := range lines[cut:] {
		_ = second.Process(ctx, parseEvent(t, l))
	}
	final := EndOfTime
	if until != "" {
		final = time.UnixMilli(at(until))
	}
	if err := second.AdvanceWatermark(ctx, final); err != nil {
		t.Fatal(err)
	}
	if err := second.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return alerts
}

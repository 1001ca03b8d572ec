package cep

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// perKey groups alert lines by rule and key, keeping their order: with
// several workers, alerts of different keys may interleave differently,
// but each key's alerts keep theirs.
func perKey(alerts []Alert) map[string][]string {
	out := map[string][]string{}
	for _, a := range alerts {
		k := a.Rule + "/" + a.Key
		out[k] = append(out[k], describeAlert(a))
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
// workers, where each key must get the same alerts in the same order.
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
	if got, want := perKey(sharded.alerts), perKey(res.alerts); !reflect.DeepEqual(got, want) {
		t.Errorf("with 3 workers:\n got  %q\n want %q", got, want)
	}
}

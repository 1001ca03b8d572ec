package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/gen"
	"github.com/vigilhq/vigil/internal/replay"
	"github.com/vigilhq/vigil/rules"
	"github.com/vigilhq/vigil/store/clickhouse"
	"github.com/vigilhq/vigil/store/clickhouse/chtest"
)

// store loads NDJSON lines into a fresh database as the service would:
// each event's position is name:line, as replay names it.
func store(t *testing.T, name string, data []byte) *clickhouse.Store {
	t.Helper()
	addr := chtest.Addr(t)
	ctx := context.Background()
	st, err := clickhouse.Open(ctx, clickhouse.Config{Addr: addr, Database: chtest.Database(t, addr), BatchRows: 5000,
		BatchInterval: 10 * time.Millisecond, KeyFields: []string{"card_id"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(ctx) })
	w := st.NewEventWriter()
	dec := event.Decoder{}
	for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		pos := fmt.Sprintf("%s:%d", name, i+1)
		ev, err := dec.Decode(line, pos)
		if err != nil {
			continue // rejected live too: never stored
		}
		rows := []clickhouse.Row{{Event: ev, Raw: slices.Clone(line), Source: name, Position: pos}}
		if err := w.Reserve(ctx, 1, clickhouse.SizeOf(rows)); err != nil {
			t.Fatal(err)
		}
		w.Add(rows, nil)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

func loadRules(t *testing.T, paths ...string) *rules.Ruleset {
	t.Helper()
	rs, err := rules.LoadFiles(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// comparable is an alert without its wall-clock detection time.
func comparable(alerts []cep.Alert) []string {
	out := make([]string, len(alerts))
	for i, a := range alerts {
		a.DetectedAt = time.Time{}
		b, _ := json.Marshal(a)
		out[i] = string(b)
	}
	return out
}

var all = Options{From: time.UnixMilli(0), To: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}

// TestSameAlertsAsReplay: a backtest over stored events gives exactly the
// alerts replay gives over the same events, ids and matched events
// included.
func TestSameAlertsAsReplay(t *testing.T) {
	cases := []struct {
		name  string
		rules []string
		data  func(t *testing.T) []byte
	}{
		{"examples", []string{"../../examples/rules"}, func(t *testing.T) []byte {
			var b bytes.Buffer
			for _, f := range []string{"../../examples/events/payments.ndjson", "../../examples/events/sequences.ndjson"} {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				b.Write(data)
			}
			// Events without an id: their ids come from their position.
			b.WriteString(`{"ts":"2026-11-20T10:00:00Z","type":"auth","card_id":"noid","status":"declined","amount":30}` + "\n")
			b.WriteString(`{"ts":"2026-11-20T10:00:01Z","type":"auth","card_id":"noid","status":"declined","amount":30}` + "\n")
			return sortByTime(t, b.Bytes())
		}},
		{"gen", []string{"testdata/gen-rules.yaml"}, func(t *testing.T) []byte {
			g, err := gen.New(gen.Options{Seed: 11, Cards: 300, FraudRate: 0.01})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := gen.Stream(context.Background(), g, gen.WriterSink{W: &b}, gen.Limits{Count: 20000}); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data(t)
			rs := loadRules(t, c.rules...)
			var want []cep.Alert
			if _, err := replay.Run(context.Background(), rs, bytes.NewReader(data), "in.ndjson",
				replay.Options{OnAlert: func(a cep.Alert) error { want = append(want, a); return nil }}); err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				t.Fatal("replay raised no alert: the case tests nothing")
			}
			st := store(t, "in.ndjson", data)
			rep, err := Run(context.Background(), st, loadRules(t, c.rules...), all)
			if err != nil {
				t.Fatal(err)
			}
			got, wantJ := comparable(rep.Alerts()), comparable(want)
			if !slices.Equal(got, wantJ) {
				t.Fatalf("backtest gave %d alerts, replay %d; first difference:\n%s", len(got), len(wantJ), firstDiff(got, wantJ))
			}
			t.Logf("%d events, %d alerts, the same", rep.Events, len(got))
		})
	}
}

// sortByTime orders lines by event time (stable), as a backtest reads
// them: replay with no out-of-orderness would call earlier ones late.
func sortByTime(t *testing.T, data []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	ms := func(l []byte) int64 {
		ev, err := (&event.Decoder{}).Decode(l, "x")
		if err != nil {
			t.Fatal(err)
		}
		return ev.Time
	}
	slices.SortStableFunc(lines, func(a, b []byte) int { return int(ms(a) - ms(b)) })
	return append(bytes.Join(lines, []byte("\n")), '\n')
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("#%d\n got %.400s\nwant %.400s", i, a[i], b[i])
		}
	}
	return "one is a prefix of the other"
}

// TestScoreByHand: precision and recall on a small labelled set, worked
// out by hand.
func TestScoreByHand(t *testing.T) {
	// velocity: 3 declines of a card within 10m. Card a: 3 fraud declines
	// (a hit, 3 caught). Card b: 3 honest declines (a false alarm). Card c:
	// 2 fraud declines and an honest one (a hit, 2 caught). Card d: 2
	// fraud declines, no alert (missed). Card e: no label field at all.
	var lines []string
	ev := func(card string, min int, fraud any) {
		label := ""
		if fraud != nil {
			label = fmt.Sprintf(`,"is_fraud":%v`, fraud)
		}
		lines = append(lines, fmt.Sprintf(`{"id":"%s%d","ts":"2026-11-20T10:%02d:00Z","card_id":"%s","status":"declined"%s}`, card, min, min, card, label))
	}
	ev("a", 1, true)
	ev("a", 2, true)
	ev("a", 3, `"yes"`)
	ev("b", 1, false)
	ev("b", 2, 0)
	ev("b", 3, `"no"`)
	ev("c", 4, 1)
	ev("c", 5, false)
	ev("c", 6, true)
	ev("d", 7, true)
	ev("d", 8, true)
	ev("e", 9, nil)
	data := sortByTime(t, []byte(strings.Join(lines, "\n")))
	st := store(t, "hand.ndjson", data)
	rulesPath := filepath.Join(t.TempDir(), "r.yaml")
	os.WriteFile(rulesPath, []byte(`rules:
  - name: velocity
    key: card_id
    threshold: { where: status == "declined", window: 10m, condition: count() >= 3 }
  - name: silent
    key: card_id
    threshold: { where: status == "nope", window: 10m, condition: count() >= 1 }
`), 0o644)
	rep, err := Run(context.Background(), st, loadRules(t, rulesPath), all)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 12 || rep.Labelled != 11 || rep.Fraud != 7 {
		t.Fatalf("events %d labelled %d fraud %d; want 12, 11, 7", rep.Events, rep.Labelled, rep.Fraud)
	}
	v := rep.Rules[0]
	if v.Alerts != 3 || v.Hits != 2 || v.FalseAlarms != 1 || v.Caught != 5 || v.Keys != 3 {
		t.Fatalf("velocity = %+v; want 3 alerts, 2 hits, 1 false alarm, 5 caught, 3 keys", v)
	}
	// precision 2/3, recall 5/7
	if FormatRatio(v.Precision) != "0.667" || FormatRatio(v.Recall) != "0.714" || v.PerDay["2026-11-20"] != 3 {
		t.Fatalf("velocity precision %s recall %s per day %v; want 0.667, 0.714, 3 on 2026-11-20", FormatRatio(v.Precision), FormatRatio(v.Recall), v.PerDay)
	}
	s := rep.Rules[1]
	if s.Alerts != 0 || s.Precision != nil || FormatRatio(s.Recall) != "0.000" {
		t.Fatalf("silent = %+v; want no alerts, no precision, recall 0", s)
	}
}

// TestScoreOnGen: with only card testing injected, every alert of the
// card-testing rule is a hit and every injected event is caught: the
// counts match the generator's own.
func TestScoreOnGen(t *testing.T) {
	// 2 events per second of event time: the 20000 events cover hours, and
	// incidents last minutes.
	g, err := gen.New(gen.Options{Seed: 3, Cards: 2000, EventsPerSecond: 2, FraudRate: 0.005, Types: []string{"card_testing"}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := gen.Stream(context.Background(), g, gen.WriterSink{W: &b}, gen.Limits{Count: 20000}); err != nil {
		t.Fatal(err)
	}
	stats := g.Stats()
	// An incident is complete once its big approved auth is out; those
	// still probing when the stream stops cannot alert.
	complete := 0
	for _, line := range bytes.Split(b.Bytes(), []byte("\n")) {
		if bytes.Contains(line, []byte(`"fraud_type":"card_testing"`)) && bytes.Contains(line, []byte(`"status":"approved"`)) {
			complete++
		}
	}
	st := store(t, "gen.ndjson", b.Bytes())
	opts := all
	opts.To = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // past the stream's end: all of it
	rep, err := Run(context.Background(), st, loadRules(t, "testdata/gen-rules.yaml"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Fraud != stats.FraudEvents["card_testing"] || rep.FraudByType["card_testing"] != rep.Fraud {
		t.Fatalf("fraud events %d (%v); the generator injected %d", rep.Fraud, rep.FraudByType, stats.FraudEvents["card_testing"])
	}
	ct := rep.Rules[0]
	if complete < 50 || ct.Hits != complete || ct.FalseAlarms != 0 || FormatRatio(ct.Precision) != "1.000" || ct.Caught < 4*complete {
		t.Fatalf("card-testing %+v; %d complete incidents injected", ct, complete)
	}
	wantRecall := float64(ct.Caught) / float64(rep.Fraud)
	if *ct.Recall != wantRecall || ct.CaughtByType["card_testing"] != ct.Caught {
		t.Fatalf("recall %v; want %d/%d", *ct.Recall, ct.Caught, rep.Fraud)
	}
	t.Logf("%d incidents (%d complete), %d fraud events: %d hits, %d caught, recall %.3f", stats.Incidents["card_testing"], complete, rep.Fraud, ct.Hits, ct.Caught, *ct.Recall)
}

func TestCompare(t *testing.T) {
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	a := []cep.Alert{{Rule: "r", Key: "k1", Time: at(1)}, {Rule: "r", Key: "k2", Time: at(2)}, {Rule: "s", Key: "k", Time: at(1)}}
	b := []cep.Alert{{Rule: "r", Key: "k1", Time: at(1), ID: "other-id"}, {Rule: "r", Key: "k3", Time: at(2)}, {Rule: "t", Key: "k", Time: at(5)}}
	got := Compare(a, b).Rules
	want := []RuleDiff{{Rule: "r", OnlyA: 1, OnlyB: 1, Both: 1}, {Rule: "s", OnlyA: 1}, {Rule: "t", OnlyB: 1}}
	if !slices.Equal(got, want) {
		t.Fatalf("Compare = %+v; want %+v", got, want)
	}
}

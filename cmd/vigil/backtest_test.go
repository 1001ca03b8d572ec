package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/store/clickhouse"
	"github.com/vigilhq/vigil/store/clickhouse/chtest"
)

func TestGenSameSeedSameBytes(t *testing.T) {
	_, a, _ := vigil(t, "gen", "-n", "2000", "--seed", "9")
	_, b, _ := vigil(t, "gen", "-n", "2000", "--seed", "9")
	if a != b || strings.Count(a, "\n") != 2000 {
		t.Fatalf("gen: %d and %d lines, equal %v", strings.Count(a, "\n"), strings.Count(b, "\n"), a == b)
	}
	for _, args := range [][]string{{"gen"}, {"gen", "-n", "-1"}, {"gen", "-n", "5", "extra"}, {"gen", "--bogus"}} {
		if code, _, _ := vigil(t, args...); code != 2 {
			t.Errorf("vigil %v: exit %d; want 2", args, code)
		}
	}
	if code, _, errs := vigil(t, "gen", "-n", "5", "--fraud-types", "nope"); code != 1 || !strings.Contains(errs, "unknown fraud type") {
		t.Errorf("unknown fraud type: exit %d %q", code, errs)
	}
}

func TestBacktestExitCodes(t *testing.T) {
	if code, _, _ := vigil(t, "backtest", "-r", "../../examples/rules"); code != backtestUsage {
		t.Errorf("no --from: exit %d; want %d", code, backtestUsage)
	}
	if code, _, errs := vigil(t, "backtest", "-r", "../../examples/rules", "--from", "7d"); code != backtestError || !strings.Contains(errs, "no ClickHouse") {
		t.Errorf("no ClickHouse: exit %d %q", code, errs)
	}
	if code, _, errs := vigil(t, "backtest", "-r", "../../examples/rules", "--from", "yesterday", "--clickhouse", "127.0.0.1:1"); code != backtestError || !strings.Contains(errs, "--from") {
		t.Errorf("bad --from: exit %d %q", code, errs)
	}
}

// TestBacktestCommand runs vigil backtest over stored gen output, with
// --json and --compare against the same rules.
func TestBacktestCommand(t *testing.T) {
	addr := chtest.Addr(t)
	db := chtest.Database(t, addr)
	ctx := context.Background()
	st, err := clickhouse.Open(ctx, clickhouse.Config{Addr: addr, Database: db, BatchInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	_, data, _ := vigil(t, "gen", "-n", "5000", "--seed", "2", "--eps", "5", "--fraud-rate", "0.01")
	w := st.NewEventWriter()
	for i, line := range strings.Split(strings.TrimSpace(data), "\n") {
		ev, err := (&event.Decoder{}).Decode([]byte(line), fmt.Sprintf("gen:%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		rows := []clickhouse.Row{{Event: ev, Raw: []byte(line), Source: "gen", Position: fmt.Sprintf("gen:%d", i+1)}}
		w.Reserve(ctx, 1, clickhouse.SizeOf(rows))
		w.Add(rows, nil)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rules := "../../internal/backtest/testdata/gen-rules.yaml"
	code, out, errs := vigil(t, "backtest", "-r", rules, "--clickhouse", strings.Join(addr, ","), "--database", db,
		"--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z", "--compare", rules, "--json")
	if code != 0 {
		t.Fatalf("backtest: exit %d: %s", code, errs)
	}
	var rep struct {
		Events uint64 `json:"events"`
		Fraud  int    `json:"fraud"`
		Rules  []struct {
			Rule      string   `json:"rule"`
			Alerts    int      `json:"alerts"`
			Precision *float64 `json:"precision"`
		} `json:"rules"`
		Compare struct {
			Rules []struct {
				Rule string `json:"rule"`
				A    int    `json:"only_a"`
				B    int    `json:"only_b"`
				Both int    `json:"both"`
			} `json:"rules"`
		} `json:"compare"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	alerts := 0
	for _, r := range rep.Rules {
		alerts += r.Alerts
	}
	if rep.Events != 5000 || rep.Fraud == 0 || len(rep.Rules) != 4 || rep.Rules[0].Rule != "card-testing" || alerts == 0 || len(rep.Compare.Rules) == 0 {
		t.Fatalf("report: %s", out)
	}
	for _, d := range rep.Compare.Rules {
		if d.A != 0 || d.B != 0 || d.Both == 0 {
			t.Errorf("compare with the same rules: %+v; want every incident in both", d)
		}
	}
	// The table, for people.
	code, out, _ = vigil(t, "backtest", "-r", rules, "--clickhouse", strings.Join(addr, ","), "--database", db, "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z")
	if code != 0 || !strings.Contains(out, "PRECISION") || !strings.Contains(out, "card-testing") {
		t.Fatalf("table: exit %d\n%s", code, out)
	}
}

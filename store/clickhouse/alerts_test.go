package clickhouse

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/store/storetest"
)

// TestSharedSuite runs the embedded store's suite: same alerts, same pages.
func TestSharedSuite(t *testing.T) {
	storetest.Run(t, openTest(t, Config{}))
}

func TestAlertRoundTrip(t *testing.T) {
	s := openTest(t, Config{})
	ctx := context.Background()
	big := strings.Repeat("ß✓", 1<<18) // 1.25 MiB of UTF-8
	a := cep.Alert{
		ID: "a1", Rule: "card-testing", RuleVersion: 7, RuleHash: "rh", MatchHash: "mh", Severity: "high",
		Key: "card-ü", Time: time.UnixMilli(1795168800123).UTC(), DetectedAt: time.UnixMilli(1795168801999).UTC(),
		Summary: "3 probes then 900 — ✓", Labels: map[string]string{"team": "payments", "b": "2"},
		Fields: map[string]any{"probe_total": 3.5, "nested": map[string]any{"list": []any{1.0, "x", nil}}},
		Values: map[string]any{"sum(amount)": 1234.5}, Shadow: true, Suppressed: true,
		Matched: map[string][]map[string]any{
			"probe": {{"id": "e1", "note": big}, {"id": "e2"}},
			"big":   {{"id": "e3", "amount": 900.0}},
		},
		EventIDs: []string{"e1", "e2", "e3"},
	}
	if err := s.WriteBatch(ctx, []cep.Alert{a}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, "a1")
	if err != nil || !ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	wantJSON, _ := a.MarshalJSON()
	gotJSON, _ := got.MarshalJSON()
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("round trip differs:\n got %.300s\nwant %.300s", gotJSON, wantJSON)
	}
	// The analytics columns hold the same alert.
	var stages []string
	var stageIDs [][]string
	var timeMs int64
	var shadow, suppressed uint8
	var labels []string
	if err := s.conn.QueryRow(ctx, "SELECT stages, stage_event_ids, time_ms, shadow, suppressed, label_names FROM "+s.db+".alerts").
		Scan(&stages, &stageIDs, &timeMs, &shadow, &suppressed, &labels); err != nil {
		t.Fatal(err)
	}
	if strings.Join(stages, ",") != "probe,big" || len(stageIDs) != 2 || strings.Join(stageIDs[0], ",") != "e1,e2" ||
		timeMs != 1795168800123 || shadow != 1 || suppressed != 1 || strings.Join(labels, ",") != "b,team" {
		t.Fatalf("columns: stages %v ids %v time_ms %d shadow %d suppressed %d labels %v", stages, stageIDs, timeMs, shadow, suppressed, labels)
	}
}

func TestSchemaVersionRecordedAndNewerRefused(t *testing.T) {
	s := openTest(t, Config{})
	ctx := context.Background()
	if v, err := s.schemaVersion(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("schemaVersion = %d, %v; want %d", v, err, SchemaVersion)
	}
	// Opening again migrates nothing.
	again, err := Open(ctx, s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	again.Close(ctx)
	if v, _ := s.schemaVersion(ctx); v != SchemaVersion {
		t.Fatalf("after a second Open: version %d", v)
	}
	if err := s.recordVersion(ctx, 99); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, s.cfg); err == nil || !strings.Contains(err.Error(), "newer than this vigil's") {
		t.Fatalf("Open on a newer schema: %v", err)
	}
}

package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const metricsRules = `rules:
  - name: velocity
    key: card
    severity: high
    throttle: 1h
    emit: every
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 3
  - name: big-amount
    key: card
    severity: low
    mode: shadow
    threshold:
      where: amount > 1000
      window: 1m
      condition: count() >= 1
`

// scrape reads /metrics through the Prometheus text parser and returns
// every sample as "name{label=value,…}" → value, labels sorted.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics = %d %s", resp.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			id := name + "{" + strings.Join(labels, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[id] = m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				out[id] = m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count{"+strings.Join(labels, ",")+"}"] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// TestMetricsCountExactly posts a known batch to a real service and checks
// that the counters on /metrics move by exactly what it holds.
func TestMetricsCountExactly(t *testing.T) {
	r := start(t, testConfig(t, metricsRules))
	before := scrape(t, r.url)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ev := func(id string, sec int, card, status string, amount int) string {
		return fmt.Sprintf(`{"id":%q,"ts":%q,"card":%q,"status":%q,"amount":%d}`, id, t0.Add(time.Duration(sec)*time.Second).Format(time.RFC3339), card, status, amount)
	}
	body := strings.Join([]string{
		ev("d1", 0, "c1", "declined", 10),
		ev("d2", 1, "c1", "declined", 10),
		ev("d3", 2, "c1", "declined", 10),    // velocity alert
		ev("d4", 3, "c1", "declined", 10),    // velocity alert, suppressed by the throttle
		ev("b1", 4, "c2", "approved", 5000),  // shadow alert
		ev("old", -10, "c3", "declined", 10), // late: the watermark is at +4s
		`not json`,
		`{"id":"nt","card":"c4"}`, // no time
	}, "\n")
	status, resp := r.post(t, body)
	if status != http.StatusBadRequest && status != http.StatusOK {
		t.Fatalf("POST = %d %v", status, resp)
	}
	if got := resp["accepted"]; got != float64(5) {
		t.Fatalf("accepted = %v; want 5 (%v)", got, resp)
	}
	want := map[string]float64{
		"vigil_events_total{outcome=accepted,reason=,source=http}":                      5,
		"vigil_events_total{outcome=late,reason=late,source=http}":                      1,
		"vigil_events_total{outcome=rejected,reason=malformed,source=http}":             1,
		"vigil_events_total{outcome=rejected,reason=no_time,source=http}":               1,
		"vigil_events_processed_total{}":                                                5,
		"vigil_alerts_total{rule=velocity,severity=high,shadow=false,suppressed=false}": 1,
		"vigil_alerts_total{rule=velocity,severity=high,shadow=false,suppressed=true}":  1,
		"vigil_alerts_total{rule=big-amount,severity=low,shadow=true,suppressed=false}": 1,
		"vigil_dead_letters_total{reason=late,sink=file}":                               1,
		"vigil_dead_letters_total{reason=malformed,sink=file}":                          1,
		"vigil_dead_letters_total{reason=no_time,sink=file}":                            1,
		"vigil_sink_alerts_total{sink=store}":                                           3,
		"vigil_sink_alerts_total{sink=stdout}":                                          3,
		"vigil_sink_failures_total{sink=store}":                                         0,
		"vigil_rules_loaded{}":                                                          2,
		"vigil_ruleset_version{}":                                                       1,
		"vigil_rule_keys{rule=velocity}":                                                1,
	}
	var after map[string]float64
	// Alerts reach the sinks from the engine's delivery stage, a moment
	// after the response.
	eventually(t, 10*time.Second, "the alerts to reach the sinks", func() bool {
		after = scrape(t, r.url)
		return after["vigil_sink_alerts_total{sink=stdout}"]-before["vigil_sink_alerts_total{sink=stdout}"] >= 3
	})
	for id, n := range want {
		got, ok := after[id]
		if !ok {
			t.Errorf("%s missing from /metrics", id)
			continue
		}
		delta := got - before[id]
		if strings.HasPrefix(id, "vigil_rules_") || strings.HasPrefix(id, "vigil_ruleset_") || strings.HasPrefix(id, "vigil_rule_keys") {
			delta = got // gauges: the level itself
		}
		if delta != n {
			t.Errorf("%s moved by %v; want %v", id, delta, n)
		}
	}
	// Every family on /metrics is in the catalogue; histograms have
	// samples where something was timed.
	if n := after["vigil_sink_write_duration_seconds_count{outcome=ok,sink=store}"]; n < 1 {
		t.Errorf("sink write histogram count = %v; want at least one write", n)
	}
	if _, ok := after["vigil_watermark_lag_seconds{input=http}"]; !ok {
		t.Error("no watermark lag for the http input")
	}
}

// TestMetricsKafka reads a known stream from a real (in-process) Kafka and
// checks the source's counters and gauges on /metrics, and that /readyz
// names the source ready once the group is joined.
func TestMetricsKafka(t *testing.T) {
	b := newBroker(t)
	cfg := testConfig(t, velocityRules)
	cfg.Sinks.Stdout = false
	cfg.Kafka = b.kafkaSource()
	r := start(t, cfg)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixMilli()
	var msgs [][2]string
	for i := range 6 {
		card := fmt.Sprintf("c%d", i%2)
		msgs = append(msgs, [2]string{card, fmt.Sprintf(`{"id":"k%d","ts":%d,"card":%q,"status":"declined"}`, i, t0+int64(i)*1000, card)})
	}
	msgs = append(msgs, [2]string{"c0", `{"id":"bad"`}) // does not decode
	b.produce(t, "events", msgs...)

	var got map[string]float64
	eventually(t, 20*time.Second, "the Kafka events counted", func() bool {
		got = scrape(t, r.url)
		return got["vigil_events_total{outcome=accepted,reason=,source=kafka}"] == 6 &&
			got["vigil_dead_letters_total{reason=malformed,sink=kafka}"] == 1 &&
			// The exchange's watermark moves once the partition without
			// events goes idle.
			got["vigil_events_processed_total{}"] == 6
	})
	for id, want := range map[string]float64{
		"vigil_events_total{outcome=rejected,reason=malformed,source=kafka}":            1,
		"vigil_kafka_fetched_total{topic=events}":                                       7,
		"vigil_kafka_assigned_partitions{topic=events}":                                 3,
		"vigil_alerts_total{rule=velocity,severity=high,shadow=false,suppressed=false}": 2,
	} {
		if got[id] != want {
			t.Errorf("%s = %v; want %v", id, got[id], want)
		}
	}
	lagSeries := 0
	for id, v := range got {
		if strings.HasPrefix(id, "vigil_kafka_consumer_lag{") {
			lagSeries++
			if v != 0 {
				t.Errorf("%s = %v; want 0: every message is read", id, v)
			}
		}
	}
	if lagSeries == 0 {
		t.Error("no vigil_kafka_consumer_lag series for the partitions read")
	}
	code, rep := readyz(t, r.url)
	if c := component(rep, "source/kafka"); code != http.StatusOK || c.State != "ready" {
		t.Errorf("readyz = %d %+v; want the joined source ready", code, rep)
	}
}

// TestMetricsReloads refuses one reload and applies another, and checks
// the reload metrics on /metrics.
func TestMetricsReloads(t *testing.T) {
	cfg := testConfig(t, velocityRules)
	r := start(t, cfg)
	ctx := context.Background()
	if err := os.WriteFile(cfg.Rules[0], []byte("rules:\n  - name: broken\n    key: card\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Reload(ctx, "test"); err == nil {
		t.Fatal("a rule without pattern or threshold was applied")
	}
	got := scrape(t, r.url)
	for id, want := range map[string]float64{
		"vigil_rule_reloads_total{result=ok}":    1, // the start-up load
		"vigil_rule_reloads_total{result=error}": 1,
		"vigil_rule_reload_failing{}":            1,
		"vigil_ruleset_version{}":                1,
	} {
		if got[id] != want {
			t.Errorf("after a refused reload: %s = %v; want %v", id, got[id], want)
		}
	}
	if err := os.WriteFile(cfg.Rules[0], []byte(metricsRules), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Reload(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	got = scrape(t, r.url)
	for id, want := range map[string]float64{
		"vigil_rule_reloads_total{result=ok}":    2,
		"vigil_rule_reloads_total{result=error}": 1,
		"vigil_rule_reload_failing{}":            0,
		"vigil_ruleset_version{}":                2,
		"vigil_rules_loaded{}":                   2,
	} {
		if got[id] != want {
			t.Errorf("after a reload: %s = %v; want %v", id, got[id], want)
		}
	}
	if at := got["vigil_rule_reload_last_success_timestamp_seconds{}"]; time.Since(time.UnixMilli(int64(at*1000))) > time.Minute {
		t.Errorf("last success at %v; want just now", at)
	}
}

package telemetry

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/rules"
	"github.com/vigilhq/vigil/sinks"
	"github.com/vigilhq/vigil/sources"
)

// docRow matches a row of the metrics table in docs/operations.md:
// | `name` | kind | `label`, `label` | meaning |
var docRow = regexp.MustCompile("^\\| `(vigil_[a-z_]+)` \\| (counter|gauge|histogram) \\| ([^|]*) \\|")

// TestCatalogMatchesDocs keeps the documented table and the instruments
// equal, both ways: name, kind and labels.
func TestCatalogMatchesDocs(t *testing.T) {
	data, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		m := docRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var labels []string
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" && l != "—" {
				labels = append(labels, l)
			}
		}
		documented[m[1]] = m[2] + " " + strings.Join(labels, ",")
	}
	for _, in := range Catalog {
		want := string(in.Kind) + " " + strings.Join(in.Labels, ",")
		got, ok := documented[in.Prom]
		switch {
		case !ok:
			t.Errorf("%s is registered but not in docs/operations.md", in.Prom)
		case got != want:
			t.Errorf("docs/operations.md: %s is %q; the code registers %q", in.Prom, got, want)
		}
		delete(documented, in.Prom)
	}
	for name := range documented {
		t.Errorf("docs/operations.md lists %s, which is not registered", name)
	}
}

type kafkaStub struct{ st sources.KafkaStats }

func (k kafkaStub) Stats() sources.KafkaStats { return k.st }

type webhookStub struct{}

func (webhookStub) Stats() sinks.WebhookStats {
	return sinks.WebhookStats{Queued: 2, Retries: 3, Failures: 1}
}

type nopSink struct{ err error }

func (s nopSink) WriteBatch(context.Context, []cep.Alert) error { return s.err }
func (nopSink) Close(context.Context) error                     { return nil }

// TestCatalogMatchesExposition records every instrument once and checks
// that /metrics has exactly the catalogued names: the exporter's naming
// (units, _total) is what the catalogue and the docs say.
func TestCatalogMatchesExposition(t *testing.T) {
	m, err := NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Load([]rules.Source{{Name: "r.yaml", Data: []byte(`
rules:
  - name: r
    key: card
    threshold: {window: 1m, condition: count() >= 1}
`)}})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := cep.New(rs, cep.WithObserver(m.Observer()), cep.WithSink(m.Sink("store", nopSink{})))
	if err != nil {
		t.Fatal(err)
	}
	m.Engine(eng)
	ctx := context.Background()
	for i := range 64 {
		_ = eng.Process(ctx, &event.Event{ID: "e" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Time: int64(1000 + i), Fields: map[string]any{"card": "c"}})
	}
	if err := eng.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	m.Kafka("payments", kafkaStub{sources.KafkaStats{Fetched: 10, Undecoded: map[string]int64{"malformed": 1},
		DeadLettered: map[string]int64{"malformed": 1}, Partitions: map[int]sources.KafkaPartitionStats{0: {Lag: 4}}}})
	m.Webhook("webhook", webhookStub{})
	m.WebhookAttempt(time.Millisecond, nil)
	m.DeadLetter("file", "late", 1, nil)
	m.DeadLetter("file", "", 0, errors.New("disk full"))
	m.Reloads(func() ReloadStats { return ReloadStats{Applied: 2, Refused: 1, LastApplied: time.Now(), Failing: true} })
	m.CheckpointDone(time.Millisecond, 100, time.Now())
	m.EventStore("clickhouse", storeStub{})

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	var got, want []string
	for name := range families {
		got = append(got, name)
	}
	for _, in := range Catalog {
		want = append(want, in.Prom)
	}
	slices.Sort(got)
	slices.Sort(want)
	for _, name := range want {
		if _, ok := families[name]; !ok {
			t.Errorf("%s is catalogued but not exported", name)
		}
	}
	for _, name := range got {
		if !slices.Contains(want, name) {
			t.Errorf("%s is exported but not catalogued", name)
		}
	}
	for name, f := range families {
		i := slices.IndexFunc(Catalog, func(in Instrument) bool { return in.Prom == name })
		if i < 0 {
			continue
		}
		for _, s := range f.Metric {
			var labels []string
			for _, l := range s.Label {
				labels = append(labels, l.GetName())
			}
			if w := slices.Sorted(slices.Values(Catalog[i].Labels)); !slices.Equal(labels, w) {
				t.Errorf("%s has labels %v; catalogued %v", name, labels, w)
			}
		}
	}
}

type storeStub struct{}

func (storeStub) Queued() int     { return 3 }
func (storeStub) Written() uint64 { return 7 }
func (storeStub) Err() error      { return errors.New("connection refused") }

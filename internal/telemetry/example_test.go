package telemetry_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/internal/telemetry"
	"github.com/vigilhq/vigil/rules"
)

// An engine exported as Prometheus metrics: the observer and Stats feed
// the instruments, Handler serves them.
func Example() {
	m, err := telemetry.NewMetrics()
	if err != nil {
		log.Fatal(err)
	}
	rs, err := rules.Load([]rules.Source{{Name: "r.yaml", Data: []byte(`
rules:
  - name: big
    key: card
    severity: high
    threshold: {where: amount > 100, window: 1m, condition: count() >= 1}
`)}})
	if err != nil {
		log.Fatal(err)
	}
	eng, err := cep.New(rs, cep.WithObserver(m.Observer()), cep.WithSink(m.Sink("stdout", discard{})))
	if err != nil {
		log.Fatal(err)
	}
	m.Engine(eng)
	ctx := context.Background()
	_ = eng.Process(ctx, map[string]any{"id": "a", "ts": 1000, "card": "c1", "amount": 500.0})
	_ = eng.Process(ctx, []byte(`{"id":"b"}`)) // no time: rejected
	if err := eng.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "vigil_events_total") || strings.HasPrefix(line, "vigil_alerts_total") ||
			strings.HasPrefix(line, "vigil_sink_alerts_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// vigil_alerts_total{rule="big",severity="high",shadow="false",suppressed="false"} 1
	// vigil_events_total{outcome="accepted",reason="",source="default"} 1
	// vigil_events_total{outcome="rejected",reason="no_time",source="default"} 1
	// vigil_sink_alerts_total{sink="stdout"} 1
}

type discard struct{}

func (discard) WriteBatch(context.Context, []cep.Alert) error { return nil }
func (discard) Close(context.Context) error                   { return nil }
